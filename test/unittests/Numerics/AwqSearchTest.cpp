//===- AwqSearchTest.cpp - AWQ's scale search by hand ------------*- C++ -*-===//

#include "qopt/Numerics/AwqSearch.h"
#include "qopt/Numerics/Convert.h"
#include "qopt/Numerics/Float.h"

#include "SimdTargets.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <utility>
#include <vector>

using namespace qopt::numerics;
using qopt::numerics::testing::forEachSimdTarget;

// A quantizer that rounds every value to the nearest integer.
static std::string roundToIntegers(const float *w, int64_t rows, int64_t k,
                                   float *out) {
  for (int64_t i = 0; i < rows * k; ++i)
    out[i] = std::nearbyint(w[i]);
  return "";
}

// imatrix [0, 4, 16]: m = [0, 2, 4]. alpha = 1: t = [1e-4 (clamped), 2, 4],
// normalized by sqrt(4 * 1e-4) = 0.02: s = [0.005, 100, 200]. alpha = 0:
// s = 1 everywhere. alpha = 0.5: t = [1e-4, sqrt 2, 2], / sqrt(2e-4).
TEST(AwqSearchTest, ScalesByHand) {
  const float im[3] = {0.f, 4.f, 16.f};
  float s[3];
  awqScalesForRatio(im, 3, 1.0, s);
  EXPECT_FLOAT_EQ(s[0], 0.005f);
  EXPECT_FLOAT_EQ(s[1], 100.f);
  EXPECT_FLOAT_EQ(s[2], 200.f);
  awqScalesForRatio(im, 3, 0.0, s);
  EXPECT_EQ(s[0], 1.f);
  EXPECT_EQ(s[1], 1.f);
  EXPECT_EQ(s[2], 1.f);
  awqScalesForRatio(im, 3, 0.5, s);
  EXPECT_FLOAT_EQ(s[0], 1e-4f / 0.014142136f);
  EXPECT_FLOAT_EQ(s[1], 1.4142135f / 0.014142136f);
  EXPECT_FLOAT_EQ(s[2], 2.f / 0.014142136f);
}

// W = [1.4, 0.3], imatrix = [1, 16], rounding to integers, grid 2.
//  alpha 0:   s = [1, 1], Q(W) = [1, 0], e = [-0.4, -0.3],
//             loss = 1 * 0.16 + 16 * 0.09 = 1.6.
//  alpha 1/2: m = [1, 4], t = [1, 2], s = [1/sqrt 2, sqrt 2];
//             W s = [0.98995, 0.42426] rounds to [1, 0], Q / s =
//             [sqrt 2, 0], e = [0.014214, -0.3],
//             loss = 0.000202 + 1.44 = 1.440202: the outlier channel 1
//             (large activations) wins precision from channel 0.
TEST(AwqSearchTest, SearchByHand) {
  const float w[2] = {1.4f, 0.3f};
  const float im[2] = {1.f, 16.f};
  AwqSearchResult r;
  ASSERT_EQ(awqSearchScales({{w, 1}}, 2, im, nullptr, roundToIntegers, 2, r),
            "");
  EXPECT_EQ(r.ratioIndex, 1);
  ASSERT_EQ(r.scales.size(), 2u);
  EXPECT_FLOAT_EQ(r.scales[0], 0.70710678f);
  EXPECT_FLOAT_EQ(r.scales[1], 1.41421356f);
  EXPECT_NEAR(r.plainLoss, 1.6, 1e-6);
  EXPECT_NEAR(r.loss, 1.440202, 1e-6);
}

// The same with a Hessian H = [[1, 2], [2, 16]] (its diagonal is the
// imatrix): loss = e0^2 + 4 e0 e1 + 16 e1^2.
//  alpha 0:   e = [-0.4, -0.3]: 0.16 + 0.48 + 1.44 = 2.08.
//  alpha 1/2: e = [0.014214, -0.3]: 0.000202 - 0.017056 + 1.44 = 1.423146.
TEST(AwqSearchTest, HessianLossByHand) {
  const float w[2] = {1.4f, 0.3f};
  const float im[2] = {1.f, 16.f};
  const float h[4] = {1.f, 2.f, 2.f, 16.f};
  AwqSearchResult r;
  ASSERT_EQ(awqSearchScales({{w, 1}}, 2, im, h, roundToIntegers, 2, r), "");
  EXPECT_EQ(r.ratioIndex, 1);
  EXPECT_NEAR(r.plainLoss, 2.08, 1e-6);
  EXPECT_NEAR(r.loss, 1.423146, 1e-6);
}

