//===- ScaleSearchTest.cpp - Optimized scales for MLC group modes ---------===//
//
// groupQuantizeRowsOptimized against groupQuantizeRows (RTN) on thousands of
// random groups with outliers: never a larger error per group, a clearly
// smaller one overall, output decoded independently here and consistent
// with groupDequantizeRows, byte-identical for any split of the rows; and a
// plain reference of the documented search. ErrorAccumulator by hand.
//
//===----------------------------------------------------------------------===//

#include "qopt/Numerics/ScaleSearch.h"
#include "SimdTargets.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <random>
#include <vector>

using namespace qopt::numerics;

namespace {

/// Weights in the model dtype's storage: uint16 bits (F16, BF16) or float.
struct Weights {
  FloatFormat format;
  std::vector<uint16_t> bits16;
  std::vector<float> f32;
  const void *data() const {
    return format == FloatFormat::F32 ? static_cast<const void *>(f32.data())
                                      : bits16.data();
  }
  float at(size_t i) const {
    switch (format) {
    case FloatFormat::F16:
      return halfToFloat(bits16[i]);
    case FloatFormat::BF16:
      return bfloat16ToFloat(bits16[i]);
    case FloatFormat::F32:
      break;
    }
    return f32[i];
  }
};

/// Gaussian values (sigma 0.02) with 1% outliers 10x larger, in \p format.
Weights randomWeights(size_t n, FloatFormat format, unsigned seed,
                      double outliers = 0.01) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> normal(0.0f, 0.02f);
  std::uniform_real_distribution<double> uniform(0.0, 1.0);
  Weights w{format, {}, {}};
  for (size_t i = 0; i < n; ++i) {
    float v = normal(rng);
    if (uniform(rng) < outliers)
      v *= 10.0f;
    if (format == FloatFormat::F16)
      w.bits16.push_back(floatToHalf(v));
    else if (format == FloatFormat::BF16)
      w.bits16.push_back(floatToBFloat16(v));
    else
      w.f32.push_back(v);
  }
  return w;
}

struct Output {
  std::vector<uint32_t> words;
  std::vector<unsigned char> scales; // Model-dtype bytes.
};

size_t elemSize(FloatFormat f) { return f == FloatFormat::F32 ? 4 : 2; }

Output quantize(const Weights &w, int64_t rows, int64_t k,
                const GroupQuantSpec &spec, bool optimized,
                ScaleSearchOptions options = {}) {
  Output o;
  o.words.assign(size_t(rows * wordsPerRow(spec, k)), 0xDEADBEEF);
  o.scales.assign(
      size_t(rows * groupsPerRow(spec, k)) * elemSize(spec.modelFormat), 0xEE);
  if (optimized)
    groupQuantizeRowsOptimized(w.data(), rows, k, spec, o.words.data(),
                               o.scales.data(), options);
  else
    groupQuantizeRows(w.data(), rows, k, spec, o.words.data(), o.scales.data());
  return o;
}

/// The scale of group index g, decoded here.
float scaleAt(const Output &o, size_t g, FloatFormat f) {
  const unsigned char *p = o.scales.data() + g * elemSize(f);
  if (f == FloatFormat::F32) {
    float v;
    std::memcpy(&v, p, 4);
    return v;
  }
  uint16_t h;
  std::memcpy(&h, p, 2);
  return f == FloatFormat::F16 ? halfToFloat(h) : bfloat16ToFloat(h);
}

/// Stored value of element i of a row, decoded here: word i / epw within the
/// group's words, bits (i % epw) * bits upward (LSB first).
int storedValue(const uint32_t *rowWords, int64_t i, const GroupQuantSpec &s) {
  const int64_t epw = 32 / s.bits;
  const int64_t wordsPerGroup = s.groupSize / epw;
  const int64_t g = i / s.groupSize, r = i % s.groupSize;
  const uint32_t word = rowWords[g * wordsPerGroup + r / epw];
  return int((word >> ((r % epw) * s.bits)) & ((1u << s.bits) - 1));
}

