//===- GroupQuantTest.cpp - MLC group quantization ------------------------===//
//
// Hand-worked rows (the working is in the comments: w / scale, its rounding
// to the model dtype, + max_int, its rounding, round-to-integer). The
// property tests against the reference are in GroupQuantReferenceTest.cpp.
//
//===----------------------------------------------------------------------===//

#include "qopt/Numerics/GroupQuant.h"
#include "GroupQuantTestUtil.h"
#include "SimdTargets.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <random>
#include <vector>

using namespace qopt::numerics;
using namespace qopt::numerics::test;

//===----------------------------------------------------------------------===//
// Sizes
//===----------------------------------------------------------------------===//

TEST(GroupQuantTest, DerivedConstants) {
  EXPECT_EQ(elemsPerWord(4), 8);
  EXPECT_EQ(elemsPerWord(3), 10);
  EXPECT_EQ(elemsPerWord(8), 4);
  EXPECT_EQ(maxIntValue(4), 7);
  EXPECT_EQ(maxIntValue(3), 3);
  EXPECT_EQ(maxIntValue(8), 127);
  // q4: K=4096 -> 128 groups, 4 words each; K=40 -> 2 groups, 8 words.
  EXPECT_EQ(groupsPerRow(kQ4F16, 4096), 128);
  EXPECT_EQ(wordsPerRow(kQ4F16, 4096), 512);
  EXPECT_EQ(groupsPerRow(kQ4F16, 40), 2);
  EXPECT_EQ(wordsPerRow(kQ4F16, 40), 8);
  // q3: K=4096 -> ceil(4096 / 40) = 103 groups, 412 words (not ceil(K/10)).
  EXPECT_EQ(groupsPerRow(kQ3F16, 4096), 103);
  EXPECT_EQ(wordsPerRow(kQ3F16, 4096), 412);
  EXPECT_EQ(wordsPerRow(kQ3F16, 50), 8);
  EXPECT_EQ(groupsPerRow(kQ4F16, 0), 0);
  EXPECT_EQ(groupsPerRow(kQ4F16, -5), 0);
}

TEST(GroupQuantTest, ValidateSpec) {
  EXPECT_EQ(validateGroupQuantSpec(kQ4F16), "");
  EXPECT_EQ(validateGroupQuantSpec(kQ3F16), "");
  EXPECT_EQ(validateGroupQuantSpec({3, 32, FloatFormat::F16}),
            "group size 32 is not a multiple of 10 values per uint32 word "
            "(int3)");
  EXPECT_EQ(validateGroupQuantSpec({5, 32, FloatFormat::F16}),
            "group size 32 is not a multiple of 6 values per uint32 word "
            "(int5)");
  EXPECT_EQ(validateGroupQuantSpec({2, 32, FloatFormat::BF16}), "");
  EXPECT_EQ(validateGroupQuantSpec({1, 32, FloatFormat::F16}),
            "quantized bits must be in [2, 8], got 1");
  EXPECT_EQ(validateGroupQuantSpec({9, 32, FloatFormat::F16}),
            "quantized bits must be in [2, 8], got 9");
  EXPECT_EQ(validateGroupQuantSpec({4, 0, FloatFormat::F16}),
            "group size must be positive, got 0");
}

TEST(GroupQuantTest, InvalidSpecWritesNothing) {
  // int3 with group 32: 32 values do not fill whole 10-value words.
  const GroupQuantSpec bad{3, 32, FloatFormat::F16};
  std::vector<uint16_t> w(32, 0x3C00);
  uint32_t words[4] = {1, 2, 3, 4};
  uint16_t scale[2] = {5, 6};
  groupQuantizeRows(w.data(), 1, 32, bad, words, scale);
  EXPECT_EQ(words[0], 1u);
  EXPECT_EQ(scale[0], 5);
  float out[32] = {};
  groupDequantizeRows(words, scale, 1, 32, bad, out);
  EXPECT_EQ(out[0], 0.0f);
}

//===----------------------------------------------------------------------===//
// A 1x32 q4f16 row worked by hand.
//===----------------------------------------------------------------------===//

