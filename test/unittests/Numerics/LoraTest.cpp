//===- LoraTest.cpp - LoRA merge rows ---------------------------*- C++ -*-===//

#include "qopt/Numerics/Float.h"
#include "qopt/Numerics/Lora.h"

#include <gtest/gtest.h>

#include <cmath>
#include <vector>

using namespace qopt::numerics;

// W (2x3) + 0.5 * B (2x2) @ A (2x3), worked by hand:
// B @ A = [[2*1 + 0*0.5, 0, 2*2 + 0*-1], [1*1 + 4*0.5, 4*1, 1*2 + 4*-1]]
//       = [[2, 0, 4], [3, 4, -2]]; times 0.5 = [[1, 0, 2], [1.5, 2, -1]].
TEST(LoraTest, MergeHandWorkedF16) {
  const float w[6] = {1, 2, 3, -1, 0, 0.5f};
  std::vector<uint16_t> wh(6), out(6);
  for (int i = 0; i < 6; ++i)
    wh[i] = floatToHalf(w[i]);
  const float a[6] = {1, 0, 2, 0.5f, 1, -1};
  const float b[4] = {2, 0, 1, 4};
  ASSERT_TRUE(loraMergeRows(wh.data(), DType::F16, 2, 3, b, a, 2, 0.5,
                            out.data()));
  const float expected[6] = {2, 2, 5, 0.5f, 2, -0.5f};
  for (int i = 0; i < 6; ++i)
    EXPECT_EQ(halfToFloat(out[i]), expected[i]) << i;
}

// One row at a time gives the same bytes as the whole block (the executor
// merges any row range), and the second row alone uses B's second row.
TEST(LoraTest, RowBlocksAgree) {
  const float w[6] = {1, 2, 3, -1, 0, 0.5f};
  const float a[6] = {1, 0, 2, 0.5f, 1, -1};
  const float b[4] = {2, 0, 1, 4};
  float whole[6], second[3];
  ASSERT_TRUE(loraMergeRows(w, DType::F32, 2, 3, b, a, 2, 0.5, whole));
  ASSERT_TRUE(loraMergeRows(w + 3, DType::F32, 1, 3, b + 2, a, 2, 0.5, second));
  for (int j = 0; j < 3; ++j)
    EXPECT_EQ(whole[3 + j], second[j]);
  EXPECT_EQ(whole[3], 0.5f);
}

// Rounded once to the base type, ties to even: 1 + 2^-11 is half an f16
// ulp above 1.0 and stays 1.0; 1 + 3 * 2^-11 is halfway between 1 + 2^-10
// and 1 + 2^-9 and goes to the even 1 + 2^-9.
TEST(LoraTest, RoundsOnceTiesToEven) {
  uint16_t one = floatToHalf(1.0f), out = 0;
  const float b = 1.0f;
  float a = std::ldexp(1.0f, -11);
  ASSERT_TRUE(loraMergeRows(&one, DType::F16, 1, 1, &b, &a, 1, 1.0, &out));
  EXPECT_EQ(halfToFloat(out), 1.0f);
  a = 3 * std::ldexp(1.0f, -11);
  ASSERT_TRUE(loraMergeRows(&one, DType::F16, 1, 1, &b, &a, 1, 1.0, &out));
  EXPECT_EQ(halfToFloat(out), 1.0f + std::ldexp(1.0f, -9));
  // bf16: 1 + 2^-8 is half a bf16 ulp above 1.0: stays 1.0.
  uint16_t oneBf = floatToBFloat16(1.0f);
  a = std::ldexp(1.0f, -8);
  ASSERT_TRUE(loraMergeRows(&oneBf, DType::BF16, 1, 1, &b, &a, 1, 1.0, &out));
  EXPECT_EQ(bfloat16ToFloat(out), 1.0f);
}

TEST(LoraTest, RejectsIntegerWeights) {
  int32_t w = 1, out = 0;
  float a = 1, b = 1;
  EXPECT_FALSE(loraMergeRows(&w, DType::I32, 1, 1, &b, &a, 1, 1.0, &out));
}
