//===- ScaleSearch.cpp - Optimized scales for MLC group modes ---*- C++ -*-===//
//
// Per group: the RTN result of groupQuantizeRows, then a search: clipping
// ratios screened (as llama.cpp's make_qx_quants tries iscale = (nmax +
// 0.1 i) / max), then least-squares refinement of the best one's scale,
// every candidate scored from float32 sums (docs/simd.md section 5) and the
// winner kept where its squared error as MLC's dequantization will see it
// (the scale rounded to the model dtype, the float32 product (q - M) *
// scale), in double, is below plain rounding's.
//
//===----------------------------------------------------------------------===//

#include "qopt/Numerics/ScaleSearch.h"
#include "SearchRules.h"
#include "Simd.h"
#include "SimdBatchSearch.h"

#include <algorithm>
#include <climits>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <iterator>
#include <limits>
#include <vector>

namespace qopt::numerics {

namespace {

/// Clipping ratios r screened: candidate scale = base * r, base being the
/// smallest scale that represents the group's largest magnitude without
/// clipping; ratios below 1 clip the largest values (chosen by measurement,
/// docs/simd.md section 5).
constexpr float kRatios[] = {1.00f, 0.90f, 0.80f};
/// Least-squares refinements from the screened scale of least error.
constexpr int kRefinements = 2;
using search::kSumLanes;
using search::sumLanes;

/// The scalar rule of one value (SearchRules.h).
inline float assign(float y, float inv, float lo, float hi) {
  return search::assignCode(y, inv, lo, hi);
}

/// Score of one candidate: from its float32 sums X = sum y r and
/// Q = sum r r (i ascending from +0, every product rounded) and W =
/// sum y y, E = (W - 2 (s X)) + (s s) Q, each step rounded to float32.
struct Score {
  float error;
  float sxq;
  float sqq;
};

Score score(const float *y, int64_t n, float w, float s, float inv, float lo,
            float hi) {
  float sx = 0.0f, sq = 0.0f;
  for (int64_t i = 0; i < n; ++i) {
    const float r = assign(y[i], inv, lo, hi);
    float t = y[i] * r;
    sx += t;
    t = r * r;
    sq += t;
  }
  const float t1 = s * sx;
  float t2 = s * s;
  t2 = t2 * sq;
  const float e = w - (t1 + t1);
  return {e + t2, sx, sq};
}

/// The squared error of y against float(q) * s for given signed values q
/// (double, element i into lane i % kSumLanes): plain rounding's and the
/// winner's, compared exactly as before the searches' redefinition.
double errorOf(const float *y, const int32_t *q, int64_t n, float s) {
  double e[kSumLanes] = {};
  for (int64_t i = 0; i < n; ++i) {
    const float d = float(q[i]) * s;
    const double diff = double(y[i]) - double(d);
    e[i % kSumLanes] += diff * diff;
  }
  return sumLanes(e);
}

/// Searches one group for the scale (and, with the full code range, the
/// sign of the scale) of least squared error.
class GroupSearcher {
public:
  GroupSearcher(FloatFormat format, int maxInt, bool fullRange,
                size_t groupSize)
      : format(format), maxInt(float(maxInt)), fullRange(fullRange),
        flipped(groupSize) {}

  /// Best candidate for the n finite values x (not all zero): its score,
  /// its signed scale (negative: the values are those of -x) and its values
  /// q in [-M, M] (or [-M, M + 1] with the full range) into \p q.
  struct Result {
    float error = std::numeric_limits<float>::infinity();
    float scale = 0.0f;
  };

