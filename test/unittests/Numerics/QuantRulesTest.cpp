//===- QuantRulesTest.cpp - The scalar rules against the C library --------===//
//
// rules::roundHalfAway must be C's round (std::round) bit for bit, sign of
// zero included, on every kind of float: ties, values between 2^22 and 2^23
// (where floats have half-integer steps), huge values, infinities, NaN.
// Veltkamp's splitting, which the group quantizer's vector code uses for
// its float16 steps, must be rules::roundToHalfForQuantizer bit for bit.
//
//===----------------------------------------------------------------------===//

#include "qopt/Numerics/QuantRules.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <vector>

using namespace qopt::numerics;

TEST(QuantRulesTest, RoundHalfAwayIsCRound) {
  std::vector<float> xs = {0.5f,        1.5f,        2.5f,       -2.5f,
                           0.49999997f, -0.49999997f, -0.3f,      0.0f,
                           -0.0f,       4194304.5f,  -4194305.5f, 8388607.5f,
                           8388608.0f,  1e30f,       -1e-30f,    INFINITY,
                           -INFINITY};
  for (uint64_t u = 0; u < (1ull << 32); u += 4099)
    xs.push_back(detail::bitsToFloat(uint32_t(u)));
  for (int i = -300; i <= 300; ++i)
    xs.push_back(float(i) + 0.5f);
  for (float x : xs) {
    const float got = rules::roundHalfAway(x);
    const float want = std::round(x);
    if (std::isnan(want)) {
      EXPECT_TRUE(std::isnan(got)) << x;
      continue;
    }
    EXPECT_EQ(detail::floatBits(got), detail::floatBits(want))
        << x << " bits " << std::hex << detail::floatBits(x);
  }
}

TEST(QuantRulesTest, MnnClampSendsNaNToHi) {
  EXPECT_EQ(rules::mnnClamp(NAN, -8.0f, 7.0f), 7.0f);
  EXPECT_EQ(rules::mnnClamp(-INFINITY, -8.0f, 7.0f), -8.0f);
  EXPECT_EQ(rules::mnnClamp(3.0f, -8.0f, 7.0f), 3.0f);
  // Group quantization's clamp sends NaN to 0 instead.
  EXPECT_EQ(rules::clampCode(NAN, 14.0f), 0.0f);
  EXPECT_EQ(rules::clampCode(INFINITY, 14.0f), 14.0f);
}

TEST(QuantRulesTest, VeltkampSplittingIsTheQuantizersHalfRounding) {
  // The group quantizer's row-wide code step (RoundToHalfBySplitting in
  // lib/Numerics/SimdRules-inl.h) rounds to float16 precision as
  // c - (c - x) with c = x * (2^13 + 1), in binary32 rounded to nearest
  // even. Here that formula, written out, against the scalar definition
  // bit for bit on every pattern of both signs in the lowest, a middle and
  // the highest binade its callers reach (x / s of half values is 0 or in
  // [2^-41, 2^40]; plus maxInt, in [2^-51, 2^41]): each step scales
  // exactly with the binade, so these decide the others (the whole range
  // of biased exponents 1..200 was checked once the same way).
  // volatile: every product and difference rounded on its own, also
  // where the test is compiled with FMA contraction (the Arm cross build).
  auto split = [](float x) {
    volatile float c = x * 8193.0f;
    volatile float d = c - x;
    return c - d;
  };
  auto bits = [](float f) {
    uint32_t u;
    std::memcpy(&u, &f, 4);
    return u;
  };
  int64_t mismatches = 0;
  for (int exponent : {-51, 0, 40})
    for (uint32_t sign : {0u, 0x80000000u})
      for (uint32_t m = 0; m < (1u << 23); ++m) {
        const uint32_t u = sign | uint32_t(exponent + 127) << 23 | m;
        float x;
        std::memcpy(&x, &u, 4);
        mismatches +=
            bits(split(x)) != bits(rules::roundToHalfForQuantizer(x));
      }
  EXPECT_EQ(mismatches, 0);
  for (float zero : {0.0f, -0.0f})
    EXPECT_EQ(bits(split(zero)), bits(rules::roundToHalfForQuantizer(zero)));
  // Ties go to the even neighbour: 1 + 2^-11 is halfway between 1 and
  // 1 + 2^-10, 1 + 3 * 2^-11 between 1 + 2^-10 and 1 + 2^-9.
  EXPECT_EQ(split(1.0f + 0x1p-11f), 1.0f);
  EXPECT_EQ(split(1.0f + 3 * 0x1p-11f), 1.0f + 0x1p-9f);
}
