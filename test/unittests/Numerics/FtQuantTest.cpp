//===- FtQuantTest.cpp - q4f16_ft numerics, worked by hand -------*- C++ -*-===//
//
// The expected bytes below are worked out by hand from mlc_llm's
// ft_quantization.py and FasterTransformer's preprocessing steps (see
// qopt/Numerics/FtQuant.h); each case explains its arithmetic.
//
//===----------------------------------------------------------------------===//

#include "qopt/Numerics/Float.h"
#include "qopt/Numerics/FtQuant.h"

#include <gtest/gtest.h>

#include <vector>

using namespace qopt::numerics;

namespace {

TEST(FtQuant, QuantizeAndPack) {
  // W [2, 4]. Row 0: max 2, scale f16(2/7) = 0.28564453125 (0x3492);
  // 1/s = 3.50085 -> f16 3.5 -> 4 (tie to even); -0.5/s -> -1.75 -> -2;
  // 0.25/s -> 0.875 -> 1; 2/s -> 7.0 -> 7. Row 1: max 1, scale f16(1/7) =
  // 0.142822265625 (0x3092); -1/s = -7.0017 -> f16 -7 -> -7.
  std::vector<float> w = {1.0f, -0.5f, 0.25f, 2.0f, 0.0f, 0.0f, 0.0f, -1.0f};
  std::vector<uint16_t> h;
  for (float f : w)
    h.push_back(floatToHalf(f));
  std::vector<uint8_t> packed(4, 0xAA);
  std::vector<uint16_t> scale(2);
  ftQuantizeInt4(h.data(), 2, 4, packed.data(), scale.data());
  EXPECT_EQ(scale[0], 0x3492);
  EXPECT_EQ(scale[1], 0x3092);
  // [K=4, N/2=1]: byte k = row 0's code | row 1's code << 4 (two's
  // complement nibbles): 4|0, -2 = 0xE, 1, 7 | (-7 = 0x9) << 4.
  EXPECT_EQ(packed, (std::vector<uint8_t>{0x04, 0x0E, 0x01, 0x97}));
}

TEST(FtQuant, RegisterInterleaveSm70) {
  // sm 70 keeps the row-major order: only the +8 bias and the register
  // nibble order 0 2 4 6 1 3 5 7. K=1, N=8: nibbles e0..e7 = 0..7 give
  // biased 8..15, placed as e0 e2 e4 e6 e1 e3 e5 e7 from bit 0:
  // nibbles 8 10 12 14 9 11 13 15 -> bytes 0xA8 0xEC 0xB9 0xFD.
  std::vector<uint8_t> in = {0x10, 0x32, 0x54, 0x76}, out(4);
  ASSERT_EQ(validateFtInt4(8, 1, 70), "");
  ftPreprocessInt4(in.data(), 1, 8, 70, out.data());
  EXPECT_EQ(out, (std::vector<uint8_t>{0xA8, 0xEC, 0xB9, 0xFD}));
}

/// Preprocesses a [k, n] int4 matrix of zeros but for code 1 at (r, c):
/// every output nibble is 0 ^ 8 = 8 except one 1 ^ 8 = 9.
static std::vector<uint8_t> onePoint(int64_t k, int64_t n, int64_t r,
                                     int64_t c) {
  std::vector<uint8_t> in(k * n / 2, 0), out(k * n / 2);
  in[r * (n / 2) + c / 2] = uint8_t(1 << (4 * (c % 2)));
  ftPreprocessInt4(in.data(), k, n, 80, out.data());
  return out;
}

static void expectOnly(const std::vector<uint8_t> &out, size_t byte,
                       uint8_t value) {
  for (size_t i = 0; i < out.size(); ++i)
    ASSERT_EQ(out[i], i == byte ? value : 0x88) << "byte " << i;
}

TEST(FtQuant, InterleaveSm80ByHand) {
  ASSERT_EQ(validateFtInt4(64, 64, 80), "");
  // (k=8, n=0): the row map 0 1 8 9 ... puts row 8 at row 2; transposed,
  // column 0 holds it at element 2 = word 0, nibble 2; column 0 stays at
  // word 0; register order sends nibble 2 to nibble 1: byte 0, high.
  expectOnly(onePoint(64, 64, 8, 0), 0, 0x98);
  // (k=1, n=5): row 1 stays; column 5 = group 1 (words 32..63), column 1
  // of its group -> word 32 + 8 = 40, nibble 1 -> register nibble 4:
  // nibble 324 = byte 162, low.
  expectOnly(onePoint(64, 64, 1, 5), 162, 0x89);
  // (k=16, n=2): row 16 goes to row 4 (map index 4); column 2 -> word
  // 8 * 2 = 16, nibble 4 -> register nibble 2: nibble 130 = byte 65, low.
  expectOnly(onePoint(64, 64, 16, 2), 65, 0x89);
  // (k=63, n=63): row 31 of block 32 stays; column 63 = group 15, column 3
  // -> word 15 * 32 + 24 + 7 = 511, nibble 7 -> 7: the last byte, high.
  expectOnly(onePoint(64, 64, 63, 63), 2047, 0x98);
  // K = 128, (k=65, n=0): row 65 stays (index 1 of block 64); column 0 word
  // 8 is tile 1 of 64 rows: word 4 * 8 = 32 (after the 4 columns' tile 0),
  // nibble 1 -> register nibble 4: nibble 260 = byte 130, low.
  expectOnly(onePoint(128, 64, 65, 0), 130, 0x89);
}

TEST(FtQuant, DequantizeInvertsPreprocessing) {
  // Codes (k * 7 + n * 3) % 16 - 8 at [n, k], scale 1: dequantization of
  // the preprocessed bytes gives them back, for both layouts.
  for (int sm : {70, 80}) {
    const int64_t n = 64, k = 128;
    std::vector<uint8_t> in(k * n / 2, 0), out(k * n / 2);
    for (int64_t r = 0; r < k; ++r)
      for (int64_t c = 0; c < n; ++c)
        in[r * (n / 2) + c / 2] |=
            uint8_t(((r * 7 + c * 3) % 16) << (4 * (c % 2)));
    ftPreprocessInt4(in.data(), k, n, sm, out.data());
    std::vector<uint16_t> scale(n, floatToHalf(1.0f));
    std::vector<float> deq(n * k);
    ftDequantizeInt4(out.data(), scale.data(), n, k, sm, deq.data());
    for (int64_t c = 0; c < n; ++c)
      for (int64_t r = 0; r < k; ++r) {
        int code = int((r * 7 + c * 3) % 16);
        code = code >= 8 ? code - 16 : code;
        ASSERT_EQ(deq[c * k + r], float(code)) << "sm " << sm << " " << c
                                               << "," << r;
      }
  }
}

TEST(FtQuant, ShapeChecks) {
  EXPECT_EQ(validateFtInt4(64, 96, 80),
            "in_features 96 is not a multiple of 64 (FasterTransformer's int4 "
            "transpose)");
  EXPECT_EQ(validateFtInt4(60, 64, 70), "out_features 60 is not a multiple of 8");
  EXPECT_EQ(validateFtInt4(64, 64, 90),
            "FasterTransformer's weight preprocessing supports sm 70..89, not "
            "sm 90");
  EXPECT_EQ(validateFtInt4(8, 96, 70), "");
}

} // namespace