  Result search(const float *x, int64_t n, int32_t *q) {
    best = Result();
    const float hi = fullRange ? maxInt + 1.0f : maxInt;
    searchOrientation(x, n, hi, /*negate=*/false);
    if (fullRange) {
      for (int64_t i = 0; i < n; ++i)
        flipped[size_t(i)] = -x[i];
      searchOrientation(flipped.data(), n, hi, /*negate=*/true);
    }
    if (!(best.scale != 0.0f))
      return best;
    // The winner's values, by the same arithmetic that scored it.
    const float s = std::fabs(best.scale);
    const float inv = 1.0f / s;
    for (int64_t i = 0; i < n; ++i) {
      const float y = best.scale < 0.0f ? -x[i] : x[i];
      q[i] = int32_t(assign(y, inv, -maxInt, hi));
    }
    return best;
  }

private:
  /// Tries every ratio on y with values in [-M, hi]; a winner's scale is
  /// stored negated when \p negate (y = -x).
  void searchOrientation(const float *y, int64_t n, float hi, bool negate) {
    float top = 0.0f;
    float bottom = 0.0f;
    float w = 0.0f;
    for (int64_t i = 0; i < n; ++i) {
      top = std::max(top, y[i]);
      bottom = std::max(bottom, -y[i]);
      const float t = y[i] * y[i];
      w += t;
    }
    const float base = std::max(top / hi, bottom / maxInt);
    // A scale already scored in this orientation is not scored again
    // (scoring it again could not change the winner).
    size_t numTried = 0;
    // Scores the scale s (if new, positive, finite, with a finite
    // reciprocal); returns whether it was scored, and its least-squares
    // successor in `next` (0 if it has none).
    auto tryScale = [&](float s, float &error, float &next) {
      if (!(s > 0.0f) || !std::isfinite(s) || !std::isfinite(1.0f / s) ||
          std::find(tried, tried + numTried, s) != tried + numTried)
        return false;
      tried[numTried++] = s;
      const Score sc = score(y, n, w, s, 1.0f / s, -maxInt, hi);
      if (sc.error < best.error) {
        best.error = sc.error;
        best.scale = negate ? -s : s;
      }
      error = sc.error;
      next = sc.sqq > 0.0f ? roundTo(sc.sxq / sc.sqq, format) : 0.0f;
      return true;
    };
    // Screening: every clipping ratio's scale; the lead is the one of least
    // error (the first on ties).
    float leadError = std::numeric_limits<float>::infinity();
    float s = 0.0f;
    for (float ratio : kRatios) {
      float error;
      float next;
      if (tryScale(roundTo(base * ratio, format), error, next) &&
          error < leadError) {
        leadError = error;
        s = next;
      }
    }
    // Refinement: least-squares steps from the lead only.
    for (int refine = 0; refine < kRefinements; ++refine) {
      float error;
      float next;
      if (!tryScale(s, error, next))
        break;
      s = next;
    }
  }

