//===- DequantizeTest.cpp - Cache records back to float32 -----------------===//
//
// Hand-built tensor caches (bytes and words worked out by hand from
// mlc-quantization.md) read back through the reader and the schemes.
//
//===----------------------------------------------------------------------===//

#include "EvalTestUtil.h"

#include "qopt/Eval/Dequantize.h"

#include <gtest/gtest.h>

#include <cmath>

using namespace qopt::eval;
using namespace qopt::eval::test;

namespace {

QuantizationHint hintFor(const char *mode) {
  return llvm::cantFail(parseQuantizationHint(mode), "known mode");
}

std::vector<float> load(const std::string &dir, const std::string &param,
                        std::vector<int64_t> shape,
                        const QuantizationHint &hint = {}) {
  auto cache = TensorCacheReader::open(dir);
  if (!cache) {
    ADD_FAILURE() << llvm::toString(cache.takeError());
    return {};
  }
  auto values = dequantizeParam(*cache, param, shape, hint);
  if (!values) {
    ADD_FAILURE() << llvm::toString(values.takeError());
    return {};
  }
  return *values;
}

std::string loadError(const std::string &dir, const std::string &param,
                      std::vector<int64_t> shape,
                      const QuantizationHint &hint = {}) {
  auto cache = TensorCacheReader::open(dir);
  if (!cache)
    return llvm::toString(cache.takeError());
  return errorOf(dequantizeParam(*cache, param, shape, hint));
}

/// Row 0: words 0x76543210 (values 0..7), 0xEEEEEEEE (14), 0x00000000 (0),
/// 0x77777777 (7), scale 0.5 (fp16 0x3800). Row 1: 0x89ABCDE7 (LSB first:
/// 7, 14, 13, 12, 11, 10, 9, 8), then all 7s, scale 2.0 (0x4000).
const std::vector<uint32_t> kQ4Words = {0x76543210, 0xEEEEEEEE, 0x00000000,
                                        0x77777777, 0x89ABCDE7, 0x77777777,
                                        0x77777777, 0x77777777};
const std::vector<uint16_t> kQ4Scales = {0x3800, 0x4000};

/// w = (q - 7) * scale for the words above.
std::vector<float> expectedQ4() {
  std::vector<float> w(64, 0.0f);
  for (int i = 0; i < 8; ++i)
    w[i] = (float(i) - 7) * 0.5f; // -3.5 .. 0
  for (int i = 8; i < 16; ++i)
    w[i] = 3.5f; // (14 - 7) * 0.5
  for (int i = 16; i < 24; ++i)
    w[i] = -3.5f; // (0 - 7) * 0.5
  // 24..31 hold 7 -> 0.
  const float row1[8] = {0, 14, 12, 10, 8, 6, 4, 2};
  for (int i = 0; i < 8; ++i)
    w[32 + i] = row1[i];
  return w;
}

} // namespace

TEST(Dequantize, GroupQuantInt4NK) {
  std::string dir = scratchDir("q4-nk");
  writeCache(dir, {{"m.proj.q_weight", "uint32", {2, 4}, words(kQ4Words)},
                   {"m.proj.q_scale", "float16", {2, 1}, halves(kQ4Scales)}});
  EXPECT_EQ(load(dir, "m.proj.weight", {2, 32}, hintFor("q4f16_1")),
            expectedQ4());
  // Without a hint K = 32 fits int3/40 too; bit 30 of 0x76543210 rules it
  // out.
  EXPECT_EQ(load(dir, "m.proj.weight", {2, 32}), expectedQ4());
}

TEST(Dequantize, GroupQuantInt4KN) {
  // The KN layout stores the NK words and scales transposed: q_weight
  // [4 words, 2 rows], q_scale [1 group, 2 rows].
  std::vector<uint32_t> kn;
  for (int j = 0; j < 4; ++j)
    for (int n = 0; n < 2; ++n)
      kn.push_back(kQ4Words[n * 4 + j]);
  std::string dir = scratchDir("q4-kn");
  writeCache(dir, {{"m.proj.q_weight", "uint32", {4, 2}, words(kn)},
                   {"m.proj.q_scale", "float16", {1, 2}, halves(kQ4Scales)}});
  EXPECT_EQ(load(dir, "m.proj.weight", {2, 32}, hintFor("q4f16_0")),
            expectedQ4());
  EXPECT_EQ(load(dir, "m.proj.weight", {2, 32}), expectedQ4());
  // The layout comes from the shapes, so the NK mode's hint reads it too
  // (MLC's KN modes keep embeddings NK).
  EXPECT_EQ(load(dir, "m.proj.weight", {2, 32}, hintFor("q4f16_1")),
            expectedQ4());
}