/// Per-group squared errors of the quantized output, decoded here as
/// (stored - M) * scale in float32.
std::vector<double> groupErrors(const Weights &w, const Output &o, int64_t rows,
                                int64_t k, const GroupQuantSpec &spec) {
  const int64_t groups = groupsPerRow(spec, k);
  const int64_t words = wordsPerRow(spec, k);
  const int m = (1 << (spec.bits - 1)) - 1;
  std::vector<double> errors(size_t(rows * groups), 0.0);
  for (int64_t row = 0; row < rows; ++row) {
    for (int64_t i = 0; i < k; ++i) {
      const size_t g = size_t(row * groups + i / spec.groupSize);
      const float s = scaleAt(o, g, spec.modelFormat);
      const int v = storedValue(o.words.data() + row * words, i, spec);
      const float d = float(v - m) * s;
      const double diff = double(w.at(size_t(row * k + i))) - double(d);
      errors[g] += diff * diff;
    }
  }
  return errors;
}

TEST(ScaleSearchTest, NeverWorseThanRtnOnAnyGroup) {
  struct Case {
    GroupQuantSpec spec;
    int64_t rows, k;
    double maxTotalRatio; // Optimized / RTN squared error, overall.
  };
  const Case cases[] = {
      {{4, 32, FloatFormat::F16}, 64, 4096, 0.97}, // 8192 groups.
      {{3, 40, FloatFormat::F16}, 64, 4000, 0.93}, // 6400 groups.
      {{4, 32, FloatFormat::BF16}, 16, 1024, 0.97},
      {{4, 32, FloatFormat::F32}, 16, 1024, 0.97},
      {{3, 40, FloatFormat::F16}, 16, 1000, 0.93}, // Partial last group.
      {{4, 32, FloatFormat::F16}, 16, 100, 0.97},  // Partial last group.
  };
  unsigned seed = 1;
  for (const Case &c : cases) {
    SCOPED_TRACE("q" + std::to_string(c.spec.bits) + " k " +
                 std::to_string(c.k));
    Weights w = randomWeights(size_t(c.rows * c.k), c.spec.modelFormat, seed++);
    Output rtn = quantize(w, c.rows, c.k, c.spec, false);
    Output opt = quantize(w, c.rows, c.k, c.spec, true);
    const std::vector<double> er = groupErrors(w, rtn, c.rows, c.k, c.spec);
    const std::vector<double> eo = groupErrors(w, opt, c.rows, c.k, c.spec);
    double totalRtn = 0, totalOpt = 0;
    size_t worse = 0, better = 0;
    for (size_t g = 0; g < er.size(); ++g) {
      worse += eo[g] > er[g] * (1 + 1e-12);
      better += eo[g] < er[g];
      totalRtn += er[g];
      totalOpt += eo[g];
    }
    EXPECT_EQ(worse, 0u);
    EXPECT_GT(better, er.size() / 2);
    EXPECT_LT(totalOpt, c.maxTotalRatio * totalRtn);
  }
}

TEST(ScaleSearchTest, OutputIsConsistentWithGroupDequantizeRows) {
  // k = 100: the last q4 group holds 4 values; its padding must stay 0.
  const GroupQuantSpec spec{4, 32, FloatFormat::F16};
  const int64_t rows = 32, k = 100;
  Weights w = randomWeights(size_t(rows * k), spec.modelFormat, 21);
  Output opt = quantize(w, rows, k, spec, true);
  std::vector<float> out(size_t(rows * k));
  groupDequantizeRows(opt.words.data(), opt.scales.data(), rows, k, spec,
                      out.data());
  const int64_t words = wordsPerRow(spec, k);
  for (int64_t row = 0; row < rows; ++row) {
    const uint32_t *rw = opt.words.data() + row * words;
    for (int64_t i = 0; i < k; ++i) {
      const int v = storedValue(rw, i, spec);
      ASSERT_LE(v, 14); // Never 15 without the full code range.
      const float s = scaleAt(opt, size_t(row * 4 + i / 32), spec.modelFormat);
      ASSERT_GE(s, 0.0f);
      ASSERT_EQ(out[size_t(row * k + i)], float(v - 7) * s);
    }
    // Padding: values 4..31 of the last group (words 12.. bits 16.., 13..15).
    EXPECT_EQ(rw[12] >> 16, 0u);
    EXPECT_EQ(rw[13], 0u);
    EXPECT_EQ(rw[14], 0u);
    EXPECT_EQ(rw[15], 0u);
  }
}

