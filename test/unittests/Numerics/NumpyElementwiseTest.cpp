//===- NumpyElementwiseTest.cpp - numpy's float32 exp and x / 2**t ------===//
//
// Expected bits: np.exp of float32 arrays as numpy 1.24.2 (Debian bookworm's
// python3-numpy) printed them on an x86-64 machine with AVX512F, and again
// with NPY_DISABLE_CPU_FEATURES="AVX512F ..." (its AVX2+FMA3 loop): the same
// bits. Several are not the correctly rounded exp. Divisions are hand-worked
// in units of the float16 / bfloat16 subnormal step.
//
//===----------------------------------------------------------------------===//

#include "qopt/Numerics/NumpyElementwise.h"
#include "qopt/Numerics/Float.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <vector>

using namespace qopt::numerics;

namespace {
uint32_t bits(float f) {
  uint32_t u;
  std::memcpy(&u, &f, 4);
  return u;
}
float fromBits(uint32_t u) {
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}
} // namespace

TEST(NumpyElementwiseTest, ExpMatchesNumpyBits) {
  struct Case {
    uint32_t x, expected;
  } cases[] = {
      {0x3f800000u, 0x402df855u}, // exp(1): numpy 2.7182820, not 2.7182817
      {0xbf800000u, 0x3ebc5ab1u}, // exp(-1): one ulp above the rounded value
      {0x3f000000u, 0x3fd3094cu}, // exp(0.5)
      {0x41200000u, 0x46ac14efu}, // exp(10)
      {0xc2ae0000u, 0x00b33687u}, // exp(-87): smallest normals
      {0xc2bf0000u, 0x00000956u}, // exp(-95.5): a subnormal
      {0xc2cfcccdu, 0x00000001u}, // exp(-103.9): the smallest subnormal
      {0x42b00000u, 0x7ef882b7u}, // exp(88)
      {0x40933333u, 0x42c6f7f7u}, // exp(4.6)
      {0xbe9d1bd0u, 0x3f3c5ab1u}, // exp(-0.30685282)
  };
  for (const Case &c : cases)
    EXPECT_EQ(bits(numpyExpF32(fromBits(c.x))), c.expected)
        << std::hex << "x = 0x" << c.x;
}

TEST(NumpyElementwiseTest, ExpLimits) {
  EXPECT_EQ(bits(numpyExpF32(0.0f)), 0x3f800000u);
  EXPECT_EQ(bits(numpyExpF32(88.72283935546875f)), 0x7f800000u); // xmax
  EXPECT_EQ(bits(numpyExpF32(-103.97208404541015625f)), 0u);    // xmin
  EXPECT_EQ(bits(numpyExpF32(-INFINITY)), 0u);
  EXPECT_EQ(bits(numpyExpF32(INFINITY)), 0x7f800000u);
  // NaN of any payload or sign gives numpy's NPY_NANF.
  EXPECT_EQ(bits(numpyExpF32(fromBits(0xffc12345u))), 0x7fc00000u);
}

TEST(NumpyElementwiseTest, ExpNegatedRowsAsRwkvTimeDecay) {
  // np.exp(-np.exp(x)) for x = 4.6, -8, 0 (numpy: 0x2c, 0x3f7fea05,
  // 0x3ebc5ab1): exp(-99.48) is a float32 subnormal.
  std::vector<float> v = {4.6f, -8.0f, 0.0f};
  numpyExpF32Rows(v.data(), v.data(), v.size(), /*negate=*/false);
  numpyExpF32Rows(v.data(), v.data(), v.size(), /*negate=*/true);
  EXPECT_EQ(bits(v[0]), 0x0000002cu);
  EXPECT_EQ(bits(v[1]), 0x3f7fea05u);
  EXPECT_EQ(bits(v[2]), 0x3ebc5ab1u);
}

TEST(NumpyElementwiseTest, DivideHalfRoundsSubnormalsToNearestEven) {
  // In units of the float16 subnormal step 2^-24: 1 / 2 = 0.5 -> 0 (tie to
  // even), 3 / 2 = 1.5 -> 2, 1024 (2^-14, the smallest normal) / 2 = 512,
  // 1025 / 2 = 512.5 -> 512, 1027 / 2 = 513.5 -> 514, 3 / 4 = 0.75 -> 1;
  // 65504 / 2 = 32752 exactly; -0 and inf keep their sign.
  std::vector<uint16_t> h = {0x0001, 0x0003, 0x0400, 0x0401,
                             0x0403, 0x8003, 0x7bff, 0x7c00, 0x8000};
  ASSERT_TRUE(divideByPowerOfTwo(h.data(), DType::F16, h.size(), 1));
  std::vector<uint16_t> want = {0x0000, 0x0002, 0x0200, 0x0200,
                                0x0202, 0x8002, 0x77ff, 0x7c00, 0x8000};
  EXPECT_EQ(h, want);
  std::vector<uint16_t> q = {0x0003};
  ASSERT_TRUE(divideByPowerOfTwo(q.data(), DType::F16, 1, 2));
  EXPECT_EQ(q[0], 0x0001);
}

TEST(NumpyElementwiseTest, DivideBFloat16AndFloat32) {
  // bfloat16 subnormal step 2^-133: 1 / 2 -> 0, 3 / 2 -> 2, 2^-126
  // (0x0080) / 2 = 0x0040; 0x4789 (70144, bfloat16 of 70000) / 4 = 17536 exactly.
  std::vector<uint16_t> b = {0x0001, 0x0003, 0x0080, 0x4789};
  ASSERT_TRUE(divideByPowerOfTwo(b.data(), DType::BF16, b.size(), 1));
  EXPECT_EQ(b, (std::vector<uint16_t>{0x0000, 0x0002, 0x0040, 0x4709}));
  // float32: 3 * 2^-149 / 2 -> 2 * 2^-149; 1.5 / 8 exact.
  std::vector<float> f = {fromBits(0x00000003u), 1.5f};
  ASSERT_TRUE(divideByPowerOfTwo(f.data(), DType::F32, f.size(), 1));
  EXPECT_EQ(bits(f[0]), 0x00000002u);
  EXPECT_EQ(f[1], 0.75f);
}

TEST(NumpyElementwiseTest, DivideRefusesOtherTypesAndExponents) {
  uint16_t h = 0x3c00;
  EXPECT_FALSE(divideByPowerOfTwo(&h, DType::F16, 1, 16));
  EXPECT_FALSE(divideByPowerOfTwo(&h, DType::F16, 1, -1));
  EXPECT_FALSE(divideByPowerOfTwo(&h, DType::I16, 1, 1));
  EXPECT_EQ(h, 0x3c00);
  // 2^15 is the largest divisor: 1.0 / 32768 = 2^-15, a float16 subnormal.
  ASSERT_TRUE(divideByPowerOfTwo(&h, DType::F16, 1, 15));
  EXPECT_EQ(h, 0x0200);
}