TEST(Dequantize, GroupQuantInt3) {
  // Ten 3-bit values per word, LSB first, so the octal digits read from the
  // right: 06666543210 holds 0, 1, 2, 3, 4, 5, 6, 6, 6, 6 and 01234560123
  // holds 3, 2, 1, 0, 6, 5, 4, 3, 2, 1. w = (q - 3) * 0.5.
  std::string dir = scratchDir("q3");
  writeCache(dir, {{"m.proj.q_weight",
                    "uint32",
                    {1, 4},
                    words({06666543210, 0, 03333333333, 01234560123})},
                   {"m.proj.q_scale", "float16", {1, 1}, halves({0x3800})}});
  std::vector<float> expected = {-1.5, -1, -0.5, 0, 0.5, 1, 1.5, 1.5, 1.5, 1.5};
  for (int i = 0; i < 10; ++i)
    expected.push_back(-1.5f);
  for (int i = 0; i < 10; ++i)
    expected.push_back(0.0f);
  for (float v :
       {0.0f, -0.5f, -1.0f, -1.5f, 1.5f, 1.0f, 0.5f, 0.0f, -0.5f, -1.0f})
    expected.push_back(v);
  // K = 40: one group of 4 words only fits int3/40 (int4/32 needs 8 words).
  EXPECT_EQ(load(dir, "m.proj.weight", {1, 40}), expected);
  EXPECT_EQ(load(dir, "m.proj.weight", {1, 40}, hintFor("q3f16_1")), expected);
}

TEST(Dequantize, GroupQuantInt3ShortRowDecidedByWords) {
  // K = 20: one group of 4 words for int3/40 and for int4/32 alike. The
  // words are valid int3 (bits 30-31 clear, no 3-bit 7), so int3 is taken;
  // positions 20..39 are padding. Scale 1.0 (0x3C00).
  std::string dir = scratchDir("q3-short");
  writeCache(dir, {{"m.proj.q_weight",
                    "uint32",
                    {1, 4},
                    words({06666543210, 03333333333, 0, 0})},
                   {"m.proj.q_scale", "float16", {1, 1}, halves({0x3C00})}});
  std::vector<float> expected = {-3, -2, -1, 0, 1, 2, 3, 3, 3, 3,
                                 0,  0,  0,  0, 0, 0, 0, 0, 0, 0};
  EXPECT_EQ(load(dir, "m.proj.weight", {1, 20}), expected);
}

TEST(Dequantize, GroupQuantBf16AndF32Scales) {
  // q4bf16_1: scale bfloat16 0x3F00 = 0.5. q4f32_1: float32 scale stored
  // as bf16 0x4000 = 2.0.
  std::string dir = scratchDir("q4-scales");
  writeCache(dir, {{"a.q_weight",
                    "uint32",
                    {1, 4},
                    words({0x76543210, 0xEEEEEEEE, 0x00000000, 0x77777777})},
                   {"a.q_scale", "bfloat16", {1, 1}, halves({0x3F00})},
                   {"b.q_weight",
                    "uint32",
                    {1, 4},
                    words({0x89ABCDE7, 0x77777777, 0x77777777, 0x77777777})},
                   {"b.q_scale", "float32", {1, 1}, halves({0x4000})}});
  std::vector<float> a = expectedQ4(), b = expectedQ4();
  a.resize(32);
  b.erase(b.begin(), b.begin() + 32);
  EXPECT_EQ(load(dir, "a.weight", {1, 32}, hintFor("q4bf16_1")), a);
  EXPECT_EQ(load(dir, "b.weight", {1, 32}, hintFor("q4f32_1")), b);
}

