//===- GptqSimdTest.cpp - GPTQ's row phase on every SIMD target -*- C++ -*-===//
//
// With the SIMD kernels on, GPTQ's rows take a block's errors a sub-block
// at a time through register-blocked products (SimdGptq.cpp); with them off
// (the portable path) they run the definition, each column's error
// subtracted at once from the block's later columns. Both must give the
// same bytes. Checked two ways on every target this CPU runs:
// - hand-worked: the 2 x 8 case of CalibratedTest (Gptq.TwoByEightByHand)
//   repeated in 9 groups of 72 columns and 18 rows, so that the kernels'
//   row blocks, column vectors, sub-blocks and lazy updates all carry it;
// - against the portable path's bytes, for random weights and Hessians
//   (groups that do not divide the block, act-order, MNN blocks, a
//   non-finite row, column counts that leave scalar tails);
// and the two update kernels themselves (SimdGptq.h, internal to the
// library) bit for bit against plain loops written here from their
// definitions: the codes alone would not show a last-bit difference in the
// updated weights, such as a fused multiply-add would make.
//
//===----------------------------------------------------------------------===//

#include "qopt/Numerics/Calibrated.h"
#include "qopt/Numerics/Float.h"

#include "GptqTestUtil.h"
#include "SimdTargets.h"
// The kernels' internal header (lib/Numerics is not on the include path).
#include "../../../lib/Numerics/SimdGptq.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <random>
#include <vector>

using namespace qopt::numerics;
using qopt::numerics::testing::forEachSimdTarget;
using qopt::numerics::testing::randomHessian;

namespace {

/// The 8 nibbles of a word, LSB first.
std::vector<int> nibbles(uint32_t w) {
  std::vector<int> out;
  for (int i = 0; i < 8; ++i)
    out.push_back(int((w >> (4 * i)) & 0xF));
  return out;
}

TEST(GptqSimd, HandWorkedGroupsOnEveryTarget) {
  // H: in every group of 8 columns, the block [[1, r], [r, 1]] (r = 0.6) on
  // its first two columns, the identity elsewhere. U (H^-1 = U^T U) is then
  // block-diagonal: per group U00 = 1.25, U01 = -0.75, U11 = 1, the rest
  // the identity (worked in CalibratedTest's Gptq.TwoByEightByHand), so no
  // error leaves its group and each group is that test's case:
  //   [0.4, 0.3, 0, 0, 0, 0, 0, 7]     -> stored [7, 8, 7, 7, 7, 7, 7, 14]
  //   [-1.4, 1.6, 2, 3, 4, 5, 6, 7]    -> stored [6, 8, 9, 10, 11, 12, 13, 14]
  // (scale 1 in both; plain rounding would store 7 and 9 in column 1).
  const int64_t k = 72, rows = 18, groups = k / 8;
  std::vector<float> h(size_t(k * k), 0.0f);
  for (int64_t i = 0; i < k; ++i)
    h[size_t(i * k + i)] = 1.0f;
  for (int64_t g = 0; g < groups; ++g)
    h[size_t(8 * g * k + 8 * g + 1)] = h[size_t((8 * g + 1) * k + 8 * g)] =
        0.6f;
  GptqOptions opts;
  opts.damp = 0.0;
  GptqFactor f;
  ASSERT_EQ(prepareGptq(h.data(), k, opts, f), "");
  const float row0[8] = {0.4f, 0.3f, 0, 0, 0, 0, 0, 7};
  const float row1[8] = {-1.4f, 1.6f, 2, 3, 4, 5, 6, 7};
  std::vector<float> w(size_t(rows * k));
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t i = 0; i < k; ++i)
      w[size_t(r * k + i)] = (r % 2 ? row1 : row0)[i % 8];
  const GroupQuantSpec spec{4, 8, FloatFormat::F32, RoundingMode::NearestEven};
  const std::vector<int> want0 = {7, 8, 7, 7, 7, 7, 7, 14},
                         want1 = {6, 8, 9, 10, 11, 12, 13, 14};
  std::string ran = forEachSimdTarget([&] {
    // Blocks that hold every column, cut the pairs (3, 17: column 8g + 1
    // in the next block for some g) or hold two groups.
    for (int64_t block : {128, 3, 17, 16}) {
      opts.blockSize = block;
      std::vector<uint32_t> words(size_t(rows * groups));
      std::vector<float> scales(size_t(rows * groups));
      gptqGroupQuantizeRows(w.data(), rows, k, spec, f, opts, nullptr,
                            words.data(), scales.data());
      for (int64_t r = 0; r < rows; ++r)
        for (int64_t g = 0; g < groups; ++g) {
          EXPECT_EQ(scales[size_t(r * groups + g)], 1.0f);
          EXPECT_EQ(nibbles(words[size_t(r * groups + g)]),
                    r % 2 ? want1 : want0)
              << "block " << block << " row " << r << " group " << g;
        }
    }
  });
  EXPECT_NE(ran.find("portable"), std::string::npos);
}

