//===- FloatTest.cpp - Scalar float format conversions --------------------===//
//
// Expected values are worked out by hand (the working is in the comments) or
// come from a deliberately simple double-precision reference written below,
// never from the functions under test.
//
//===----------------------------------------------------------------------===//

#include "qopt/Numerics/Float.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <limits>
#include <random>

using namespace qopt::numerics;

namespace {

float fromBits(uint32_t u) {
  float f;
  std::memcpy(&f, &u, sizeof(f));
  return f;
}

uint32_t toBits(float f) {
  uint32_t u;
  std::memcpy(&u, &f, sizeof(u));
  return u;
}

/// Reference rounding, independent of the library: rounds the finite x to
/// the nearest value with `mantissaBits` bits after the leading one and a
/// smallest normal exponent `minExp` (below it the spacing stays
/// 2^(minExp - mantissaBits): subnormals), ties to even, unbounded above.
double refRound(double x, int mantissaBits, int minExp) {
  if (x == 0.0)
    return x;
  int e = std::max(std::ilogb(x), minExp);
  double ulp = std::ldexp(1.0, e - mantissaBits);
  return std::nearbyint(x / ulp) * ulp; // x / ulp is exact (power of two).
}

/// Reference binary16 value of x: RNE, |result| > 65504 -> inf.
double refHalf(float x) {
  if (std::isinf(x))
    return x;
  double r = refRound(x, 10, -14);
  return std::fabs(r) > 65504.0 ? std::copysign(INFINITY, r) : r;
}

/// Reference bfloat16 value of x: RNE, beyond the largest finite -> inf.
double refBFloat16(float x) {
  if (std::isinf(x))
    return x;
  double r = refRound(x, 7, -126);
  const double maxFinite = (2.0 - std::ldexp(1.0, -7)) * std::ldexp(1.0, 127);
  return std::fabs(r) > maxFinite ? std::copysign(INFINITY, r) : r;
}

/// Reference decode of a float8 code with E exponent and M mantissa bits.
double refDecodeFp8(uint8_t code, int expBits, int manBits) {
  int bias = (1 << (expBits - 1)) - 1;
  int e = (code >> manBits) & ((1 << expBits) - 1);
  int m = code & ((1 << manBits) - 1);
  double mag = e == 0 ? std::ldexp(double(m), 1 - bias - manBits)
                      : std::ldexp(1.0 + double(m) / (1 << manBits), e - bias);
  return (code & 0x80) ? -mag : mag;
}

/// Reference float8 encoder by exhaustive search: the finite code nearest to
/// x (ties: the even code), saturating at the largest finite code maxCode.
uint8_t refEncodeFp8(float x, int expBits, int manBits, uint8_t maxCode) {
  double best = INFINITY;
  uint8_t bestCode = 0;
  for (int c = 0; c <= maxCode; ++c) {
    double d = std::fabs(std::fabs(double(x)) -
                         refDecodeFp8(uint8_t(c), expBits, manBits));
    if (d < best || (d == best && (c & 1) == 0)) {
      best = d;
      bestCode = uint8_t(c);
    }
  }
  // Beyond the largest finite value, nearest is the largest finite value.
  return uint8_t((std::signbit(x) ? 0x80 : 0) | bestCode);
}

/// Pseudo-random float32 bit patterns covering every exponent.
std::vector<float> randomFloats(size_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::vector<float> out;
  while (out.size() < n) {
    float f = fromBits(rng());
    if (!std::isnan(f))
      out.push_back(f);
  }
  return out;
}

} // namespace

//===----------------------------------------------------------------------===//
// Compile-time use (the helpers are constexpr for device code reuse).
//===----------------------------------------------------------------------===//

static_assert(floatToHalf(1.0f) == 0x3C00);
static_assert(halfToFloat(0x3555) == 0.333251953125f);
static_assert(floatToBFloat16(1.0f) == 0x3F80);
static_assert(floatToF8E4M3FN(448.0f) == 0x7E);
static_assert(f8E5M2ToFloat(0x7B) == 57344.0f);
static_assert(roundTo<FloatFormat::F16>(1.0f / 3.0f) == 0.333251953125f);