// Several weights sharing the input add their rows' losses; an exact
// quantizer (no error at any ratio) keeps ratio 0, s = 1.
TEST(AwqSearchTest, TiesKeepThePlainScales) {
  const float a[2] = {1.f, 2.f}, b[4] = {3.f, -1.f, 0.f, 5.f};
  const float im[2] = {0.25f, 9.f};
  auto exact = [](const float *w, int64_t rows, int64_t k, float *out) {
    for (int64_t i = 0; i < rows * k; ++i)
      out[i] = w[i];
    return std::string();
  };
  AwqSearchResult r;
  ASSERT_EQ(awqSearchScales({{a, 1}, {b, 2}}, 2, im, nullptr, exact, 20, r),
            "");
  EXPECT_EQ(r.ratioIndex, 0);
  EXPECT_EQ(r.scales, std::vector<float>({1.f, 1.f}));
  EXPECT_LT(r.loss, 1e-12);
}

TEST(AwqSearchTest, Errors) {
  const float w[2] = {1.f, 2.f};
  const float bad[2] = {1.f, -1.f};
  const float im[2] = {1.f, 1.f};
  AwqSearchResult r;
  EXPECT_EQ(awqSearchScales({{w, 1}}, 2, bad, nullptr, roundToIntegers, 20, r),
            "importance matrix entry 1 is -1.000000 (must be finite and >= 0)");
  EXPECT_EQ(awqSearchScales({{w, 1}}, 2, im, nullptr, roundToIntegers, 0, r),
            "the grid needs at least 1 point, got 0");
  auto failing = [](const float *, int64_t, int64_t, float *) {
    return std::string("no quantizer");
  };
  EXPECT_EQ(awqSearchScales({{w, 1}}, 2, im, nullptr, failing, 20, r),
            "no quantizer");
}

/// Products rounded on their own: a call the compiler does not inline
/// cannot be fused with the sum that follows (this file is not built with
/// -ffp-contract=off, and GCC fuses a * b + c into one rounding on Arm).
[[gnu::noinline]] static float product(float a, float b) { return a * b; }
[[gnu::noinline]] static double product(double a, double b) { return a * b; }

/// AwqSearch.h's diagonal loss of one row, written here from the
/// definition (float32, 16 lane sums in order, combined pairwise).
static float rowLossByDefinition(const float *w, const float *q,
                                 const float *s, const float *im, int64_t k) {
  float lanes[16] = {};
  for (int64_t c = 0; c < k; ++c) {
    float inv = 1.0f / s[c];
    float e = product(q[c], inv);
    e = e - w[c];
    float t = product(product(e, e), im[c]);
    lanes[c % 16] = lanes[c % 16] + t;
  }
  for (int h = 8; h >= 1; h /= 2)
    for (int i = 0; i < h; ++i)
      lanes[i] = lanes[i] + lanes[i + h];
  return lanes[0];
}