TEST(GptqSimd, RowsEqualThePortableDefinition) {
  std::mt19937 rng(11);
  std::normal_distribution<float> nd(0.0f, 1.0f);
  // k = 203: scalar column tails on every target; 200 with groups of 40 and
  // blocks of 48: groups that straddle blocks (a sub-block ends at each
  // group start); 160: bfloat16 weights with ties away; 67 rows: a second
  // tile, 8-row blocks and their tails; a row of zeros and a zero group
  // (zero scales).
  struct Case {
    int64_t k, group, block;
  };
  for (Case c : {Case{200, 40, 48}, Case{203, 7, 128}, Case{160, 32, 64}}) {
    const int64_t rows = 67, k = c.k;
    const std::vector<float> h = randomHessian(k, 24, rng, 0.1);
    std::vector<uint16_t> w(size_t(rows * k));
    const bool bf16 = k == 160;
    for (uint16_t &v : w)
      v = bf16 ? floatToBFloat16(nd(rng)) : floatToHalf(nd(rng));
    w[size_t(9 * k + 3)] = bf16 ? 0x7FC0 : 0x7E00; // row 9: NaN, MLC's rounding
    for (int64_t i = 0; i < k; ++i) // row 20: zeros, a zero scale
      w[size_t(20 * k + i)] = 0;
    for (int64_t i = 0; i < c.group && i < k; ++i) // row 21: a zero group
      w[size_t(21 * k + i)] = 0;
    std::vector<float> importance(static_cast<size_t>(k));
    for (int64_t i = 0; i < k; ++i)
      importance[size_t(i)] = h[size_t(i * k + i)];
    std::vector<float> wf(size_t(rows * k));
    for (size_t i = 0; i < wf.size(); ++i)
      wf[i] = bf16 ? bfloat16ToFloat(w[i]) : halfToFloat(w[i]);
    wf[size_t(9 * k + 3)] = 0.5f; // MNN: finite rows only here
    // k = 203 and groups of 7 are not a group mode (group sizes are
    // multiples of 8); MNN's blocks take any divisor of k.
    const bool group = c.group % 8 == 0;
    // F16 ties to even; BF16 ties away (the other code rule's branches).
    const GroupQuantSpec spec =
        bf16 ? GroupQuantSpec{4, c.group, FloatFormat::BF16,
                                    RoundingMode::NearestAway}
                   : GroupQuantSpec{4, c.group, FloatFormat::F16,
                                    RoundingMode::NearestEven};
    MnnQuantSpec mnn;
    mnn.bits = 4;
    mnn.block = c.group;
    mnn.asymmetric = true;
    for (bool actOrder : {false, true}) {
      GptqOptions opts;
      opts.blockSize = c.block;
      opts.actOrder = actOrder;
      GptqFactor f;
      ASSERT_EQ(prepareGptq(h.data(), k, opts, f), "");
      struct Out {
        std::vector<uint32_t> q;
        std::vector<uint16_t> s;
        std::vector<uint8_t> p;
        std::vector<float> ms, mz;
      };
      auto run = [&](const float *imp) {
        Out o;
        if (group) {
          o.q.resize(size_t(rows * wordsPerRow(spec, k)));
          o.s.resize(size_t(rows * groupsPerRow(spec, k)));
          gptqGroupQuantizeRows(w.data(), rows, k, spec, f, opts, imp,
                                o.q.data(), o.s.data());
        }
        o.p.resize(size_t(rows * mnnPackedRowBytes(mnn, k)));
        o.ms.resize(size_t(rows * mnnBlocksPerRow(mnn, k)));
        o.mz.resize(o.ms.size());
        gptqMnnQuantizeRows(wf.data(), rows, k, mnn, f, opts, imp,
                            o.p.data(), o.ms.data(), o.mz.data());
        return o;
      };
      for (const float *imp :
           {(const float *)nullptr, (const float *)importance.data()}) {
        setSimdKernelsEnabled(false);
        const Out want = run(imp);
        setSimdKernelsEnabled(true);
        forEachSimdTarget([&] {
          const Out got = run(imp);
          SCOPED_TRACE("k " + std::to_string(k) + " act-order " +
                       std::to_string(actOrder) + " importance " +
                       std::to_string(imp != nullptr));
          EXPECT_EQ(got.q, want.q);
          EXPECT_EQ(got.s, want.s);
          EXPECT_EQ(got.p, want.p);
          EXPECT_EQ(got.ms, want.ms);
          EXPECT_EQ(got.mz, want.mz);
        });
      }
    }
  }
}

