//===- QuantRulesTest.cpp - The scalar rules against the C library --------===//
//
// rules::roundHalfAway must be C's round (std::round) bit for bit, sign of
// zero included, on every kind of float: ties, values between 2^22 and 2^23
// (where floats have half-integer steps), huge values, infinities, NaN.
//
//===----------------------------------------------------------------------===//

#include "qopt/Numerics/QuantRules.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
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
