//===- FusedQuantTest.cpp - groupQuantizeRowsFrom: fused steps ------------===//
//
// groupQuantizeRowsFrom (qopt/Numerics/GroupQuant.h) folds two passes over
// the source values into the quantization's own:
//
//  - the range check: it returns the first row holding a NaN or an
//    infinity in the model format, which the source range check
//    (findUnrepresentable) would have reported; here the row is known by
//    construction (one special value placed at the first, a middle and the
//    last element of a row, the last element of a whole group, inside the
//    groups after the row-wide batches, and in the partial last group);
//  - the cast: bfloat16 and float32 values quantized for a float16 model
//    without the cast's buffer; the bytes must be those of a deliberately
//    simple reference that rounds each value to float16 (double arithmetic,
//    ties to even) and then quantizes (GroupQuantTestUtil.h).
//
// Every test runs on every SIMD target this CPU runs and the portable path.
//
//===----------------------------------------------------------------------===//

#include "GroupQuantTestUtil.h"
#include "SimdTargets.h"
#include "qopt/Numerics/Convert.h"
#include "qopt/Numerics/GroupQuant.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <random>
#include <vector>

using namespace qopt::numerics;
using namespace qopt::numerics::test;
using qopt::numerics::testing::forEachSimdTarget;

namespace {

// 35 whole groups of 40 (q3) or 44 of 32 (q4) and a partial last group of
// 17 or 9 values: whole row-wide batches on every target (32 groups on
// AVX-512), groups after them, and a tail shorter than a group.
constexpr int64_t kRows = 6, kK = 1417;

uint32_t floatBits(float f) {
  uint32_t u;
  std::memcpy(&u, &f, 4);
  return u;
}

/// Finite values N(0, 0.02) as float, bfloat16 (top half) or binary16.
std::vector<float> gaussian(size_t n, unsigned seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> normal(0.0f, 0.02f);
  std::vector<float> v(n);
  for (float &x : v)
    x = normal(rng);
  return v;
}

/// Element positions of a row that a special value is placed at.
std::vector<int64_t> positions(int64_t groupSize) {
  const int64_t wholeGroups = kK / groupSize;
  return {0,                          // the first element
          kK / 2,                     // a middle one
          groupSize - 1,              // the last of the first group
          (wholeGroups - 1) * groupSize + 3, // the last whole group
          wholeGroups * groupSize,    // the partial last group's first
          kK - 1};                    // the row's last element
}

/// For stored values of one format: rows of finite values, `bad` placed at
/// each position of each chosen row must be reported as that row (the first
/// such row when there are two); `fine` (the largest value that stays
/// finite in the model format) must not be reported.
template <typename T>
void expectReportedRows(const std::vector<T> &base, FloatFormat stored,
                        const GroupQuantSpec &spec, T bad, T fine) {
  std::vector<uint32_t> words(size_t(kRows * wordsPerRow(spec, kK)));
  std::vector<uint32_t> scales(size_t(kRows * groupsPerRow(spec, kK)));
  auto run = [&](const std::vector<T> &w) {
    return groupQuantizeRowsFrom(w.data(), stored, kRows, kK, spec,
                                 words.data(), scales.data());
  };
  EXPECT_EQ(run(base), kRows);
  for (int64_t pos : positions(spec.groupSize)) {
    std::vector<T> w = base;
    w[size_t(2 * kK + pos)] = fine;
    EXPECT_EQ(run(w), kRows) << "largest finite at " << pos;
    for (int64_t row : {int64_t(0), int64_t(3), kRows - 1}) {
      std::vector<T> v = w;
      v[size_t(row * kK + pos)] = bad;
      EXPECT_EQ(run(v), row) << "row " << row << " element " << pos;
      if (row + 1 < kRows) {
        // A later row does not matter.
        v[size_t((kRows - 1) * kK + kK - 1 - pos)] = bad;
        EXPECT_EQ(run(v), row) << "row " << row << " element " << pos;
      }
    }
  }
}

TEST(FusedRangeCheck, ReportsTheFirstNonFiniteRow) {
  const std::vector<float> g = gaussian(size_t(kRows * kK), 3);
  std::vector<uint16_t> half(g.size()), bf(g.size());
  for (size_t i = 0; i < g.size(); ++i) {
    half[i] = floatToHalf(g[i]);
    bf[i] = uint16_t(floatBits(g[i]) >> 16);
  }
  using F = FloatFormat;
  forEachSimdTarget([&] {
    for (int bits : {3, 4}) {
      const int64_t gs = bits == 3 ? 40 : 32;
      const GroupQuantSpec h{bits, gs, F::F16}, b{bits, gs, F::BF16},
          f{bits, gs, F::F32};
      // binary16 model, values stored as binary16: 65504 is fine; +inf,
      // -inf and a NaN are reported.
      for (uint16_t bad : {uint16_t(0x7C00), uint16_t(0xFC00),
                           uint16_t(0x7E00), uint16_t(0xFE01)})
        expectReportedRows<uint16_t>(half, F::F16, h, bad, 0x7BFF);
      // bfloat16 stored, binary16 model: 65280 (0x477F) casts to a finite
      // 65280; -65536 (0xC780) rounds past 65504 to -inf, so it is
      // reported, as are inf and NaN.
      for (uint16_t bad : {uint16_t(0xC780), uint16_t(0x7F80),
                           uint16_t(0x7FC0)})
        expectReportedRows<uint16_t>(bf, F::BF16, h, bad, 0x477F);
      // float32 stored, binary16 model: 65519.996 rounds to 65504, 65520
      // (the tie, to even) to inf.
      std::vector<uint32_t> f32(g.size());
      for (size_t i = 0; i < g.size(); ++i)
        f32[i] = floatBits(g[i]);
      for (uint32_t bad : {0x477FF000u, 0xFF800000u, 0x7FC00000u})
        expectReportedRows<uint32_t>(f32, F::F32, h, bad, 0x477FEFFFu);
      // Models that keep the format: only infinities and NaN.
      expectReportedRows<uint16_t>(bf, F::BF16, b, 0xFF80, 0x7F7F);
      expectReportedRows<uint32_t>(f32, F::F32, f, 0x7FC00001u, 0x7F7FFFFFu);
    }
  });
}

TEST(FusedRangeCheck, RejectsStorageItCannotRound) {
  std::vector<uint16_t> w(64, 0x3C00);
  std::vector<uint32_t> words(8), scales(2);
  // float16 values for a bfloat16 model, float32 for bfloat16: -1.
  EXPECT_EQ(groupQuantizeRowsFrom(w.data(), FloatFormat::F16, 1, 64,
                                  {4, 32, FloatFormat::BF16}, words.data(),
                                  scales.data()),
            -1);
  EXPECT_EQ(groupQuantizeRowsFrom(w.data(), FloatFormat::F32, 1, 32,
                                  {4, 32, FloatFormat::BF16}, words.data(),
                                  scales.data()),
            -1);
  EXPECT_TRUE(groupQuantizeAcceptsStorage(FloatFormat::BF16, FloatFormat::F16));
  EXPECT_TRUE(groupQuantizeAcceptsStorage(FloatFormat::F32, FloatFormat::F16));
  EXPECT_FALSE(groupQuantizeAcceptsStorage(FloatFormat::F16, FloatFormat::F32));
}

/// bfloat16 weights whose float16 rounding matters: Gaussian values (exact
/// in float16), outliers, and values below float16's normal range (2^-14)
/// down to 2^-27, which round to float16 subnormals or zero, many of them
/// exactly halfway (ties to even).
std::vector<uint16_t> bf16Weights(size_t n, unsigned seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> normal(0.0f, 0.02f);
  std::vector<uint16_t> out(n);
  for (size_t i = 0; i < n; ++i) {
    float v = normal(rng);
    switch (rng() % 8) {
    case 0:
      v *= 1000; // up to about +-100
      break;
    case 1: // m * 2^e with 8 significant bits: ties below 2^-14
      v = std::ldexp(float(int(rng() % 512) - 256), -int(rng() % 14) - 21);
      break;
    default:
      break;
    }
    if ((i / 40) % 7 == 5) // whole groups of tiny values
      v = std::ldexp(float(int(rng() % 64) - 32), -29);
    out[i] = uint16_t(floatBits(v) >> 16);
  }
  return out;
}

void expectEqualToReference(const void *w, FloatFormat stored,
                            const std::vector<double> &values, int64_t rows,
                            int64_t k) {
  for (RoundingMode mode :
       {RoundingMode::NearestEven, RoundingMode::NearestAway}) {
    for (int bits : {3, 4}) {
      const GroupQuantSpec spec{bits, bits == 3 ? 40 : 32, FloatFormat::F16,
                                mode};
      // The reference: each value rounded to float16 (the cast), then the
      // double-precision group quantizer with float16 rounding.
      std::vector<double> cast(values.size());
      for (size_t i = 0; i < values.size(); ++i)
        cast[i] = refRoundTo(values[i], FloatFormat::F16);
      std::vector<uint32_t> wantWords;
      std::vector<double> wantScales;
      refQuantize(cast, rows, k, bits, spec.groupSize, FloatFormat::F16, mode,
                  wantWords, wantScales);
      std::vector<uint32_t> words(wantWords.size(), 0xDEADBEEF);
      std::vector<uint16_t> scales(wantScales.size(), 0xEEEE);
      ASSERT_EQ(groupQuantizeRowsFrom(w, stored, rows, k, spec, words.data(),
                                      scales.data()),
                rows);
      ASSERT_EQ(words, wantWords) << "bits " << bits << " k " << k;
      for (size_t i = 0; i < wantScales.size(); ++i)
        ASSERT_EQ(refDecodeHalf(scales[i]), wantScales[i]) << "scale " << i;
    }
  }
}

TEST(CastFusedQuant, Bf16MatchesCastThenQuantizeReference) {
  for (int64_t k : {kK, int64_t(4096)}) {
    const int64_t rows = 5;
    const std::vector<uint16_t> w = bf16Weights(size_t(rows * k), 17);
    std::vector<double> values(w.size());
    for (size_t i = 0; i < w.size(); ++i)
      values[i] = refDecodeBFloat16(w[i]);
    // The weights do reach float16's subnormals and ties.
    int ties = 0;
    for (double v : values)
      ties += v != 0 && std::fabs(v) < 0x1p-14 &&
              refRoundTo(v, FloatFormat::F16) != v;
    ASSERT_GT(ties, 100);
    forEachSimdTarget(
        [&] { expectEqualToReference(w.data(), FloatFormat::BF16, values,
                                     rows, k); });
  }
}

TEST(CastFusedQuant, F32MatchesCastThenQuantizeReference) {
  const int64_t rows = 4, k = kK;
  std::mt19937 rng(5);
  std::vector<float> w(size_t(rows * k));
  const std::vector<uint16_t> bf = bf16Weights(w.size(), 23);
  for (size_t i = 0; i < w.size(); ++i) {
    // bfloat16 values with random low bits: most round inexactly.
    uint32_t u = (uint32_t(bf[i]) << 16) | (rng() & 0xFFFF);
    std::memcpy(&w[i], &u, 4);
  }
  // Values halfway between two binary16 neighbours (ties to even).
  for (size_t i = 0; i < w.size(); i += 97)
    w[i] = float(1 + 1 / 2048.0 + (i % 4) / 1024.0);
  std::vector<double> values(w.begin(), w.end());
  forEachSimdTarget([&] {
    expectEqualToReference(w.data(), FloatFormat::F32, values, rows, k);
  });
}

TEST(CastFusedQuant, NonFiniteBf16AsCastThenQuantize) {
  // NaN, infinities and values that round past 65504: the bytes of the
  // cast (convertElements) followed by groupQuantizeRows, and the rows
  // reported.
  const int64_t rows = 4, k = kK;
  std::vector<uint16_t> w = bf16Weights(size_t(rows * k), 29);
  w[size_t(1 * k + 5)] = 0x7FC1;               // NaN
  w[size_t(1 * k + 700)] = 0xFF80;             // -inf
  w[size_t(3 * k + k - 1)] = 0x4790;           // 73728 -> inf
  forEachSimdTarget([&] {
    for (int bits : {3, 4}) {
      const GroupQuantSpec spec{bits, bits == 3 ? 40 : 32, FloatFormat::F16};
      std::vector<uint16_t> cast(w.size());
      ASSERT_TRUE(convertElements(w.data(), DType::BF16, cast.data(),
                                  DType::F16, w.size()));
      Quantized want = quantize16(cast, rows, k, spec);
      std::vector<uint32_t> words(want.words.size(), 0xDEADBEEF);
      std::vector<uint16_t> scales(want.scales.size(), 0xEEEE);
      EXPECT_EQ(groupQuantizeRowsFrom(w.data(), FloatFormat::BF16, rows, k,
                                      spec, words.data(), scales.data()),
                1);
      EXPECT_EQ(words, want.words);
      EXPECT_EQ(scales, want.scales);
    }
  });
}

} // namespace
