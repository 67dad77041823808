//===- BlockFp8Test.cpp - FP8 block dequantization ------------------------===//
//
// dequantizeBlockFp8E4M3 against values worked out by hand from the OCP
// e4m3fn encoding (bias 7; code 0x38 = 1.0, 0x01 = 2^-9, 0x7E = 448).
//
//===----------------------------------------------------------------------===//

#include "qopt/Numerics/BlockFp8.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <vector>

using namespace qopt::numerics;

namespace {

// 3 x 3 codes in blocks of 2 x 2: block rows {0, 1}, {2}; columns {0, 1},
// {2} (partial blocks at the edges).
const uint8_t kCodes[9] = {
    0x38, 0x40, 0x30, // 1.0, 2.0, 0.5
    0xB8, 0x01, 0x7E, // -1.0, 2^-9, 448
    0x3C, 0x00, 0xC4, // 1.5, 0, -3.0
};
const float kScales[4] = {0.5f, 3.0f, 0.25f, 1.0f / 1024};

TEST(BlockFp8, WholeMatrix) {
  float out[9];
  dequantizeBlockFp8E4M3(kCodes, kScales, 0, 3, 3, 2, 2, out);
  const float expected[9] = {0.5f,   1.0f,          1.5f,
                             -0.5f,  1.0f / 1024,   1344.0f,
                             0.375f, 0.0f,          -3.0f / 1024};
  for (int i = 0; i < 9; ++i)
    EXPECT_EQ(out[i], expected[i]) << i;
}

TEST(BlockFp8, RowRange) {
  // Rows [1, 3): the codes of those rows, the scale rows from block 0.
  float out[6];
  dequantizeBlockFp8E4M3(kCodes + 3, kScales, 1, 3, 3, 2, 2, out);
  const float expected[6] = {-0.5f, 1.0f / 1024, 1344.0f,
                             0.375f, 0.0f, -3.0f / 1024};
  for (int i = 0; i < 6; ++i)
    EXPECT_EQ(out[i], expected[i]) << i;
  // Row 2 alone starts at scale row 1.
  float last[3];
  dequantizeBlockFp8E4M3(kCodes + 6, kScales + 2, 2, 3, 3, 2, 2, last);
  EXPECT_EQ(last[0], 0.375f);
  EXPECT_EQ(last[2], -3.0f / 1024);
}

TEST(BlockFp8, ProductRoundedInFloat32) {
  // 1.875 (0x3F) * (1 + 2^-23) = 1.875 + 1.875 ulp exactly: the float32
  // product rounds it to 2 ulp above 1.875.
  const uint8_t code = 0x3F;
  const float scale = 1.0f + std::ldexp(1.0f, -23);
  float out;
  dequantizeBlockFp8E4M3(&code, &scale, 0, 1, 1, 128, 128, &out);
  EXPECT_EQ(out, 1.875f + 2 * std::ldexp(1.0f, -23));
}

TEST(BlockFp8, NaNCode) {
  const uint8_t code = 0x7F;
  const float scale = 1.0f;
  float out;
  dequantizeBlockFp8E4M3(&code, &scale, 0, 1, 1, 128, 128, &out);
  EXPECT_TRUE(std::isnan(out));
}

} // namespace