TEST(Dequantize, GroupQuantShapeErrors) {
  std::string dir = scratchDir("q4-bad");
  writeCache(dir, {{"m.proj.q_weight", "uint32", {2, 4}, words(kQ4Words)},
                   {"m.proj.q_scale", "float16", {2, 1}, halves(kQ4Scales)}});
  EXPECT_EQ(loadError(dir, "m.proj.weight", {2, 64}),
            dir + "/tensor-cache.json: record 'm.proj.q_weight': q_weight "
                  "[2, 4] and q_scale [2, 1] do not fit a weight of shape "
                  "[2, 64]: 4 words and 1 groups per row are not 4-bit groups "
                  "of 32 or 3-bit groups of 40");
  EXPECT_EQ(loadError(dir, "m.proj.weight", {3, 32}),
            dir + "/tensor-cache.json: record 'm.proj.q_weight': q_weight "
                  "[2, 4] and q_scale [2, 1] do not fit a weight of shape "
                  "[3, 32]: neither the NK nor the KN layout");
  EXPECT_EQ(loadError(dir, "m.proj.weight", {2, 64}, hintFor("q3f16_1")),
            dir + "/tensor-cache.json: record 'm.proj.q_weight': q_weight "
                  "[2, 4] and q_scale [2, 1] do not fit a weight of shape "
                  "[2, 64]: 4 words and 1 groups per row are not 3-bit groups "
                  "of 40");
  EXPECT_EQ(loadError(dir, "m.proj.weight", {64}),
            dir + "/tensor-cache.json: record 'm.proj.q_weight': q_weight "
                  "[2, 4] and q_scale [2, 1] do not fit a weight of shape "
                  "[64]: group quantization needs a weight of rank 2 or more");
}

TEST(Dequantize, Fp8E4M3TimesScale) {
  // e4m3fn: 0x38 = 1.0, 0xC0 = -2.0, 0x01 = 2^-9 (smallest subnormal).
  // q_scale float32 [1] stored as bf16 0x3F00 = 0.5.
  std::string dir = scratchDir("fp8-e4m3");
  writeCache(
      dir, {{"m.proj.q_weight",
             "float8_e4m3fn",
             {1, 3},
             std::string("\x38\xC0\x01", 3)},
            {"m.proj.q_scale", "float32", {1}, halves({0x3F00})},
            {"m.proj.q_calibration_scale", "float32", {1}, halves({0x1234})}});
  EXPECT_EQ(load(dir, "m.proj.weight", {1, 3}, hintFor("e4m3_e4m3_f16")),
            (std::vector<float>{0.5f, -1.0f, std::ldexp(1.0f, -10)}));
}

TEST(Dequantize, Fp8E5M2Direct) {
  // e5m2 is the top byte of a binary16: 0x3C -> 0x3C00 = 1.0, 0xC2 ->
  // 0xC200 = -3.0.
  std::string dir = scratchDir("fp8-e5m2");
  writeCache(
      dir,
      {{"m.proj.q_weight", "float8_e5m2", {2, 1}, std::string("\x3C\xC2", 2)}});
  EXPECT_EQ(load(dir, "m.proj.weight", {2, 1}),
            (std::vector<float>{1.0f, -3.0f}));
}

TEST(Dequantize, Fp8E4M3WithoutScaleIsAnError) {
  std::string dir = scratchDir("fp8-noscale");
  writeCache(
      dir,
      {{"m.proj.q_weight", "float8_e4m3fn", {1, 1}, std::string("\x38", 1)}});
  EXPECT_EQ(loadError(dir, "m.proj.weight", {1, 1}),
            dir + "/tensor-cache.json: missing record 'm.proj.q_scale' "
                  "(float8_e4m3fn weights are scaled)");
}

TEST(Dequantize, PlainRecords) {
  std::string dir = scratchDir("plain");
  writeCache(dir, {{"h.weight", "float16", {2}, halves({0x3C00, 0xC000})},
                   {"b.weight", "bfloat16", {1}, halves({0x4049})},
                   {"f.weight", "float32", {2}, halves({0x3F80, 0xBF00})},
                   {"r.weight", "float32", {1}, leF32(1.25f), "raw"},
                   {"u.weight", "uint32", {1}, words({7})}});
  EXPECT_EQ(load(dir, "h.weight", {2}), (std::vector<float>{1.0f, -2.0f}));
  EXPECT_EQ(load(dir, "b.weight", {1}), (std::vector<float>{3.140625f}));
  EXPECT_EQ(load(dir, "f.weight", {2}), (std::vector<float>{1.0f, -0.5f}));
  EXPECT_EQ(load(dir, "r.weight", {1}), (std::vector<float>{1.25f}));
  EXPECT_EQ(loadError(dir, "h.weight", {1, 2}),
            dir + "/tensor-cache.json: record 'h.weight': shape [2] does not "
                  "match the expected [1, 2]");
  EXPECT_EQ(loadError(dir, "u.weight", {1}),
            dir + "/tensor-cache.json: record 'u.weight': has dtype uint32, "
                  "expected a floating-point type");
  EXPECT_EQ(loadError(dir, "lm_head.weight", {1, 2}),
            dir + "/tensor-cache.json: missing record 'lm_head.weight' (nor "
                  "'lm_head.q_weight')");
}

