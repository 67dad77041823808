//===- SimdBatchSearchF16.cpp - --optimize-scales on f16 weights -*- C++ -*-===//
//
// See SimdBatchSearch.h (searchScalesBatchF16). The scale search of
// ScaleSearch.cpp for binary16 weights and scales, with a full float vector
// of groups per chunk (16 on AVX-512), and without the per-element error:
//
// For f16 values y and an f16 scale s (all multiples of 2^-24) and integral
// codes r with |r| <= 256, every step of the scalar score is exact while
// E < 32 (E the exact squared error): r s is exact in float, y - r s in
// double, each (y - r s)^2 and every partial sum is a multiple of 2^-48
// below 2^5, i.e. below 2^53 units. The scalar search's doubles are then
// the exact values E, sxq = sum y r (exact while sum |y| max|r| < 2^29, the
// same argument with 2^-24) and sqq = sum r^2 (integers), in any order. So
// each candidate needs only sum y r and sum r^2 per element (y r exact in
// float, added in double; r^2 added in float, exact below 2^24), and
//   E = sum y^2 - 2 s sxq + s^2 sqq
// decides the comparisons: evaluated in double with a rigorous bound on its
// rounding, and, where the bounds of two candidates overlap, exactly in
// 128-bit integers (units of 2^-48). A chunk in which any of these
// conditions fails (an error >= 32, sum |y| too large) is searched again by
// the general kernel (SimdBatchSearch.cpp), so the bytes are always the
// scalar search's. The SCALAR target runs the general kernel.
//
//===----------------------------------------------------------------------===//

#if defined(__aarch64__) && !defined(HWY_DISABLED_TARGETS)
#define HWY_DISABLED_TARGETS (HWY_SVE | HWY_SVE2 | HWY_SVE_256 | HWY_SVE2_128)
#endif

#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "lib/Numerics/SimdBatchSearchF16.cpp"
#include <hwy/foreach_target.h> // IWYU pragma: keep

#include <hwy/highway.h>

#include "CalibratedSearch.h"
#include "SearchRules.h"
#include "SimdBatchWords-inl.h"
#include "SimdRules-inl.h"

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <vector>

HWY_BEFORE_NAMESPACE();
namespace qopt::numerics::HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

/// SimdBatchSearch.cpp (the general kernel, same target).
void SearchScalesBatch(FloatFormat format, const float *x,
                       const int32_t *offsets, int64_t n, int64_t count,
                       float maxInt, bool fullRange, uint32_t *words, int bits,
                       float *s, uint8_t *replaced);

