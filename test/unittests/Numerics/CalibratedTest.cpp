//===- CalibratedTest.cpp - Calibration-aware quantizers by hand ----------===//
//
// Small cases worked by hand (in the comments) for the importance-weighted
// scale search (MLC group format and MNN block format) and GPTQ (a 2 x 8
// weight with a Hessian whose inverse's Cholesky factor is known in closed
// form), plus GPTQ's refusals, dead columns and row independence.
//
//===----------------------------------------------------------------------===//

#include "qopt/Numerics/Calibrated.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <vector>

using namespace qopt::numerics;

namespace {

/// q4 groups of 8 in float32 arithmetic (exact hand computations).
GroupQuantSpec q4f32Group8() {
  return {4, 8, FloatFormat::F32, RoundingMode::NearestEven};
}

/// The 8 nibbles of a word, LSB first.
std::vector<int> nibbles(uint32_t w) {
  std::vector<int> out;
  for (int i = 0; i < 8; ++i)
    out.push_back(int((w >> (4 * i)) & 0xF));
  return out;
}

TEST(ImportanceSearch, GroupScaleFollowsTheImportantValues) {
  // x = [7, 1.5 x 7], M = 7. MLC: s = 7 / 7 = 1 and the stored code of 1.5
  // is round(1.5 + 7) = 8 (8.5, ties to even), q = 1: error 0.25 each.
  // Stored [14, 8 x 7]. With importance a = [0, 1 x 7] (the outlier's
  // input channel is never active) MLC's weighted error is 7 * 0.25 =
  // 1.75. The screened scales base * r (base = 1, float32 scales) and
  // their codes of 1.5 (round(1.5 * (1 / s)), ties to even) and weighted
  // errors: s = 1: q = 2, 7 * 0.5^2 = 1.75 (equal, not better); 0.9: q = 2,
  // 7 * 0.3^2 = 0.63; 0.8: q = 2, 7 * 0.1^2 = 0.07. The lead is 0.8; its
  // weighted least-squares refinement is s = sum a x q / sum a q^2 = 7 *
  // 1.5 * 2 / (7 * 4) = 0.75, where every 1.5 is q = 2 exactly: weighted
  // error 0 (W - 2 s X + s^2 Q = 15.75 - 31.5 + 15.75, exact), the winner.
  // The outlier becomes round(7 / 0.75) = 9, clamped to q = 7, stored 14;
  // the others 2 + 7 = 9.
  std::vector<float> w = {7, 1.5f, 1.5f, 1.5f, 1.5f, 1.5f, 1.5f, 1.5f};
  std::vector<float> a = {0, 1, 1, 1, 1, 1, 1, 1};
  uint32_t plainWord = 0, word = 0;
  float plainScale = 0, scale = 0;
  groupQuantizeRows(w.data(), 1, 8, q4f32Group8(), &plainWord, &plainScale);
  EXPECT_EQ(plainScale, 1.0f);
  EXPECT_EQ(plainWord, 0x8888888Eu);
  groupQuantizeRowsWeighted(w.data(), 1, 8, q4f32Group8(), a.data(), &word,
                            &scale);
  EXPECT_EQ(scale, 0.75f);
  EXPECT_EQ(nibbles(word), (std::vector<int>{14, 9, 9, 9, 9, 9, 9, 9}));
}

TEST(ImportanceSearch, ZeroImportanceKeepsMlcResult) {
  std::vector<float> w = {7, 1.5f, 1.5f, 1.5f, 1.5f, 1.5f, 1.5f, 1.5f};
  std::vector<float> a(8, 0.0f);
  uint32_t word = 0;
  float scale = 0;
  groupQuantizeRowsWeighted(w.data(), 1, 8, q4f32Group8(), a.data(), &word,
                            &scale);
  EXPECT_EQ(scale, 1.0f);
  EXPECT_EQ(word, 0x8888888Eu);
}

TEST(ImportanceSearch, MnnSymmetricBlock) {
  // MNN symmetric 4 bits: T = 7, codes q in [-8, 7] stored q + 8, round
  // half away from zero. Same row as above: MNN's scale 7 / 7 = 1, q(1.5)
  // = 2; weighted error 1.75; the screened scales' codes of 1.5 are as
  // above (round(1.5 / 0.9) = 2, ...), the lead is again 0.8 and its
  // refinement gives 0.75 and error 0. The
  // outlier: round(9.33) = 9 clamps to 7 -> stored 15; 2 -> 10. Packed
  // MSB first: 0xFA, 0xAA, 0xAA, 0xAA.
  std::vector<float> w = {7, 1.5f, 1.5f, 1.5f, 1.5f, 1.5f, 1.5f, 1.5f};
  std::vector<float> a = {0, 1, 1, 1, 1, 1, 1, 1};
  MnnQuantSpec spec;
  spec.bits = 4;
  uint8_t packed[4] = {};
  float scale = 0;
  mnnQuantizeRowsWeighted(w.data(), 1, 8, spec, a.data(), packed, &scale,
                          nullptr);
  EXPECT_EQ(scale, 0.75f);
  EXPECT_EQ(std::vector<uint8_t>(packed, packed + 4),
            (std::vector<uint8_t>{0xFA, 0xAA, 0xAA, 0xAA}));
}

/// H = [[1, 0.6], [0.6, 1]] on columns 0 and 1, identity elsewhere.
std::vector<float> blockHessian() {
  std::vector<float> h(64, 0.0f);
  for (int i = 0; i < 8; ++i)
    h[size_t(i * 8 + i)] = 1.0f;
  h[1] = h[8] = 0.6f;
  return h;
}

TEST(Gptq, TwoByEightByHand) {
  // H's 2 x 2 block [[1, r], [r, 1]], r = 0.6, has the inverse
  // [[1, -r], [-r, 1]] / (1 - r^2) = [[1.5625, -0.9375], [-0.9375, 1.5625]],
  // whose upper Cholesky factor U (H^-1 = U^T U) is
  // U00 = sqrt(1.5625) = 1.25, U01 = -0.9375 / 1.25 = -0.75,
  // U11 = sqrt(1.5625 - 0.5625) = 1; the rest of U is the identity.
  // (No dampening: damp = 0. r is the float 0.6f, so U is 1.25, -0.75 to
  // about 1e-7.) GPTQ, one group of 8, s = max|w| / 7 = 1 taken when column
  // 0 comes, codes by MLC's rule round(w / s + 7):
  //   row 0 = [0.4, 0.3, 0, 0, 0, 0, 0, 7]: round(7.4) = 7, q0 = 0; the
  //     error e = (0.4 - 0) / U00 = 0.32 moves to column 1: w1 -= e * U01,
  //     0.3 + 0.24 = 0.54, round(7.54) = 8, q1 = 1 (plain rounding:
  //     round(7.3) = 7). Stored [7, 8, 7, 7, 7, 7, 7, 14].
  //   row 1 = [-1.4, 1.6, 2, 3, 4, 5, 6, 7]: round(5.6) = 6, q0 = -1;
  //     e = (-1.4 + 1) / 1.25 = -0.32, w1 = 1.6 - 0.24 = 1.36, round(8.36)
  //     = 8, q1 = 1 (plain: round(8.6) = 9). Stored [6, 8, 9, 10, 11, 12,
  //     13, 14].
  std::vector<float> h = blockHessian();
  GptqOptions opts;
  opts.damp = 0.0;
  GptqFactor f;
  ASSERT_EQ(prepareGptq(h.data(), 8, opts, f), "");
  EXPECT_NEAR(f.u[0], 1.25, 1e-6);
  EXPECT_NEAR(f.u[1], -0.75, 1e-6);
  EXPECT_NEAR(f.u[9], 1.0, 1e-6);
  EXPECT_EQ(f.u[8], 0.0);
  std::vector<float> w = {0.4f,  0.3f, 0, 0, 0, 0, 0, 7,
                          -1.4f, 1.6f, 2, 3, 4, 5, 6, 7};
  for (int64_t block : {128, 1, 3}) {
    opts.blockSize = block;
    uint32_t words[2] = {};
    float scales[2] = {};
    gptqGroupQuantizeRows(w.data(), 2, 8, q4f32Group8(), f, opts, nullptr,
                          words, scales);
    EXPECT_EQ(scales[0], 1.0f);
    EXPECT_EQ(scales[1], 1.0f);
    EXPECT_EQ(nibbles(words[0]), (std::vector<int>{7, 8, 7, 7, 7, 7, 7, 14}))
        << "block " << block;
    EXPECT_EQ(nibbles(words[1]), (std::vector<int>{6, 8, 9, 10, 11, 12, 13, 14}))
        << "block " << block;
  }
  // Plain rounding of the same rows: column 1 is 7 and 9.
  uint32_t plain[2] = {};
  float plainScales[2] = {};
  groupQuantizeRows(w.data(), 2, 8, q4f32Group8(), plain, plainScales);
  EXPECT_EQ(nibbles(plain[0])[1], 7);
  EXPECT_EQ(nibbles(plain[1])[1], 9);
  // Rows are independent: the second row alone gives the same word.
  uint32_t one = 0;
  float oneScale = 0;
  gptqGroupQuantizeRows(w.data() + 8, 1, 8, q4f32Group8(), f, opts, nullptr,
                        &one, &oneScale);
  EXPECT_EQ(nibbles(one), (std::vector<int>{6, 8, 9, 10, 11, 12, 13, 14}));
}

TEST(Gptq, ActOrderKeepsTheGroupLayout) {
  // diag(H) = [1, 1, 1, 1, 1, 1, 1, 4] (H diagonal): act-order processes
  // column 7 first, but with a diagonal H no error moves, so the result is
  // plain rounding with MLC's group scales, codes at their own columns.
  std::vector<float> h(64, 0.0f);
  for (int i = 0; i < 8; ++i)
    h[size_t(i * 8 + i)] = i == 7 ? 4.0f : 1.0f;
  GptqOptions opts;
  opts.actOrder = true;
  GptqFactor f;
  ASSERT_EQ(prepareGptq(h.data(), 8, opts, f), "");
  EXPECT_EQ(f.order, (std::vector<int64_t>{7, 0, 1, 2, 3, 4, 5, 6}));
  std::vector<float> w = {-1.4f, 1.6f, 2, 3, 4, 5, 6, 7};
  uint32_t word = 0, plain = 0;
  float scale = 0, plainScale = 0;
  gptqGroupQuantizeRows(w.data(), 1, 8, q4f32Group8(), f, opts, nullptr,
                        &word, &scale);
  groupQuantizeRows(w.data(), 1, 8, q4f32Group8(), &plain, &plainScale);
  EXPECT_EQ(word, plain);
  EXPECT_EQ(scale, plainScale);
}

TEST(Gptq, DeadColumnsAreZeroed) {
  // Column 0 never saw an input (H00 = 0): its weight is zeroed (code 7),
  // and the group's scale comes from the others: max 3.5 / 7 = 0.5.
  std::vector<float> h(64, 0.0f);
  for (int i = 1; i < 8; ++i)
    h[size_t(i * 8 + i)] = 1.0f;
  GptqOptions opts;
  GptqFactor f;
  ASSERT_EQ(prepareGptq(h.data(), 8, opts, f), "");
  EXPECT_EQ(f.dead[0], 1);
  std::vector<float> w = {100, 0.5f, 1, 1.5f, 2, 2.5f, 3, 3.5f};
  uint32_t word = 0;
  float scale = 0;
  gptqGroupQuantizeRows(w.data(), 1, 8, q4f32Group8(), f, opts, nullptr,
                        &word, &scale);
  EXPECT_EQ(scale, 0.5f);
  EXPECT_EQ(nibbles(word), (std::vector<int>{7, 8, 9, 10, 11, 12, 13, 14}));
}

TEST(Gptq, RefusesWhatItCannotFactor) {
  // [[1, 1], [1, 1]] is singular: without dampening, no Cholesky factor.
  std::vector<float> h = {1, 1, 1, 1};
  GptqOptions opts;
  opts.damp = 0.0;
  GptqFactor f;
  EXPECT_EQ(prepareGptq(h.data(), 2, opts, f),
            "the Hessian is not positive definite after dampening (raise the "
            "dampening)");
  opts.damp = 0.01;
  EXPECT_EQ(prepareGptq(h.data(), 2, opts, f), "");
  std::vector<float> bad = {1, 0, 0, NAN};
  EXPECT_EQ(prepareGptq(bad.data(), 2, opts, f),
            "the Hessian holds a non-finite value");
}

} // namespace
