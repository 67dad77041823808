//===- SimdAwq.cpp - AWQ's diagonal loss, one row at a time -----*- C++ -*-===//
//
// See SimdAwq.h (awqDiagRowLosses): the float32 row loss of AWQ's search
// (qopt/Numerics/AwqSearch.h) in 16 fixed lane sums, however many lanes
// the target's vectors have (one 16-lane vector on AVX-512, two on AVX2,
// four on SSE4 and NEON, sixteen scalars on the scalar target), so every
// target adds the same float32 numbers in the same order and gives the
// bits of the scalar definition. Compiled once per Highway target
// (foreach_target); the HWY_ONCE part holds the dispatch.
//
//===----------------------------------------------------------------------===//

// Arrays of vectors below: on Arm this file compiles for NEON only (as
// SimdCalibrated.cpp; the bytes are the same on every target).
#if defined(__aarch64__) && !defined(HWY_DISABLED_TARGETS)
#define HWY_DISABLED_TARGETS (HWY_SVE | HWY_SVE2 | HWY_SVE_256 | HWY_SVE2_128)
#endif

#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "lib/Numerics/SimdAwq.cpp"
#include <hwy/foreach_target.h> // IWYU pragma: keep

#include <hwy/highway.h>

#include "SimdAwq.h"
#include "qopt/Numerics/Float.h"

#include <cstdint>
#include <cstring>

HWY_BEFORE_NAMESPACE();
namespace qopt::numerics::HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

namespace {

/// Lane l of the 16 sums, for elements c + l, of one 16-value span (the
/// caller pads a short last span with zeros, whose terms are +0).
template <class D, size_t V>
HWY_INLINE void AddSpan(D d, const float *w, const float *q, const float *inv,
                        const float *im, hn::Vec<D> (&acc)[V]) {
  const size_t n = hn::Lanes(d);
  for (size_t v = 0; v < V; ++v) {
    const auto e = hn::Sub(hn::Mul(hn::LoadU(d, q + v * n),
                                   hn::LoadU(d, inv + v * n)),
                           hn::LoadU(d, w + v * n));
    acc[v] = hn::Add(acc[v],
                     hn::Mul(hn::Mul(e, e), hn::LoadU(d, im + v * n)));
  }
}

} // namespace

void AwqDiagRowLosses(const float *w, const float *q, int64_t rows, int64_t k,
                      const float *inv, const float *im, float *rowLoss) {
  // At most 16 lanes per vector: the 16 sums are 16 / N whole vectors.
  const hn::CappedTag<float, simd::kAwqLanes> d;
  constexpr size_t N = hn::MaxLanes(d);
  static_assert(simd::kAwqLanes % N == 0, "16 lanes in whole vectors");
  constexpr size_t V = simd::kAwqLanes / N;
  const int64_t whole = k - k % simd::kAwqLanes;
  // The short last span, zero-padded: inverse scales and importance once.
  alignas(64) float invTail[simd::kAwqLanes] = {}, imTail[simd::kAwqLanes] = {};
  const auto tail = size_t(k - whole);
  std::memcpy(invTail, inv + whole, tail * sizeof(float));
  std::memcpy(imTail, im + whole, tail * sizeof(float));
  for (int64_t r = 0; r < rows; ++r) {
    const float *wr = w + r * k, *qr = q + r * k;
    hn::Vec<decltype(d)> acc[V];
    for (size_t v = 0; v < V; ++v)
      acc[v] = hn::Zero(d);
    for (int64_t c = 0; c < whole; c += simd::kAwqLanes)
      AddSpan(d, wr + c, qr + c, inv + c, im + c, acc);
    if (tail) {
      alignas(64) float wTail[simd::kAwqLanes] = {}, qTail[simd::kAwqLanes] = {};
      std::memcpy(wTail, wr + whole, tail * sizeof(float));
      std::memcpy(qTail, qr + whole, tail * sizeof(float));
      AddSpan(d, wTail, qTail, invTail, imTail, acc);
    }
    alignas(64) float lanes[simd::kAwqLanes];
    for (size_t v = 0; v < V; ++v)
      hn::StoreU(acc[v], d, lanes + v * N);
    rowLoss[r] = simd::awqCombineLanes(lanes);
  }
}

