//===- MnnTest.cpp - MNN-style weight quantization ------------------------===//
//
// Hand-worked blocks (the working is in the comments: the block's scale, the
// ideal code t = w / scale or (w - min) / scale, its rounding half away from
// zero, the packed bits) for symmetric and asymmetric quantization, MNN's
// block-size rule and the MSB-first packing at 2, 3, 4, 5 and 8 bits.
//
//===----------------------------------------------------------------------===//

#include "qopt/Numerics/Mnn.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <limits>
#include <random>
#include <vector>

using namespace qopt::numerics;

namespace {

struct MnnResult {
  std::vector<uint8_t> packed;
  std::vector<float> scale;
  std::vector<float> zero;
};

MnnResult quantize(const std::vector<float> &w, int64_t rows, int64_t k,
                   const MnnQuantSpec &spec) {
  MnnResult r;
  const int64_t blocks = mnnBlocksPerRow(spec, k);
  r.packed.assign(size_t(rows * mnnPackedRowBytes(spec, k)), 0xEE);
  r.scale.assign(size_t(rows * blocks), -7.0f);
  r.zero.assign(size_t(rows * blocks), -7.0f);
  mnnQuantizeRows(w.data(), rows, k, spec, r.packed.data(), r.scale.data(),
                  r.zero.data());
  return r;
}

std::vector<float> dequantize(const MnnResult &r, int64_t rows, int64_t k,
                              const MnnQuantSpec &spec) {
  std::vector<float> out(size_t(rows * k), -99.0f);
  mnnDequantizeRows(r.packed.data(), r.scale.data(), r.zero.data(), rows, k,
                    spec, out.data());
  return out;
}

TEST(MnnTest, ValidateSpec) {
  EXPECT_EQ(validateMnnQuantSpec({2, false, 0, false}), "");
  EXPECT_EQ(validateMnnQuantSpec({8, true, 64, true}), "");
  EXPECT_EQ(validateMnnQuantSpec({1, false, 0, false}),
            "MNN weight bits must be in [2, 8], got 1");
  EXPECT_EQ(validateMnnQuantSpec({9, true, 32, false}),
            "MNN weight bits must be in [2, 8], got 9");
}

TEST(MnnTest, BlocksPerRowFollowsMnnConvert) {
  // Block-wise only when block >= 16, block % 16 == 0 and k % block == 0.
  EXPECT_EQ(mnnBlocksPerRow({4, false, 32, false}, 256), 8);
  EXPECT_EQ(mnnBlocksPerRow({4, false, 64, false}, 4096), 64);
  EXPECT_EQ(mnnBlocksPerRow({4, false, 256, false}, 11008), 43);
  EXPECT_EQ(mnnBlocksPerRow({4, false, 48, false}, 96), 2);
  EXPECT_EQ(mnnBlocksPerRow({4, false, 16, false}, 48), 3);
  // Otherwise one block per row (channel-wise), no tail block, no padding.
  EXPECT_EQ(mnnBlocksPerRow({4, false, 64, false}, 96), 1); // 96 % 64
  EXPECT_EQ(mnnBlocksPerRow({4, false, 128, false}, 11000), 1);
  EXPECT_EQ(mnnBlocksPerRow({4, false, 8, false}, 64), 1);    // < 16
  EXPECT_EQ(mnnBlocksPerRow({4, false, 40, false}, 80), 1);   // 40 % 16
  EXPECT_EQ(mnnBlocksPerRow({4, false, 512, false}, 256), 1); // > k
  EXPECT_EQ(mnnBlocksPerRow({4, false, 0, false}, 256), 1);
  EXPECT_EQ(mnnBlocksPerRow({4, false, -1, false}, 256), 1);
  EXPECT_EQ(mnnBlocksPerRow({4, false, 32, false}, 0), 0);
  EXPECT_EQ(mnnBlockSize({4, false, 64, false}, 96), 96);
  EXPECT_EQ(mnnBlockSize({4, false, 32, false}, 96), 32);
  EXPECT_EQ(mnnBlockSize({4, false, 32, false}, -5), 0);
}

TEST(MnnTest, PackedRowBytes) {
  EXPECT_EQ(mnnPackedRowBytes({2, false, 0, false}, 6), 2); // 12 bits
  EXPECT_EQ(mnnPackedRowBytes({3, false, 0, false}, 5), 2); // 15 bits
  EXPECT_EQ(mnnPackedRowBytes({3, false, 0, false}, 8), 3); // 24 bits
  EXPECT_EQ(mnnPackedRowBytes({4, false, 0, false}, 5), 3); // 20 bits
  EXPECT_EQ(mnnPackedRowBytes({5, false, 0, false}, 4), 3); // 20 bits
  EXPECT_EQ(mnnPackedRowBytes({8, false, 0, false}, 7), 7);
  EXPECT_EQ(mnnPackedRowBytes({4, true, 64, false}, 4096), 2048);
  EXPECT_EQ(mnnPackedRowBytes({4, false, 0, false}, 0), 0);
  EXPECT_EQ(mnnPackedRowBytes({9, false, 0, false}, 8), 0);
  EXPECT_EQ(mnnPackedRowBytes({8, false, 0, false},
                              std::numeric_limits<int64_t>::max() / 4),
            0);
}

/// Asymmetric channel-wise rows holding 0 and 2^bits - 1: min = 0, scale =
/// (2^bits - 1) / (2^bits - 1) = 1, so the codes are the values themselves.
struct PackCase {
  int bits;
  std::vector<float> codes;
  std::vector<uint8_t> bytes;
};

TEST(MnnTest, PackingIsMsbFirstPerRow) {
  const PackCase cases[] = {
      // 11 00 01 10 | 10 01 (0000)
      {2, {3, 0, 1, 2, 2, 1}, {0xC6, 0x90}},
      // 111 000 101 010 011 (0): 11100010 10100110
      {3, {7, 0, 5, 2, 3}, {0xE2, 0xA6}},
      // 1111 0000 | 1001 0110 | 0011 (0000)
      {4, {15, 0, 9, 6, 3}, {0xF0, 0x96, 0x30}},
      // 11111 00000 10001 01010 (0000): 11111000 00100010 10100000
      {5, {31, 0, 17, 10}, {0xF8, 0x22, 0xA0}},
      {8, {255, 0, 128, 1}, {0xFF, 0x00, 0x80, 0x01}},
  };
  for (const PackCase &c : cases) {
    SCOPED_TRACE("bits " + std::to_string(c.bits));
    const MnnQuantSpec spec{c.bits, true, 0, false};
    const auto k = int64_t(c.codes.size());
    // Two identical rows: the second starts on a fresh byte.
    std::vector<float> w = c.codes;
    w.insert(w.end(), c.codes.begin(), c.codes.end());
    MnnResult r = quantize(w, 2, k, spec);
    std::vector<uint8_t> expected = c.bytes;
    expected.insert(expected.end(), c.bytes.begin(), c.bytes.end());
    EXPECT_EQ(r.packed, expected);
    EXPECT_EQ(r.scale, (std::vector<float>{1.0f, 1.0f}));
    EXPECT_EQ(r.zero, (std::vector<float>{0.0f, 0.0f}));
    EXPECT_EQ(dequantize(r, 2, k, spec), w);
  }
}

TEST(MnnTest, SymmetricHandWorked) {
  // 4 bits, T = 7: absmax 1.75 -> scale 0.25. t = w / 0.25 =
  // 7, -3.5, 1, -0.5, 1.25, 0 -> round half away from zero: 7, -4, 1, -1, 1,
  // 0 -> u = q + 8: 15, 4, 9, 7, 9, 8 -> 1111 0100 | 1001 0111 | 1001 1000.
  const std::vector<float> w = {1.75f, -0.875f, 0.25f, -0.125f, 0.3125f, 0.0f};
  const MnnQuantSpec spec{4, false, 0, false};
  MnnResult r = quantize(w, 1, 6, spec);
  EXPECT_EQ(r.packed, (std::vector<uint8_t>{0xF4, 0x97, 0x98}));
  EXPECT_EQ(r.scale, (std::vector<float>{0.25f}));
  EXPECT_EQ(r.zero, (std::vector<float>{-7.0f})); // Not touched.
  EXPECT_EQ(dequantize(r, 1, 6, spec),
            (std::vector<float>{1.75f, -1.0f, 0.25f, -0.25f, 0.25f, 0.0f}));
}

TEST(MnnTest, SymmetricEightAndTwoBits) {
  // 8 bits, T = 127: scale 127 / 127 = 1; t = 127, -63.5, 0.5 -> 127, -64,
  // 1 -> u = q + 128: 255, 64, 129.
  {
    const MnnQuantSpec spec{8, false, 0, false};
    MnnResult r = quantize({127.0f, -63.5f, 0.5f}, 1, 3, spec);
    EXPECT_EQ(r.packed, (std::vector<uint8_t>{0xFF, 0x40, 0x81}));
    EXPECT_EQ(r.scale, (std::vector<float>{1.0f}));
    EXPECT_EQ(dequantize(r, 1, 3, spec),
              (std::vector<float>{127.0f, -64.0f, 1.0f}));
  }
  // 2 bits, T = 1: scale 2 / 1 = 2; t = 1, -1, 0.5, -0.45 -> 1, -1, 1, 0 ->
  // u = q + 2: 3, 1, 3, 2 -> 11 01 11 10.
  {
    const MnnQuantSpec spec{2, false, 0, false};
    MnnResult r = quantize({2.0f, -2.0f, 1.0f, -0.9f}, 1, 4, spec);
    EXPECT_EQ(r.packed, (std::vector<uint8_t>{0xDE}));
    EXPECT_EQ(r.scale, (std::vector<float>{2.0f}));
    EXPECT_EQ(dequantize(r, 1, 4, spec),
              (std::vector<float>{2.0f, -2.0f, 2.0f, 0.0f}));
  }
}

TEST(MnnTest, SymmetricBlockWise) {
  // k = 32, block 16: block 0 has absmax 7 (scale 1), block 1 absmax 14
  // (scale 2); value v in block 1 is 2v of block 0, so both code alike.
  std::vector<float> w(32);
  for (int i = 0; i < 16; ++i) {
    w[size_t(i)] = float(i % 15 - 7); // -7..7, -7.
    w[size_t(16 + i)] = 2.0f * w[size_t(i)];
  }
  const MnnQuantSpec spec{4, false, 16, false};
  MnnResult r = quantize(w, 1, 32, spec);
  EXPECT_EQ(r.scale, (std::vector<float>{1.0f, 2.0f}));
  // u = v + 8: 1, 2, ..., 15, 1 in each block.
  std::vector<uint8_t> expected;
  for (int b = 0; b < 2; ++b)
    for (int i = 0; i < 16; i += 2)
      expected.push_back(uint8_t(((i % 15 + 1) << 4) | ((i + 1) % 15 + 1)));
  EXPECT_EQ(r.packed, expected);
  EXPECT_EQ(dequantize(r, 1, 32, spec), w);
}

TEST(MnnTest, AsymmetricHandWorkedBlocks) {
  // k = 32, block 16, 4 bits: scale = (max - min) / 15.
  // Block 0: min -1.5, max 2.25 -> scale 0.25; w = -1.5 + 0.25 t with
  // t = 0, 15, 2.5, 3.5, 7, 1, 0.5, 14.5, 4.25, 5.75, 8, 9, 10, 11, 12, 13
  // -> u = round half away: 0, 15, 3, 4, 7, 1, 1, 15, 4, 6, 8, 9, 10, 11,
  // 12, 13.
  // Block 1: min 0, max 7.5 -> scale 0.5; w = 0.5 t with
  // t = 15, 0, 1.5, 2.5, 6, 0.25, 0.75, 10, 12.5, 13.75, 2, 4, 8, 9, 11, 14
  // -> u = 15, 0, 2, 3, 6, 0, 1, 10, 13, 14, 2, 4, 8, 9, 11, 14.
  const float t0[16] = {0,     15,    2.5f, 3.5f, 7,  1,  0.5f, 14.5f,
                        4.25f, 5.75f, 8,    9,    10, 11, 12,   13};
  const float t1[16] = {15,    0,      1.5f, 2.5f, 6, 0.25f, 0.75f, 10,
                        12.5f, 13.75f, 2,    4,    8, 9,     11,    14};
  std::vector<float> w(32);
  for (int i = 0; i < 16; ++i) {
    w[size_t(i)] = -1.5f + 0.25f * t0[i];
    w[size_t(16 + i)] = 0.5f * t1[i];
  }
  const MnnQuantSpec spec{4, true, 16, false};
  MnnResult r = quantize(w, 1, 32, spec);
  EXPECT_EQ(r.scale, (std::vector<float>{0.25f, 0.5f}));
  EXPECT_EQ(r.zero, (std::vector<float>{-1.5f, 0.0f}));
  EXPECT_EQ(r.packed, (std::vector<uint8_t>{0x0F, 0x34, 0x71, 0x1F, 0x46, 0x89,
                                            0xAB, 0xCD, 0xF0, 0x23, 0x60, 0x1A,
                                            0xDE, 0x24, 0x89, 0xBE}));
  // w = u * scale + min.
  const int u[32] = {0,  15, 3, 4, 7, 1, 1, 15, 4,  6,  8, 9, 10, 11, 12, 13,
                     15, 0,  2, 3, 6, 0, 1, 10, 13, 14, 2, 4, 8,  9,  11, 14};
  std::vector<float> expected(32);
  for (int i = 0; i < 32; ++i)
    expected[size_t(i)] =
        i < 16 ? float(u[i]) * 0.25f - 1.5f : float(u[i]) * 0.5f;
  EXPECT_EQ(dequantize(r, 1, 32, spec), expected);
}

TEST(MnnTest, ConstantBlocks) {
  // scale <= 1e-6: asymmetric codes are 0 (the min), symmetric codes q = 0.
  const std::vector<float> w = {0.5f, 0.5f, 0.5f, 0.5f, 0.0f, 0.0f, 0.0f, 0.0f};
  {
    const MnnQuantSpec spec{4, true, 0, false};
    MnnResult r = quantize(w, 2, 4, spec);
    EXPECT_EQ(r.scale, (std::vector<float>{0.0f, 0.0f}));
    EXPECT_EQ(r.zero, (std::vector<float>{0.5f, 0.0f}));
    EXPECT_EQ(r.packed, (std::vector<uint8_t>{0, 0, 0, 0}));
    EXPECT_EQ(dequantize(r, 2, 4, spec), w);
  }
  {
    const MnnQuantSpec spec{4, false, 0, false};
    MnnResult r = quantize({0.0f, 0.0f, 0.0f, 0.0f, 5e-6f, -5e-6f, 0.0f, 1e-6f},
                           2, 4, spec);
    // Row 1: absmax 5e-6, scale 5e-6 / 7 < 1e-6 -> every q = 0 (u = 8).
    EXPECT_EQ(r.scale[0], 0.0f);
    EXPECT_EQ(r.scale[1], 5e-6f / 7.0f);
    EXPECT_EQ(r.packed, (std::vector<uint8_t>{0x88, 0x88, 0x88, 0x88}));
  }
}

TEST(MnnTest, NonDivisibleBlockFallsBackToChannelWise) {
  // k = 96 with block 64 is quantized exactly as channel-wise; block 32
  // (96 = 3 * 32) gives three blocks.
  std::mt19937 rng(7);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  std::vector<float> w(3 * 96);
  for (float &v : w)
    v = normal(rng);
  for (bool asymmetric : {false, true}) {
    MnnResult blocked = quantize(w, 3, 96, {4, asymmetric, 64, false});
    MnnResult channel = quantize(w, 3, 96, {4, asymmetric, 0, false});
    ASSERT_EQ(blocked.scale.size(), 3u);
    EXPECT_EQ(blocked.packed, channel.packed);
    EXPECT_EQ(blocked.scale, channel.scale);
    if (asymmetric)
      EXPECT_EQ(blocked.zero, channel.zero);
    MnnResult thirds = quantize(w, 3, 96, {4, asymmetric, 32, false});
    EXPECT_EQ(thirds.scale.size(), 9u);
    EXPECT_NE(thirds.packed, channel.packed);
  }
}

TEST(MnnTest, RoundTripErrorIsWithinHalfAStep) {
  // Every bit width, both modes: |w - deq| <= scale / 2 (+ rounding).
  std::mt19937 rng(11);
  std::normal_distribution<float> normal(0.0f, 0.05f);
  const int64_t rows = 5, k = 128;
  std::vector<float> w(size_t(rows * k));
  for (float &v : w)
    v = normal(rng);
  for (int bits = 2; bits <= 8; ++bits) {
    for (bool asymmetric : {false, true}) {
      SCOPED_TRACE("bits " + std::to_string(bits) +
                   (asymmetric ? " asym" : " sym"));
      const MnnQuantSpec spec{bits, asymmetric, 32, false};
      MnnResult r = quantize(w, rows, k, spec);
      std::vector<float> d = dequantize(r, rows, k, spec);
      for (int64_t i = 0; i < rows * k; ++i) {
        const float s = r.scale[size_t(i / 32)];
        ASSERT_LE(std::fabs(w[size_t(i)] - d[size_t(i)]), 0.5f * s * 1.0001f)
            << "at " << i;
      }
    }
  }
}

TEST(MnnTest, RowsAreIndependent) {
  std::mt19937 rng(3);
  std::normal_distribution<float> normal(0.0f, 0.02f);
  const int64_t rows = 7, k = 192;
  std::vector<float> w(size_t(rows * k));
  for (float &v : w)
    v = normal(rng);
  for (MnnQuantSpec spec :
       {MnnQuantSpec{3, false, 64, false}, MnnQuantSpec{4, true, 64, false},
        MnnQuantSpec{4, true, 64, true}, MnnQuantSpec{5, true, 0, true}}) {
    MnnResult all = quantize(w, rows, k, spec);
    const int64_t rowBytes = mnnPackedRowBytes(spec, k);
    const int64_t blocks = mnnBlocksPerRow(spec, k);
    for (int64_t row = 0; row < rows; ++row) {
      std::vector<float> one(w.begin() + row * k, w.begin() + (row + 1) * k);
      MnnResult r = quantize(one, 1, k, spec);
      EXPECT_EQ(r.packed, std::vector<uint8_t>(
                              all.packed.begin() + row * rowBytes,
                              all.packed.begin() + (row + 1) * rowBytes));
      EXPECT_EQ(r.scale,
                std::vector<float>(all.scale.begin() + row * blocks,
                                   all.scale.begin() + (row + 1) * blocks));
      EXPECT_EQ(r.zero,
                std::vector<float>(all.zero.begin() + row * blocks,
                                   all.zero.begin() + (row + 1) * blocks));
    }
  }
}

TEST(MnnTest, UnusableArgumentsWriteNothing) {
  const std::vector<float> w(64, 1.0f);
  std::vector<uint8_t> packed(64, 0xEE);
  std::vector<float> scale(4, -7.0f), zero(4, -7.0f);
  mnnQuantizeRows(w.data(), 1, 64, {9, false, 0, false}, packed.data(),
                  scale.data(), zero.data());
  mnnQuantizeRows(w.data(), 0, 64, {4, false, 0, false}, packed.data(),
                  scale.data(), zero.data());
  mnnQuantizeRows(w.data(), 1, 0, {4, false, 0, false}, packed.data(),
                  scale.data(), zero.data());
  mnnQuantizeRows(w.data(), 1, 64, {4, true, 0, false}, packed.data(),
                  scale.data(), nullptr);
  EXPECT_EQ(packed, std::vector<uint8_t>(64, 0xEE));
  EXPECT_EQ(scale, std::vector<float>(4, -7.0f));
  EXPECT_EQ(zero, std::vector<float>(4, -7.0f));
  std::vector<float> out(64, -99.0f);
  mnnDequantizeRows(packed.data(), scale.data(), zero.data(), 1, 64,
                    {1, false, 0, false}, out.data());
  mnnDequantizeRows(packed.data(), scale.data(), nullptr, 1, 64,
                    {4, true, 0, false}, out.data());
  EXPECT_EQ(out, std::vector<float>(64, -99.0f));
}

TEST(MnnTest, NonFiniteInputIsSafe) {
  // Not a meaningful quantization, but defined: codes stay in range and the
  // other blocks are unaffected.
  const float nan = std::numeric_limits<float>::quiet_NaN();
  const float inf = std::numeric_limits<float>::infinity();
  std::vector<float> w = {nan, 1.0f, -1.0f, 0.5f, 1.0f, inf, 0.0f, -2.0f};
  for (int i = 0; i < 8; ++i)
    w.push_back(float(i)); // A normal block: min 0, max 7.
  for (bool hqq : {false, true}) {
    const MnnQuantSpec spec{3, true, 0, hqq};
    MnnResult r = quantize(w, 2, 8, spec);
    EXPECT_EQ(r.scale[1], 1.0f);
    EXPECT_EQ(r.zero[1], 0.0f);
    // Row 1: codes 0..7, 3 bits each: 000 001 010 011 100 101 110 111.
    EXPECT_EQ(std::vector<uint8_t>(r.packed.begin() + 3, r.packed.end()),
              (std::vector<uint8_t>{0x05, 0x39, 0x77}));
  }
}

} // namespace