//===----------------------------------------------------------------------===//
// binary16
//===----------------------------------------------------------------------===//

TEST(FloatTest, HalfFromFloatHandValues) {
  // 1/3 = 1.0101...b * 2^-2: exponent field -2+15 = 13 = 01101b, mantissa
  // 0.3333 * 1024 = 341.33 -> 341 = 0101010101b -> 0 01101 0101010101.
  EXPECT_EQ(floatToHalf(1.0f / 3.0f), 0x3555);
  EXPECT_EQ(floatToHalf(1.0f), 0x3C00);
  EXPECT_EQ(floatToHalf(-2.0f), 0xC000);
  EXPECT_EQ(floatToHalf(0.0f), 0x0000);
  EXPECT_EQ(floatToHalf(-0.0f), 0x8000);
  // 65504 = 1.1111111111b * 2^15 is the largest finite half.
  EXPECT_EQ(floatToHalf(65504.0f), 0x7BFF);
}

TEST(FloatTest, HalfTiesToEven) {
  // The ulp of 1.0 is 2^-10. 1 + 2^-11 is halfway between 0x3C00 and 0x3C01:
  // the even mantissa (0x3C00) wins.
  EXPECT_EQ(floatToHalf(1.0f + 0x1p-11f), 0x3C00);
  // 1 + 3 * 2^-11 is halfway between 0x3C01 and 0x3C02: 0x3C02 is even.
  EXPECT_EQ(floatToHalf(1.0f + 3 * 0x1p-11f), 0x3C02);
  // Just above the tie rounds up.
  EXPECT_EQ(floatToHalf(1.0f + 0x1p-11f + 0x1p-20f), 0x3C01);
  // Just below the tie rounds down.
  EXPECT_EQ(floatToHalf(1.0f + 3 * 0x1p-11f - 0x1p-20f), 0x3C01);
}

TEST(FloatTest, HalfOverflow) {
  // Above 65504 the next step would be 65536 (not finite): 65520 is the tie
  // and goes to the even neighbour, which is 0x7C00 = inf.
  EXPECT_EQ(floatToHalf(65519.996f), 0x7BFF);
  EXPECT_EQ(floatToHalf(65520.0f), 0x7C00);
  EXPECT_EQ(floatToHalf(1.0e6f), 0x7C00);
  EXPECT_EQ(floatToHalf(-1.0e6f), 0xFC00);
  EXPECT_EQ(floatToHalf(std::numeric_limits<float>::max()), 0x7C00);
  EXPECT_EQ(floatToHalf(INFINITY), 0x7C00);
  EXPECT_EQ(floatToHalf(-INFINITY), 0xFC00);
}

TEST(FloatTest, HalfSubnormals) {
  // Subnormal step 2^-24: 2^-24 -> 0x0001; 2^-25 is the tie between 0 and
  // 0x0001 -> 0 (even); 1.5 * 2^-25 is above the tie -> 0x0001.
  EXPECT_EQ(floatToHalf(0x1p-24f), 0x0001);
  EXPECT_EQ(floatToHalf(0x1p-25f), 0x0000);
  EXPECT_EQ(floatToHalf(-0x1p-25f), 0x8000);
  EXPECT_EQ(floatToHalf(0x1.8p-25f), 0x0001);
  // 3 * 2^-25 = 1.5 steps: tie between 1 and 2 -> 2.
  EXPECT_EQ(floatToHalf(3 * 0x1p-25f), 0x0002);
  // 1023 steps = largest subnormal; 1023.5 steps ties up to 1024 = 0x0400,
  // the smallest normal 2^-14.
  EXPECT_EQ(floatToHalf(1023 * 0x1p-24f), 0x03FF);
  EXPECT_EQ(floatToHalf(1023.5f * 0x1p-24f), 0x0400);
  EXPECT_EQ(floatToHalf(0x1p-14f), 0x0400);
  // Float32 subnormals are far below half's range.
  EXPECT_EQ(floatToHalf(fromBits(0x00000001)), 0x0000);
}