/// dst[i] = halfToFloat(src[i]) (Float.h) on the bit patterns, the same
/// selects lane by lane: exact, NaN payloads included.
void HalfToFloat(const uint16_t *src, float *dst, size_t n) {
  const hn::ScalableTag<float> df;
  const hn::RebindToUnsigned<decltype(df)> du;
  const hn::RebindToSigned<decltype(df)> di;
  const hn::Rebind<uint16_t, decltype(df)> d16;
  const size_t N = hn::Lanes(df);
  const auto absMask = hn::Set(du, 0x7FFFu), rebias = hn::Set(du, 0x38000000u),
             infBits = hn::Set(du, 0x7F800000u);
  // Magnitudes below 2^15: signed comparisons (all Highway 1.0 has).
  const auto minNormal = hn::Set(di, 0x0400), halfInf = hn::Set(di, 0x7C00);
  const auto tiny = hn::Set(df, 0x1p-24f);
  size_t i = 0;
  for (; i + N <= n; i += N) {
    const auto h = hn::PromoteTo(du, hn::LoadU(d16, src + i));
    const auto sign = hn::ShiftLeft<16>(hn::And(h, hn::Set(du, 0x8000u)));
    const auto a = hn::And(h, absMask);
    const auto shifted = hn::ShiftLeft<13>(a);
    const auto normal = hn::Add(shifted, rebias);
    const auto infNan = hn::Or(shifted, infBits);
    const auto ai = hn::BitCast(di, a);
    const auto sub = hn::BitCast(du, hn::Mul(hn::ConvertTo(df, ai), tiny));
    auto r = hn::IfThenElse(hn::RebindMask(du, hn::Lt(ai, minNormal)), sub,
                            normal);
    r = hn::IfThenElse(hn::RebindMask(du, hn::Not(hn::Lt(ai, halfInf))),
                       infNan, r);
    hn::StoreU(hn::BitCast(df, hn::Or(sign, r)), df, dst + i);
  }
  for (; i < n; ++i)
    dst[i] = halfToFloat(src[i]);
}

} // namespace qopt::numerics::HWY_NAMESPACE
HWY_AFTER_NAMESPACE();

#if HWY_ONCE

#include "Simd.h"
#include "qopt/Numerics/AwqSearch.h"
#include "qopt/Numerics/Convert.h"

namespace qopt::numerics {

HWY_EXPORT(AwqDiagRowLosses);
HWY_EXPORT(HalfToFloat);

namespace simd {

void awqDiagRowLossesScalar(const float *w, const float *q, int64_t rows,
                            int64_t k, const float *inv, const float *im,
                            float *rowLoss) {
  for (int64_t r = 0; r < rows; ++r) {
    float lanes[kAwqLanes] = {};
    for (int64_t c = 0; c < k; ++c) {
      float e = q[r * k + c] * inv[c];
      e = e - w[r * k + c];
      float t = e * e;
      t = t * im[c];
      lanes[c % kAwqLanes] = lanes[c % kAwqLanes] + t;
    }
    rowLoss[r] = awqCombineLanes(lanes);
  }
}

void awqDiagRowLosses(const float *w, const float *q, int64_t rows, int64_t k,
                      const float *inv, const float *im, float *rowLoss) {
  if (!enabled())
    return awqDiagRowLossesScalar(w, q, rows, k, inv, im, rowLoss);
  HWY_DYNAMIC_DISPATCH(AwqDiagRowLosses)(w, q, rows, k, inv, im, rowLoss);
}

void halfToFloat(const uint16_t *src, float *dst, size_t n) {
  if (!enabled()) {
    for (size_t i = 0; i < n; ++i)
      dst[i] = numerics::halfToFloat(src[i]);
    return;
  }
  HWY_DYNAMIC_DISPATCH(HalfToFloat)(src, dst, n);
}

} // namespace simd

} // namespace qopt::numerics

#endif // HWY_ONCE
