//===- GroupQuantReferenceTest.cpp - Group quantization vs reference -----===//
//
// Part of quant-opt.
//
// Property tests of MLC group quantization against the double-precision
// reference of GroupQuantTestUtil.h, on every SIMD target this CPU runs and
// the portable loops.
//
//===----------------------------------------------------------------------===//

#include "qopt/Numerics/GroupQuant.h"
#include "GroupQuantTestUtil.h"
#include "SimdTargets.h"

#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <vector>

using namespace qopt::numerics;
using namespace qopt::numerics::test;

//===----------------------------------------------------------------------===//
// Property tests against the reference.
//===----------------------------------------------------------------------===//

namespace {

void checkAgainstReference(const std::vector<uint16_t> &halves, int64_t rows,
                           int64_t k, const GroupQuantSpec &spec) {
  std::vector<double> values(halves.size());
  for (size_t i = 0; i < halves.size(); ++i)
    values[i] = refDecodeHalf(halves[i]);
  std::vector<uint32_t> wantWords;
  std::vector<double> wantScales;
  refQuantize(values, rows, k, spec.bits, spec.groupSize, FloatFormat::F16,
              spec.rounding, wantWords, wantScales);
  Quantized q = quantize16(halves, rows, k, spec);
  ASSERT_EQ(q.words.size(), wantWords.size());
  for (size_t i = 0; i < wantWords.size(); ++i)
    ASSERT_EQ(q.words[i], wantWords[i])
        << "word " << i << " bits " << spec.bits << " k " << k;
  for (size_t i = 0; i < wantScales.size(); ++i)
    ASSERT_EQ(refDecodeHalf(q.scales[i]), wantScales[i]) << "scale " << i;

  // Dequantization: (q - maxInt) * scale, from the reference's own q.
  std::vector<float> out(size_t(rows * k));
  groupDequantizeRows(q.words.data(), q.scales.data(), rows, k, spec,
                      out.data());
  const int perWord = 32 / spec.bits;
  const int64_t groups = (k + spec.groupSize - 1) / spec.groupSize;
  const int64_t rowWords = groups * spec.groupSize / perWord;
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t i = 0; i < k; ++i) {
      uint32_t word = wantWords[size_t(r * rowWords + i / perWord)];
      int v =
          int((word >> ((i % perWord) * spec.bits)) & ((1u << spec.bits) - 1));
      double want = (v - ((1 << (spec.bits - 1)) - 1)) *
                    wantScales[size_t(r * groups + i / spec.groupSize)];
      ASSERT_EQ(double(out[size_t(r * k + i)]), want);
    }
}

} // namespace

/// Runs a test body on every SIMD target this CPU runs and with the
/// portable loops (SimdTargets.h).
template <typename Body>
void withBothPaths(Body body) {
  qopt::numerics::testing::forEachSimdTarget(body);
}

TEST(GroupQuantTest, MatchesReferenceF16) {
  const std::vector<uint16_t> w = randomHalfWeights(6 * 4100, 11);
  withBothPaths([&] {
  for (RoundingMode mode :
       {RoundingMode::NearestEven, RoundingMode::NearestAway}) {
    checkAgainstReference(w, 6, 4100, {4, 32, FloatFormat::F16, mode});
    checkAgainstReference(w, 6, 4100, {3, 40, FloatFormat::F16, mode});
    checkAgainstReference(w, 3, 8200, {2, 32, FloatFormat::F16, mode});
    checkAgainstReference(w, 5, 4920, {5, 30, FloatFormat::F16, mode});
    checkAgainstReference(w, 4, 6150, {8, 128, FloatFormat::F16, mode});
    checkAgainstReference(w, 6, 4100, {4, 64, FloatFormat::F16, mode});
    checkAgainstReference(w, 6, 4100, {4, 16, FloatFormat::F16, mode});
  }
  });
}

