//===- CalibratedSimdTest.cpp - The weighted search on every target -------===//
//
// The importance-weighted scale search of the group formats evaluates its
// candidates through a Highway kernel (simd::weightedTerms) whose terms are
// summed in the scalar order. Every target must give the bytes of the
// scalar definitions (the portable path, QOPT_DISABLE_SIMD), for the three
// model formats, both tie rules, full groups and a last group shorter than
// a vector. The bytes themselves are pinned against the pure-Python
// reference by test/Convert/calibration-reference.test.
//
//===----------------------------------------------------------------------===//

#include "qopt/Numerics/Calibrated.h"
#include "qopt/Numerics/Float.h"

#include "SimdTargets.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <random>
#include <vector>

using namespace qopt::numerics;
using qopt::numerics::testing::forEachSimdTarget;

namespace {

TEST(CalibratedSimd, WeightedSearchEqualsTheScalarDefinition) {
  const int64_t rows = 12;
  std::mt19937 rng(17);
  std::normal_distribution<float> nd(0.0f, 1.0f);
  for (FloatFormat format :
       {FloatFormat::F16, FloatFormat::BF16, FloatFormat::F32})
    for (RoundingMode rounding :
         {RoundingMode::NearestEven, RoundingMode::NearestAway})
      for (int64_t k : {int64_t(96), int64_t(100)})
        for (int bits : {3, 4}) {
          const GroupQuantSpec spec{bits, bits == 3 ? 40 : 32, format,
                                    rounding};
          if (!validateGroupQuantSpec(spec).empty())
            continue;
          const size_t es = format == FloatFormat::F32 ? 4 : 2;
          std::vector<unsigned char> w(size_t(rows * k) * es);
          for (int64_t i = 0; i < rows * k; ++i) {
            float v = nd(rng) * (i % 13 == 0 ? 6.0f : 1.0f);
            if (format == FloatFormat::F32) {
              std::memcpy(&w[size_t(i) * 4], &v, 4);
            } else {
              uint16_t h = format == FloatFormat::F16 ? floatToHalf(v)
                                                      : floatToBFloat16(v);
              std::memcpy(&w[size_t(i) * 2], &h, 2);
            }
          }
          std::vector<float> importance(static_cast<size_t>(k));
          for (float &a : importance)
            a = std::exp(2.0f * nd(rng));
          const int64_t words = wordsPerRow(spec, k),
                        groups = groupsPerRow(spec, k);
          std::vector<uint32_t> want(size_t(rows * words));
          std::vector<unsigned char> wantScale(size_t(rows * groups) * es);
          setSimdKernelsEnabled(false);
          groupQuantizeRowsWeighted(w.data(), rows, k, spec,
                                    importance.data(), want.data(),
                                    wantScale.data());
          setSimdKernelsEnabled(true);
          forEachSimdTarget([&] {
            std::vector<uint32_t> got(want.size());
            std::vector<unsigned char> gotScale(wantScale.size());
            groupQuantizeRowsWeighted(w.data(), rows, k, spec,
                                      importance.data(), got.data(),
                                      gotScale.data());
            EXPECT_EQ(got, want) << "k " << k << " bits " << bits;
            EXPECT_EQ(gotScale, wantScale) << "k " << k << " bits " << bits;
          });
        }
}

} // namespace