  static constexpr size_t kMaxTried = std::size(kRatios) + kRefinements;
  float tried[kMaxTried];
  FloatFormat format;
  float maxInt;
  bool fullRange;
  std::vector<float> flipped;
  Result best;
};

/// Bytes of one model-dtype element.
size_t storageSize(FloatFormat format) {
  return format == FloatFormat::F32 ? 4 : 2;
}

float loadAsFloat(const unsigned char *p, FloatFormat format) {
  if (format == FloatFormat::F32) {
    float f;
    std::memcpy(&f, p, 4);
    return f;
  }
  uint16_t h;
  std::memcpy(&h, p, 2);
  return format == FloatFormat::F16 ? halfToFloat(h) : bfloat16ToFloat(h);
}

/// Stores a float already representable in the model dtype.
void storeFromFloat(float f, FloatFormat format, unsigned char *p) {
  if (format == FloatFormat::F32) {
    std::memcpy(p, &f, 4);
    return;
  }
  const uint16_t h =
      format == FloatFormat::F16 ? floatToHalf(f) : floatToBFloat16(f);
  std::memcpy(p, &h, 2);
}

} // namespace

void groupQuantizeRowsOptimized(const void *w, int64_t rows, int64_t k,
                                const GroupQuantSpec &spec, uint32_t *qweight,
                                void *scale,
                                const ScaleSearchOptions &options) {
  if (!validateGroupQuantSpec(spec).empty() || rows <= 0 || k <= 0)
    return;
  const FloatFormat format = spec.modelFormat;
  const size_t elemSize = storageSize(format);
  const int bits = spec.bits;
  const int64_t groupSize = spec.groupSize;
  const int64_t numGroups = groupsPerRow(spec, k);
  const int64_t numWords = wordsPerRow(spec, k);
  const int64_t epw = elemsPerWord(bits);
  const int64_t wordsPerGroup = groupSize / epw;
  const auto maxInt = int32_t(maxIntValue(bits));
  const uint32_t mask = (1u << bits) - 1u;
  auto *in = static_cast<const unsigned char *>(w);
  auto *scaleOut = static_cast<unsigned char *>(scale);

  std::vector<float> x(static_cast<size_t>(k));
  std::vector<int32_t> rtnQ(static_cast<size_t>(groupSize));
  std::vector<int32_t> bestQ(static_cast<size_t>(groupSize));
  GroupSearcher searcher(format, maxInt, options.fullCodeRange,
                         size_t(groupSize));
  // With the SIMD kernels: the row's groups searched together, one per lane
  // (SimdBatchSearch.h; the same bits as the scalar searcher, which also
  // leaves the groups with a NaN, an infinity or only zeros alone), a
  // partial last group as a full one (setCodesFrom).
  const bool batched = simd::enabled() && groupSize == wordsPerGroup * epw &&
                       k <= int64_t(INT32_MAX) - 2 * groupSize;
  const int64_t numBatched = batched ? numGroups : 0;
  const int64_t lastLen = k - (numGroups - 1) * groupSize;
  // The groups' offsets (padded) and scales as floats (the padding lanes'
  // stay 0), the batch's results.
  std::vector<int32_t> offsets;
  std::vector<float> sB;
  std::vector<uint8_t> won;
  // The row's plain-rounding words, readable by the padding lanes too.
  std::vector<uint32_t> rowWords;
  std::vector<uint16_t> scaleH;
  if (numBatched > 0) {
    for (int64_t g = 0; g < numBatched; ++g)
      offsets.push_back(int32_t(g * groupSize));
    sB.resize(size_t(numBatched + simd::kBatchPad));
    simd::padBatch(offsets, sB.data(), int32_t(k));
    won.resize(offsets.size());
    rowWords.resize(size_t(numWords + wordsPerGroup));
    x.resize(size_t(k + groupSize));
    scaleH.resize(size_t(numBatched));
  }
  // The RTN result, exactly groupQuantizeRows', for blocks of rows (one
  // call per row cost more than the rounding of a short row).
  constexpr int64_t kRtnRows = 8;
  for (int64_t row = 0; row < rows; ++row) {
    const unsigned char *wRow = in + size_t(row) * size_t(k) * elemSize;
    uint32_t *qRow = qweight + size_t(row) * size_t(numWords);
    unsigned char *scaleRow =
        scaleOut + size_t(row) * size_t(numGroups) * elemSize;
    if (row % kRtnRows == 0)
      groupQuantizeRows(wRow, std::min(kRtnRows, rows - row), k, spec, qRow,
                        scaleRow);
    if (batched)
      simd::loadModelRow(format, wRow, k, x.data());
    else
      for (int64_t i = 0; i < k; ++i)
        x[size_t(i)] = loadAsFloat(wRow + size_t(i) * elemSize, format);

    // The groups the scalar searcher takes.
    for (int64_t g = numBatched; g < numGroups; ++g) {
      const int64_t begin = g * groupSize;
      const int64_t len = std::min(groupSize, k - begin);
      const float *xg = x.data() + begin;
      // Finite and not all zero: the largest magnitude's bits.
      uint32_t top = 0;
      for (int64_t i = 0; i < len; ++i) {
        uint32_t bitsOf;
        std::memcpy(&bitsOf, &xg[i], 4);
        top = std::max(top, bitsOf & 0x7FFFFFFFu);
      }
      if (top >= 0x7F800000u || top == 0)
        continue;

      // The RTN codes and scale, as groupDequantizeRows reconstructs them.
      uint32_t *words = qRow + size_t(g) * size_t(wordsPerGroup);
      unsigned char *scalePtr = scaleRow + size_t(g) * elemSize;
      for (int64_t i = 0; i < len; ++i)
        rtnQ[size_t(i)] =
            int32_t((words[i / epw] >> ((i % epw) * bits)) & mask) - maxInt;
      const double rtnError =
          errorOf(xg, rtnQ.data(), len, loadAsFloat(scalePtr, format));

      const auto best = searcher.search(xg, len, bestQ.data());
      if (!(best.scale != 0.0f) ||
          !(errorOf(xg, bestQ.data(), len, best.scale) < rtnError))
        continue;
      storeFromFloat(best.scale, format, scalePtr);
      for (int64_t j = 0; j < wordsPerGroup; ++j) {
        uint32_t word = 0;
        for (int64_t r = 0; r < epw; ++r) {
          const int64_t i = j * epw + r;
          if (i < len)
            word |= uint32_t(bestQ[size_t(i)] + maxInt) << (r * bits);
        }
        words[j] = word;
      }
    }
    if (numBatched == 0)
      continue;
    simd::loadModelRow(format, scaleRow, numBatched, sB.data());
    std::memcpy(rowWords.data(), qRow, size_t(numWords) * 4);
    uint32_t *lastWords =
        rowWords.data() + size_t(numGroups - 1) * size_t(wordsPerGroup);
    if (lastLen < groupSize)
      simd::setCodesFrom(lastWords, lastLen, groupSize, bits,
                         uint32_t(maxInt));
    simd::searchScalesBatch(format, x.data(), offsets.data(), groupSize,
                            numBatched, float(maxInt), options.fullCodeRange,
                            rowWords.data(), bits, sB.data(), won.data());
    if (lastLen < groupSize) {
      if (won[size_t(numGroups - 1)])
        simd::setCodesFrom(lastWords, lastLen, groupSize, bits, 0);
      else
        std::memcpy(lastWords, qRow + (numGroups - 1) * wordsPerGroup,
                    size_t(wordsPerGroup) * 4);
    }
    std::memcpy(qRow, rowWords.data(), size_t(numWords) * 4);
    // The winners' scales (f16: the row's scales stored at once; they are
    // f16 values already, so the conversion is exact).
    bool anyWon = false;
    for (int64_t c = 0; c < numBatched; ++c)
      if (won[size_t(c)]) {
        anyWon = true;
        if (format != FloatFormat::F16)
          storeFromFloat(sB[size_t(c)], format,
                         scaleRow + size_t(c) * elemSize);
      }
    if (anyWon && format == FloatFormat::F16) {
      simd::f32ToF16(sB.data(), scaleH.data(), size_t(numBatched));
      std::memcpy(scaleRow, scaleH.data(), size_t(numBatched) * 2);
    }
  }
}

void ErrorAccumulator::add(const float *w, const float *wq, size_t n) {
  double s = 0.0;
  double e = 0.0;
  for (size_t i = 0; i < n; ++i) {
    const double a = w[i];
    const double d = a - double(wq[i]);
    s += a * a;
    e += d * d;
  }
  signal += s;
  noise += e;
}

double ErrorAccumulator::relFrobenius() const {
  if (noise == 0.0)
    return 0.0;
  if (signal == 0.0)
    return std::numeric_limits<double>::infinity();
  return std::sqrt(noise / signal);
}

double ErrorAccumulator::sqnrDb() const {
  if (noise == 0.0)
    return std::numeric_limits<double>::infinity();
  return 10.0 * std::log10(signal / noise);
}

} // namespace qopt::numerics