#if HWY_TARGET != HWY_SCALAR
namespace {

using DF = hn::ScalableTag<float>;
using DH = hn::Half<DF>;
using DD = hn::Rebind<double, DH>;
using DI = hn::Rebind<int32_t, DF>;
using VF = hn::Vec<DF>;
using VH = hn::Vec<DH>;
using VD = hn::Vec<DD>;
using VI = hn::Vec<DI>;
using MF = hn::Mask<DF>;
using MD = hn::Mask<DD>;

using calibrated::kMaxTried;
/// 2^24 and its square: f16 values and scales in units of 2^-24.
constexpr double kUnit = 16777216.0;

HWY_INLINE VD Lo(VF v) { return hn::PromoteTo(DD(), hn::LowerHalf(DH(), v)); }
HWY_INLINE VD Hi(VF v) {
  return hn::PromoteTo(DD(), hn::UpperHalf(DH(), v));
}
/// The float lanes of two halves of doubles (exact for the values used).
HWY_INLINE VF Join(VD lo, VD hi) {
  return hn::Combine(DF(), hn::DemoteTo(DH(), hi), hn::DemoteTo(DH(), lo));
}
HWY_INLINE MF JoinMask(MD lo, MD hi) {
  const DD dd;
  const VD one = hn::Set(dd, 1.0);
  return hn::Gt(Join(hn::IfThenElseZero(lo, one), hn::IfThenElseZero(hi, one)),
                hn::Zero(DF()));
}
HWY_INLINE MD LoMask(MF m) {
  return hn::Gt(Lo(hn::IfThenElseZero(m, hn::Set(DF(), 1.0f))),
                hn::Zero(DD()));
}
HWY_INLINE MD HiMask(MF m) {
  return hn::Gt(Hi(hn::IfThenElseZero(m, hn::Set(DF(), 1.0f))),
                hn::Zero(DD()));
}

HWY_INLINE VF RoundHalf(VF x) {
  const DF df;
  return HalfToFloat(df, FloatToHalf(df, x));
}

/// One candidate (or plain rounding) of a half of the lanes: its scale,
/// sums, error E (rounded) and the bound on E's rounding.
struct Cand {
  VD s, sxq, sqq, e, bound;
};

/// Per lane half: sum y^2 (double) and the bound factor.
struct Group {
  VD y2;
  VD factor;
};

HWY_INLINE Cand Evaluate(const Group &g, VD s, VD sxq, VD sqq) {
  const VD t1 = hn::Mul(s, sxq);
  const VD t2 = hn::Mul(hn::Mul(s, s), sqq);
  const VD twoT1 = hn::Add(t1, t1);
  const VD e = hn::Add(hn::Sub(g.y2, twoT1), t2);
  const VD m = hn::Add(hn::Add(g.y2, hn::Abs(twoT1)), t2);
  return {s, sxq, sqq, e, hn::Mul(m, g.factor)};
}

/// The exact error of a candidate in units of 2^-48, from the lane's
/// values (sum (y 2^24)^2 - 2 S X + S^2 Q).
__int128 ExactError(__int128 y2, double s, double sxq, double sqq) {
  const auto S = __int128(int64_t(s * kUnit));
  const auto X = __int128(int64_t(sxq * kUnit));
  const auto Q = __int128(int64_t(sqq));
  return y2 - 2 * S * X + S * S * Q;
}

/// The sums of one candidate: the codes r of y for scale s (search::
/// assignCode), sxq = sum y r and sqq = sum r^2, exact (file comment).
HWY_INLINE void Sums(const float *yf, int64_t n, int64_t G, VF s, VF lo, VF hi,
                     VD &xLo, VD &xHi, VF &q) {
  const DF df;
  const VF inv = hn::Div(hn::Set(df, 1.0f), s);
  const VF magic = hn::Set(df, rules::kRoundMagic);
  VD a0 = hn::Zero(DD()), a1 = hn::Zero(DD());
  VF b = hn::Zero(df);
  for (int64_t i = 0; i < n; ++i) {
    const VF y = hn::LoadU(df, yf + i * G);
    VF r = hn::Sub(hn::Add(hn::Mul(y, inv), magic), magic);
    r = hn::Max(hn::Min(r, hi), lo);
    const VF yr = hn::Mul(y, r);
    a0 = hn::Add(a0, Lo(yr));
    a1 = hn::Add(a1, Hi(yr));
    b = hn::Add(b, hn::Mul(r, r));
  }
  xLo = a0;
  xHi = a1;
  q = b;
}

template <int64_t NN>
HWY_NOINLINE void SumsN(const float *yf, int64_t n, int64_t G, VF s, VF lo,
                        VF hi, VD &xLo, VD &xHi, VF &q) {
  Sums(yf, NN > 0 ? NN : n, G, s, lo, hi, xLo, xHi, q);
}

HWY_INLINE void SumsAny(const float *yf, int64_t n, int64_t G, VF s, VF lo,
                        VF hi, VD &xLo, VD &xHi, VF &q) {
  if (n == 32)
    return SumsN<32>(yf, n, G, s, lo, hi, xLo, xHi, q);
  if (n == 40)
    return SumsN<40>(yf, n, G, s, lo, hi, xLo, xHi, q);
  SumsN<0>(yf, n, G, s, lo, hi, xLo, xHi, q);
}

/// Whether candidate c (of lane half h) beats b: decided by the bounds, the
/// undecided lanes exactly. `ok`: the lanes that scored c.
HWY_INLINE MD Better(const Cand &c, const Cand &b, MD ok, const float *yf,
                     int64_t n, int64_t G, int64_t laneBase) {
  const MD same = hn::And(hn::And(hn::Eq(c.s, b.s), hn::Eq(c.sxq, b.sxq)),
                          hn::Eq(c.sqq, b.sqq));
  const MD live = hn::AndNot(same, ok);
  const MD better = hn::And(
      live, hn::Lt(hn::Add(c.e, c.bound), hn::Sub(b.e, b.bound)));
  const MD worse = hn::Ge(hn::Sub(c.e, c.bound), hn::Add(b.e, b.bound));
  const MD unsure = hn::AndNot(hn::Or(better, worse), live);
  if (hn::AllFalse(DD(), unsure))
    return better;
  const DD dd;
  const auto N = int64_t(hn::Lanes(dd));
  alignas(64) double cs[16], cx[16], cq[16], bs[16], bx[16], bq[16], u[16],
      res[16];
  hn::StoreU(c.s, dd, cs);
  hn::StoreU(c.sxq, dd, cx);
  hn::StoreU(c.sqq, dd, cq);
  hn::StoreU(b.s, dd, bs);
  hn::StoreU(b.sxq, dd, bx);
  hn::StoreU(b.sqq, dd, bq);
  hn::StoreU(hn::IfThenElseZero(unsure, hn::Set(dd, 1.0)), dd, u);
  hn::StoreU(hn::IfThenElseZero(better, hn::Set(dd, 1.0)), dd, res);
  for (int64_t l = 0; l < N; ++l) {
    if (u[l] == 0.0)
      continue;
    __int128 y2 = 0;
    for (int64_t i = 0; i < n; ++i) {
      const auto y = int64_t(double(yf[i * G + laneBase + l]) * kUnit);
      y2 += __int128(y) * y;
    }
    res[l] = ExactError(y2, cs[l], cx[l], cq[l]) <
                     ExactError(y2, bs[l], bx[l], bq[l])
                 ? 1.0
                 : 0.0;
  }
  return hn::Gt(hn::LoadU(dd, res), hn::Zero(dd));
}

} // namespace