TEST(GptqSimd, UpdateKernelsRoundAsTheirDefinitions) {
  // x[r][c] for c in [c0, c1) of `rows` rows, updated with b errors per
  // row; column ranges that leave vector and scalar tails on every target.
  std::mt19937 rng(5);
  std::normal_distribution<double> nd(0.0, 1.0);
  const int64_t rows = 19, b = 23, ldu = 101, ldx = 97, lde = 29;
  std::vector<double> err(size_t(rows * lde)), u(size_t(b * ldu)),
      x0(size_t(rows * ldx));
  for (double &v : err)
    v = nd(rng);
  for (double &v : u)
    v = nd(rng) / 3.0;
  for (double &v : x0)
    v = nd(rng) * 5.0;
  for (auto [c0, c1] : {std::pair<int64_t, int64_t>{0, 97}, {5, 90}, {3, 4}}) {
    // The definitions: the lazy update sums from +0 then subtracts; the
    // immediate one subtracts each product (every operation rounded).
    std::vector<double> lazy = x0, direct = x0;
    for (int64_t r = 0; r < rows; ++r)
      for (int64_t c = c0; c < c1; ++c) {
        double acc = 0.0, v = direct[size_t(r * ldx + c)];
        for (int64_t t = 0; t < b; ++t) {
          volatile double p = err[size_t(r * lde + t)] * u[size_t(t * ldu + c)];
          acc = acc + p;
          v = v - p;
        }
        lazy[size_t(r * ldx + c)] = lazy[size_t(r * ldx + c)] - acc;
        direct[size_t(r * ldx + c)] = v;
      }
    forEachSimdTarget([&] {
      std::vector<double> got = x0;
      simd::gptqLazyUpdate(err.data(), lde, rows, b, u.data(), ldu, c0, c1,
                           got.data(), ldx);
      EXPECT_EQ(std::memcmp(got.data(), lazy.data(), got.size() * 8), 0)
          << "lazy, columns " << c0 << ".." << c1;
      got = x0;
      simd::gptqSubtractUpdate(err.data(), lde, rows, b, u.data(), ldu, c0,
                               c1, got.data(), ldx);
      EXPECT_EQ(std::memcmp(got.data(), direct.data(), got.size() * 8), 0)
          << "immediate, columns " << c0 << ".." << c1;
    });
  }
}

} // namespace
