//===- RowQuantTest.cpp - The row-wide group quantizer steps ------------===//
//
// The group quantization kernel reduces the group maxima of a row in
// batches (as many groups as a vector has 16-bit lanes: 32 on AVX-512) and
// computes the codes vector by vector across group ends, with a cheaper
// clamp where no group of the row holds NaN, an infinity or a zero scale
// (lib/Numerics/SimdRowQuant-inl.h). Rows here are long enough for whole
// batches on every target, and hold the values that decide which path a
// row takes: each target must write the bytes of the scalar definitions.
// The codes' float16 steps on those rows are Veltkamp's splitting
// (RoundToHalfBySplitting in lib/Numerics/SimdRules-inl.h); the last test
// runs every finite half value against a spread of scales through them.
//
//===----------------------------------------------------------------------===//

#include "SimdTargets.h"
#include "qopt/Numerics/GroupQuant.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <random>
#include <vector>

using namespace qopt::numerics;
using qopt::numerics::testing::forEachSimdTarget;

namespace {

constexpr uint16_t kHalfInf = 0x7C00, kHalfNaN = 0x7E00;

/// Rows of k binary16 or bfloat16 values (F16: `h` bits as given; BF16: the
/// same float values rounded to bfloat16), one special case per row:
///   0  Gaussian weights;
///   1  Gaussian with one all-zero group (scale 0);
///   2  Gaussian with +inf in one group;
///   3  Gaussian with a NaN in one group;
///   4  subnormal values only (scales whose rounding pushes codes past the
///      clamp: max 10 * 2^-24 gives scale 2^-24 and codes up to 17);
///   5  every group holds +max and -max (codes 0 and 2 * maxInt) and values
///      half a step from a rounding tie;
///   6  binary16 patterns counted up from a seed (every exponent and sign).
std::vector<uint16_t> specialRows(int64_t k, FloatFormat f, unsigned seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> normal(0.0f, 0.02f);
  const int rows = 7;
  std::vector<float> v(size_t(rows * k));
  for (float &x : v)
    x = normal(rng);
  auto at = [&](int r, int64_t i) -> float & { return v[size_t(r * k + i)]; };
  for (int64_t i = 0; i < 64; ++i)
    at(1, 200 + i) = 0.0f; // covers a whole group for every size <= 64
  at(2, 333) = INFINITY;
  at(3, 777) = NAN;
  for (int64_t i = 0; i < k; ++i) {
    at(4, i) = std::ldexp(float(int(rng() % 21) - 10), -24);
    at(5, i) = (i % 7 == 0) ? 1.0f : (i % 7 == 1) ? -1.0f
                                                   : float(int(i % 29) - 14) /
                                                         14.0f * 0.99f;
  }
  std::vector<uint16_t> out(v.size());
  for (size_t i = 0; i < v.size(); ++i)
    out[i] = f == FloatFormat::F16 ? floatToHalf(v[i]) : floatToBFloat16(v[i]);
  for (int64_t i = 0; i < k; ++i) {
    uint16_t h = uint16_t(seed * 977u + uint32_t(i) * 131u);
    // Finite patterns only: the NaN and inf rows are 2 and 3.
    if ((h & 0x7C00) == 0x7C00 && f == FloatFormat::F16)
      h &= 0xBBFF;
    if ((h & 0x7F80) == 0x7F80 && f == FloatFormat::BF16)
      h &= 0xBF7F;
    out[size_t(6 * k + i)] = h;
  }
  // The specials in their own bits (a bfloat16 cast keeps them anyway).
  out[size_t(2 * k + 333)] = f == FloatFormat::F16 ? kHalfInf : 0x7F80;
  out[size_t(3 * k + 777)] = f == FloatFormat::F16 ? kHalfNaN : 0x7FC0;
  return out;
}

std::vector<uint8_t> quantize(const std::vector<uint16_t> &w, int64_t k,
                              const GroupQuantSpec &spec) {
  const int64_t rows = int64_t(w.size()) / k;
  std::vector<uint32_t> q(size_t(rows * wordsPerRow(spec, k)));
  std::vector<uint16_t> s(size_t(rows * groupsPerRow(spec, k)));
  groupQuantizeRows(w.data(), rows, k, spec, q.data(), s.data());
  std::vector<uint8_t> out(q.size() * 4 + s.size() * 2);
  std::memcpy(out.data(), q.data(), q.size() * 4);
  std::memcpy(out.data() + q.size() * 4, s.data(), s.size() * 2);
  return out;
}

} // namespace

