//===- SimdTargetsTest.cpp - Every SIMD target writes the same bytes ------===//
//
// The searches (--optimize-scales, HQQ) and the quantizers on inputs large
// and varied enough to take every vector path and tail: each SIMD target the
// CPU runs must write exactly the bytes of the scalar definitions (the other
// tests check those against independent references). Also: the dispatch
// really switches target, and QOPT_DISABLE_SIMD's switch names "portable".
//
//===----------------------------------------------------------------------===//

#include "SimdTargets.h"
#include "qopt/Numerics/Fp8.h"
#include "qopt/Numerics/GroupQuant.h"
#include "qopt/Numerics/Mnn.h"
#include "qopt/Numerics/ScaleSearch.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <random>
#include <sstream>
#include <vector>

using namespace qopt::numerics;
using qopt::numerics::testing::forEachSimdTarget;

namespace {

/// Gaussian float32 weights with a few outliers, zeros and one constant
/// stretch.
std::vector<float> weights(size_t n, float sigma, unsigned seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> normal(0.0f, sigma);
  std::vector<float> w(n);
  for (size_t i = 0; i < n; ++i) {
    w[i] = normal(rng);
    if (rng() % 97 == 0)
      w[i] *= 12.0f;
    if (rng() % 53 == 0)
      w[i] = 0.0f;
  }
  for (size_t i = 64; i < 128 && i < n; ++i)
    w[i] = 0.25f;
  return w;
}

std::vector<uint16_t> toStorage(const std::vector<float> &w, FloatFormat f) {
  std::vector<uint16_t> out(w.size());
  for (size_t i = 0; i < w.size(); ++i)
    out[i] = f == FloatFormat::F16 ? floatToHalf(w[i]) : floatToBFloat16(w[i]);
  return out;
}

/// Bytes of groupQuantizeRows(Optimized): the words, then the scales.
std::vector<uint8_t> groupBytes(const void *w, int64_t rows, int64_t k,
                                const GroupQuantSpec &spec, bool optimized,
                                bool fullRange) {
  std::vector<uint32_t> q(size_t(rows * wordsPerRow(spec, k)));
  const size_t elem = spec.modelFormat == FloatFormat::F32 ? 4 : 2;
  std::vector<uint8_t> scale(size_t(rows * groupsPerRow(spec, k)) * elem);
  if (optimized)
    groupQuantizeRowsOptimized(w, rows, k, spec, q.data(), scale.data(),
                               {fullRange});
  else
    groupQuantizeRows(w, rows, k, spec, q.data(), scale.data());
  std::vector<uint8_t> out(q.size() * 4);
  std::memcpy(out.data(), q.data(), out.size());
  out.insert(out.end(), scale.begin(), scale.end());
  return out;
}

/// Bytes of mnnQuantizeRows: packed codes, scales, zeros.
std::vector<uint8_t> mnnBytes(const std::vector<float> &w, int64_t rows,
                              int64_t k, const MnnQuantSpec &spec) {
  const int64_t blocks = mnnBlocksPerRow(spec, k);
  std::vector<uint8_t> packed(size_t(rows * mnnPackedRowBytes(spec, k)));
  std::vector<float> scale(size_t(rows * blocks)), zero(scale.size());
  mnnQuantizeRows(w.data(), rows, k, spec, packed.data(), scale.data(),
                  zero.data());
  std::vector<uint8_t> out = packed;
  const auto *s = reinterpret_cast<const uint8_t *>(scale.data());
  const auto *z = reinterpret_cast<const uint8_t *>(zero.data());
  out.insert(out.end(), s, s + scale.size() * 4);
  out.insert(out.end(), z, z + zero.size() * 4);
  return out;
}

/// Runs make() with the scalar definitions, then on every target: the same
/// bytes each time.
template <typename Make>
void expectSameBytesOnEveryTarget(Make make) {
  setSimdKernelsEnabled(false);
  const std::vector<uint8_t> want = make();
  setSimdKernelsEnabled(true);
  ASSERT_FALSE(want.empty());
  forEachSimdTarget([&] { EXPECT_EQ(make(), want); });
}

} // namespace

