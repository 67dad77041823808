//===- Calibration.cpp - Activation statistics of linear layers -*- C++ -*-===//
//
// Part of quant-opt. See Calibration.h.
//
//===----------------------------------------------------------------------===//

#include "qopt/Eval/Calibration.h"

#include "ForwardKernels.h"

#include "qopt/Eval/WeightSource.h"

#include "llvm/ADT/Twine.h"

#include <algorithm>
#include <thread>

namespace qopt::eval {

static llvm::Error makeError(const llvm::Twine &msg) {
  return llvm::createStringError(llvm::inconvertibleErrorCode(), msg);
}

std::vector<StatsTensor> statsTensors(const DecoderConfig &config,
                                      bool hessian) {
  std::vector<StatsTensor> out;
  for (int64_t l = 0; l <= config.dims.numLayers; ++l)
    for (const LinearSpec &s : decoderLinears(config, l)) {
      std::vector<int64_t> lead;
      if (s.experts > 0)
        lead.push_back(s.experts);
      auto shape = [&](std::initializer_list<int64_t> tail) {
        std::vector<int64_t> v = lead;
        v.insert(v.end(), tail);
        return v;
      };
      if (hessian)
        out.push_back({s.name + ".hessian", false,
                       shape({s.inFeatures, s.inFeatures})});
      out.push_back({s.name + ".imatrix", false, shape({s.inFeatures})});
      out.push_back({s.name + ".count", true,
                     s.experts > 0 ? lead : std::vector<int64_t>{1}});
    }
  return out;
}

void accumulateSquares(const float *x, int64_t rows, int64_t k, double *sums,
                       unsigned threads) {
  parallelFor(k, threads, [=](int64_t k0, int64_t k1) {
    for (int64_t r = 0; r < rows; ++r) {
      const float *row = x + r * k;
      for (int64_t j = k0; j < k1; ++j)
        sums[j] += double(row[j]) * double(row[j]);
    }
  });
}

void accumulateOuterProducts(const float *x, int64_t rows, int64_t k,
                             double *sums, unsigned threads) {
  // Blocks of rows of the triangle, handed out so that every thread gets a
  // similar share of the work (short rows first and long rows last pair up).
  constexpr int64_t kBlock = 32;
  int64_t blocks = (k + kBlock - 1) / kBlock;
  std::vector<int64_t> order;
  for (int64_t lo = 0, hi = blocks - 1; lo <= hi; ++lo, --hi) {
    order.push_back(lo);
    if (lo != hi)
      order.push_back(hi);
  }
  parallelFor(blocks, threads, [&](int64_t b0, int64_t b1) {
    std::vector<double> row(static_cast<size_t>(k));
    for (int64_t b = b0; b < b1; ++b) {
      int64_t i0 = order[size_t(b)] * kBlock,
              i1 = std::min(k, i0 + kBlock);
      for (int64_t r = 0; r < rows; ++r) {
        const float *xr = x + r * k;
        for (int64_t j = 0; j < i1; ++j)
          row[size_t(j)] = double(xr[j]);
        for (int64_t i = i0; i < i1; ++i) {
          double a = row[size_t(i)];
          double *s = sums + i * k;
          for (int64_t j = 0; j <= i; ++j)
            s[j] += a * row[size_t(j)];
        }
      }
    }
  });
}

namespace {
/// Accumulates and writes every linear layer's statistics as the forward
/// reports its inputs.
class StatsCollector final : public LinearInputObserver {
public:
  StatsCollector(StatsFileWriter &writer, bool hessian, unsigned threads)
      : writer(writer), hessian(hessian), threads(threads) {}