TEST(Dequantize, UnknownModeHint) {
  std::string e = errorOf(parseQuantizationHint("q5f16_9"));
  EXPECT_EQ(e.rfind("unknown quantization mode 'q5f16_9' (known: q0f16, ", 0),
            0u)
      << e;
  QuantizationHint h = hintFor("q3f16_0");
  EXPECT_EQ(h.bits, 3);
  EXPECT_EQ(h.groupSize, 40);
  EXPECT_TRUE(h.kn && *h.kn);
  h = hintFor("e5m2_e5m2_f16");
  EXPECT_EQ(h.bits, 0);
  EXPECT_FALSE(h.kn.has_value());
}

//===----------------------------------------------------------------------===//
// MNN-style records (docs/mnn-format.md): codes packed MSB-first per row,
// float16 scale (and min) per block; worked by hand.
//===----------------------------------------------------------------------===//

namespace {

/// 4-bit asymmetric, K = 32 in blocks of 16, two rows.
///  row 0 block 0: codes 0..15       -> bytes 01 23 45 67 89 AB CD EF,
///                 scale 0.5 (0x3800), min -1 (0xBC00): w = u / 2 - 1
///  row 0 block 1: codes 15..0       -> bytes FE DC BA 98 76 54 32 10,
///                 scale 0.25 (0x3400), min 2 (0x4000): w = u / 4 + 2
///  row 1 block 0: codes 15, 0, ...  -> bytes F0 x 8,
///                 scale 1 (0x3C00), min 0 (0x0000)
///  row 1 block 1: codes 0, 15, ...  -> bytes 0F x 8,
///                 scale 0x2E66 = 819/8192, min -0.5 (0xB800)
std::vector<TestRecord> mnnAsym4Records() {
  std::string packed;
  for (int i = 0; i < 8; ++i)
    packed += char((2 * i) << 4 | (2 * i + 1));
  for (int i = 0; i < 8; ++i)
    packed += char((15 - 2 * i) << 4 | (14 - 2 * i));
  packed += std::string(8, '\xF0') + std::string(8, '\x0F');
  return {{"m.proj.q_weight", "uint8", {2, 16}, packed},
          {"m.proj.q_scale",
           "float16",
           {2, 2},
           halves({0x3800, 0x3400, 0x3C00, 0x2E66})},
          {"m.proj.q_zero",
           "float16",
           {2, 2},
           halves({0xBC00, 0x4000, 0x0000, 0xB800})}};
}

std::vector<float> mnnAsym4Expected() {
  std::vector<float> w;
  for (int u = 0; u < 16; ++u)
    w.push_back(float(u) * 0.5f - 1.0f);
  for (int u = 15; u >= 0; --u)
    w.push_back(float(u) * 0.25f + 2.0f);
  for (int i = 0; i < 16; ++i)
    w.push_back(i % 2 ? 0.0f : 15.0f);
  // 15 * 819 / 8192 - 0.5 = 12285 / 8192 - 4096 / 8192, exact in float32.
  for (int i = 0; i < 16; ++i)
    w.push_back(i % 2 ? 8189.0f / 8192.0f : -0.5f);
  return w;
}

} // namespace

TEST(Dequantize, MnnAsymmetric4BitBlocks) {
  std::string dir = scratchDir("mnn-asym4");
  writeCache(dir, mnnAsym4Records());
  // Bits (16 bytes for K = 32: only 4), asymmetry (q_zero) and the block
  // (32 / 2 scales) come from the records alone.
  EXPECT_EQ(load(dir, "m.proj.weight", {2, 32}), mnnAsym4Expected());
  // A matching mode changes nothing; HQQ is irrelevant to dequantization.
  EXPECT_EQ(load(dir, "m.proj.weight", {2, 32}, hintFor("mnn_w4_asym_b16")),
            mnnAsym4Expected());
  EXPECT_EQ(
      load(dir, "m.proj.weight", {2, 32}, hintFor("mnn_w4_asym_b16_hqq")),
      mnnAsym4Expected());
}