// max|w| = 1.0, scale = f16(1/7): 1/7 = 1.142857 * 2^-3, mantissa
// 0.142857 * 1024 = 146.29 -> 146, scale = 1170/8192 = 0.142822265625 =
// 0x3092. For each value: w/scale (exact), f16 of it, + 7, f16 of that, q.
static const std::vector<uint16_t> kHandRow = {
    0x3C00, //  1.0    7.0017  -> 7.0      14.0     -> 14
    0xBC00, // -1.0   -7.0017  -> -7.0     0.0      -> 0
    0x3800, //  0.5    3.50085 -> 3.5      10.5 tie -> 10 (even), away 11
    0xB800, // -0.5   -3.50085 -> -3.5     3.5 tie  -> 4 (even and away)
    0x3400, //  0.25   1.75043 -> 1.75     8.75     -> 9
    0x3A00, //  0.75   5.25128 -> 5.25     12.25    -> 12
    0xBA00, // -0.75  -5.25128 -> -5.25    1.75     -> 2
    0x3555, //  1365/4096: 2.33333 -> 2.333984375 (1195/512);
            //  +7 = 9.333984375 -> 9.3359375 (ulp 2^-7) -> 9
    0x0000, //  0      0       -> 0        7.0      -> 7
    0x2C00, //  0.0625 0.43761 -> 0.4375   7.4375   -> 7
    0x32DB, //  1755/8192 = 1.5*scale: 1.5 exactly, 8.5 tie -> 8, away 9
    0x2C92, //  scale/2: 0.5 exactly, 7.5 tie -> 8 (even and away)
    0xB400, // -0.25  -1.75043 -> -1.75    5.25     -> 5
    0xAC00, // -0.0625 -0.43761 -> -0.4375 6.5625   -> 7
    0xB2DB, // -1.5*scale: -1.5, 5.5 tie -> 6 (even and away)
    0xAC92, // -scale/2: -0.5, 6.5 tie -> 6 (even), away 7
    0x3000, //  0.125  0.87521 -> 0.875    7.875    -> 8
    0xB000, // -0.125 -0.87521 -> -0.875   6.125    -> 6
    0x3600, //  0.375  2.62564 -> 2.625    9.625    -> 10
    0xB600, // -0.375 -2.62564 -> -2.625   4.375    -> 4
    0x3B00, //  0.875  6.12650 -> 6.125    13.125   -> 13
    0xBB00, // -0.875 -6.12650 -> -6.125   0.875    -> 1
    0x2E66, //  f16(0.1) = 0.0999755859375: 0.7 -> 0.7001953125,
            //  7.7001953125 -> 7.69921875 -> 8
    0xB4CD, // -0.300048828125: -2.10085 -> -2.1015625, 4.8984375 -> 5
    0x38CD, //  0.60009765625: 4.20171 -> 4.203125, 11.203125 -> 11
    0x3B33, //  0.89990234375: 6.30085 -> 6.30078125, 13.30078125 ->
            //  13.296875 -> 13
    0xBB33, // -0.89990234375: -6.30078125, 0.69921875 -> 1
    0x211F, //  0.01000213623046875: 0.07003 -> 0.07000732421875,
            //  7.07000732 -> 7.0703125 -> 7
    0xA11F, // -0.01000213623046875: 6.92999 -> 6.9296875 -> 7
    0x3733, //  0.449951171875: 3.15043 -> 3.150390625, 10.150390625 ->
            //  10.1484375 -> 10
    0x3866, //  0.5498046875: 3.84957 -> 3.849609375, 10.849609375 ->
            //  10.8515625 -> 11
    0x34CD, //  0.300048828125: 2.10085 -> 2.1015625, 9.1015625 -> 9
};

TEST(GroupQuantTest, HandRowQ4F16NearestEven) {
  Quantized q = quantize16(kHandRow, 1, 32, kQ4F16);
  ASSERT_EQ(q.scales.size(), 1u);
  EXPECT_EQ(q.scales[0], 0x3092);
  // Word j holds q[8j..8j+7], q[8j] in bits 0-3:
  //   q[0..7]   = 14 0 10 4 9 12 2 9   -> 0x92C94A0E
  //   q[8..15]  = 7 7 8 8 5 7 6 6      -> 0x66758877
  //   q[16..23] = 8 6 10 4 13 1 8 5    -> 0x581D4A68
  //   q[24..31] = 11 13 1 7 7 10 11 9  -> 0x9BA771DB
  EXPECT_EQ(q.words, (std::vector<uint32_t>{0x92C94A0E, 0x66758877, 0x581D4A68,
                                            0x9BA771DB}));
}