TEST(FloatTest, HalfNaN) {
  // Quiet NaN, sign kept.
  EXPECT_EQ(floatToHalf(fromBits(0x7FC00000)), 0x7E00);
  EXPECT_EQ(floatToHalf(fromBits(0xFFC00000)), 0xFE00);
  // A signalling NaN whose payload lies below half's 10 bits still comes
  // out a (quiet) NaN, not inf.
  uint16_t h = floatToHalf(fromBits(0x7F800001));
  EXPECT_EQ(h & 0x7C00, 0x7C00);
  EXPECT_NE(h & 0x03FF, 0);
  EXPECT_EQ(h & 0x0200, 0x0200);
  EXPECT_EQ(floatToHalf(fromBits(0xFF800001)) & 0x8000, 0x8000);
}

TEST(FloatTest, HalfToFloatHandValues) {
  // 0x3555: (1 + 341/1024) * 2^-2 = 1365/4096.
  EXPECT_EQ(halfToFloat(0x3555), 0.333251953125f);
  EXPECT_EQ(halfToFloat(0x3C00), 1.0f);
  EXPECT_EQ(halfToFloat(0x7BFF), 65504.0f);
  EXPECT_EQ(halfToFloat(0x0001), 0x1p-24f);
  EXPECT_EQ(halfToFloat(0x03FF), 1023 * 0x1p-24f);
  EXPECT_EQ(halfToFloat(0x0400), 0x1p-14f);
  EXPECT_EQ(toBits(halfToFloat(0x8000)), 0x80000000u);
  EXPECT_EQ(halfToFloat(0x7C00), INFINITY);
  EXPECT_EQ(halfToFloat(0xFC00), -INFINITY);
  // NaN payload and sign are kept bit for bit: 0x7E00 -> 0x7FC00000.
  EXPECT_EQ(toBits(halfToFloat(0x7E00)), 0x7FC00000u);
  EXPECT_EQ(toBits(halfToFloat(0xFD01)), 0xFFA02000u);
}

TEST(FloatTest, HalfRoundTripsEveryValue) {
  // Every half value widens exactly and narrows back to itself.
  for (uint32_t h = 0; h < 0x10000; ++h) {
    float f = halfToFloat(uint16_t(h));
    if ((h & 0x7FFF) > 0x7C00) {
      EXPECT_TRUE(std::isnan(f)) << std::hex << h;
      continue;
    }
    EXPECT_EQ(floatToHalf(f), h) << std::hex << h;
    // And the value agrees with the reference decoding of the fields.
    double ref =
        (h & 0x7C00) == 0x7C00
            ? INFINITY
            : ((h & 0x7C00) == 0 ? std::ldexp(double(h & 0x3FF), -24)
                                 : std::ldexp(1.0 + (h & 0x3FF) / 1024.0,
                                              int((h >> 10) & 0x1F) - 15));
    EXPECT_EQ(double(f), (h & 0x8000) ? -ref : ref) << std::hex << h;
  }
}

TEST(FloatTest, HalfMatchesReferenceOnRandomFloats) {
  for (float x : randomFloats(200000, 1)) {
    double ref = refHalf(x);
    float got = halfToFloat(floatToHalf(x));
    ASSERT_EQ(double(got), ref) << x;
    ASSERT_EQ(std::signbit(got), std::signbit(x)) << x;
  }
  // Dense sweep across the subnormal/normal boundary and the overflow edge.
  for (uint32_t u = 0x38000000u; u < 0x38900000u; u += 0x101)
    ASSERT_EQ(double(halfToFloat(floatToHalf(fromBits(u)))),
              refHalf(fromBits(u)))
        << std::hex << u;
  for (uint32_t u = 0x477F0000u; u < 0x47800100u; u += 0x3)
    ASSERT_EQ(double(halfToFloat(floatToHalf(fromBits(u)))),
              refHalf(fromBits(u)))
        << std::hex << u;
}

