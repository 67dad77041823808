//===- GptqTilesTest.cpp - GPTQ's row tiles change no bit -------*- C++ -*-===//
//
// GPTQ compensates up to 64 rows at once (the lazy-batch update as one
// matrix product, SimdCalibrated.cpp). Rows are independent, so every row's
// bytes must equal those of the row converted alone, on every SIMD target
// and the portable path, for tiles cut by a non-finite row, a last partial
// tile and a column count that leaves a scalar tail after the vectors. The
// bytes themselves are pinned against the pure-Python reference by
// test/Convert/calibration-reference.test.
//
//===----------------------------------------------------------------------===//

#include "qopt/Numerics/Calibrated.h"
#include "qopt/Numerics/Float.h"

#include "GptqTestUtil.h"
#include "SimdTargets.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <random>
#include <vector>

using namespace qopt::numerics;
using qopt::numerics::testing::forEachSimdTarget;
using qopt::numerics::testing::randomHessian;

namespace {

TEST(GptqTiles, RowsEqualRowsConvertedAlone) {
  const int64_t rows = 75, k = 200;
  std::mt19937 rng(3);
  std::normal_distribution<float> nd(0.0f, 1.0f);
  std::vector<uint16_t> w(size_t(rows * k));
  for (uint16_t &v : w)
    v = floatToHalf(nd(rng));
  w[size_t(40 * k + 7)] = 0x7C00; // row 40: inf, MLC's rounding
  // H = X^T X / T + I/10 with X 24 x k.
  const std::vector<float> h = randomHessian(k, 24, rng, 0.1);
  std::vector<float> importance(static_cast<size_t>(k));
  for (int64_t i = 0; i < k; ++i)
    importance[size_t(i)] = h[size_t(i * k + i)];
  const GroupQuantSpec spec{4, 40, FloatFormat::F16,
                            RoundingMode::NearestEven};
  const int64_t words = wordsPerRow(spec, k), groups = groupsPerRow(spec, k);
  for (bool actOrder : {false, true}) {
    GptqOptions opts;
    opts.blockSize = 48;
    opts.actOrder = actOrder;
    GptqFactor f;
    ASSERT_EQ(prepareGptq(h.data(), k, opts, f), "");
    forEachSimdTarget([&] {
      for (const float *imp : {(const float *)nullptr,
                               (const float *)importance.data()}) {
        std::vector<uint32_t> q(size_t(rows * words)), q1(q.size());
        std::vector<uint16_t> s(size_t(rows * groups)), s1(s.size());
        gptqGroupQuantizeRows(w.data(), rows, k, spec, f, opts, imp,
                              q.data(), s.data());
        for (int64_t r = 0; r < rows; ++r)
          gptqGroupQuantizeRows(w.data() + r * k, 1, k, spec, f, opts, imp,
                                q1.data() + r * words, s1.data() + r * groups);
        EXPECT_EQ(q, q1) << "act-order " << actOrder;
        EXPECT_EQ(s, s1) << "act-order " << actOrder;
      }
      // MNN's block format, float32 rows.
      std::vector<float> wf(size_t(rows * k));
      for (size_t i = 0; i < wf.size(); ++i)
        wf[i] = halfToFloat(w[i]);
      MnnQuantSpec mnn;
      mnn.bits = 4;
      mnn.block = 40;
      mnn.asymmetric = true;
      const int64_t rb = mnnPackedRowBytes(mnn, k),
                    blocks = mnnBlocksPerRow(mnn, k);
      std::vector<uint8_t> p(size_t(rows * rb)), p1(p.size());
      std::vector<float> sc(size_t(rows * blocks)), sc1(sc.size()),
          z(sc.size()), z1(sc.size());
      gptqMnnQuantizeRows(wf.data(), rows, k, mnn, f, opts, nullptr, p.data(),
                          sc.data(), z.data());
      for (int64_t r = 0; r < rows; ++r)
        gptqMnnQuantizeRows(wf.data() + r * k, 1, k, mnn, f, opts, nullptr,
                            p1.data() + r * rb, sc1.data() + r * blocks,
                            z1.data() + r * blocks);
      EXPECT_EQ(p, p1);
      EXPECT_EQ(sc, sc1);
      EXPECT_EQ(z, z1);
    });
  }
}

// prepareGptq's blocked kernels (panels of 64 rows, blocks of 8, column
// blocks of 4 vectors, with every kind of tail at k = 203) give the factor
// of the scalar definitions bit for bit, with and without act-order.
TEST(GptqTiles, FactorEqualsTheScalarDefinition) {
  const int64_t k = 203;
  std::mt19937 rng(9);
  std::vector<float> h = randomHessian(k, 40, rng, 0.0);
  for (int64_t j = 0; j < k; ++j) // a dead column: input 5 never seen
    h[size_t(5 * k + j)] = h[size_t(j * k + 5)] = 0.0f;
  for (bool actOrder : {false, true}) {
    GptqOptions opts;
    opts.actOrder = actOrder;
    GptqFactor want;
    setSimdKernelsEnabled(false);
    ASSERT_EQ(prepareGptq(h.data(), k, opts, want), "");
    setSimdKernelsEnabled(true);
    forEachSimdTarget([&] {
      GptqFactor got;
      ASSERT_EQ(prepareGptq(h.data(), k, opts, got), "");
      EXPECT_EQ(got.order, want.order);
      EXPECT_EQ(got.dead, want.dead);
      ASSERT_EQ(got.u.size(), want.u.size());
      EXPECT_EQ(std::memcmp(got.u.data(), want.u.data(),
                            want.u.size() * sizeof(double)),
                0)
          << "act-order " << actOrder;
    });
  }
  // Refusals are the scalar definition's too.
  std::vector<float> singular = {1, 1, 1, 1};
  GptqOptions noDamp;
  noDamp.damp = 0.0;
  forEachSimdTarget([&] {
    GptqFactor f;
    EXPECT_EQ(prepareGptq(singular.data(), 2, noDamp, f),
              "the Hessian is not positive definite after dampening (raise "
              "the dampening)");
  });
}

} // namespace