TEST(GroupQuantTest, HandRowQ4F16NearestAway) {
  GroupQuantSpec spec = kQ4F16;
  spec.rounding = RoundingMode::NearestAway;
  Quantized q = quantize16(kHandRow, 1, 32, spec);
  EXPECT_EQ(q.scales[0], 0x3092);
  // Ties that differ: q[2] 10.5 -> 11, q[10] 8.5 -> 9, q[15] 6.5 -> 7.
  EXPECT_EQ(q.words, (std::vector<uint32_t>{0x92C94B0E, 0x76758977, 0x581D4A68,
                                            0x9BA771DB}));
}

TEST(GroupQuantTest, HandRowDequantize) {
  Quantized q = quantize16(kHandRow, 1, 32, kQ4F16);
  std::vector<float> out(32, -99.0f);
  groupDequantizeRows(q.words.data(), q.scales.data(), 1, 32, kQ4F16,
                      out.data());
  // (q - 7) * 0.142822265625, all exact in float.
  const double s = 0.142822265625;
  const int qs[32] = {14, 0, 10, 4, 9,  12, 2, 9, 7,  7,  8, 8, 5, 7,  6,  6,
                      8,  6, 10, 4, 13, 1,  8, 5, 11, 13, 1, 7, 7, 10, 11, 9};
  for (int i = 0; i < 32; ++i)
    EXPECT_EQ(double(out[i]), (qs[i] - 7) * s) << i;
  EXPECT_EQ(out[0], 0.999755859375f);
  EXPECT_EQ(out[1], -0.999755859375f);
  EXPECT_EQ(out[2], 0.428466796875f);
}

//===----------------------------------------------------------------------===//
// Groups and padding.
//===----------------------------------------------------------------------===//

TEST(GroupQuantTest, AllZeroGroup) {
  // Group 0 is all zeros (incl. -0): scale 0 -> 0/0 = NaN -> clamped to 0.
  // Group 1 has max 7 -> scale 1, q = w + 7.
  std::vector<uint16_t> w(64, 0x0000);
  w[3] = 0x8000;  // -0.0
  w[32] = 0x4700; // 7.0 -> 14
  w[33] = 0xC700; // -7.0 -> 0
  Quantized q = quantize16(w, 1, 64, kQ4F16);
  EXPECT_EQ(q.scales, (std::vector<uint16_t>{0x0000, 0x3C00}));
  // Group 1: q = 14, 0, then 7s -> 0x7777770E, 0x77777777 x 3.
  EXPECT_EQ(q.words, (std::vector<uint32_t>{0, 0, 0, 0, 0x7777770E, 0x77777777,
                                            0x77777777, 0x77777777}));
  std::vector<float> out(64, -1.0f);
  groupDequantizeRows(q.words.data(), q.scales.data(), 1, 64, kQ4F16,
                      out.data());
  for (int i = 0; i < 32; ++i)
    EXPECT_EQ(out[i], 0.0f) << i; // (0 - 7) * 0.
  EXPECT_EQ(out[32], 7.0f);
  EXPECT_EQ(out[33], -7.0f);
}

TEST(GroupQuantTest, ScaleUnderflowsToZero) {
  // max|w| = 2^-24 (0x0001): 2^-24 / 7 < 2^-25 (half the smallest
  // subnormal) -> scale 0. Then w / 0: +inf for w > 0 -> clamp 14;
  // -inf for w < 0 -> 0; 0 / 0 = NaN -> 0.
  std::vector<uint16_t> w(32, 0x0000);
  w[0] = 0x0001;
  w[1] = 0x8001;
  w[2] = 0x0001;
  Quantized q = quantize16(w, 1, 32, kQ4F16);
  EXPECT_EQ(q.scales[0], 0x0000);
  // q = 14, 0, 14, 0... -> 0x00000E0E.
  EXPECT_EQ(q.words, (std::vector<uint32_t>{0x00000E0E, 0, 0, 0}));
}