// The streamed search adds rows a block at a time; every candidate's loss
// must be the sum AwqSearch.h defines over the whole weights (rows in
// order), whatever the blocks: checked bit for bit against a plain loop
// written here from that definition (not the library's awqLoss), for blocks
// of 1, 3, 7 and all rows, with the importance matrix (float32 row losses
// of 16 lane sums; k = 40 has a short last span) and with a Hessian
// (double). A per-row quantizer (each row rounded to steps of its own
// largest magnitude / 7) makes the candidates' losses differ. On every
// SIMD target (the row losses are a Highway kernel) and the portable path.
TEST(AwqSearchTest, StreamedBlocksGiveTheWholeSearch) {
  const int64_t k = 40, rowsA = 37, rowsB = 23;
  uint32_t seed = 12345;
  auto next = [&] {
    seed = seed * 1664525u + 1013904223u;
    return float(seed >> 8) / float(1u << 24); // [0, 1)
  };
  std::vector<float> a(static_cast<size_t>(rowsA * k)),
      b(static_cast<size_t>(rowsB * k)), im(static_cast<size_t>(k)),
      h(static_cast<size_t>(k * k));
  for (float &x : a)
    x = next() * 2 - 1;
  for (float &x : b)
    x = next() * 4 - 2;
  for (int64_t c = 0; c < k; ++c)
    im[size_t(c)] = c % 5 == 0 ? 30 * next() : next();
  for (int64_t i = 0; i < k; ++i)
    for (int64_t j = 0; j < k; ++j)
      h[size_t(i * k + j)] =
          i == j ? im[size_t(i)] + 1 : 0.01f * float((i * 7 + j * 3) % 5);
  auto perRow = [](const float *w, int64_t rows, int64_t kk, float *out) {
    for (int64_t r = 0; r < rows; ++r) {
      float m = 0;
      for (int64_t c = 0; c < kk; ++c)
        m = std::max(m, std::fabs(w[r * kk + c]));
      float step = m > 0 ? m / 7 : 1;
      for (int64_t c = 0; c < kk; ++c)
        out[r * kk + c] = std::nearbyint(w[r * kk + c] / step) * step;
    }
    return std::string();
  };
  const int grid = 20;
  for (const float *hess : {static_cast<const float *>(nullptr),
                            static_cast<const float *>(h.data())}) {
    // The reference: each candidate's loss over the whole weights.
    std::vector<double> want(grid);
    std::vector<float> s(static_cast<size_t>(k));
    int best = 0;
    for (int i = 0; i < grid; ++i) {
      awqScalesForRatio(im.data(), k, double(i) / grid, s.data());
      // The definition: without a Hessian, each row's float32 loss added
      // in double; with one, e = double(q) / double(s) - double(w) and
      // sum_i e_i (H e)_i with H e as four partial sums over j mod 4 added
      // pairwise; one running double sum.
      double loss = 0;
      for (auto [w, rows] : {std::pair{a.data(), rowsA}, {b.data(), rowsB}})
        for (int64_t r = 0; r < rows; ++r) {
          std::vector<float> scaled(static_cast<size_t>(k)),
              q(static_cast<size_t>(k));
          for (int64_t c = 0; c < k; ++c)
            scaled[size_t(c)] = w[r * k + c] * s[size_t(c)];
          perRow(scaled.data(), 1, k, q.data());
          if (!hess) {
            loss += double(rowLossByDefinition(w + r * k, q.data(), s.data(),
                                               im.data(), k));
            continue;
          }
          std::vector<double> e(static_cast<size_t>(k));
          for (int64_t c = 0; c < k; ++c)
            e[size_t(c)] = double(q[size_t(c)]) / double(s[size_t(c)]) -
                           double(w[r * k + c]);
          for (int64_t c = 0; c < k; ++c) {
            double d[4] = {0, 0, 0, 0};
            for (int64_t j = 0; j < k; ++j)
              d[j % 4] += product(double(hess[c * k + j]), e[size_t(j)]);
            loss += product(e[size_t(c)], (d[0] + d[1]) + (d[2] + d[3]));
          }
        }
      want[size_t(i)] = loss;
      if (want[size_t(i)] < want[size_t(best)])
        best = i;
    }
    ASSERT_NE(best, 0) << "the case should favour some scaling";
    forEachSimdTarget([&] {
      for (int64_t block :
           {int64_t(1), int64_t(3), int64_t(7), int64_t(1000)}) {
        AwqStreamedSearch search;
        ASSERT_EQ(search.start(k, im.data(), hess, grid), "");
        for (auto [w, rows] : {std::pair{a.data(), rowsA}, {b.data(), rowsB}})
          for (int64_t r0 = 0; r0 < rows; r0 += block)
            ASSERT_EQ(search.addRows(w + r0 * k, std::min(block, rows - r0),
                                     perRow),
                      "");
        AwqSearchResult got = search.finish();
        EXPECT_EQ(got.ratioIndex, best) << "block " << block;
        EXPECT_EQ(got.loss, want[size_t(best)]) << "block " << block;
        EXPECT_EQ(got.plainLoss, want[0]) << "block " << block;
        awqScalesForRatio(im.data(), k, double(best) / grid, s.data());
        EXPECT_EQ(got.scales, s) << "block " << block;
      }
    });
  }
}

