//===- Fp8Test.cpp - MLC per-tensor float8 quantization -------------------===//
//
// Expected values are worked out by hand in the comments.
//
//===----------------------------------------------------------------------===//

#include "qopt/Numerics/Fp8.h"
#include "SimdTargets.h"

#include <gtest/gtest.h>

#include <cmath>
#include <vector>

using namespace qopt::numerics;

using qopt::numerics::testing::forEachSimdTarget;

namespace {

/// \p v repeated \p times times: hand-worked inputs long enough for whole
/// vectors on every target (and an odd tail).
template <typename T>
std::vector<T> tiled(const std::vector<T> &v, int times = 9) {
  std::vector<T> out;
  for (int i = 0; i < times; ++i)
    out.insert(out.end(), v.begin(), v.end());
  return out;
}

/// The scale floor f16(1 / (448 * 512)) = f16(4.3597e-6): in steps of the
/// smallest subnormal 2^-24 that is 73.14 -> 73.
constexpr float kFloor = 73 * 0x1p-24f;

} // namespace

TEST(Fp8Test, PerTensorScale) {
  // max|w| = 1.0: 1/448 = 0.002232 = 1.142857 * 2^-9; fp16 mantissa
  // 0.142857 * 1024 = 146.29 -> 146, scale = 1170 * 2^-19 = 0.0022315979.
  std::vector<uint16_t> w = {0x3800, 0xBC00, 0x0000}; // 0.5, -1.0, 0
  EXPECT_EQ(fp8E4M3PerTensorScale(w.data(), w.size()), 1170 * 0x1p-19f);
  // max|w| = 448 (0x5F00) -> scale exactly 1.
  std::vector<uint16_t> big = {0x5F00, 0x3C00};
  EXPECT_EQ(fp8E4M3PerTensorScale(big.data(), big.size()), 1.0f);
  // max|w| = 65504 -> 146.21 -> fp16 ulp 2^-3 in [128, 256): 146.25.
  std::vector<uint16_t> huge = {0xFBFF};
  EXPECT_EQ(fp8E4M3PerTensorScale(huge.data(), 1), 146.25f);
}

TEST(Fp8Test, PerTensorScaleFloor) {
  // All zeros: max(0, floor) = floor. Tiny weights: 2^-14 / 448 < floor.
  std::vector<uint16_t> zeros(16, 0x0000);
  EXPECT_EQ(fp8E4M3PerTensorScale(zeros.data(), zeros.size()), kFloor);
  std::vector<uint16_t> tiny = {0x0400, 0x8400};
  EXPECT_EQ(fp8E4M3PerTensorScale(tiny.data(), tiny.size()), kFloor);
  EXPECT_EQ(fp8E4M3PerTensorScale(nullptr, 0), kFloor);
  // A NaN followed by finite values does not stick (select-based max).
  std::vector<uint16_t> nan = {0x7E00, 0x5F00};
  EXPECT_EQ(fp8E4M3PerTensorScale(nan.data(), nan.size()), 1.0f);
  // A trailing NaN makes max|w| NaN; max(NaN, floor) selects the floor.
  std::vector<uint16_t> nanLast = {0x5F00, 0x7E00};
  EXPECT_EQ(fp8E4M3PerTensorScale(nanLast.data(), nanLast.size()), kFloor);
}

TEST(Fp8Test, QuantizeE4M3) {
  // scale = 1170 * 2^-19 (max|w| = 1). q = e4m3(float(w) / scale):
  //   1.0     -> 448.109 -> 448 (0x7E)
  //   0.5     -> 224.055 -> 224 = 1.75 * 2^7: 0 1110 110 = 0x76
  //  -0.25    -> -112.03 -> -112 = -1.75 * 2^6: 1 1101 110 = 0xEE
  //   0x1419 (0.0010004) -> 0.44829 -> step 2^-5 in [0.25, 0.5): 0.4375
  //            = 1.75 * 2^-2: 0 0101 110 = 0x2E
  //   0xB4CD (-0.30005) -> -134.45 -> step 16 in [128, 256): -128 = 0xF0
  //   0       -> 0x00
  //   0x399A (0.70020) -> 313.76 -> step 32 in [256, 448]: 320 = 1.25 * 2^8:
  //            0 1111 010 = 0x7A
  //   0x0001 (2^-24) -> 2.67e-5 -> below half the smallest subnormal 2^-9
  //            -> 0x00
  std::vector<uint16_t> w = {0x3C00, 0x3800, 0xB400, 0x1419,
                             0xB4CD, 0x0000, 0x399A, 0x0001};
  float scale = fp8E4M3PerTensorScale(w.data(), w.size());
  EXPECT_EQ(scale, 1170 * 0x1p-19f);
  const std::vector<uint8_t> want = {0x7E, 0x76, 0xEE, 0x2E,
                                     0xF0, 0x00, 0x7A, 0x00};
  forEachSimdTarget([&] {
    EXPECT_EQ(fp8E4M3PerTensorScale(w.data(), w.size()), 1170 * 0x1p-19f);
    std::vector<uint16_t> longW = tiled(w);
    longW.push_back(0x3C00); // 1.0 once more: 73 values
    EXPECT_EQ(fp8E4M3PerTensorScale(longW.data(), longW.size()),
              1170 * 0x1p-19f);
    std::vector<uint8_t> out(longW.size(), 0xAA);
    quantizeFp8E4M3(longW.data(), longW.size(), scale, out.data());
    std::vector<uint8_t> longWant = tiled(want);
    longWant.push_back(0x7E);
    EXPECT_EQ(out, longWant);
  });
}

