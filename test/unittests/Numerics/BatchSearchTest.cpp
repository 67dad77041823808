//===- BatchSearchTest.cpp - Searches with one group per SIMD lane --------===//
//
// --optimize-scales and the importance-weighted search run many groups at
// once, one per vector lane (lib/Numerics/SimdBatchSearch.cpp). On rows with
// many groups (several chunks of lanes and a partial last one), mixed with
// groups the searches skip (non-finite, all zero, zero importance) and a
// partial last group, every SIMD target must write the bytes of the scalar
// searches (the portable path, checked against independent references by
// ScaleSearchTest, CalibratedTest and test/reference/calibrated.py). Also:
// most groups change (the batch really decides), so a kernel that returned
// plain rounding would fail.
//
//===----------------------------------------------------------------------===//

#include "SimdTargets.h"
#include "qopt/Numerics/Calibrated.h"
#include "qopt/Numerics/Float.h"
#include "qopt/Numerics/GroupQuant.h"
#include "qopt/Numerics/ScaleSearch.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <limits>
#include <random>
#include <string>
#include <vector>

using namespace qopt::numerics;
using qopt::numerics::testing::forEachSimdTarget;

namespace {

/// rows x k weights in `format`'s storage: Gaussian, heavy tails, plus whole
/// groups of zeros, a NaN, an infinity and a group of one huge value, at
/// group-aligned places that vary by row; a partial last group of zeros in
/// row 0 and with a NaN in row 1.
std::vector<unsigned char> weights(int64_t rows, int64_t k, int64_t group,
                                   FloatFormat format, unsigned seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> normal(0.0f, 0.03f);
  std::vector<float> w(size_t(rows * k));
  for (int64_t i = 0; i < rows * k; ++i) {
    w[size_t(i)] = normal(rng);
    if (rng() % 23 == 0)
      w[size_t(i)] *= 9.0f;
  }
  for (int64_t r = 0; r < rows; ++r) {
    float *row = w.data() + r * k;
    const int64_t g = (3 * r) % (k / group - 4);
    for (int64_t i = 0; i < group; ++i)
      row[g * group + i] = 0.0f;
    row[(g + 1) * group + 5] = std::numeric_limits<float>::quiet_NaN();
    row[(g + 2) * group + 1] = std::numeric_limits<float>::infinity();
    row[(g + 3) * group + 2] = 60.0f;
  }
  // A partial last group of zeros (row 0) and one with a NaN (row 1): no
  // search there, plain rounding's words kept.
  if (rows >= 2 && k % group != 0)
    for (int64_t i = k - k % group; i < k; ++i) {
      w[size_t(i)] = 0.0f;
      w[size_t(k + i)] = i == k - 1 ? std::numeric_limits<float>::quiet_NaN()
                                    : w[size_t(k + i)];
    }
  const size_t es = format == FloatFormat::F32 ? 4 : 2;
  std::vector<unsigned char> out(w.size() * es);
  for (size_t i = 0; i < w.size(); ++i) {
    if (format == FloatFormat::F32) {
      std::memcpy(&out[i * 4], &w[i], 4);
      continue;
    }
    const uint16_t h = format == FloatFormat::F16 ? floatToHalf(w[i])
                                                  : floatToBFloat16(w[i]);
    std::memcpy(&out[i * 2], &h, 2);
  }
  return out;
}

struct Result {
  std::vector<uint32_t> q;
  std::vector<unsigned char> scale;
  bool operator==(const Result &o) const {
    return q == o.q && scale == o.scale;
  }
};

/// The number of groups whose scale differs between a and b.
int64_t changedGroups(const Result &a, const Result &b, size_t es) {
  int64_t n = 0;
  for (size_t g = 0; g < a.scale.size() / es; ++g)
    n += std::memcmp(&a.scale[g * es], &b.scale[g * es], es) != 0;
  return n;
}

/// The number of rows whose last group's scale differs between a and b.
int64_t changedLastGroups(const Result &a, const Result &b, size_t es,
                          int64_t groups) {
  int64_t n = 0;
  for (int64_t r = 0; r < int64_t(a.scale.size() / es) / groups; ++r) {
    const size_t at = size_t(r * groups + groups - 1) * es;
    n += std::memcmp(&a.scale[at], &b.scale[at], es) != 0;
  }
  return n;
}

constexpr int64_t kRows = 5, kK = 1000;

TEST(BatchSearchTest, OptimizedScalesEveryTarget) {
  for (FloatFormat f : {FloatFormat::F16, FloatFormat::BF16, FloatFormat::F32})
    for (bool fullRange : {false, true})
      // Partial last groups of 8, 10 and 40 values (1000 = 31 x 32 +
      // 8 = 33 x 30 + 10 = 20 x 48 + 40), searched in the batch as full
      // groups padded with zeros; none with 40.
      for (auto [bits, group] :
           {std::pair{4, 32}, {3, 40}, {3, 30}, {4, 48}}) {
        SCOPED_TRACE(std::to_string(int(f)) + " " + std::to_string(bits) +
                     " bits, group " + std::to_string(group) +
                     ", full range " + std::to_string(fullRange));
        const GroupQuantSpec spec{bits, group, f};
        const auto w = weights(kRows, kK, group, f, 11);
        const size_t es = f == FloatFormat::F32 ? 4 : 2;
        auto run = [&](bool optimized) {
          Result r{std::vector<uint32_t>(size_t(kRows * wordsPerRow(spec, kK))),
                   std::vector<unsigned char>(
                       size_t(kRows * groupsPerRow(spec, kK)) * es)};
          if (optimized)
            groupQuantizeRowsOptimized(w.data(), kRows, kK, spec, r.q.data(),
                                       r.scale.data(), {fullRange});
          else
            groupQuantizeRows(w.data(), kRows, kK, spec, r.q.data(),
                              r.scale.data());
          return r;
        };
        setSimdKernelsEnabled(false);
        const Result want = run(true);
        setSimdKernelsEnabled(true);
        // Most of the 5 x 25 (or 31 + 1) groups take a searched scale.
        const Result plain = run(false);
        EXPECT_GT(changedGroups(want, plain, es),
                  kRows * groupsPerRow(spec, kK) / 2);
        // The partial last group takes a searched scale in some rows (not
        // in rows 0 and 1).
        if (kK % group != 0) {
          const int64_t last =
              changedLastGroups(want, plain, es, groupsPerRow(spec, kK));
          EXPECT_GT(last, 0);
          EXPECT_LT(last, kRows);
        }
        forEachSimdTarget([&] { EXPECT_TRUE(run(true) == want); });
      }
}

TEST(BatchSearchTest, WeightedSearchEveryTarget) {
  std::mt19937 rng(5);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  for (FloatFormat f : {FloatFormat::F16, FloatFormat::BF16, FloatFormat::F32})
    for (RoundingMode rounding :
         {RoundingMode::NearestEven, RoundingMode::NearestAway})
      // Partial last groups of 8, 10 and 40 values (1000 = 31 x 32 +
      // 8 = 33 x 30 + 10 = 20 x 48 + 40), searched in the batch as full
      // groups padded with zeros; none with 40.
      for (auto [bits, group] :
           {std::pair{4, 32}, {3, 40}, {3, 30}, {4, 48}}) {
        SCOPED_TRACE(std::to_string(int(f)) + " " + std::to_string(bits) +
                     " bits, group " + std::to_string(group) + ", rounding " +
                     std::to_string(int(rounding)));
        const GroupQuantSpec spec{bits, group, f, rounding};
        const auto w = weights(kRows, kK, group, f, 12);
        std::vector<float> importance(static_cast<size_t>(kK));
        for (float &a : importance)
          a = std::exp(2.0f * normal(rng));
        // One group without importance (skipped by the search).
        for (int64_t i = 0; i < group; ++i)
          importance[size_t(7 * group + i)] = 0.0f;
        const size_t es = f == FloatFormat::F32 ? 4 : 2;
        auto run = [&](bool weighted) {
          Result r{std::vector<uint32_t>(size_t(kRows * wordsPerRow(spec, kK))),
                   std::vector<unsigned char>(
                       size_t(kRows * groupsPerRow(spec, kK)) * es)};
          if (weighted)
            groupQuantizeRowsWeighted(w.data(), kRows, kK, spec,
                                      importance.data(), r.q.data(),
                                      r.scale.data());
          else
            groupQuantizeRows(w.data(), kRows, kK, spec, r.q.data(),
                              r.scale.data());
          return r;
        };
        setSimdKernelsEnabled(false);
        const Result want = run(true);
        setSimdKernelsEnabled(true);
        const Result plain = run(false);
        EXPECT_GT(changedGroups(want, plain, es),
                  kRows * groupsPerRow(spec, kK) / 2);
        // The partial last group takes a searched scale in some rows (not
        // in rows 0 and 1).
        if (kK % group != 0) {
          const int64_t last =
              changedLastGroups(want, plain, es, groupsPerRow(spec, kK));
          EXPECT_GT(last, 0);
          EXPECT_LT(last, kRows);
        }
        forEachSimdTarget([&] { EXPECT_TRUE(run(true) == want); });
      }
}

} // namespace