TEST(Dequantize, MnnSymmetric3BitChannelWise) {
  // Codes 0..7 then 7..0 as a 3-bit MSB-first stream:
  // 000 001 010 011 100 101 110 111 -> 00000101 00111001 01110111,
  // 111 110 101 100 011 010 001 000 -> 11111010 11000110 10001000.
  // One scale per row (2.0 = 0x4000): w = (u - 4) * 2. u = 0 never comes
  // out of MNN's symmetric quantizer but decodes like any other code.
  std::string dir = scratchDir("mnn-sym3");
  writeCache(dir,
             {{"m.proj.q_weight", "uint8", {1, 6},
               std::string("\x05\x39\x77\xFA\xC6\x88", 6)},
              {"m.proj.q_scale", "float16", {1, 1}, halves({0x4000})}});
  std::vector<float> expected = {-8, -6, -4, -2, 0,  2,  4,  6,
                                 6,  4,  2,  0,  -2, -4, -6, -8};
  EXPECT_EQ(load(dir, "m.proj.weight", {1, 16}), expected);
  EXPECT_EQ(load(dir, "m.proj.weight", {1, 16}, hintFor("mnn_w3")), expected);
  // The mode's block 64 does not divide K = 16: MNN falls back to one block.
  EXPECT_EQ(load(dir, "m.proj.weight", {1, 16}, hintFor("mnn_w3_b64")),
            expected);
}

TEST(Dequantize, MnnExpertsRank3) {
  // Experts [2, 1, 16], 8-bit symmetric channel-wise: one byte per code,
  // w = (u - 128) * scale with scale 0.5 and 0.25.
  std::string dir = scratchDir("mnn-experts");
  std::string packed;
  for (int i = 0; i < 32; ++i)
    packed += char(120 + i);
  writeCache(dir, {{"e.q_weight", "uint8", {2, 1, 16}, packed},
                   {"e.q_scale", "float16", {2, 1, 1}, halves({0x3800, 0x3400})}});
  std::vector<float> expected;
  for (int i = 0; i < 32; ++i)
    expected.push_back(float(i - 8) * (i < 16 ? 0.5f : 0.25f));
  EXPECT_EQ(load(dir, "e", {2, 1, 16}), expected);
}

TEST(Dequantize, MnnAmbiguousBitsNeedTheMode) {
  // K = 4 in 2 bytes: 3 bits (12 bits) and 4 bits (16) both fit.
  // 4-bit codes 1 2 14 15 -> 12 EF; asymmetric, scale 1, min 0.
  std::string dir = scratchDir("mnn-ambiguous");
  writeCache(dir, {{"m.proj.q_weight", "uint8", {1, 2},
                    std::string("\x12\xEF", 2)},
                   {"m.proj.q_scale", "float16", {1, 1}, halves({0x3C00})},
                   {"m.proj.q_zero", "float16", {1, 1}, halves({0x0000})}});
  EXPECT_EQ(loadError(dir, "m.proj.weight", {1, 4}),
            dir + "/tensor-cache.json: record 'm.proj.q_weight': q_weight "
                  "[1, 2] and q_scale [1, 1] and q_zero [1, 1] do not fit a "
                  "weight of shape [1, 4]: 2 bytes per row fit 4 codes of 3, "
                  "4 bits; pass --quantization mnn_w<bits>...");
  EXPECT_EQ(load(dir, "m.proj.weight", {1, 4}, hintFor("mnn_w4_asym")),
            (std::vector<float>{1, 2, 14, 15}));
  // 3-bit codes of the same bytes: 000 100 101 110 -> 0 4 5 6 (bits 12..15,
  // 1111, are padding).
  EXPECT_EQ(load(dir, "m.proj.weight", {1, 4}, hintFor("mnn_w3_asym")),
            (std::vector<float>{0, 4, 5, 6}));
}