TEST(Fp8Test, QuantizeE4M3SaturatesAndNaN) {
  // With scale 1: 500 saturates to 448, -inf to -448, NaN -> 0x7F.
  const std::vector<uint16_t> w = tiled<uint16_t>({0x5FD0, 0xFC00, 0x7E00, 0xFE00});
  forEachSimdTarget([&] {
    std::vector<uint8_t> out(w.size());
    quantizeFp8E4M3(w.data(), w.size(), 1.0f, out.data());
    EXPECT_EQ(out, tiled<uint8_t>({0x7E, 0xFE, 0x7F, 0xFF}));
  });
}

TEST(Fp8Test, QuantizeE4M3ZeroScaleIsDefined) {
  // w / 0 without dividing: +-inf saturates with the quotient's sign, 0/0 and
  // NaN are NaN.
  std::vector<uint16_t> w = {0x3C00, 0xBC00, 0x0000, 0x7E00};
  std::vector<uint8_t> out(w.size());
  quantizeFp8E4M3(w.data(), w.size(), 0.0f, out.data());
  EXPECT_EQ(out, (std::vector<uint8_t>{0x7E, 0xFE, 0x7F, 0x7F}));
  quantizeFp8E4M3(w.data(), w.size(), -0.0f, out.data());
  EXPECT_EQ(out, (std::vector<uint8_t>{0xFE, 0x7E, 0x7F, 0x7F}));
}

TEST(Fp8Test, CastHalfToE5M2Table) {
  // e5m2 is the top byte of a half; the low byte is rounded off, ties to
  // even.
  std::vector<uint16_t> w = {
      0x3C00, // 1.0 -> 0x3C
      0x3C80, // 1.125: tie between 0x3C and 0x3D -> 0x3C
      0x3D80, // 1.375: tie between 0x3D and 0x3E -> 0x3E
      0x3C81, // just above the tie -> 0x3D
      0x7A00, // 49152 = 1.5 * 2^15 -> 0x7A
      0x7B00, // 57344 -> 0x7B
      0x7B80, // 61440: tie with 65536 (inf, even) -> saturate 0x7B
      0x7BFF, // 65504 -> saturate 0x7B
      0x7C00, // inf -> 0x7C
      0xFC00, // -inf -> 0xFC
      0x7E00, // NaN -> 0x7E
      0x7C01, // signalling NaN with a low payload -> quiet 0x7E, not inf
      0xFD00, // negative NaN -> 0xFE
      0x0001, // 2^-24 = 2^-8 e5m2 steps -> 0x00
      0x0080, // 2^-17 = half a step: tie -> 0x00
      0x0180, // 3 * 2^-17 = 1.5 steps: tie -> 0x02
      0x8000, // -0 -> 0x80
      0x83FF, // -(1023 * 2^-24) = -3.996 steps -> -4 steps = 0x84
  };
  const std::vector<uint8_t> want = {0x3C, 0x3C, 0x3E, 0x3D, 0x7A, 0x7B,
                                     0x7B, 0x7B, 0x7C, 0xFC, 0x7E, 0x7E,
                                     0xFE, 0x00, 0x00, 0x02, 0x80, 0x84};
  forEachSimdTarget([&] {
    const std::vector<uint16_t> longW = tiled(w);
    std::vector<uint8_t> out(longW.size(), 0xAA);
    castHalfToFp8E5M2(longW.data(), longW.size(), out.data());
    EXPECT_EQ(out, tiled(want));
  });
}

TEST(Fp8Test, CastHalfToE5M2MatchesNearestValue) {
  // Every finite half against the nearest e5m2 value by exhaustive search
  // (ties to the even code, saturating at 57344).
  auto decode = [](int c) {
    int e = (c >> 2) & 0x1F, m = c & 3;
    return e == 0 ? std::ldexp(double(m), -16)
                  : std::ldexp(1.0 + m / 4.0, e - 15);
  };
  std::vector<uint16_t> all;
  std::vector<uint8_t> want;
  for (uint32_t h = 0; h < 0x10000; ++h) {
    if ((h & 0x7C00) == 0x7C00)
      continue;
    int e = (h >> 10) & 0x1F, m = h & 0x3FF;
    double a = e == 0 ? std::ldexp(double(m), -24)
                      : std::ldexp(1.0 + m / 1024.0, e - 15);
    int best = 0;
    for (int c = 1; c <= 0x7B; ++c) {
      double d = std::fabs(a - decode(c)), db = std::fabs(a - decode(best));
      if (d < db || (d == db && (c & 1) == 0))
        best = c;
    }
    all.push_back(uint16_t(h));
    want.push_back(uint8_t(((h & 0x8000) ? 0x80 : 0) | best));
  }
  forEachSimdTarget([&] {
    std::vector<uint8_t> got(all.size());
    castHalfToFp8E5M2(all.data(), all.size(), got.data());
    for (size_t i = 0; i < all.size(); ++i)
      ASSERT_EQ(got[i], want[i]) << std::hex << all[i];
  });
}