TEST(GroupQuantTest, SubnormalScale) {
  // max|w| = 7 * 2^-24 (0x0007): scale = 2^-24 exactly (0x0001); then
  // w / scale = 7, -7, 3 -> 14, 0, 10.
  std::vector<uint16_t> w(32, 0x0000);
  w[0] = 0x0007;
  w[1] = 0x8007;
  w[2] = 0x0003;
  Quantized q = quantize16(w, 1, 32, kQ4F16);
  EXPECT_EQ(q.scales[0], 0x0001);
  EXPECT_EQ(q.words, (std::vector<uint32_t>{0x77777A0E, 0x77777777, 0x77777777,
                                            0x77777777}));
}

TEST(GroupQuantTest, Q4F16K40Padding) {
  // K = 40: group 0 = 32 values, group 1 = 8 values + 24 padding positions.
  std::vector<uint16_t> w;
  // Group 0: w = (i % 15) - 7, max 7 -> scale 1.0, q = i % 15.
  const uint16_t ints[15] = {0xC700, 0xC600, 0xC500, 0xC400, 0xC200,
                             0xC000, 0xBC00, 0x0000, 0x3C00, 0x4000,
                             0x4200, 0x4400, 0x4500, 0x4600, 0x4700};
  for (int i = 0; i < 32; ++i)
    w.push_back(ints[i % 15]);
  // Group 1: 14 -14 1 -1 3 5 -3 0, max 14 -> scale 2.0; w/2 + 7 =
  // 14, 0, 7.5 -> 8, 6.5 -> 6, 8.5 -> 8, 9.5 -> 10, 5.5 -> 6, 7.
  for (uint16_t v :
       {0x4B00, 0xCB00, 0x3C00, 0xBC00, 0x4200, 0x4500, 0xC200, 0x0000})
    w.push_back(v);
  Quantized q = quantize16(w, 1, 40, kQ4F16);
  EXPECT_EQ(q.scales, (std::vector<uint16_t>{0x3C00, 0x4000}));
  // q[0..7] = 0..7 -> 0x76543210; q[8..15] = 8..14,0 -> 0x0EDCBA98;
  // q[16..23] = 1..8 -> 0x87654321; q[24..31] = 9..14,0,1 -> 0x10EDCBA9;
  // group 1: 14 0 8 6 8 10 6 7 -> 0x76A8680E; padding words are 0.
  EXPECT_EQ(q.words, (std::vector<uint32_t>{0x76543210, 0x0EDCBA98, 0x87654321,
                                            0x10EDCBA9, 0x76A8680E, 0, 0, 0}));
  // Dequantize: group 1 values come back as (q - 7) * 2.
  std::vector<float> out(40);
  groupDequantizeRows(q.words.data(), q.scales.data(), 1, 40, kQ4F16,
                      out.data());
  EXPECT_EQ(std::vector<float>(out.begin() + 32, out.end()),
            (std::vector<float>{14, -14, 2, -2, 2, 6, -2, 0}));
  EXPECT_EQ(out[0], -7.0f);
  EXPECT_EQ(out[14], 7.0f);
}

