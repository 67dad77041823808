//===- RangeTest.cpp - Non-finite and out-of-range weights ------*- C++ -*-===//
//
// findUnrepresentable on every SIMD target and the portable path: the first
// element at or beyond the bound of the narrower of the source and target
// formats, wherever it lies (first element, a later block, the scalar tail
// of a block, the last element). The bounds are worked by hand from the
// formats: binary16 inf 0x7C00; bfloat16 65536 (0x4780, the first value
// rounding past 65504 in binary16; 65280 = 0x477F does not); float32 65520
// (0x477FF000, ties away from 65504) and inf.
//
//===----------------------------------------------------------------------===//

#include "qopt/Numerics/Range.h"

#include "SimdTargets.h"

#include <gtest/gtest.h>

#include <vector>

using namespace qopt::numerics;
using qopt::numerics::testing::forEachSimdTarget;

namespace {

// Sizes around the scan's block (16384) and vector widths.
constexpr size_t kSizes[] = {1, 31, 16384, 16385, 50001};

template <typename T>
void expectFirstBad(FloatFormat format, FloatFormat target, T good, T bad) {
  for (size_t n : kSizes) {
    std::vector<T> v(n, good);
    EXPECT_EQ(findUnrepresentable(v.data(), n, format, target), std::nullopt)
        << "n " << n;
    for (size_t at : {size_t(0), n / 2, n - 1, n > 16390 ? size_t(16389) : 0}) {
      std::vector<T> w = v;
      w[at] = bad;
      if (at + 3 < n)
        w[at + 3] = bad; // a later one does not matter
      auto got = findUnrepresentable(w.data(), n, format, target);
      ASSERT_TRUE(got.has_value()) << "n " << n << " at " << at;
      EXPECT_EQ(*got, at) << "n " << n;
    }
  }
}

TEST(RangeTest, FirstUnrepresentableOnEveryTarget) {
  using F = FloatFormat;
  forEachSimdTarget([] {
    // binary16: 65504 (0x7BFF) and -65504 are fine; inf, -inf, NaN not.
    expectFirstBad<uint16_t>(F::F16, F::F16, 0xFBFF, 0x7C00);
    expectFirstBad<uint16_t>(F::F16, F::F16, 0x7BFF, 0xFC00);
    expectFirstBad<uint16_t>(F::F16, F::F16, 0x3C00, 0x7E01);
    // bfloat16 cast to binary16: 65280 fine, -65536 not.
    expectFirstBad<uint16_t>(F::BF16, F::F16, 0x477F, 0xC780);
    // bfloat16 kept: the largest finite is fine, inf not.
    expectFirstBad<uint16_t>(F::BF16, F::BF16, 0xFF7F, 0x7F80);
    // float32 cast to binary16: 65519.996 fine, 65520 not.
    expectFirstBad<uint32_t>(F::F32, F::F16, 0x477FEFFFu, 0x477FF000u);
    // float32 kept: the largest finite is fine, a NaN not.
    expectFirstBad<uint32_t>(F::F32, F::F32, 0xFF7FFFFFu, 0x7FC00000u);
  });
}

} // namespace