// The float32 row loss by hand: k = 18 (a full span of 16 and a short one),
// w = 0, q = 1 everywhere, s = 2 (inv 0.5, e = 0.5, e^2 = 0.25) and
// imatrix 4 except imatrix_16 = 8, imatrix_17 = 0.5: lane 0 = 1 + 2 = 3,
// lane 1 = 1 + 0.125, lanes 2..15 = 1; the pairwise sum is 3 + 1.125 + 14 =
// 18.125. Through the search: a quantizer that returns 1 for every value,
// one row, grid 1 (s = 1: e = 1, loss 4 * 16 + 8 + 0.5 = 72.5).
TEST(AwqSearchTest, RowLossByHand) {
  const int64_t k = 18;
  std::vector<float> w(k, 0.f), q(k, 1.f), s(k, 2.f), im(k, 4.f);
  im[16] = 8.f;
  im[17] = 0.5f;
  EXPECT_EQ(rowLossByDefinition(w.data(), q.data(), s.data(), im.data(), k),
            18.125f);
  auto ones = [](const float *, int64_t rows, int64_t kk, float *out) {
    std::fill(out, out + rows * kk, 1.f);
    return std::string();
  };
  forEachSimdTarget([&] {
    AwqSearchResult r;
    ASSERT_EQ(awqSearchScales({{w.data(), 1}}, k, im.data(), nullptr, ones, 1,
                              r),
              "");
    EXPECT_EQ(r.loss, 72.5);
  });
}

// The widening of float16 rows (convertElements F16 -> F32, a Highway
// kernel that AWQ's search first needed) equals Float.h's halfToFloat for every bit
// pattern (subnormals, infinities and NaN payloads included), on every
// target, for lengths that end inside a vector.
TEST(AwqSearchTest, WidenHalfEveryPattern) {
  std::vector<uint16_t> h(65536 + 5);
  for (size_t i = 0; i < h.size(); ++i)
    h[i] = uint16_t(i);
  std::vector<float> want(h.size());
  for (size_t i = 0; i < h.size(); ++i)
    want[i] = halfToFloat(h[i]);
  forEachSimdTarget([&] {
    for (size_t n : {h.size(), size_t(7), size_t(33)}) {
      std::vector<float> got(n, -1.f);
      convertElements(h.data(), DType::F16, got.data(), DType::F32, n);
      EXPECT_EQ(std::memcmp(got.data(), want.data(), n * sizeof(float)), 0)
          << "n " << n;
    }
  });
}

// The sampled rows: 10 rows with a budget of 4 are the middles of four
// slices of 2.5 rows: floor((2i + 1) 10 / 8) = 1, 3, 6, 8; a weight of at
// most `sample` rows, or sample 0, gives every row.
TEST(AwqSearchTest, SampledRowsByHand) {
  EXPECT_EQ(awqSampleCount(10, 4), 4);
  std::vector<int64_t> got;
  for (int64_t i = 0; i < 4; ++i)
    got.push_back(awqSampledRow(i, 10, 4));
  EXPECT_EQ(got, std::vector<int64_t>({1, 3, 6, 8}));
  EXPECT_EQ(awqSampleCount(3, 4), 3);
  EXPECT_EQ(awqSampledRow(2, 3, 4), 2);
  EXPECT_EQ(awqSampleCount(10, 0), 10);
  EXPECT_EQ(awqSampledRow(7, 10, 0), 7);
  // 2560 rows (a 1.1B model's fused q/k/v), 256: every tenth, from row 5.
  EXPECT_EQ(awqSampledRow(0, 2560, 256), 5);
  EXPECT_EQ(awqSampledRow(255, 2560, 256), 2555);
}