//===----------------------------------------------------------------------===//
// bfloat16
//===----------------------------------------------------------------------===//

TEST(FloatTest, BFloat16HandValues) {
  EXPECT_EQ(floatToBFloat16(1.0f), 0x3F80);
  EXPECT_EQ(floatToBFloat16(-1.0f), 0xBF80);
  // 1/3 = 0x3EAAAAAB: the low half 0xAAAB > 0x8000 rounds up -> 0x3EAB.
  EXPECT_EQ(floatToBFloat16(1.0f / 3.0f), 0x3EAB);
  // Ties on the bit pattern: 0x3F808000 is halfway between 0x3F80 and
  // 0x3F81 -> 0x3F80 (even); 0x3F818000 -> 0x3F82 (even).
  EXPECT_EQ(floatToBFloat16(fromBits(0x3F808000)), 0x3F80);
  EXPECT_EQ(floatToBFloat16(fromBits(0x3F818000)), 0x3F82);
  EXPECT_EQ(floatToBFloat16(fromBits(0x3F808001)), 0x3F81);
  EXPECT_EQ(floatToBFloat16(fromBits(0x3F817FFF)), 0x3F81);
  // FLT_MAX = 0x7F7FFFFF rounds up into the exponent: inf.
  EXPECT_EQ(floatToBFloat16(std::numeric_limits<float>::max()), 0x7F80);
  EXPECT_EQ(floatToBFloat16(-INFINITY), 0xFF80);
  // Subnormal: 0x00018000 ties between 0x0001 and 0x0002 -> 0x0002.
  EXPECT_EQ(floatToBFloat16(fromBits(0x00018000)), 0x0002);
}

TEST(FloatTest, BFloat16NaN) {
  EXPECT_EQ(floatToBFloat16(fromBits(0x7FC00000)), 0x7FC0);
  EXPECT_EQ(floatToBFloat16(fromBits(0xFFC00000)), 0xFFC0);
  // 0x7F800001 is a NaN whose payload lies in the dropped half; it must not
  // become inf (0x7F80): the quiet bit is set.
  EXPECT_EQ(floatToBFloat16(fromBits(0x7F800001)), 0x7FC0);
  // 0x7FFFFFFF must not carry into the sign.
  EXPECT_EQ(floatToBFloat16(fromBits(0x7FFFFFFF)), 0x7FFF);
}

TEST(FloatTest, BFloat16ToFloatIsShift) {
  EXPECT_EQ(bfloat16ToFloat(0x3F80), 1.0f);
  EXPECT_EQ(toBits(bfloat16ToFloat(0xABCD)), 0xABCD0000u);
  EXPECT_EQ(toBits(bfloat16ToFloat(0x7FC1)), 0x7FC10000u);
}

TEST(FloatTest, BFloat16MatchesReferenceOnRandomFloats) {
  for (float x : randomFloats(200000, 2)) {
    double ref = refBFloat16(x);
    float got = bfloat16ToFloat(floatToBFloat16(x));
    ASSERT_EQ(double(got), ref) << x;
    ASSERT_EQ(std::signbit(got), std::signbit(x)) << x;
  }
}

