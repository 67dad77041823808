//===- SimdSearch.cpp - Highway kernels of the scale searches ---*- C++ -*-===//
//
// See Simd.h and SearchRules.h. The element steps of HQQ (and MNN's codes)
// on vectors of doubles (float steps on the matching float lanes), and the
// lane sums of the stored-error comparison that ends HQQ. Each
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

void StoredErrorLanes(const float *w, int64_t n, const uint8_t *a, float minA,
                      const uint8_t *b, float minB, float scale, double *ea,
                      double *eb) {
  constexpr int kLanes = search::kSumLanes;
  const hn::CappedTag<double, kLanes> dd;
  const hn::Rebind<float, decltype(dd)> df;
  const hn::Rebind<int32_t, decltype(dd)> di;
  const hn::Rebind<uint8_t, decltype(dd)> d8;
  const auto nd = int64_t(hn::Lanes(dd));
  const auto vScale = hn::Set(df, scale), vMinA = hn::Set(df, minA),
             vMinB = hn::Set(df, minB);
  for (int64_t off = 0; off < kLanes; off += nd) {
    auto vEa = hn::LoadU(dd, ea + off);
    auto vEb = hn::LoadU(dd, eb + off);
    for (int64_t i = 0; i < n; i += kLanes) {
      const auto wi = hn::PromoteTo(dd, hn::LoadU(df, w + i + off));
      // float(code) * scale + min in float32, then the difference in double.
      const auto ca = hn::ConvertTo(df, hn::PromoteTo(di, hn::LoadU(d8, a + i + off)));
      const auto cb = hn::ConvertTo(df, hn::PromoteTo(di, hn::LoadU(d8, b + i + off)));
      const auto xa = hn::Sub(wi, hn::PromoteTo(dd, hn::Add(hn::Mul(ca, vScale), vMinA)));
      const auto xb = hn::Sub(wi, hn::PromoteTo(dd, hn::Add(hn::Mul(cb, vScale), vMinB)));
      vEa = hn::Add(vEa, hn::Mul(xa, xa));
      vEb = hn::Add(vEb, hn::Mul(xb, xb));
    }
    hn::StoreU(vEa, dd, ea + off);
    hn::StoreU(vEb, dd, eb + off);
  }
}

void MnnCodes(const float *w, int64_t n, float sub, float scale, float lo,
              float hi, int offset, uint8_t *codes) {
  const hn::ScalableTag<float> df;
  const hn::RebindToUnsigned<decltype(df)> du;
  const hn::Rebind<uint8_t, decltype(df)> d8;
  const auto lanes = int64_t(hn::Lanes(df));
  const auto vSub = hn::Set(df, sub), vScale = hn::Set(df, scale),
             vLo = hn::Set(df, lo), vHi = hn::Set(df, hi),
             vOffset = hn::Set(df, float(offset)),
             integral = hn::Set(df, rules::kFloatIntegralFrom),
             half = hn::Set(df, 0.5f), one = hn::Set(df, 1.0f),
             twoTo23 = hn::Set(df, 0x1p23f);
  const auto signMask = hn::Set(du, 0x80000000u);
  int64_t i = 0;
  for (; i + lanes <= n; i += lanes) {
    const auto t = hn::Div(hn::Sub(hn::LoadU(df, w + i), vSub), vScale);
    // rules::roundHalfAway.
    const auto a = hn::BitCast(df, hn::AndNot(signMask, hn::BitCast(du, t)));
    auto r = hn::Sub(hn::Add(a, integral), integral);
    r = hn::Add(r, hn::IfThenElseZero(hn::Eq(hn::Sub(a, r), half), one));
    r = hn::BitCast(df, hn::Or(hn::BitCast(du, r),
                               hn::And(hn::BitCast(du, t), signMask)));
    r = hn::IfThenElse(hn::Lt(a, integral), r, t);
    // rules::mnnClamp, then the offset; the code's low byte.
    r = hn::IfThenElse(hn::Lt(r, vHi), r, vHi);
    r = hn::IfThenElse(hn::Gt(r, vLo), r, vLo);
    r = hn::Add(r, vOffset);
    hn::StoreU(hn::TruncateTo(d8, hn::BitCast(du, hn::Add(r, twoTo23))), d8,
               codes + i);
  }
  for (; i < n; ++i)
    codes[i] = rules::mnnCode(w[i], sub, scale, lo, hi, offset);
}

} // namespace qopt::numerics::HWY_NAMESPACE
HWY_AFTER_NAMESPACE();

#if HWY_ONCE

#include "Simd.h"

namespace qopt::numerics {

HWY_EXPORT(HqqStepLanes);
HWY_EXPORT(MnnCodes);
HWY_EXPORT(StoredErrorLanes);

namespace simd {

void hqqStepLanes(const float *w, int64_t n, double s, double scale, double z,
                  double qmax, double *e, double *a, double *maxAbs) {
  HWY_DYNAMIC_DISPATCH(HqqStepLanes)(w, n, s, scale, z, qmax, e, a, maxAbs);
}

void mnnCodes(const float *w, int64_t n, float sub, float scale, float lo,
              float hi, int offset, uint8_t *codes) {
  HWY_DYNAMIC_DISPATCH(MnnCodes)(w, n, sub, scale, lo, hi, offset, codes);
}

void storedErrorLanes(const float *w, int64_t n, const uint8_t *a, float minA,
                      const uint8_t *b, float minB, float scale, double *ea,
                      double *eb) {
  HWY_DYNAMIC_DISPATCH(StoredErrorLanes)(w, n, a, minA, b, minB, scale, ea,
                                         eb);
}

} // namespace simd
} // namespace qopt::numerics

#endif // HWY_ONCE