TEST(Dequantize, MnnRecordErrors) {
  std::string dir = scratchDir("mnn-errors");
  std::vector<TestRecord> recs = mnnAsym4Records();
  // A symmetric copy (no q_zero), blocks of 8 (4 scales per row) and a
  // uint32 scale.
  recs.push_back({"s.q_weight", "uint8", {2, 16}, recs[0].bytes});
  recs.push_back({"s.q_scale", "float16", {2, 1}, halves({0x3C00, 0x3C00})});
  recs.push_back({"b.q_weight", "uint8", {2, 16}, recs[0].bytes});
  recs.push_back({"b.q_scale", "float16", {2, 4}, halves(std::vector<uint16_t>(8, 0x3C00))});
  recs.push_back({"u.q_weight", "uint8", {2, 16}, recs[0].bytes});
  recs.push_back({"u.q_scale", "uint32", {2, 1}, words({1, 2})});
  writeCache(dir, recs);
  const std::string idx = dir + "/tensor-cache.json: record ";
  const std::string m = "'m.proj.q_weight': q_weight [2, 16] and q_scale "
                        "[2, 2] and q_zero [2, 2] do not fit a weight of "
                        "shape ";
  EXPECT_EQ(loadError(dir, "m.proj.weight", {2, 32}, hintFor("mnn_w4_b16")),
            idx + m + "[2, 32]: mode 'mnn_w4_b16' is symmetric, but there "
                      "is a q_zero record");
  EXPECT_EQ(loadError(dir, "m.proj.weight", {2, 32}, hintFor("mnn_w4_asym")),
            idx + m + "[2, 32]: mode 'mnn_w4_asym' gives 1 blocks per row "
                      "of 32 values, the records hold 2");
  EXPECT_EQ(loadError(dir, "m.proj.weight", {2, 32}, hintFor("mnn_w3_asym")),
            idx + m + "[2, 32]: 16 bytes per row are not 32 codes of 3 bits "
                      "(mode 'mnn_w3_asym' needs 12)");
  EXPECT_EQ(loadError(dir, "m.proj.weight", {2, 40}),
            idx + m + "[2, 40]: 16 bytes per row are not 40 codes of 2 to 8 "
                      "bits");
  EXPECT_EQ(loadError(dir, "m.proj.weight", {3, 32}),
            idx + m + "[3, 32]: the rows differ");
  EXPECT_EQ(loadError(dir, "m.proj.weight", {64}),
            idx + m + "[64]: MNN quantization needs a weight of rank 2 or "
                      "more");
  EXPECT_EQ(loadError(dir, "m.proj.weight", {2, 30}),
            idx + m + "[2, 30]: 16 bytes per row are not 30 codes of 2 to 8 "
                      "bits");
  EXPECT_EQ(loadError(dir, "s.weight", {2, 32}, hintFor("mnn_w4_asym")),
            idx + "'s.q_weight': q_weight [2, 16] and q_scale [2, 1] do not "
                  "fit a weight of shape [2, 32]: mode 'mnn_w4_asym' is "
                  "asymmetric, but there is no q_zero record");
  EXPECT_EQ(loadError(dir, "b.weight", {2, 32}),
            idx + "'b.q_weight': q_weight [2, 16] and q_scale [2, 4] do not "
                  "fit a weight of shape [2, 32]: 4 blocks of 8 values per "
                  "row are not MNN blocks (a multiple of 16)");
  EXPECT_EQ(loadError(dir, "u.weight", {2, 32}),
            idx + "'u.q_scale': has dtype uint32, expected a floating-point "
                  "type");
}

TEST(Dequantize, MnnModeHint) {
  QuantizationHint h = hintFor("mnn_w4_asym_b64_hqq");
  EXPECT_EQ(h.mode, "mnn_w4_asym_b64_hqq");
  ASSERT_TRUE(h.mnn.has_value());
  EXPECT_EQ(h.mnn->bits, 4);
  EXPECT_TRUE(h.mnn->asymmetric);
  EXPECT_EQ(h.mnn->block, 64);
  EXPECT_TRUE(h.mnn->hqq);
  EXPECT_EQ(h.bits, 0);
  h = hintFor("mnn_w8");
  ASSERT_TRUE(h.mnn.has_value());
  EXPECT_EQ(h.mnn->bits, 8);
  EXPECT_FALSE(h.mnn->asymmetric);
  EXPECT_EQ(h.mnn->block, 0);
  EXPECT_FALSE(hintFor("q4f16_1").mnn.has_value());
  std::string e = errorOf(parseQuantizationHint("mnn_w9"));
  EXPECT_EQ(e.rfind("unknown quantization mode 'mnn_w9' (known: ", 0), 0u)
      << e;
}
