//===- GgufDequantTest.cpp - ggml block decoding tests -------------------===//
//
// Part of quant-opt.
//
// One hand-built block per ggml type. Every expected value was worked out by
// hand from the formulas of source-formats.md 3.4; the comments show the
// derivation. Scales are powers of two, so every product is exact.
//
//===----------------------------------------------------------------------===//

#include "qopt/Loaders/Gguf.h"

#include <gtest/gtest.h>

#include <cstring>
#include <vector>

using namespace qopt::loaders;

namespace {

// IEEE binary16 bit patterns.
constexpr uint16_t kHalfOne = 0x3C00;      // 1.0
constexpr uint16_t kHalfHalf = 0x3800;     // 0.5
constexpr uint16_t kHalfQuarter = 0x3400;  // 0.25
constexpr uint16_t kHalfEighth = 0x3000;   // 0.125
constexpr uint16_t kHalfTwo = 0x4000;      // 2.0
constexpr uint16_t kHalfMinusOne = 0xBC00; // -1.0

void putHalf(std::vector<uint8_t> &b, size_t at, uint16_t h) {
  b[at] = uint8_t(h & 0xFF);
  b[at + 1] = uint8_t(h >> 8);
}

std::vector<float> decode(GgmlType type, const std::vector<uint8_t> &block,
                          size_t n) {
  std::vector<float> y(n, -12345.0f);
  EXPECT_TRUE(ggmlDequantize(type, block.data(), n, y.data()));
  return y;
}

TEST(GgufDequantTest, TypeTable) {
  // Sheet 3.3: block size and bytes per block.
  struct Row {
    uint32_t value;
    const char *name;
    uint32_t block, bytes;
  } rows[] = {{0, "F32", 1, 4},         {1, "F16", 1, 2},
              {2, "Q4_0", 32, 18},      {3, "Q4_1", 32, 20},
              {6, "Q5_0", 32, 22},      {7, "Q5_1", 32, 24},
              {8, "Q8_0", 32, 34},      {9, "Q8_1", 32, 36},
              {10, "Q2_K", 256, 84},    {11, "Q3_K", 256, 110},
              {12, "Q4_K", 256, 144},   {13, "Q5_K", 256, 176},
              {14, "Q6_K", 256, 210},   {15, "Q8_K", 256, 292},
              {16, "IQ2_XXS", 256, 66}, {20, "IQ4_NL", 32, 18},
              {23, "IQ4_XS", 256, 136}, {24, "I8", 1, 1},
              {27, "I64", 1, 8},        {28, "F64", 1, 8},
              {29, "IQ1_M", 256, 56},   {30, "BF16", 1, 2},
              {34, "TQ1_0", 256, 54},   {35, "TQ2_0", 256, 66}};
  for (const Row &r : rows) {
    SCOPED_TRACE(r.name);
    const GgmlTypeInfo *t = ggmlTypeInfo(r.value);
    ASSERT_NE(t, nullptr);
    EXPECT_STREQ(t->name, r.name);
    EXPECT_EQ(t->blockSize, r.block);
    EXPECT_EQ(t->typeSize, r.bytes);
    EXPECT_EQ(ggmlTypeByName(r.name), t);
  }
  // Removed and unknown values.
  for (uint32_t v : {4u, 5u, 31u, 32u, 33u, 36u, 37u, 38u, 39u, 1000u})
    EXPECT_EQ(ggmlTypeInfo(v), nullptr) << v;
  EXPECT_EQ(ggmlTypeByName("Q4_2"), nullptr);
}

TEST(GgufDequantTest, WhatCanBeDecoded) {
  for (GgmlType t :
       {GgmlType::F32, GgmlType::F16, GgmlType::BF16, GgmlType::Q4_0,
        GgmlType::Q4_1, GgmlType::Q5_0, GgmlType::Q5_1, GgmlType::Q8_0,
        GgmlType::Q8_1, GgmlType::Q2_K, GgmlType::Q3_K, GgmlType::Q4_K,
        GgmlType::Q5_K, GgmlType::Q6_K, GgmlType::Q8_K})
    EXPECT_TRUE(canDequantizeGgml(t)) << uint32_t(t);
  for (GgmlType t : {GgmlType::IQ2_XXS, GgmlType::IQ4_NL, GgmlType::IQ4_XS,
                     GgmlType::TQ1_0, GgmlType::I8, GgmlType::F64})
    EXPECT_FALSE(canDequantizeGgml(t)) << uint32_t(t);
  std::vector<uint8_t> block(256, 0);
  float out[64];
  out[0] = 7.0f;
  EXPECT_FALSE(ggmlDequantize(GgmlType::IQ4_NL, block.data(), 32, out));
  // 48 elements are not whole Q8_0 blocks of 32.
  EXPECT_FALSE(ggmlDequantize(GgmlType::Q8_0, block.data(), 48, out));
  EXPECT_EQ(out[0], 7.0f); // Nothing written.
}

TEST(GgufDequantTest, PlainTypes) {
  // F16 0x3C00 = 1, 0xC000 = -2, 0x0001 = 2^-24 (subnormal).
  std::vector<uint8_t> f16 = {0x00, 0x3C, 0x00, 0xC0, 0x01, 0x00};
  std::vector<float> y = decode(GgmlType::F16, f16, 3);
  EXPECT_EQ(y, (std::vector<float>{1.0f, -2.0f, 0x1p-24f}));
  // BF16 0x3F80 = 1, 0x4040 = 3, 0xBFC0 = -1.5.
  std::vector<uint8_t> bf16 = {0x80, 0x3F, 0x40, 0x40, 0xC0, 0xBF};
  y = decode(GgmlType::BF16, bf16, 3);
  EXPECT_EQ(y, (std::vector<float>{1.0f, 3.0f, -1.5f}));
  // F32 0x40490FDB = 3.14159274.
  std::vector<uint8_t> f32 = {0xDB, 0x0F, 0x49, 0x40};
  y = decode(GgmlType::F32, f32, 1);
  EXPECT_EQ(y[0], 3.14159274f);
}

TEST(GgufDequantTest, Q4_0) {
  // d = 0.5; qs[j] = j | (15 - j) << 4: lo = j, hi = 15 - j.
  // y[j] = (j - 8) * 0.5; y[j + 16] = (15 - j - 8) * 0.5 = (7 - j) * 0.5.
  std::vector<uint8_t> b(18);
  putHalf(b, 0, kHalfHalf);
  for (int j = 0; j < 16; ++j)
    b[2 + j] = uint8_t(j | (15 - j) << 4);
  std::vector<float> expected = {-4,   -3.5, -3,   -2.5, -2,   -1.5, -1,   -0.5,
                                 0,    0.5,  1,    1.5,  2,    2.5,  3,    3.5,
                                 3.5,  3,    2.5,  2,    1.5,  1,    0.5,  0,
                                 -0.5, -1,   -1.5, -2,   -2.5, -3,   -3.5, -4};
  EXPECT_EQ(decode(GgmlType::Q4_0, b, 32), expected);
}

TEST(GgufDequantTest, Q4_1) {
  // d = 0.25, m = -1; qs[j] = j | 15 << 4.
  // y[j] = j * 0.25 - 1; y[j + 16] = 15 * 0.25 - 1 = 2.75.
  std::vector<uint8_t> b(20);
  putHalf(b, 0, kHalfQuarter);
  putHalf(b, 2, kHalfMinusOne);
  for (int j = 0; j < 16; ++j)
    b[4 + j] = uint8_t(j | 0xF0);
  std::vector<float> expected = {-1, -0.75, -0.5, -0.25, 0, 0.25, 0.5, 0.75,
                                 1,  1.25,  1.5,  1.75,  2, 2.25, 2.5, 2.75};
  expected.resize(32, 2.75f);
  EXPECT_EQ(decode(GgmlType::Q4_1, b, 32), expected);
}

TEST(GgufDequantTest, Q5_0) {
  // d = 0.5; h = 0x80000001 (bits 0 and 31); qs[j] = j | 15 << 4.
  // y[0] = ((0 | 1 << 4) - 16) * 0.5 = 0;  y[j], 1 <= j <= 15: (j - 16) / 2;
  // y[16..30] = (15 - 16) / 2 = -0.5; y[31] = ((15 | 16) - 16) / 2 = 7.5.
  std::vector<uint8_t> b(22);
  putHalf(b, 0, kHalfHalf);
  b[2] = 0x01;
  b[5] = 0x80;
  for (int j = 0; j < 16; ++j)
    b[6 + j] = uint8_t(j | 0xF0);
  std::vector<float> expected = {0,  -7.5, -7, -6.5, -6, -5.5, -5, -4.5,
                                 -4, -3.5, -3, -2.5, -2, -1.5, -1, -0.5};
  expected.resize(31, -0.5f);
  expected.push_back(7.5f);
  EXPECT_EQ(decode(GgmlType::Q5_0, b, 32), expected);
}

TEST(GgufDequantTest, Q5_1) {
  // d = 0.5, m = 0.25; h = 0x0000FFFF; qs[j] = j | (15 - j) << 4.
  // y[j] = (j + 16) * 0.5 + 0.25; y[j + 16] = (15 - j) * 0.5 + 0.25.
  std::vector<uint8_t> b(24);
  putHalf(b, 0, kHalfHalf);
  putHalf(b, 2, kHalfQuarter);
  b[4] = 0xFF;
  b[5] = 0xFF;
  for (int j = 0; j < 16; ++j)
    b[8 + j] = uint8_t(j | (15 - j) << 4);
  std::vector<float> expected = {
      8.25,  8.75,  9.25,  9.75,  10.25, 10.75, 11.25, 11.75,
      12.25, 12.75, 13.25, 13.75, 14.25, 14.75, 15.25, 15.75,
      7.75,  7.25,  6.75,  6.25,  5.75,  5.25,  4.75,  4.25,
      3.75,  3.25,  2.75,  2.25,  1.75,  1.25,  0.75,  0.25};
  EXPECT_EQ(decode(GgmlType::Q5_1, b, 32), expected);
}

TEST(GgufDequantTest, Q8_0) {
  // d = 0.125; qs = -128, 127, then j - 16 for j = 2..31.
  std::vector<uint8_t> b(34);
  putHalf(b, 0, kHalfEighth);
  b[2] = 0x80; // -128
  b[3] = 0x7F; // 127
  for (int j = 2; j < 32; ++j)
    b[2 + j] = uint8_t(int8_t(j - 16));
  std::vector<float> y = decode(GgmlType::Q8_0, b, 32);
  EXPECT_EQ(y[0], -16.0f);  // -128 / 8
  EXPECT_EQ(y[1], 15.875f); // 127 / 8
  EXPECT_EQ(y[2], -1.75f);  // -14 / 8
  EXPECT_EQ(y[16], 0.0f);   // 0
  EXPECT_EQ(y[31], 1.875f); // 15 / 8
}

TEST(GgufDequantTest, Q8_1) {
  // d = 2, s = 0x1234 (ignored); qs[j] = j - 16: y[j] = 2 * (j - 16).
  std::vector<uint8_t> b(36);
  putHalf(b, 0, kHalfTwo);
  putHalf(b, 2, 0x1234);
  for (int j = 0; j < 32; ++j)
    b[4 + j] = uint8_t(int8_t(j - 16));
  std::vector<float> y = decode(GgmlType::Q8_1, b, 32);
  EXPECT_EQ(y[0], -32.0f);
  EXPECT_EQ(y[16], 0.0f);
  EXPECT_EQ(y[31], 30.0f);
}

TEST(GgufDequantTest, Q8_K) {
  // d = 0.5 as f32 (0x3F000000); qs[k] = k - 128; bsums garbage.
  std::vector<uint8_t> b(292, 0xEE);
  b[0] = 0x00, b[1] = 0x00, b[2] = 0x00, b[3] = 0x3F;
  for (int k = 0; k < 256; ++k)
    b[4 + k] = uint8_t(int8_t(k - 128));
  std::vector<float> y = decode(GgmlType::Q8_K, b, 256);
  EXPECT_EQ(y[0], -64.0f);
  EXPECT_EQ(y[128], 0.0f);
  EXPECT_EQ(y[255], 63.5f);
}

TEST(GgufDequantTest, Q2_K) {
  // d = 1, dmin = 0.5; scales[i] = i | (15 - i) << 4 (scale i, min 15 - i).
  // qs[32h + 16s + l] holds four 2-bit quants (bits 2j): h0s0 0xE4 -> q = j,
  // h0s1 0x1B -> q = 3 - j, h1s0 0x00 -> q = 0, h1s1 0xFF -> q = 3.
  // y[128h + 32j + 16s + l] = 1 * is * q - 0.5 * (15 - is), is = 8h+2j+s.
  std::vector<uint8_t> b(84);
  for (int i = 0; i < 16; ++i)
    b[i] = uint8_t(i | (15 - i) << 4);
  const uint8_t pattern[2][2] = {{0xE4, 0x1B}, {0x00, 0xFF}};
  for (int h = 0; h < 2; ++h)
    for (int s = 0; s < 2; ++s)
      for (int l = 0; l < 16; ++l)
        b[16 + 32 * h + 16 * s + l] = pattern[h][s];
  putHalf(b, 80, kHalfOne);
  putHalf(b, 82, kHalfHalf);
  std::vector<float> y = decode(GgmlType::Q2_K, b, 256);
  EXPECT_EQ(y[0], -7.5f);   // h0 j0 s0: is 0, q 0: 0 - 7.5
  EXPECT_EQ(y[16], -4.0f);  // h0 j0 s1: is 1, q 3: 3 - 7
  EXPECT_EQ(y[32], -4.5f);  // h0 j1 s0: is 2, q 1: 2 - 6.5
  EXPECT_EQ(y[63], 0.0f);   // h0 j1 s1: is 3, q 2: 6 - 6
  EXPECT_EQ(y[96], 13.5f);  // h0 j3 s0: is 6, q 3: 18 - 4.5
  EXPECT_EQ(y[112], -4.0f); // h0 j3 s1: is 7, q 0: 0 - 4
  EXPECT_EQ(y[128], -3.5f); // h1 j0 s0: is 8, q 0: 0 - 3.5
  EXPECT_EQ(y[144], 24.0f); // h1 j0 s1: is 9, q 3: 27 - 3
  EXPECT_EQ(y[200], -1.5f); // h1 j2 s0 l8: is 12, q 0: 0 - 1.5
  EXPECT_EQ(y[255], 45.0f); // h1 j3 s1: is 15, q 3: 45 - 0
  // Every element by the closed form above.
  for (int h = 0; h < 2; ++h)
    for (int j = 0; j < 4; ++j)
      for (int s = 0; s < 2; ++s)
        for (int l = 0; l < 16; ++l) {
          int is = 8 * h + 2 * j + s;
          int q = h == 0 ? (s == 0 ? j : 3 - j) : (s == 0 ? 0 : 3);
          EXPECT_EQ(y[128 * h + 32 * j + 16 * s + l],
                    float(is * q) - 0.5f * float(15 - is))
              << h << j << s << l;
        }
}

TEST(GgufDequantTest, Q3_K) {
  // d = 0.5; six-bit scales u[i] = sc[i] + 32 with sc[i] = i - 8, so
  // u = 24..39: low nibbles 8..F (i < 8, in b[i]) and 0..7 (i >= 8, high
  // nibble of b[i-8]); high two bits 1 (i < 8) and 2 (i >= 8) at
  // b[8 + i%4] bits 2*(i/4): 1 | 1<<2 | 2<<4 | 2<<6 = 0xA5.
  // hmask[l] = 0x0F (s = 0), hmask[16 + l] = 0xF0 (s = 1): hb = 1 for h0s0
  // and h1s1, else 0. qs all 0xE4: q2 = j.
  // y = 0.5 * (is - 8) * (j - (hb ? 0 : 4)), is = 8h + 2j + s.
  std::vector<uint8_t> b(110);
  for (int l = 0; l < 16; ++l) {
    b[l] = 0x0F;
    b[16 + l] = 0xF0;
  }
  for (int i = 0; i < 64; ++i)
    b[32 + i] = 0xE4;
  const uint8_t scales[12] = {0x08, 0x19, 0x2A, 0x3B, 0x4C, 0x5D,
                              0x6E, 0x7F, 0xA5, 0xA5, 0xA5, 0xA5};
  std::memcpy(b.data() + 96, scales, 12);
  putHalf(b, 108, kHalfHalf);
  std::vector<float> y = decode(GgmlType::Q3_K, b, 256);
  EXPECT_EQ(y[0], 0.0f);    // is 0: sc -8, hb 1, q 0
  EXPECT_EQ(y[16], 14.0f);  // is 1: sc -7, hb 0, q -4: -3.5 * -4
  EXPECT_EQ(y[32], -3.0f);  // is 2: sc -6, hb 1, q 1
  EXPECT_EQ(y[48], 7.5f);   // is 3: sc -5, hb 0, q -3: -2.5 * -3
  EXPECT_EQ(y[127], 0.5f);  // is 7: sc -1, hb 0, q -1
  EXPECT_EQ(y[128], 0.0f);  // is 8: sc 0
  EXPECT_EQ(y[160], -3.0f); // is 10: sc 2, hb 0, q -3
  EXPECT_EQ(y[176], 1.5f);  // is 11: sc 3, hb 1, q 1
  EXPECT_EQ(y[224], -3.0f); // is 14: sc 6, hb 0, q -1
  EXPECT_EQ(y[255], 10.5f); // is 15: sc 7, hb 1, q 3
  for (int h = 0; h < 2; ++h)
    for (int j = 0; j < 4; ++j)
      for (int s = 0; s < 2; ++s)
        for (int l = 0; l < 16; ++l) {
          int is = 8 * h + 2 * j + s;
          bool hb = (h == 0) == (s == 0);
          EXPECT_EQ(y[128 * h + 32 * j + 16 * s + l],
                    0.5f * float(is - 8) * float(j - (hb ? 0 : 4)))
              << h << j << s << l;
        }
}

/// The 12 scale bytes of the Q4_K/Q5_K tests: sc = 1 2 3 4 17 33 49 63,
/// mn = 5 6 7 8 18 34 50 62. i < 4: b[i] = sc[i] | (sc[i+4] >> 4) << 6,
/// b[i+4] = mn[i] | (mn[i+4] >> 4) << 6; b[i+8] = (sc[i+4] & 15) |
/// (mn[i+4] & 15) << 4.
const uint8_t kK4Scales[12] = {0x41, 0x82, 0xC3, 0xC4, 0x45, 0x86,
                               0xC7, 0xC8, 0x21, 0x21, 0x21, 0xEF};
const int kK4Sc[8] = {1, 2, 3, 4, 17, 33, 49, 63};
const int kK4Mn[8] = {5, 6, 7, 8, 18, 34, 50, 62};

TEST(GgufDequantTest, Q4_K) {
  // d = 0.5, dmin = 0.25; qs[32c + l] = (l % 16) | (15 - l % 16) << 4.
  // y[64c + l] = 0.5 * sc[2c] * (l % 16) - 0.25 * mn[2c];
  // y[64c + 32 + l] = 0.5 * sc[2c+1] * (15 - l % 16) - 0.25 * mn[2c+1].
  std::vector<uint8_t> b(144);
  putHalf(b, 0, kHalfHalf);
  putHalf(b, 2, kHalfQuarter);
  std::memcpy(b.data() + 4, kK4Scales, 12);
  for (int c = 0; c < 4; ++c)
    for (int l = 0; l < 32; ++l)
      b[16 + 32 * c + l] = uint8_t((l % 16) | (15 - l % 16) << 4);
  std::vector<float> y = decode(GgmlType::Q4_K, b, 256);
  EXPECT_EQ(y[0], -1.25f);   // sc 1 * 0 - 5/4
  EXPECT_EQ(y[33], 12.5f);   // 0.5 * 2 * 14 - 6/4
  EXPECT_EQ(y[79], 20.75f);  // 0.5 * 3 * 15 - 7/4
  EXPECT_EQ(y[96], 28.0f);   // 0.5 * 4 * 15 - 8/4
  EXPECT_EQ(y[145], 4.0f);   // 0.5 * 17 * 1 - 18/4 (6-bit scale, i = 4)
  EXPECT_EQ(y[160], 239.0f); // 0.5 * 33 * 15 - 34/4
  EXPECT_EQ(y[197], 110.0f); // 0.5 * 49 * 5 - 50/4
  EXPECT_EQ(y[224], 457.0f); // 0.5 * 63 * 15 - 62/4
  EXPECT_EQ(y[255], -15.5f); // 0.5 * 63 * 0 - 62/4
  for (int c = 0; c < 4; ++c)
    for (int l = 0; l < 32; ++l) {
      EXPECT_EQ(y[64 * c + l], 0.5f * float(kK4Sc[2 * c] * (l % 16)) -
                                   0.25f * float(kK4Mn[2 * c]));
      EXPECT_EQ(y[64 * c + 32 + l],
                0.5f * float(kK4Sc[2 * c + 1] * (15 - l % 16)) -
                    0.25f * float(kK4Mn[2 * c + 1]));
    }
}

TEST(GgufDequantTest, Q5_K) {
  // As Q4_K, plus qh[l] = 0x55 (l < 16) / 0xAA (l >= 16): the fifth bit of
  // the low quants (bit 2c) is set for l < 16, of the high ones (bit 2c+1)
  // for l >= 16.
  std::vector<uint8_t> b(176);
  putHalf(b, 0, kHalfHalf);
  putHalf(b, 2, kHalfQuarter);
  std::memcpy(b.data() + 4, kK4Scales, 12);
  for (int l = 0; l < 32; ++l)
    b[16 + l] = l < 16 ? 0x55 : 0xAA;
  for (int c = 0; c < 4; ++c)
    for (int l = 0; l < 32; ++l)
      b[48 + 32 * c + l] = uint8_t((l % 16) | (15 - l % 16) << 4);
  std::vector<float> y = decode(GgmlType::Q5_K, b, 256);
  EXPECT_EQ(y[0], 6.75f);    // q 0 + 16: 0.5 * 1 * 16 - 5/4
  EXPECT_EQ(y[16], -1.25f);  // q 0: - 5/4
  EXPECT_EQ(y[32], 13.5f);   // q 15: 0.5 * 2 * 15 - 6/4
  EXPECT_EQ(y[48], 29.5f);   // q 15 + 16: 0.5 * 2 * 31 - 6/4
  EXPECT_EQ(y[207], 747.0f); // q 15 + 16: 0.5 * 49 * 31 - 50/4
  EXPECT_EQ(y[255], 488.5f); // q 0 + 16: 0.5 * 63 * 16 - 62/4
  for (int c = 0; c < 4; ++c)
    for (int l = 0; l < 32; ++l) {
      int qLo = l % 16 + (l < 16 ? 16 : 0);
      int qHi = 15 - l % 16 + (l < 16 ? 0 : 16);
      EXPECT_EQ(y[64 * c + l],
                0.5f * float(kK4Sc[2 * c] * qLo) - 0.25f * float(kK4Mn[2 * c]));
      EXPECT_EQ(y[64 * c + 32 + l], 0.5f * float(kK4Sc[2 * c + 1] * qHi) -
                                        0.25f * float(kK4Mn[2 * c + 1]));
    }
}

TEST(GgufDequantTest, Q6_K) {
  // d = 0.5; scales = 1 -1 2 -2 ... 8 -8; ql[64h + l] = 0x98 (l < 32) and
  // 0x76 (l >= 32); qh all 0xE4 (bits 2q..2q+1 = q for quarter q).
  // Quarter 0: (8 | 0 << 4) - 32 = -24; quarter 1: (6 | 1 << 4) - 32 = -10;
  // quarter 2: (9 | 2 << 4) - 32 = 9; quarter 3: (7 | 3 << 4) - 32 = 23.
  // y[128h + 32q + l] = 0.5 * S[8h + 2q + l / 16] * quant(q).
  std::vector<uint8_t> b(210);
  for (int h = 0; h < 2; ++h)
    for (int l = 0; l < 64; ++l)
      b[64 * h + l] = l < 32 ? 0x98 : 0x76;
  for (int i = 0; i < 64; ++i)
    b[128 + i] = 0xE4;
  const int8_t scales[16] = {1, -1, 2, -2, 3, -3, 4, -4,
                             5, -5, 6, -6, 7, -7, 8, -8};
  std::memcpy(b.data() + 192, scales, 16);
  putHalf(b, 208, kHalfHalf);
  std::vector<float> y = decode(GgmlType::Q6_K, b, 256);
  EXPECT_EQ(y[0], -12.0f);   // S 1 * -24 / 2
  EXPECT_EQ(y[16], 12.0f);   // S -1 * -24 / 2
  EXPECT_EQ(y[32], -10.0f);  // S 2 * -10 / 2
  EXPECT_EQ(y[64], 13.5f);   // S 3 * 9 / 2
  EXPECT_EQ(y[127], -46.0f); // S -4 * 23 / 2
  EXPECT_EQ(y[128], -60.0f); // S 5 * -24 / 2
  EXPECT_EQ(y[200], 31.5f);  // quarter 2, l 8: S[12] = 7 * 9 / 2
  EXPECT_EQ(y[255], -92.0f); // S -8 * 23 / 2
  const int quant[4] = {-24, -10, 9, 23};
  for (int h = 0; h < 2; ++h)
    for (int q = 0; q < 4; ++q)
      for (int l = 0; l < 32; ++l)
        EXPECT_EQ(y[128 * h + 32 * q + l],
                  0.5f * float(scales[8 * h + 2 * q + l / 16] * quant[q]));
}

TEST(GgufDequantTest, SeveralBlocks) {
  // Two Q8_0 blocks decode one after the other: d = 1 then d = 2, qs = 1.
  std::vector<uint8_t> b(68, 0x01);
  putHalf(b, 0, kHalfOne);
  putHalf(b, 34, kHalfTwo);
  std::vector<float> y = decode(GgmlType::Q8_0, b, 64);
  EXPECT_EQ(y[31], 1.0f);
  EXPECT_EQ(y[32], 2.0f);
  EXPECT_EQ(y[63], 2.0f);
}

} // namespace