TEST(GroupQuantTest, Q3F16K40AndK50) {
  // int3: 10 values per word (bits 3r..3r+2), bits 30-31 zero; max_int 3,
  // clamp [0, 6]. Group 0: w = (i % 7) - 3, max 3 -> scale 1, q = i % 7.
  const uint16_t ints[7] = {0xC200, 0xC000, 0xBC00, 0x0000,
                            0x3C00, 0x4000, 0x4200};
  std::vector<uint16_t> w;
  for (int i = 0; i < 40; ++i)
    w.push_back(ints[i % 7]);
  // Word 0 = q[0..9] = 0 1 2 3 4 5 6 0 1 2:
  //   1<<3 | 2<<6 | 3<<9 | 4<<12 | 5<<15 | 6<<18 | 1<<24 | 2<<27
  //   = 0x8 + 0x80 + 0x600 + 0x4000 + 0x28000 + 0x180000 + 0x1000000
  //     + 0x10000000 = 0x111AC688.
  const std::vector<uint32_t> group0 = {0x111AC688, 0x2C688D63, 0x08D63446,
                                        0x23446B1A};
  Quantized q40 = quantize16(w, 1, 40, kQ3F16);
  EXPECT_EQ(q40.scales, (std::vector<uint16_t>{0x3C00}));
  EXPECT_EQ(q40.words, group0);
  for (uint32_t word : q40.words)
    EXPECT_EQ(word >> 30, 0u);

  // K = 50: a second group of 10 values + 30 padding. Values
  // 1.5 -1.5 0.25 -0.25 0.75 1 -1 0 0.5 -0.75, max 1.5 -> scale 0.5;
  // 2w + 3 = 6, 0, 3.5 -> 4, 2.5 -> 2, 4.5 -> 4, 5, 1, 3, 4, 1.5 -> 2.
  for (uint16_t v : {0x3E00, 0xBE00, 0x3400, 0xB400, 0x3A00, 0x3C00, 0xBC00,
                     0x0000, 0x3800, 0xBA00})
    w.push_back(v);
  Quantized q50 = quantize16(w, 1, 50, kQ3F16);
  EXPECT_EQ(q50.scales, (std::vector<uint16_t>{0x3C00, 0x3800}));
  // 6 | 0<<3 | 4<<6 | 2<<9 | 4<<12 | 5<<15 | 1<<18 | 3<<21 | 4<<24 | 2<<27
  // = 0x1466C506.
  std::vector<uint32_t> want = group0;
  for (uint32_t v : {0x1466C506u, 0u, 0u, 0u})
    want.push_back(v);
  EXPECT_EQ(q50.words, want);
  std::vector<float> out(50);
  groupDequantizeRows(q50.words.data(), q50.scales.data(), 1, 50, kQ3F16,
                      out.data());
  // (q - 3) * 0.5.
  EXPECT_EQ(std::vector<float>(out.begin() + 40, out.end()),
            (std::vector<float>{1.5f, -1.5f, 0.5f, -0.5f, 0.5f, 1.0f, -1.0f,
                                0.0f, 0.5f, -0.5f}));
}

TEST(GroupQuantTest, MultipleRows) {
  // Two rows of K = 40 are quantized independently. Row 1 is row 0 times -2
  // (the exponent field + 1, the sign flipped), so its scales double.
  std::vector<uint16_t> w = {0x3C00, 0x3400, 0xB800, 0x0000};
  w.resize(40, 0x2C00); // 0.0625
  std::vector<uint16_t> both = w;
  for (uint16_t v : w)
    both.push_back(v == 0 ? 0 : uint16_t((v ^ 0x8000) + 0x0400));
  Quantized q = quantize16(both, 2, 40, kQ4F16);
  // Row 0, group 0 (see the hand row): scale 0x3092; 1 -> 14, 0.25 -> 9,
  // -0.5 -> 4, 0 -> 7, 0.0625 -> 7. Group 1 (8 x 0.0625): scale
  // f16(0.0625 / 7) = (1 + 146/1024) * 2^-7 = 0x2092; 0.0625 / scale =
  // 7.0017 -> 7.0 -> 14.
  // Row 1: scales 0x3492 and 0x2492 (twice as large); w / scale is row 0's
  // negated: -7 -> 0, -1.75 -> 5.25 -> 5, 3.5 -> 10.5 tie -> 10, 0 -> 7,
  // -0.4375 -> 6.5625 -> 7; group 1: -7 -> 0.
  EXPECT_EQ(q.scales, (std::vector<uint16_t>{0x3092, 0x2092, 0x3492, 0x2492}));
  EXPECT_EQ(q.words, (std::vector<uint32_t>{0x7777749E, 0x77777777, 0x77777777,
                                            0x77777777, 0xEEEEEEEE, 0, 0, 0,
                                            0x77777A50, 0x77777777, 0x77777777,
                                            0x77777777, 0, 0, 0, 0}));
}

//===----------------------------------------------------------------------===//
// Other model formats.
//===----------------------------------------------------------------------===//