  llvm::Error observe(const LinearSpec &spec, int64_t expert, const float *x,
                      int64_t rows) override {
    const int64_t k = spec.inFeatures;
    int64_t slots = spec.experts > 0 ? spec.experts : 1;
    if (expert <= 0) { // the first (or only) observation of this weight
      squares.assign(static_cast<size_t>(slots * k), 0.0);
      counts.assign(static_cast<size_t>(slots), 0);
    }
    int64_t slot = expert < 0 ? 0 : expert;
    double *sq = squares.data() + slot * k;
    counts[size_t(slot)] = rows;
    if (hessian) {
      std::vector<double> sums(static_cast<size_t>(k * k), 0.0);
      accumulateOuterProducts(x, rows, k, sums.data(), threads);
      for (int64_t i = 0; i < k; ++i)
        sq[i] = sums[size_t(i * k + i)];
      // The mean, mirrored from the lower triangle, one row at a time.
      std::vector<float> row(static_cast<size_t>(k));
      for (int64_t i = 0; i < k; ++i) {
        for (int64_t j = 0; j < k; ++j)
          row[size_t(j)] = mean(j <= i ? sums[size_t(i * k + j)]
                                       : sums[size_t(j * k + i)],
                                rows);
        if (auto e = writer.append(spec.name + ".hessian", row.data(),
                                   uint64_t(k) * 4))
          return e;
      }
    } else {
      accumulateSquares(x, rows, k, sq, threads);
    }
    if (expert >= 0 && expert + 1 < spec.experts)
      return llvm::Error::success();
    std::vector<float> imatrix(squares.size());
    for (int64_t s = 0; s < slots; ++s)
      for (int64_t i = 0; i < k; ++i)
        imatrix[size_t(s * k + i)] =
            mean(squares[size_t(s * k + i)], counts[size_t(s)]);
    if (auto e = writer.append(spec.name + ".imatrix", imatrix.data(),
                               uint64_t(imatrix.size()) * 4))
      return e;
    std::vector<uint8_t> countBytes;
    for (int64_t c : counts)
      for (int b = 0; b < 8; ++b)
        countBytes.push_back(uint8_t((uint64_t(c) >> (8 * b)) & 0xFF));
    return writer.append(spec.name + ".count", countBytes.data(),
                         countBytes.size());
  }

private:
  /// sum / count in double, rounded once to float; 0 with no token.
  static float mean(double sum, int64_t count) {
    return count > 0 ? float(sum / double(count)) : 0.0f;
  }
  StatsFileWriter &writer;
  bool hessian;
  unsigned threads;
  std::vector<double> squares;
  std::vector<int64_t> counts;
};
} // namespace

llvm::Expected<CalibrationResult>
calibrate(const DecoderConfig &config, WeightSource &source,
          llvm::ArrayRef<int32_t> tokens, llvm::StringRef out,
          const CalibrationOptions &options) {
  const LlamaConfig &d = config.dims;
  if (tokens.empty())
    return makeError("no calibration tokens");
  if (options.context < 1)
    return makeError("the window length must be positive");
  for (size_t i = 0; i < tokens.size(); ++i)
    if (tokens[i] < 0 || tokens[i] >= d.vocabSize)
      return makeError("token " + llvm::Twine(i) + " (" +
                       llvm::Twine(tokens[i]) + ") is not in [0, " +
                       llvm::Twine(d.vocabSize) + ")");
  std::vector<Window> windows =
      splitWindows(int64_t(tokens.size()), options.context);
  std::vector<StatsTensor> declared = statsTensors(config, options.hessian);
  CalibrationResult result;
  result.tokens = int64_t(tokens.size());
  result.windows = int64_t(windows.size());
  result.tensors = int64_t(declared.size());
  auto writer = StatsFileWriter::create(
      out,
      {{"format", "quant-opt-calibration"},
       {"version", "1"},
       {"model_type", config.modelType},
       {"tokens", std::to_string(tokens.size())}},
      std::move(declared));
  if (!writer)
    return writer.takeError();
  unsigned threads = std::max(1u, options.threads);
  DecoderForward forward(config, threads);
  StatsCollector collector(**writer, options.hessian, threads);
  const int64_t steps = d.numLayers + 1;
  auto report = [&](int64_t done) {
    if (options.progress)
      options.progress(done, steps);
  };

  std::vector<float> x;
  {
    auto embed = source.load(config.embedName, {d.vocabSize, d.hiddenSize});
    if (!embed)
      return embed.takeError();
    x = forward.embed(*embed, tokens);
  }
  report(0);
  for (int64_t l = 0; l < d.numLayers; ++l) {
    auto w = loadDecoderLayer(config, source, l);
    if (!w)
      return w.takeError();
    if (auto e = forward.layer(*w, l, x, windows, &collector))
      return std::move(e);
    report(l + 1);
  }
  auto norm = source.load(config.finalNormName, {d.hiddenSize});
  if (!norm)
    return norm.takeError();
  if (auto e = forward.finalNorm(*norm, x, &collector))
    return std::move(e);
  if (auto e = (*writer)->commit())
    return std::move(e);
  report(steps);
  return result;
}

} // namespace qopt::eval