TEST(FloatTest, BFloat16TvmEncoding) {
  // Below the limit 0x7F7F0000 the rule is RNE on the bit pattern.
  EXPECT_EQ(floatToBFloat16Tvm(1.0f / 3.0f), 0x3EAB);
  EXPECT_EQ(floatToBFloat16Tvm(fromBits(0x3F808000)), 0x3F80);
  EXPECT_EQ(floatToBFloat16Tvm(fromBits(0x3F818000)), 0x3F82);
  // 0x7F7EFFFF < limit: 0x7F7EFFFF + 0x7FFF + 0 = 0x7F7F7FFE -> 0x7F7F.
  EXPECT_EQ(floatToBFloat16Tvm(fromBits(0x7F7EFFFF)), 0x7F7F);
  // At the limit the comparison is strict: truncation, 0x7F7F0000 -> 0x7F7F.
  EXPECT_EQ(floatToBFloat16Tvm(fromBits(0x7F7F0000)), 0x7F7F);
  // 0x7F7F8000 is a tie that RNE would send to 0x7F80 (inf); TVM truncates.
  EXPECT_EQ(floatToBFloat16(fromBits(0x7F7F8000)), 0x7F80);
  EXPECT_EQ(floatToBFloat16Tvm(fromBits(0x7F7F8000)), 0x7F7F);
  // FLT_MAX likewise truncates to 0x7F7F (RNE: inf), negative too.
  EXPECT_EQ(floatToBFloat16Tvm(std::numeric_limits<float>::max()), 0x7F7F);
  EXPECT_EQ(floatToBFloat16Tvm(-std::numeric_limits<float>::max()), 0xFF7F);
  // Inf stays inf; NaN keeps its top 16 bits, so 0x7F800001 becomes inf.
  EXPECT_EQ(floatToBFloat16Tvm(INFINITY), 0x7F80);
  EXPECT_EQ(floatToBFloat16Tvm(-INFINITY), 0xFF80);
  EXPECT_EQ(floatToBFloat16Tvm(fromBits(0x7FC12345)), 0x7FC1);
  EXPECT_EQ(floatToBFloat16Tvm(fromBits(0x7F800001)), 0x7F80);
  EXPECT_EQ(floatToBFloat16Tvm(fromBits(0xFFFFFFFF)), 0xFFFF);
}

//===----------------------------------------------------------------------===//
// float8
//===----------------------------------------------------------------------===//

TEST(FloatTest, E4M3FNTable) {
  // Bias 7, 3 mantissa bits. 1.0: exponent field 7 -> 0 0111 000 = 0x38.
  EXPECT_EQ(floatToF8E4M3FN(1.0f), 0x38);
  EXPECT_EQ(floatToF8E4M3FN(-1.0f), 0xB8);
  EXPECT_EQ(floatToF8E4M3FN(0.0f), 0x00);
  EXPECT_EQ(floatToF8E4M3FN(-0.0f), 0x80);
  // 3.5 = 1.75 * 2^1: exponent field 8, mantissa 110 -> 0x46.
  EXPECT_EQ(floatToF8E4M3FN(3.5f), 0x46);
  // Ties: 1.0625 is halfway between 1.0 (0x38) and 1.125 (0x39) -> 0x38;
  // 1.1875 between 1.125 (0x39) and 1.25 (0x3A) -> 0x3A.
  EXPECT_EQ(floatToF8E4M3FN(1.0625f), 0x38);
  EXPECT_EQ(floatToF8E4M3FN(1.1875f), 0x3A);
  // Subnormals, step 2^-9: 2^-9 -> 0x01; 2^-10 ties to 0; 3 * 2^-10 = 1.5
  // steps ties to 2; 7 steps = 0x07; 2^-6 is the smallest normal 0x08.
  EXPECT_EQ(floatToF8E4M3FN(0x1p-9f), 0x01);
  EXPECT_EQ(floatToF8E4M3FN(0x1p-10f), 0x00);
  EXPECT_EQ(floatToF8E4M3FN(3 * 0x1p-10f), 0x02);
  EXPECT_EQ(floatToF8E4M3FN(7 * 0x1p-9f), 0x07);
  EXPECT_EQ(floatToF8E4M3FN(0x1p-6f), 0x08);
  // Largest finite: 0 1111 110 = 1.75 * 2^8 = 448.
  EXPECT_EQ(floatToF8E4M3FN(448.0f), 0x7E);
  // 449 rounds to 448; 464 is the tie between 448 (mantissa 110, even) and
  // 480 (which would be 0x7F = NaN) -> 448; 465 would round to 480 and
  // saturates; so do huge values and inf.
  EXPECT_EQ(floatToF8E4M3FN(449.0f), 0x7E);
  EXPECT_EQ(floatToF8E4M3FN(464.0f), 0x7E);
  EXPECT_EQ(floatToF8E4M3FN(465.0f), 0x7E);
  EXPECT_EQ(floatToF8E4M3FN(1.0e9f), 0x7E);
  EXPECT_EQ(floatToF8E4M3FN(-1.0e9f), 0xFE);
  EXPECT_EQ(floatToF8E4M3FN(INFINITY), 0x7E);
  EXPECT_EQ(floatToF8E4M3FN(-INFINITY), 0xFE);
  EXPECT_EQ(floatToF8E4M3FN(NAN), 0x7F);
  EXPECT_EQ(floatToF8E4M3FN(fromBits(0xFFC00000)), 0xFF);
}