TEST(GroupQuantTest, BF16Row) {
  // max 1.0 -> scale bf16(1/7): 1/7 = 0x3E124925, low half 0x4925 < 0x8000
  // -> 0x3E12 = 0.142578125. Every step rounds to bf16 (8 significant bits):
  //   1.0   -> 7.01370 -> 7.0      -> 14.0        -> 14
  //   0.5   -> 3.50685 -> 3.5      -> 10.5 tie    -> 10 (away 11)
  //  -0.5   -> -3.5               -> 3.5 tie     -> 4
  //   0.25  -> 1.75342 -> 1.75     -> 8.75        -> 9
  //   0x3E9A (0.30078125) -> 2.10959 -> 2.109375 -> 9.109375 -> 9.125 -> 9
  //  -0.75  -> -5.26027 -> -5.25   -> 1.75        -> 2
  //   0x3DCD (0.10009765625) -> 0.70205 -> 0.703125 -> 7.703125 -> 7.6875
  //                                                            -> 8
  //   0xBEAB (-0.333984375) -> -2.34247 -> -2.34375 -> 4.65625 -> 5
  // then 24 zeros -> 7.
  std::vector<uint16_t> w = {0x3F80, 0x3F00, 0xBF00, 0x3E80,
                             0x3E9A, 0xBF40, 0x3DCD, 0xBEAB};
  w.resize(32, 0x0000);
  GroupQuantSpec spec{4, 32, FloatFormat::BF16};
  Quantized q = quantize16(w, 1, 32, spec);
  EXPECT_EQ(q.scales, (std::vector<uint16_t>{0x3E12}));
  // 14 10 4 9 9 2 8 5 -> 0x582994AE.
  EXPECT_EQ(q.words, (std::vector<uint32_t>{0x582994AE, 0x77777777, 0x77777777,
                                            0x77777777}));
  spec.rounding = RoundingMode::NearestAway;
  EXPECT_EQ(quantize16(w, 1, 32, spec).words[0], 0x582994BEu);
  std::vector<float> out(32);
  groupDequantizeRows(q.words.data(), q.scales.data(), 1, 32, spec, out.data());
  EXPECT_EQ(out[0], 7 * 0.142578125f);
  EXPECT_EQ(out[1], 3 * 0.142578125f);
}

TEST(GroupQuantTest, F32Row) {
  // max 1.0 -> scale = float(1/7) = 0x3E124925 = 0.142857149...; plain
  // float arithmetic:
  //   0.5 / s = 3.49999984 -> float 3.49999976; + 7 = 10.49999976 rounds to
  //   the float 10.5 (ulp 2^-20): a tie -> 10 (away 11).
  //   1.0 -> 6.99999952 + 7 -> 14.0 -> 14;  -0.5 -> 3.50000024 -> 4;
  //   0.25 -> 8.75 -> 9;  0.3 -> 9.10000038 -> 9;  -0.75 -> 1.75 -> 2;
  //   0.1 -> 7.69999981 -> 8;  -1/3 -> 4.66666698 -> 5.
  std::vector<float> w = {1.0f, 0.5f,   -0.5f, 0.25f,
                          0.3f, -0.75f, 0.1f,  -1.0f / 3.0f};
  w.resize(32, 0.0f);
  GroupQuantSpec spec{4, 32, FloatFormat::F32};
  Quantized q = quantize32(w, 1, 32, spec);
  EXPECT_EQ(q.scalesF32, (std::vector<float>{1.0f / 7.0f}));
  EXPECT_EQ(q.words, (std::vector<uint32_t>{0x582994AE, 0x77777777, 0x77777777,
                                            0x77777777}));
  spec.rounding = RoundingMode::NearestAway;
  EXPECT_EQ(quantize32(w, 1, 32, spec).words[0], 0x582994BEu);
}

TEST(GroupQuantTest, NaNWeightsQuantizeToZero) {
  // A NaN in a group: it quantizes to 0 and does not poison the scale when
  // a finite value follows it (TVM's select-based max: NaN > x is false).
  std::vector<uint16_t> w(32, 0x0000);
  w[0] = 0x7E00; // NaN
  w[1] = 0x4700; // 7.0 -> scale 1, q 14
  w[2] = 0xC700; // -7.0 -> 0
  Quantized q = quantize16(w, 1, 32, kQ4F16);
  EXPECT_EQ(q.scales[0], 0x3C00);
  EXPECT_EQ(q.words[0], 0x777770E0u);
}