TEST(RowQuantTest, LongRowsMatchTheScalarDefinitions) {
  // 32 * 40 * 4 = 5120 (whole batches of 32 groups of 32 and of 40), and
  // 5120 + 36: a tail shorter than a vector and a partial last group.
  for (int64_t k : {int64_t(5120), int64_t(5156)})
    for (FloatFormat f : {FloatFormat::F16, FloatFormat::BF16})
      for (RoundingMode mode :
           {RoundingMode::NearestEven, RoundingMode::NearestAway})
        for (auto [bits, group] :
             {std::pair{4, 32}, {3, 40}, {4, 128}, {2, 64}, {8, 16}}) {
          SCOPED_TRACE("k " + std::to_string(k) + ", " +
                       std::to_string(bits) + " bits, group " +
                       std::to_string(group) +
                       (f == FloatFormat::F16 ? ", f16" : ", bf16") +
                       (mode == RoundingMode::NearestEven ? ", even"
                                                          : ", away"));
          const std::vector<uint16_t> w = specialRows(k, f, unsigned(bits));
          const GroupQuantSpec spec{bits, group, f, mode};
          setSimdKernelsEnabled(false);
          const std::vector<uint8_t> want = quantize(w, k, spec);
          setSimdKernelsEnabled(true);
          forEachSimdTarget([&] { EXPECT_EQ(quantize(w, k, spec), want); });
        }
}

TEST(RowQuantTest, RowsWithSpecialsAgreeRowByRow) {
  // The same rows quantized one at a time (each row chooses its path)
  // give the scalar definitions' bytes of the whole call.
  const int64_t k = 5120;
  const std::vector<uint16_t> w = specialRows(k, FloatFormat::F16, 11);
  const GroupQuantSpec spec{4, 32, FloatFormat::F16};
  setSimdKernelsEnabled(false);
  const std::vector<uint8_t> all = quantize(w, k, spec);
  setSimdKernelsEnabled(true);
  const int64_t rows = int64_t(w.size()) / k;
  const size_t words = size_t(wordsPerRow(spec, k)) * 4,
               scales = size_t(groupsPerRow(spec, k)) * 2;
  forEachSimdTarget([&] {
    for (int64_t r = 0; r < rows; ++r) {
      std::vector<uint16_t> row(w.begin() + r * k, w.begin() + (r + 1) * k);
      const std::vector<uint8_t> one = quantize(row, k, spec);
      EXPECT_TRUE(std::equal(one.begin(), one.begin() + long(words),
                             all.begin() + long(size_t(r) * words)))
          << "row " << r;
      EXPECT_TRUE(std::equal(one.begin() + long(words), one.end(),
                             all.begin() + long(size_t(rows) * words +
                                                size_t(r) * scales)))
          << "row " << r;
    }
  });
}

TEST(RowQuantTest, EveryHalfValueAgainstManyScalesMatchesTheScalarDefinitions) {
  // Groups led by their largest magnitude m (so the group's scale is
  // f16(m / maxInt)) followed by every finite half value x with |x| <= m,
  // subnormals and both zeros included, for m at 96 significands across
  // [1, 2) with alternating signs and 8 subnormal or small normal maxima:
  // x / s then falls at every position a half quotient reaches relative to
  // the code boundaries, which is where the float16 rounding steps decide a
  // code. Each target must write the scalar definitions' bytes (float16
  // model, round half to even: the rows take the row-wide code step).
  std::vector<uint16_t> maxima;
  for (uint16_t mant = 0; mant < 0x400; mant += 11)
    maxima.push_back(uint16_t((mant & 1 ? 0x8000 : 0) | 0x3C00 | mant));
  for (uint16_t m : {0x0001, 0x0007, 0x0155, 0x03FF, 0x0400, 0x0555, 0x0801,
                     0x0BFF})
    maxima.push_back(m);
  for (auto [bits, group] :
       {std::pair{4, 32}, {3, 40}, {2, 32}, {8, 32}}) {
    SCOPED_TRACE(std::to_string(bits) + " bits, group " +
                 std::to_string(group));
    std::vector<uint16_t> w;
    for (uint16_t m : maxima) {
      const uint16_t mag = m & 0x7FFF;
      // Group after group: m, then the next group - 1 values of the list.
      std::vector<uint16_t> xs;
      for (uint32_t h = 0; h <= mag; ++h) {
        xs.push_back(uint16_t(h));
        xs.push_back(uint16_t(h | 0x8000));
      }
      for (size_t i = 0; i < xs.size(); i += size_t(group - 1)) {
        w.push_back(m);
        for (size_t j = 0; j < size_t(group - 1); ++j)
          w.push_back(xs[std::min(i + j, xs.size() - 1)]);
      }
    }
    const int64_t k = 5120; // whole batches of groups of 32 and of 40
    while (w.size() % size_t(k) != 0)
      w.push_back(w[w.size() % size_t(group)]);
    const GroupQuantSpec spec{bits, group, FloatFormat::F16,
                              RoundingMode::NearestEven};
    setSimdKernelsEnabled(false);
    const std::vector<uint8_t> want = quantize(w, k, spec);
    setSimdKernelsEnabled(true);
    forEachSimdTarget([&] { EXPECT_EQ(quantize(w, k, spec), want); });
  }
}
