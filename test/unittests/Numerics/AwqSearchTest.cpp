//===- AwqSearchTest.cpp - AWQ's scale search by hand ------------*- C++ -*-===//

#include "qopt/Numerics/AwqSearch.h"

#include <gtest/gtest.h>

#include <cmath>
#include <vector>

using namespace qopt::numerics;

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