void SearchScalesBatchF16(const float *x, const int32_t *offsets, int64_t n,
                          int64_t count, float maxInt, bool fullRange,
                          uint32_t *words, int bits, float *sOut,
                          uint8_t *replaced) {
  const DF df;
  const DD dd;
  const DI di;
  const auto G = int64_t(hn::Lanes(df));
  const auto H = int64_t(hn::Lanes(dd));

  const float hiCode = fullRange ? maxInt + 1.0f : maxInt;
  // The exactness conditions of the file comment that do not depend on the
  // values: codes below 2^8, sum r^2 below 2^24.
  if (hiCode > 256.0f || double(n) * hiCode * hiCode >= 16777216.0) {
    SearchScalesBatch(FloatFormat::F16, x, offsets, n, count, maxInt,
                      fullRange, words, bits, sOut, replaced);
    return;
  }
  std::vector<float> yf(size_t(n * G));
  std::vector<uint32_t> wt(size_t(n * G));
  const VF vLo = hn::Set(df, -maxInt), vHi = hn::Set(df, hiCode),
           vMax = hn::Set(df, maxInt), zeroF = hn::Zero(df),
           oneF = hn::Set(df, 1.0f);
  const VD zeroD = hn::Zero(dd), limit = hn::Set(dd, 32.0),
           sumLimit = hn::Set(dd, 268435456.0 / double(hiCode));
  const VD factor = hn::Set(dd, double(n + 8) * 0x1p-52);
  // sum |y| < 2^28 / hiCode holds for any binary16 values (|y| <= 65504)
  // when n 65504 hiCode < 2^28: then the sums of |y| are not needed.
  const bool sumBounded = double(n) * 65504.0 * hiCode < 268435456.0;
  for (int64_t g0 = 0; g0 < count; g0 += G) {
    const VI off = hn::LoadU(di, offsets + g0);
    // The values, sum y^2 and sum |y| per lane.
    VD y2[2] = {zeroD, zeroD}, abs[2] = {zeroD, zeroD};
    for (int64_t i = 0; i < n; ++i) {
      const VF y = hn::GatherIndex(df, x, hn::Add(off, hn::Set(di, int32_t(i))));
      hn::StoreU(y, df, yf.data() + i * G);
      // y^2 is exact in float (11 significant bits, no underflow).
      const VF yy = hn::Mul(y, y);
      y2[0] = hn::Add(y2[0], Lo(yy));
      y2[1] = hn::Add(y2[1], Hi(yy));
      if (!sumBounded) {
        abs[0] = hn::Add(abs[0], hn::Abs(Lo(y)));
        abs[1] = hn::Add(abs[1], hn::Abs(Hi(y)));
      }
    }
    const Group grp[2] = {{y2[0], factor}, {y2[1], factor}};
    MD bad[2] = {hn::Ge(abs[0], sumLimit), hn::Ge(abs[1], sumLimit)};
    // Plain rounding, the one to beat.
    VF bestS = hn::LoadU(df, sOut + g0);
    VD a0 = zeroD, a1 = zeroD;
    VF b0 = zeroF;
    const ChunkWords<DF> rtn(df, words, offsets + g0, n, bits, maxInt,
                             wt.data());
    for (int64_t i = 0; i < n; ++i) {
      const VF y = hn::LoadU(df, yf.data() + i * G);
      const VF r = rtn.At(df, i);
      const VF yr = hn::Mul(y, r);
      a0 = hn::Add(a0, Lo(yr));
      a1 = hn::Add(a1, Hi(yr));
      b0 = hn::Add(b0, hn::Mul(r, r));
    }
    Cand best[2] = {Evaluate(grp[0], Lo(bestS), a0, Lo(b0)),
                    Evaluate(grp[1], Hi(bestS), a1, Hi(b0))};
    for (int h = 0; h < 2; ++h)
      bad[h] = hn::Or(bad[h], hn::Not(hn::Lt(hn::Add(best[h].e,
                                                     best[h].bound),
                                              limit)));
    MF won = hn::Lt(oneF, zeroF);
    for (int orient = 0; orient < (fullRange ? 2 : 1); ++orient) {
      const bool negate = orient == 1;
      if (negate)
        for (int64_t i = 0; i < n * G; i += G)
          hn::StoreU(hn::Neg(hn::LoadU(df, yf.data() + i)), df,
                     yf.data() + i);
      VF top = zeroF, bottom = zeroF;
      for (int64_t i = 0; i < n; ++i) {
        const VF y = hn::LoadU(df, yf.data() + i * G);
        top = hn::IfThenElse(hn::Lt(top, y), y, top);
        const VF ny = hn::Neg(y);
        bottom = hn::IfThenElse(hn::Lt(bottom, ny), ny, bottom);
      }
      const VF a = hn::Div(top, vHi), b = hn::Div(bottom, vMax);
      const VF base = hn::IfThenElse(hn::Lt(a, b), b, a);
      VF tried[kMaxTried];
      int numTried = 0;
      // Scores s in the lanes of `want` where it is a new usable scale:
      // returns those lanes; per lane half the candidate (c) and its
      // least-squares successor (next, 0 if none).
      // (Inlined: as a call, GCC kept the captured state in memory.)
      auto tryScale = [&](VF s, MF want, Cand (&c)[2],
                          VF &next) HWY_ATTR __attribute__((always_inline)) {
        const MF ok = FreshScales(df, s, want, tried, numTried);
        if (hn::AllFalse(df, ok))
          return ok;
        const VF sc = hn::IfThenElse(ok, s, oneF);
        VD x0, x1;
        VF q;
        SumsAny(yf.data(), n, G, sc, vLo, vHi, x0, x1, q);
        const VD xs[2] = {x0, x1}, qs[2] = {Lo(q), Hi(q)},
                 ss[2] = {Lo(sc), Hi(sc)};
        const MD okH[2] = {LoMask(ok), HiMask(ok)};
        MD better[2], go[2];
        VD nextH[2];
        for (int h = 0; h < 2; ++h) {
          c[h] = Evaluate(grp[h], ss[h], xs[h], qs[h]);
          bad[h] = hn::Or(bad[h],
                          hn::AndNot(hn::Lt(hn::Add(c[h].e, c[h].bound), limit),
                                     okH[h]));
          better[h] = Better(c[h], best[h], okH[h], yf.data(), n, G, h * H);
          best[h].s = hn::IfThenElse(better[h], c[h].s, best[h].s);
          best[h].sxq = hn::IfThenElse(better[h], c[h].sxq, best[h].sxq);
          best[h].sqq = hn::IfThenElse(better[h], c[h].sqq, best[h].sqq);
          best[h].e = hn::IfThenElse(better[h], c[h].e, best[h].e);
          best[h].bound = hn::IfThenElse(better[h], c[h].bound, best[h].bound);
          go[h] = hn::And(okH[h], hn::Gt(qs[h], zeroD));
          nextH[h] = hn::Div(xs[h], qs[h]);
        }
        const MF betterF = JoinMask(better[0], better[1]);
        bestS = hn::IfThenElse(betterF, negate ? hn::Neg(s) : s, bestS);
        won = hn::Or(won, betterF);
        // float(sxq / sqq) of each half where sqq > 0, else 0.
        const VD one = hn::Set(dd, 1.0);
        next = hn::IfThenElseZero(
            JoinMask(go[0], go[1]),
            RoundHalf(Join(hn::IfThenElse(go[0], nextH[0], one),
                           hn::IfThenElse(go[1], nextH[1], one))));
        return ok;
      };
      // Screening: every ratio; the lead is the least error (first on
      // ties), compared as the best is (exactly).
      const MF all = hn::Eq(oneF, oneF);
      const VD inf = hn::Set(dd, std::numeric_limits<double>::infinity()),
               nanD = hn::Set(dd, std::numeric_limits<double>::quiet_NaN());
      Cand lead[2] = {{nanD, zeroD, zeroD, inf, zeroD},
                      {nanD, zeroD, zeroD, inf, zeroD}};
      VF s = zeroF;
      for (float ratio : calibrated::kRatios) {
        Cand c[2];
        VF next;
        const MF ok = tryScale(RoundHalf(hn::Mul(base, hn::Set(df, ratio))),
                               all, c, next);
        if (hn::AllFalse(df, ok))
          continue;
        const MD okH[2] = {LoMask(ok), HiMask(ok)};
        MD ahead[2];
        for (int h = 0; h < 2; ++h) {
          ahead[h] = Better(c[h], lead[h], okH[h], yf.data(), n, G, h * H);
          lead[h].s = hn::IfThenElse(ahead[h], c[h].s, lead[h].s);
          lead[h].sxq = hn::IfThenElse(ahead[h], c[h].sxq, lead[h].sxq);
          lead[h].sqq = hn::IfThenElse(ahead[h], c[h].sqq, lead[h].sqq);
          lead[h].e = hn::IfThenElse(ahead[h], c[h].e, lead[h].e);
          lead[h].bound = hn::IfThenElse(ahead[h], c[h].bound, lead[h].bound);
        }
        s = hn::IfThenElse(JoinMask(ahead[0], ahead[1]), next, s);
      }
      // Refinement: least-squares steps from each lane's lead.
      MF chain = all;
      for (int refine = 0; refine < calibrated::kRefinements; ++refine) {
        Cand c[2];
        VF next;
        chain = tryScale(s, chain, c, next);
        if (hn::AllFalse(df, chain))
          break;
        s = next;
      }
    }
    if (!hn::AllFalse(dd, hn::Or(bad[0], bad[1]))) {
      // Outside the exact conditions: the general kernel for this chunk.
      SearchScalesBatch(FloatFormat::F16, x, offsets + g0, n,
                        std::min(G, count - g0), maxInt, fullRange, words,
                        bits, sOut + g0, replaced + g0);
      continue;
    }
    // The winners' codes, by the arithmetic that scored them, packed into
    // the row's words (yf holds -y after the second orientation).
    const VF absS = hn::IfThenElse(won, hn::Abs(bestS), oneF);
    VF inv = hn::Div(oneF, absS);
    const MF flip = fullRange ? hn::Not(hn::Lt(bestS, zeroF))
                              : hn::Lt(bestS, zeroF);
    inv = hn::IfThenElse(flip, hn::Neg(inv), inv);
    const VF magic = hn::Set(df, rules::kRoundMagic);
    StoreWinnerWords(
        df, n, bits, maxInt, won, offsets + g0,
        [&](int64_t i) {
          const VF y = hn::LoadU(df, yf.data() + i * G);
          const VF r = hn::Sub(hn::Add(hn::Mul(y, inv), magic), magic);
          return hn::Max(hn::Min(r, vHi), vLo);
        },
        wt.data(), words);
    hn::StoreU(bestS, df, sOut + g0);
    alignas(64) float flags[64];
    hn::StoreU(hn::IfThenElseZero(won, oneF), df, flags);
    for (int64_t l = 0; l < G; ++l)
      replaced[g0 + l] = flags[l] != 0.0f;
  }
}
#else
void SearchScalesBatchF16(const float *x, const int32_t *offsets, int64_t n,
                          int64_t count, float maxInt, bool fullRange,
                          uint32_t *words, int bits, float *sOut,
                          uint8_t *replaced) {
  SearchScalesBatch(FloatFormat::F16, x, offsets, n, count, maxInt, fullRange,
                    words, bits, sOut, replaced);
}
#endif // HWY_TARGET != HWY_SCALAR

} // namespace qopt::numerics::HWY_NAMESPACE
HWY_AFTER_NAMESPACE();

#if HWY_ONCE

#include "SimdBatchSearch.h"

namespace qopt::numerics {

HWY_EXPORT(SearchScalesBatchF16);

namespace simd {

void searchScalesBatchF16(const float *x, const int32_t *offsets, int64_t n,
                          int64_t count, float maxInt, bool fullRange,
                          uint32_t *words, int bits, float *s,
                          uint8_t *replaced) {
  HWY_DYNAMIC_DISPATCH(SearchScalesBatchF16)(x, offsets, n, count, maxInt,
                                             fullRange, words, bits, s,
                                             replaced);
}

} // namespace simd
} // namespace qopt::numerics

#endif // HWY_ONCE