TEST(GroupQuantTest, SimdAndPortablePathsAgreeOnSpecialValues) {
  // Rows with NaNs, infinities, zeros, subnormals and huge values in
  // odd-sized rows (masked tails), q4 groups of 32 and q3 groups of 40.
  std::mt19937 rng(17);
  const uint16_t specials[] = {0x7E00, 0xFE00, 0x7C00, 0xFC00, 0x0000, 0x8000,
                               0x0001, 0x83FF, 0x7BFF, 0xFBFF, 0x3C00, 0x0400};
  std::vector<uint16_t> w = randomHalfWeights(7 * 997, 23);
  for (size_t i = 0; i < w.size(); ++i)
    if (rng() % 29 == 0)
      // Rows 0-2 without NaNs, 3-6 with.
      w[i] = specials[i < 3 * 997 ? 2 + rng() % 10 : rng() % 12];
  for (int64_t i = 0; i < 40; ++i) // an all-zero group and a zero-scale one
    w[size_t(997 + i)] = i == 7 ? 0x0001 : 0x0000;
  // The scalar definitions' bytes, then every SIMD target against them.
  for (const GroupQuantSpec &spec : {kQ4F16, kQ3F16}) {
    setSimdKernelsEnabled(false);
    const Quantized portable = quantize16(w, 7, 997, spec);
    setSimdKernelsEnabled(true);
    qopt::numerics::testing::forEachSimdTarget([&] {
      Quantized fast = quantize16(w, 7, 997, spec);
      EXPECT_EQ(fast.words, portable.words) << spec.bits << " bits";
      EXPECT_EQ(fast.scales, portable.scales) << spec.bits << " bits";
    });
  }
}

TEST(GroupQuantTest, MatchesReferenceOnEveryHalfValue) {
  // Every finite half value once, shuffled into rows of 4096.
  std::vector<uint16_t> all;
  for (uint32_t h = 0; h < 0x10000; ++h)
    if ((h & 0x7FFF) < 0x7C00)
      all.push_back(uint16_t(h));
  std::shuffle(all.begin(), all.end(), std::mt19937(5));
  all.resize(15 * 4096);
  withBothPaths([&] {
    checkAgainstReference(all, 15, 4096, kQ4F16);
    checkAgainstReference(all, 15, 4096, kQ3F16);
  });
}

TEST(GroupQuantTest, MatchesReferenceBF16AndF32) {
  std::mt19937 rng(7);
  std::normal_distribution<float> normal(0.0f, 0.02f);
  const int64_t rows = 4, k = 1000;
  std::vector<float> f(size_t(rows * k));
  for (float &v : f)
    v = (rng() % 13 == 0) ? 0.0f : normal(rng) * ((rng() % 17 == 0) ? 40 : 1);
  withBothPaths([&] {
  for (RoundingMode mode :
       {RoundingMode::NearestEven, RoundingMode::NearestAway}) {
    // BF16: take the top half of each float (a valid bf16 value).
    std::vector<uint16_t> b(f.size());
    std::vector<double> bValues(f.size());
    for (size_t i = 0; i < f.size(); ++i) {
      uint32_t u;
      std::memcpy(&u, &f[i], 4);
      b[i] = uint16_t(u >> 16);
      bValues[i] = refDecodeBFloat16(b[i]);
    }
    for (int bits : {3, 4}) {
      GroupQuantSpec spec{bits, bits == 3 ? 40 : 32, FloatFormat::BF16, mode};
      std::vector<uint32_t> wantWords;
      std::vector<double> wantScales;
      refQuantize(bValues, rows, k, bits, spec.groupSize, FloatFormat::BF16,
                  mode, wantWords, wantScales);
      Quantized q = quantize16(b, rows, k, spec);
      EXPECT_EQ(q.words, wantWords);
      for (size_t i = 0; i < wantScales.size(); ++i)
        ASSERT_EQ(refDecodeBFloat16(q.scales[i]), wantScales[i]);

      GroupQuantSpec spec32{bits, spec.groupSize, FloatFormat::F32, mode};
      std::vector<double> fValues(f.begin(), f.end());
      refQuantize(fValues, rows, k, bits, spec.groupSize, FloatFormat::F32,
                  mode, wantWords, wantScales);
      Quantized q32 = quantize32(f, rows, k, spec32);
      EXPECT_EQ(q32.words, wantWords);
      for (size_t i = 0; i < wantScales.size(); ++i)
        ASSERT_EQ(double(q32.scalesF32[i]), wantScales[i]);
    }
  }
  });
}
