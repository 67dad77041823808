//===- SimdSearch.cpp - Highway kernels of the scale searches ---*- C++ -*-===//
//
// See Simd.h and SearchRules.h. The element steps of --optimize-scales and
// HQQ on vectors of doubles (float steps on the matching float lanes). Each
// accumulator vector holds consecutive lanes of the scalar loops' kSumLanes
// lane sums and is loaded from and stored back to them, so every lane adds
// its elements in the scalar order whatever the vector width.
//
//===----------------------------------------------------------------------===//

#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "lib/Numerics/SimdSearch.cpp"
#include <hwy/foreach_target.h> // IWYU pragma: keep

#include <hwy/highway.h>

#include "SearchRules.h"

HWY_BEFORE_NAMESPACE();
namespace qopt::numerics::HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

void ScoreScaleLanes(const float *y, int64_t n, float s, float inv, float lo,
                     float hi, double *e, double *a, double *b) {
  constexpr int kLanes = search::kSumLanes;
  const hn::CappedTag<double, kLanes> dd;
  const hn::Rebind<float, decltype(dd)> df;
  const auto nd = int64_t(hn::Lanes(dd));
  const auto vInv = hn::Set(df, inv), vS = hn::Set(df, s),
             vLo = hn::Set(df, lo), vHi = hn::Set(df, hi),
             magic = hn::Set(df, rules::kRoundMagic);
  for (int64_t off = 0; off < kLanes; off += nd) {
    auto vE = hn::LoadU(dd, e + off);
    auto vA = hn::LoadU(dd, a + off);
    auto vB = hn::LoadU(dd, b + off);
    for (int64_t i = 0; i < n; i += kLanes) {
      const auto vy = hn::LoadU(df, y + i + off);
      // search::assignCode.
      auto r = hn::Sub(hn::Add(hn::Mul(vy, vInv), magic), magic);
      r = hn::IfThenElse(hn::Lt(r, vHi), r, vHi);
      r = hn::IfThenElse(hn::Gt(r, vLo), r, vLo);
      const auto d = hn::Mul(r, vS);
      const auto yd = hn::PromoteTo(dd, vy);
      const auto rd = hn::PromoteTo(dd, r);
      const auto diff = hn::Sub(yd, hn::PromoteTo(dd, d));
      vE = hn::Add(vE, hn::Mul(diff, diff));
      vA = hn::Add(vA, hn::Mul(yd, rd));
      vB = hn::Add(vB, hn::Mul(rd, rd));
    }
    hn::StoreU(vE, dd, e + off);
    hn::StoreU(vA, dd, a + off);
    hn::StoreU(vB, dd, b + off);
  }
}

void HqqStepLanes(const float *w, int64_t n, double s, double scale, double z,
                  double qmax, double *e, double *a, double *maxAbs) {
  constexpr int kLanes = search::kSumLanes;
  const hn::CappedTag<double, kLanes> dd;
  const hn::Rebind<float, decltype(dd)> df;
  const auto nd = int64_t(hn::Lanes(dd));
  const auto vS = hn::Set(dd, s), vScale = hn::Set(dd, scale),
             vZ = hn::Set(dd, z), vQmax = hn::Set(dd, qmax),
             zero = hn::Zero(dd), magic = hn::Set(dd, rules::kRoundMagicD);
  for (int64_t off = 0; off < kLanes; off += nd) {
    auto vE = hn::LoadU(dd, e + off);
    auto vA = hn::LoadU(dd, a + off);
    auto vM = hn::LoadU(dd, maxAbs + off);
    for (int64_t i = 0; i < n; i += kLanes) {
      const auto wi = hn::PromoteTo(dd, hn::LoadU(df, w + i + off));
      const auto ws = hn::Mul(wi, vS);
      // search::clampHqqCode(search::roundHalfEven(w s + z)).
      auto q = hn::Sub(hn::Add(hn::Add(ws, vZ), magic), magic);
      q = hn::IfThenElse(hn::Lt(q, vQmax), q, vQmax);
      q = hn::IfThenElse(hn::Gt(q, zero), q, zero);
      const auto x = hn::Sub(wi, hn::Mul(hn::Sub(q, vZ), vScale));
      vE = hn::Add(vE, hn::Mul(x, x));
      vA = hn::Add(vA, hn::Sub(q, ws));
      const auto ax = hn::Abs(x);
      vM = hn::IfThenElse(hn::Gt(vM, ax), vM, ax);
    }
    hn::StoreU(vE, dd, e + off);
    hn::StoreU(vA, dd, a + off);
    hn::StoreU(vM, dd, maxAbs + off);
  }
}

} // namespace qopt::numerics::HWY_NAMESPACE
HWY_AFTER_NAMESPACE();

#if HWY_ONCE

#include "Simd.h"

namespace qopt::numerics {

HWY_EXPORT(ScoreScaleLanes);
HWY_EXPORT(HqqStepLanes);

namespace simd {

void scoreScaleLanes(const float *y, int64_t n, float s, float inv, float lo,
                     float hi, double *e, double *a, double *b) {
  HWY_DYNAMIC_DISPATCH(ScoreScaleLanes)(y, n, s, inv, lo, hi, e, a, b);
}

void hqqStepLanes(const float *w, int64_t n, double s, double scale, double z,
                  double qmax, double *e, double *a, double *maxAbs) {
  HWY_DYNAMIC_DISPATCH(HqqStepLanes)(w, n, s, scale, z, qmax, e, a, maxAbs);
}

} // namespace simd
} // namespace qopt::numerics

#endif // HWY_ONCE