TEST(ScaleSearchTest, BytesIndependentOfRowSplit) {
  for (GroupQuantSpec spec : {GroupQuantSpec{4, 32, FloatFormat::F16},
                              GroupQuantSpec{3, 40, FloatFormat::BF16}}) {
    for (bool full : {false, true}) {
      const int64_t rows = 9, k = 200;
      Weights w = randomWeights(size_t(rows * k), spec.modelFormat, 5);
      Output all = quantize(w, rows, k, spec, true, {full});
      const size_t wordsRow = size_t(wordsPerRow(spec, k));
      const size_t scaleRow =
          size_t(groupsPerRow(spec, k)) * elemSize(spec.modelFormat);
      for (int64_t row = 0; row < rows; ++row) {
        Weights one{spec.modelFormat,
                    std::vector<uint16_t>(w.bits16.begin() + row * k,
                                          w.bits16.begin() + (row + 1) * k),
                    {}};
        Output o = quantize(one, 1, k, spec, true, {full});
        EXPECT_EQ(o.words, std::vector<uint32_t>(
                               all.words.begin() + row * wordsRow,
                               all.words.begin() + (row + 1) * wordsRow));
        EXPECT_EQ(o.scales, std::vector<unsigned char>(
                                all.scales.begin() + row * scaleRow,
                                all.scales.begin() + (row + 1) * scaleRow));
      }
      // Deterministic: a second run gives the same bytes.
      Output again = quantize(w, rows, k, spec, true, {full});
      EXPECT_EQ(again.words, all.words);
      EXPECT_EQ(again.scales, all.scales);
    }
  }
}

TEST(ScaleSearchTest, FullCodeRange) {
  qopt::numerics::testing::forEachSimdTarget([&] {
  const GroupQuantSpec spec{4, 32, FloatFormat::F16};
  const int64_t rows = 64, k = 1024;
  Weights w = randomWeights(size_t(rows * k), spec.modelFormat, 31);
  Output rtn = quantize(w, rows, k, spec, false);
  Output opt = quantize(w, rows, k, spec, true);
  Output full = quantize(w, rows, k, spec, true, {true});
  const std::vector<double> er = groupErrors(w, rtn, rows, k, spec);
  const std::vector<double> eo = groupErrors(w, opt, rows, k, spec);
  const std::vector<double> ef = groupErrors(w, full, rows, k, spec);
  double totalOpt = 0, totalFull = 0;
  for (size_t g = 0; g < er.size(); ++g) {
    EXPECT_LE(ef[g], er[g] * (1 + 1e-12)) << "group " << g;
    totalOpt += eo[g];
    totalFull += ef[g];
  }
  EXPECT_LT(totalFull, 0.9 * totalOpt);
  // It does use stored value 15 and negative scales, and groupDequantizeRows
  // reconstructs them as (15 - 7) * scale.
  int fifteen = 0, negative = 0;
  std::vector<float> out(size_t(rows * k));
  groupDequantizeRows(full.words.data(), full.scales.data(), rows, k, spec,
                      out.data());
  for (int64_t row = 0; row < rows; ++row) {
    for (int64_t i = 0; i < k; ++i) {
      const int v = storedValue(full.words.data() + row * 128, i, spec);
      const float s =
          scaleAt(full, size_t(row * 32 + i / 32), spec.modelFormat);
      fifteen += v == 15;
      negative += s < 0 && i % 32 == 0;
      ASSERT_EQ(out[size_t(row * k + i)], float(v - 7) * s);
    }
  }
  EXPECT_GT(fifteen, 0);
  EXPECT_GT(negative, 0);
  });
}

