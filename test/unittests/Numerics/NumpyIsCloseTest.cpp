//===- NumpyIsCloseTest.cpp - np.isclose in numpy's types ---------------===//
//
// Expected values worked by hand from numpy's isclose (rtol 1e-5, atol
// 1e-8): |x - y| <= atol + rtol |y| in the types numpy computes it in.
// float32(1e-8) = 9.99999993922529e-09, float32(1e-5) =
// 9.99999974737875e-06.
//
//===----------------------------------------------------------------------===//

#include "qopt/Numerics/NumpyIsClose.h"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>

using namespace qopt::numerics;

namespace {

TEST(NumpyIsCloseTest, Promotion) {
  EXPECT_EQ(promoteFloatTypes(DType::F16, DType::BF16), DType::F32);
  EXPECT_EQ(promoteFloatTypes(DType::BF16, DType::BF16), DType::BF16);
  EXPECT_EQ(promoteFloatTypes(DType::F32, DType::F64), DType::F64);
  EXPECT_EQ(promoteFloatTypes(DType::F16, DType::F32), DType::F32);
  EXPECT_FALSE(promoteFloatTypes(DType::F8E4M3FN, DType::F32).has_value());
}

TEST(NumpyIsCloseTest, Float32Tolerance) {
  // y = 0: the tolerance is float32(1e-8); x = float32(1e-8) is on it.
  float atol = 1e-8f;
  EXPECT_TRUE(numpyIsClose(atol, DType::F32, 0.0, DType::F32));
  EXPECT_FALSE(numpyIsClose(std::nextafter(atol, 1.0f), DType::F32, 0.0,
                            DType::F32));
  // y = 1: tol = float32(1e-8 + float32(1e-5)) = 1.0009999e-05 (about);
  // 1 + 2^-17 (7.6e-6 away) is close, float32(1.00001) (1.00136e-5 away)
  // is not.
  EXPECT_TRUE(numpyIsClose(1.0 + std::ldexp(1.0, -17), DType::F32, 1.0,
                           DType::F32));
  EXPECT_FALSE(numpyIsClose(double(1.00001f), DType::F32, 1.0, DType::F32));
  // Not symmetric: the tolerance scales with |y| only. y = 1e5, x = 1e5 +
  // 1.0 (1e5 * 1e-5 = 1, plus atol: close); swapped, y = 100001 gives a
  // larger tolerance, close too; y = 1, x = 2: not close.
  EXPECT_TRUE(numpyIsClose(100001.0, DType::F32, 100000.0, DType::F32));
  EXPECT_FALSE(numpyIsClose(2.0, DType::F32, 1.0, DType::F32));
}

TEST(NumpyIsCloseTest, ToleranceInYsType) {
  // x float64 1e-8, y = 0: in float64 the tolerance is 1e-8 itself (close);
  // with y float32 it is float32(1e-8) < 1e-8 (not close).
  EXPECT_TRUE(numpyIsClose(1e-8, DType::F64, 0.0, DType::F64));
  EXPECT_FALSE(numpyIsClose(1e-8, DType::F64, 0.0, DType::F32));
}

TEST(NumpyIsCloseTest, Float16AtolIsZero) {
  // float16(1e-8) is 0 (below half the smallest subnormal, 2^-25), so with
  // y = 0 only x = 0 is close; float32 keeps its atol.
  double tiny = std::ldexp(1.0, -27); // 7.45e-9 < 1e-8
  EXPECT_TRUE(numpyIsClose(tiny, DType::F32, 0.0, DType::F32));
  EXPECT_FALSE(numpyIsClose(tiny, DType::F32, 0.0, DType::F16));
  EXPECT_TRUE(numpyIsClose(0.0, DType::F16, 0.0, DType::F16));
}

TEST(NumpyIsCloseTest, NonFinite) {
  double inf = std::numeric_limits<double>::infinity();
  double nan = std::numeric_limits<double>::quiet_NaN();
  EXPECT_FALSE(numpyIsClose(nan, DType::F32, nan, DType::F32));
  EXPECT_FALSE(numpyIsClose(1.0, DType::F32, nan, DType::F32));
  EXPECT_FALSE(numpyIsClose(nan, DType::F32, 1.0, DType::F32));
  EXPECT_TRUE(numpyIsClose(inf, DType::F32, inf, DType::F32));
  EXPECT_FALSE(numpyIsClose(-inf, DType::F32, inf, DType::F32));
  EXPECT_FALSE(numpyIsClose(inf, DType::F32, 3e38, DType::F32));
  EXPECT_FALSE(numpyIsClose(3e38, DType::F32, inf, DType::F32));
}

TEST(NumpyIsCloseTest, BFloat16) {
  // Neighbouring bfloat16 values near 1 differ by 2^-7: never close.
  EXPECT_FALSE(numpyIsClose(1.0 + std::ldexp(1.0, -7), DType::BF16, 1.0,
                            DType::BF16));
  // A float32 x 2^-20 from a bfloat16 y = 1: difference in float32, close.
  EXPECT_TRUE(numpyIsClose(1.0 + std::ldexp(1.0, -20), DType::F32, 1.0,
                           DType::BF16));
}

} // namespace