TEST(FloatTest, E4M3FNDecode) {
  EXPECT_EQ(f8E4M3FNToFloat(0x38), 1.0f);
  EXPECT_EQ(f8E4M3FNToFloat(0xB8), -1.0f);
  EXPECT_EQ(f8E4M3FNToFloat(0x7E), 448.0f);
  EXPECT_EQ(f8E4M3FNToFloat(0x01), 0x1p-9f);
  EXPECT_EQ(f8E4M3FNToFloat(0x07), 7 * 0x1p-9f);
  EXPECT_EQ(f8E4M3FNToFloat(0x08), 0x1p-6f);
  EXPECT_EQ(toBits(f8E4M3FNToFloat(0x80)), 0x80000000u);
  EXPECT_TRUE(std::isnan(f8E4M3FNToFloat(0x7F)));
  EXPECT_TRUE(std::isnan(f8E4M3FNToFloat(0xFF)));
  EXPECT_TRUE(std::signbit(f8E4M3FNToFloat(0xFF)));
  // Every code against the reference field decoding.
  for (int c = 0; c < 256; ++c) {
    if ((c & 0x7F) == 0x7F)
      continue;
    EXPECT_EQ(double(f8E4M3FNToFloat(uint8_t(c))),
              refDecodeFp8(uint8_t(c), 4, 3))
        << c;
    EXPECT_EQ(floatToF8E4M3FN(f8E4M3FNToFloat(uint8_t(c))), c) << c;
  }
}

TEST(FloatTest, E5M2Table) {
  // Bias 15, 2 mantissa bits (the top byte of a binary16).
  EXPECT_EQ(floatToF8E5M2(1.0f), 0x3C);
  EXPECT_EQ(floatToF8E5M2(-2.0f), 0xC0);
  // Ties: 1.125 between 1.0 (0x3C) and 1.25 (0x3D) -> 0x3C; 1.375 between
  // 1.25 and 1.5 (0x3E) -> 0x3E.
  EXPECT_EQ(floatToF8E5M2(1.125f), 0x3C);
  EXPECT_EQ(floatToF8E5M2(1.375f), 0x3E);
  // Subnormals, step 2^-16: 2^-17 ties to 0, 3 * 2^-17 ties to 2.
  EXPECT_EQ(floatToF8E5M2(0x1p-16f), 0x01);
  EXPECT_EQ(floatToF8E5M2(0x1p-17f), 0x00);
  EXPECT_EQ(floatToF8E5M2(3 * 0x1p-17f), 0x02);
  // Largest finite 0 11110 11 = 1.75 * 2^15 = 57344. 61440 is the tie with
  // 65536 (= inf, even) -> saturates to 57344; so does anything larger.
  EXPECT_EQ(floatToF8E5M2(57344.0f), 0x7B);
  EXPECT_EQ(floatToF8E5M2(61440.0f), 0x7B);
  EXPECT_EQ(floatToF8E5M2(1.0e9f), 0x7B);
  EXPECT_EQ(floatToF8E5M2(-1.0e9f), 0xFB);
  // Inf stays inf, NaN becomes the quiet NaN 0x7E with its sign.
  EXPECT_EQ(floatToF8E5M2(INFINITY), 0x7C);
  EXPECT_EQ(floatToF8E5M2(-INFINITY), 0xFC);
  EXPECT_EQ(floatToF8E5M2(NAN), 0x7E);
  EXPECT_EQ(floatToF8E5M2(fromBits(0xFF800001)), 0xFE);
}