/// The documented search, written plainly: candidates scored from float32
/// sums in sequential order (W = sum y y, X = sum y q, Q = sum q q, score
/// (W - 2 s X) + s^2 Q), the winner's squared error (double), or the RTN
/// error if that is not beaten.
double referenceSearchError(const std::vector<float> &x, int m, double rtn) {
  const float ratios[] = {1.00f, 0.90f, 0.80f};
  float amax = 0, w = 0;
  for (float v : x) {
    amax = std::max(amax, std::fabs(v));
    w += v * v;
  }
  auto codeOf = [&](float v, float s) {
    return std::clamp(std::nearbyint(v * (1.0f / s)), float(-m), float(m));
  };
  float bestScore = std::numeric_limits<float>::infinity(), bestS = 0;
  auto score = [&](float s, float &sxq, float &sqq) {
    sxq = sqq = 0;
    for (float v : x) {
      const float q = codeOf(v, s);
      sxq += v * q;
      sqq += q * q;
    }
    const float t = s * sxq;
    return (w - (t + t)) + (s * s) * sqq;
  };
  std::vector<float> tried;
  // Scores s if new: its score and least-squares successor (0: none).
  auto attempt = [&](float s, float &e, float &next) {
    if (!(s > 0) || !std::isfinite(s) || !std::isfinite(1.0f / s) ||
        std::find(tried.begin(), tried.end(), s) != tried.end())
      return false;
    tried.push_back(s);
    float sxq, sqq;
    e = score(s, sxq, sqq);
    if (e < bestScore) {
      bestScore = e;
      bestS = s;
    }
    next = sqq > 0 ? roundTo<FloatFormat::F16>(sxq / sqq) : 0.0f;
    return true;
  };
  // Screening of the ratios, then two refinements from the lead only.
  float leadScore = std::numeric_limits<float>::infinity();
  float s = 0;
  for (float r : ratios) {
    float e;
    float next;
    if (attempt(roundTo<FloatFormat::F16>(amax / float(m) * r), e, next) &&
        e < leadScore) {
      leadScore = e;
      s = next;
    }
  }
  for (int step = 0; step < 2; ++step) {
    float e;
    float next;
    if (!attempt(s, e, next))
      break;
    s = next;
  }
  if (bestS == 0)
    return rtn;
  double e = 0;
  for (float v : x) {
    const double d = double(v) - double(codeOf(v, bestS) * bestS);
    e += d * d;
  }
  return std::min(rtn, e);
}

TEST(ScaleSearchTest, MatchesPlainReferenceOfTheSearch) {
  qopt::numerics::testing::forEachSimdTarget([&] {
  const GroupQuantSpec spec{4, 32, FloatFormat::F16};
  const int64_t rows = 16, k = 512;
  Weights w = randomWeights(size_t(rows * k), spec.modelFormat, 41);
  Output rtn = quantize(w, rows, k, spec, false);
  Output opt = quantize(w, rows, k, spec, true);
  const std::vector<double> er = groupErrors(w, rtn, rows, k, spec);
  const std::vector<double> eo = groupErrors(w, opt, rows, k, spec);
  for (size_t g = 0; g < er.size(); ++g) {
    std::vector<float> x;
    for (size_t i = 0; i < 32; ++i)
      x.push_back(w.at(g * 32 + i));
    EXPECT_NEAR(eo[g], referenceSearchError(x, 7, er[g]), 1e-12 * er[g])
        << "group " << g;
  }
  });
}

