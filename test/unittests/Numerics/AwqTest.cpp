//===- AwqTest.cpp - AutoAWQ GEMM dequantization ----------------*- C++ -*-===//

#include "qopt/Numerics/Awq.h"
#include "qopt/Numerics/Float.h"

#include <gtest/gtest.h>

#include <vector>

using namespace qopt::numerics;

// One word per row: K = 2 input features, N = 8 outputs, group 2.
// qweight[0] = 0x76543210: nibble p holds q = p, and nibble p is column
// AWQ_ORDER[p] = [0, 2, 4, 6, 1, 3, 5, 7][p], so columns 0..7 hold
// q = 0, 4, 1, 5, 2, 6, 3, 7. qweight[1] = 0xFFFFFFFF: q = 15 everywhere.
// qzeros = 0x88888888: z = 8. scales: 0.5 for every column except column
// 3 (0.25). So W[n, 0] = (q - 8) * s and W[n, 1] = 7 * s.
TEST(AwqTest, DequantizeHandWorked) {
  std::vector<uint32_t> qweight = {0x76543210u, 0xFFFFFFFFu};
  std::vector<uint32_t> qzeros = {0x88888888u};
  std::vector<uint16_t> scales(8, 0x3800); // 0.5
  scales[3] = 0x3400;                      // 0.25
  std::vector<uint16_t> out(16);
  awqDequantizeGemm(qweight.data(), qzeros.data(), scales.data(), /*k=*/2,
                    /*n=*/8, /*groupSize=*/2, 0, 8, out.data());
  const float expected[8][2] = {
      {-4.0f, 3.5f},   // q 0: (0-8)*0.5
      {-2.0f, 3.5f},   // q 4
      {-3.5f, 3.5f},   // q 1
      {-0.75f, 1.75f}, // q 5, scale 0.25
      {-3.0f, 3.5f},   // q 2
      {-1.0f, 3.5f},   // q 6
      {-2.5f, 3.5f},   // q 3
      {-0.5f, 3.5f},   // q 7
  };
  for (int n = 0; n < 8; ++n)
    for (int kk = 0; kk < 2; ++kk)
      EXPECT_EQ(halfToFloat(out[n * 2 + kk]), expected[n][kk])
          << "n=" << n << " k=" << kk;
  // A row range gives the same rows.
  std::vector<uint16_t> part(4);
  awqDequantizeGemm(qweight.data(), qzeros.data(), scales.data(), 2, 8, 2, 3,
                    5, part.data());
  EXPECT_EQ(halfToFloat(part[0]), -0.75f);
  EXPECT_EQ(halfToFloat(part[3]), 3.5f);
}

// (q - z) * s is rounded once to fp16: 15 * 0.1 (0x2E66 = 0.0999755859375)
// = 1.4996337890625, which fp16 rounds to 1.5 (0x3E00; spacing 2^-10).
TEST(AwqTest, ProductRoundedOnceToHalf) {
  std::vector<uint32_t> qweight = {0x0000000Fu};
  std::vector<uint32_t> qzeros = {0};
  std::vector<uint16_t> scales(8, 0x2E66);
  std::vector<uint16_t> out(8);
  awqDequantizeGemm(qweight.data(), qzeros.data(), scales.data(), 1, 8, 1, 0,
                    8, out.data());
  EXPECT_EQ(out[0], 0x3E00);
  EXPECT_EQ(out[1], 0x0000);
}