TEST(FloatTest, E5M2Decode) {
  EXPECT_EQ(f8E5M2ToFloat(0x3C), 1.0f);
  EXPECT_EQ(f8E5M2ToFloat(0x7B), 57344.0f);
  EXPECT_EQ(f8E5M2ToFloat(0x01), 0x1p-16f);
  EXPECT_EQ(f8E5M2ToFloat(0x7C), INFINITY);
  EXPECT_EQ(f8E5M2ToFloat(0xFC), -INFINITY);
  EXPECT_TRUE(std::isnan(f8E5M2ToFloat(0x7E)));
  for (int c = 0; c < 256; ++c) {
    if ((c & 0x7C) == 0x7C)
      continue;
    EXPECT_EQ(double(f8E5M2ToFloat(uint8_t(c))), refDecodeFp8(uint8_t(c), 5, 2))
        << c;
  }
}

TEST(FloatTest, Fp8MatchReferenceSearch) {
  // Random floats in and around the fp8 ranges against an exhaustive search
  // over all codes.
  std::mt19937 rng(3);
  std::uniform_real_distribution<float> mantissa(1.0f, 2.0f);
  std::uniform_int_distribution<int> exponent(-20, 17);
  for (int i = 0; i < 20000; ++i) {
    float x = std::ldexp(mantissa(rng), exponent(rng));
    if (i & 1)
      x = -x;
    ASSERT_EQ(floatToF8E4M3FN(x), refEncodeFp8(x, 4, 3, 0x7E)) << x;
    ASSERT_EQ(floatToF8E5M2(x), refEncodeFp8(x, 5, 2, 0x7B)) << x;
  }
  // Exact midpoints between neighbouring codes exercise every tie.
  for (int c = 0; c < 0x7E; ++c) {
    float mid = float(
        (refDecodeFp8(uint8_t(c), 4, 3) + refDecodeFp8(uint8_t(c + 1), 4, 3)) /
        2);
    EXPECT_EQ(floatToF8E4M3FN(mid), (c & 1) ? c + 1 : c) << c;
  }
  for (int c = 0; c < 0x7B; ++c) {
    float mid = float(
        (refDecodeFp8(uint8_t(c), 5, 2) + refDecodeFp8(uint8_t(c + 1), 5, 2)) /
        2);
    EXPECT_EQ(floatToF8E5M2(mid), (c & 1) ? c + 1 : c) << c;
  }
}

//===----------------------------------------------------------------------===//
// roundTo
//===----------------------------------------------------------------------===//

TEST(FloatTest, RoundToFormats) {
  // F16: 1/3 -> 1365/4096; BF16: 1/3 -> 0x3EAB0000 = 0.333984375; F32: as is.
  EXPECT_EQ(roundTo(1.0f / 3.0f, FloatFormat::F16), 0.333251953125f);
  EXPECT_EQ(roundTo(1.0f / 3.0f, FloatFormat::BF16), 0.333984375f);
  EXPECT_EQ(roundTo(1.0f / 3.0f, FloatFormat::F32), 1.0f / 3.0f);
  EXPECT_EQ(roundTo(65520.0f, FloatFormat::F16), INFINITY);
  EXPECT_EQ(roundTo(0x1p-25f, FloatFormat::F16), 0.0f);
  EXPECT_EQ(roundTo(3 * 0x1p-25f, FloatFormat::F16), 2 * 0x1p-24f);
  EXPECT_TRUE(std::isnan(roundTo(NAN, FloatFormat::F16)));
  EXPECT_TRUE(std::isnan(roundTo(fromBits(0x7F800001), FloatFormat::BF16)));
}

TEST(FloatTest, RoundToMatchesReference) {
  for (float x : randomFloats(200000, 4)) {
    ASSERT_EQ(double(roundTo<FloatFormat::F16>(x)), refHalf(x)) << x;
    ASSERT_EQ(double(roundTo<FloatFormat::BF16>(x)), refBFloat16(x)) << x;
    ASSERT_EQ(toBits(roundTo<FloatFormat::F32>(x)), toBits(x));
  }
}