TEST(SimdTargetsTest, DispatchFollowsTheForcedTarget) {
  // forEachSimdTarget checks simdTargetName() for each target; here the
  // list itself: at least one SIMD target and the portable path ran, and
  // the compiled list holds every runnable target.
  const std::string ran = forEachSimdTarget([] {});
  EXPECT_NE(ran, "portable");
  EXPECT_NE(ran.find("portable"), std::string::npos);
  const std::vector<std::string> compiled = simdCompiledTargets();
  for (const std::string &t : simdRunnableTargets())
    EXPECT_NE(std::find(compiled.begin(), compiled.end(), t), compiled.end())
        << t;
  // Every target QOPT_TEST_SIMD_TARGETS asks for really ran (a name this
  // CPU, or this emulated CPU, cannot run fails instead of being skipped).
  if (const char *list = std::getenv("QOPT_TEST_SIMD_TARGETS")) {
    std::istringstream names(list);
    for (std::string name; names >> name;)
      EXPECT_NE((" " + ran + " ").find(" " + name + " "), std::string::npos)
          << "QOPT_TEST_SIMD_TARGETS names " << name << ", which did not run";
  }
}

TEST(SimdTargetsTest, GroupQuantizeEveryFormatAndWidth) {
  const int64_t rows = 5, k = 1000; // tails: 1000 % 32, % 40, % 64 != 0
  const std::vector<float> w = weights(size_t(rows * k), 0.02f, 3);
  for (FloatFormat f : {FloatFormat::F16, FloatFormat::BF16})
    for (RoundingMode mode :
         {RoundingMode::NearestEven, RoundingMode::NearestAway})
      for (auto [bits, group] : {std::pair{4, 32}, {3, 40}, {2, 64}, {8, 36},
                                 {5, 42}, {4, 128}}) {
        SCOPED_TRACE(std::to_string(bits) + " bits, group " +
                     std::to_string(group));
        const std::vector<uint16_t> s = toStorage(w, f);
        const GroupQuantSpec spec{bits, group, f, mode};
        expectSameBytesOnEveryTarget(
            [&] { return groupBytes(s.data(), rows, k, spec, false, false); });
      }
  const GroupQuantSpec f32{4, 32, FloatFormat::F32};
  expectSameBytesOnEveryTarget(
      [&] { return groupBytes(w.data(), rows, k, f32, false, false); });
}

TEST(SimdTargetsTest, OptimizedScales) {
  const int64_t rows = 6, k = 700;
  const std::vector<float> w = weights(size_t(rows * k), 0.02f, 5);
  for (FloatFormat f : {FloatFormat::F16, FloatFormat::BF16})
    for (bool fullRange : {false, true})
      for (auto [bits, group] : {std::pair{4, 32}, {3, 40}, {4, 20}}) {
        SCOPED_TRACE(std::to_string(bits) + " bits, full range " +
                     std::to_string(fullRange));
        const std::vector<uint16_t> s = toStorage(w, f);
        const GroupQuantSpec spec{bits, group, f};
        expectSameBytesOnEveryTarget([&] {
          return groupBytes(s.data(), rows, k, spec, true, fullRange);
        });
      }
  const GroupQuantSpec f32{4, 32, FloatFormat::F32};
  expectSameBytesOnEveryTarget(
      [&] { return groupBytes(w.data(), rows, k, f32, true, false); });
}

TEST(SimdTargetsTest, MnnAndHqq) {
  const int64_t rows = 4, k = 512;
  for (float sigma : {1.0f, 0.02f}) {
    const std::vector<float> w = weights(size_t(rows * k), sigma, 9);
    for (int bits : {2, 3, 4, 8})
      for (int64_t block : {0, 32, 64})
        for (bool asym : {false, true})
          for (bool hqq : {false, true}) {
            SCOPED_TRACE("sigma " + std::to_string(sigma) + " bits " +
                         std::to_string(bits) + " block " +
                         std::to_string(block) + (asym ? " asym" : "") +
                         (hqq ? " hqq" : ""));
            const MnnQuantSpec spec{bits, asym, block, hqq};
            expectSameBytesOnEveryTarget(
                [&] { return mnnBytes(w, rows, k, spec); });
          }
  }
}

TEST(SimdTargetsTest, Fp8) {
  std::vector<uint16_t> w(10007);
  for (size_t i = 0; i < w.size(); ++i)
    w[i] = uint16_t(i * 2654435761u >> 7); // every class of half value
  expectSameBytesOnEveryTarget([&] {
    const float scale = fp8E4M3PerTensorScale(w.data(), w.size());
    std::vector<uint8_t> out(w.size() * 2 + 4);
    quantizeFp8E4M3(w.data(), w.size(), scale, out.data());
    castHalfToFp8E5M2(w.data(), w.size(), out.data() + w.size());
    std::memcpy(out.data() + 2 * w.size(), &scale, 4);
    return out;
  });
}