TEST(ScaleSearchTest, ZeroAndNonFiniteGroupsKeepRtn) {
  const GroupQuantSpec spec{4, 32, FloatFormat::F16};
  Weights w = randomWeights(4 * 32, spec.modelFormat, 51);
  std::fill(w.bits16.begin(), w.bits16.begin() + 32, uint16_t(0));
  w.bits16[32 + 5] = 0x7E00; // NaN.
  w.bits16[64 + 9] = 0xFC00; // -inf.
  Output rtn = quantize(w, 1, 128, spec, false);
  Output opt = quantize(w, 1, 128, spec, true);
  EXPECT_TRUE(
      std::equal(rtn.words.begin(), rtn.words.begin() + 12, opt.words.begin()));
  EXPECT_TRUE(std::equal(rtn.scales.begin(), rtn.scales.begin() + 6,
                         opt.scales.begin()));
  // The fourth group, ordinary, is searched.
  EXPECT_LE(groupErrors(w, opt, 1, 128, spec)[3],
            groupErrors(w, rtn, 1, 128, spec)[3]);
}

TEST(ScaleSearchTest, ExactGroupsStayExact) {
  // Values already on RTN's grid (scale 1 = 7 / 7): RTN's error is 0, and a
  // candidate must be strictly better to replace it.
  const GroupQuantSpec spec{4, 32, FloatFormat::F32};
  Weights w{FloatFormat::F32, {}, {}};
  for (int i = 0; i < 32; ++i)
    w.f32.push_back(float(i % 15 - 7));
  Output rtn = quantize(w, 1, 32, spec, false);
  Output opt = quantize(w, 1, 32, spec, true);
  EXPECT_EQ(opt.words, rtn.words);
  EXPECT_EQ(opt.scales, rtn.scales);
  EXPECT_EQ(scaleAt(opt, 0, FloatFormat::F32), 1.0f);
}

TEST(ScaleSearchTest, InvalidSpecWritesNothing) {
  Weights w = randomWeights(64, FloatFormat::F16, 61);
  std::vector<uint32_t> words(8, 0xDEADBEEF);
  std::vector<uint16_t> scales(2, 0xEEEE);
  groupQuantizeRowsOptimized(w.data(), 1, 64, {4, 30, FloatFormat::F16},
                             words.data(), scales.data());
  groupQuantizeRowsOptimized(w.data(), 0, 64, {4, 32, FloatFormat::F16},
                             words.data(), scales.data());
  EXPECT_EQ(words, std::vector<uint32_t>(8, 0xDEADBEEF));
  EXPECT_EQ(scales, std::vector<uint16_t>(2, 0xEEEE));
}

TEST(ErrorAccumulatorTest, HandWorked) {
  // signal = 3^2 + 4^2 = 25, noise = 0 + 1 = 1: rel = sqrt(1/25) = 0.2,
  // SQNR = 10 log10(25) = 13.9794 dB. A second add accumulates.
  ErrorAccumulator acc;
  const float w[2] = {3, 4}, wq[2] = {3, 3};
  acc.add(w, wq, 2);
  EXPECT_EQ(acc.signal, 25.0);
  EXPECT_EQ(acc.noise, 1.0);
  EXPECT_DOUBLE_EQ(acc.relFrobenius(), 0.2);
  EXPECT_NEAR(acc.sqnrDb(), 13.979400, 1e-6);
  const float w2[1] = {0}, wq2[1] = {1};
  acc.add(w2, wq2, 1);
  EXPECT_EQ(acc.signal, 25.0);
  EXPECT_EQ(acc.noise, 2.0);

  ErrorAccumulator exact;
  exact.add(w, w, 2);
  EXPECT_EQ(exact.relFrobenius(), 0.0);
  EXPECT_EQ(exact.sqnrDb(), std::numeric_limits<double>::infinity());
  ErrorAccumulator noSignal;
  noSignal.add(w2, wq2, 1);
  EXPECT_EQ(noSignal.relFrobenius(), std::numeric_limits<double>::infinity());
  EXPECT_EQ(ErrorAccumulator().relFrobenius(), 0.0);
}

} // namespace
