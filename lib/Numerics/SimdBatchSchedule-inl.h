//===- SimdBatchSchedule-inl.h - The searches' candidate schedule -*- C++ -*-===//
//
// Internal to lib/Numerics; included once per Highway target by the batch
// searches (SimdBatchSearch.cpp: --optimize-scales; SimdWeightedSearch.cpp:
// --imatrix). The candidate schedule both run per lane (screening, then
// least-squares steps, docs/simd.md section 5) and the element rules they
// share, on vectors of one group per lane.
//
//===----------------------------------------------------------------------===//

// Per-target include guard (Highway's convention).
#if defined(QOPT_LIB_NUMERICS_SIMDBATCHSCHEDULE_INL_H) == \
    defined(HWY_TARGET_TOGGLE)
#ifdef QOPT_LIB_NUMERICS_SIMDBATCHSCHEDULE_INL_H
#undef QOPT_LIB_NUMERICS_SIMDBATCHSCHEDULE_INL_H
#else
#define QOPT_LIB_NUMERICS_SIMDBATCHSCHEDULE_INL_H
#endif

#include <hwy/highway.h>

#include "CalibratedSearch.h"
#include "SimdRules-inl.h"

#include <iterator>
#include <limits>
#include <type_traits>

HWY_BEFORE_NAMESPACE();
namespace qopt::numerics::HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

/// roundTo(x, F) of each lane.
template <FloatFormat F, class V> HWY_INLINE V RoundScale(V x) {
  const hn::DFromV<V> df;
  if constexpr (F == FloatFormat::F16)
    return HalfToFloat(df, FloatToHalf(df, x));
  else if constexpr (F == FloatFormat::BF16)
    return RoundToBFloat16(df, x);
  else
    return x;
}

/// std::max(a, b) of each lane: (a < b) ? b : a.
template <class V> HWY_INLINE V MaxOf(V a, V b) {
  return hn::IfThenElse(hn::Lt(a, b), b, a);
}

/// The least-squares successor of a scored candidate, per lane: the
/// scale sx / sq rounded to the model dtype where the candidate was scored
/// (ok) and sq > 0, else 0 (no successor).
template <FloatFormat F, class V, class M>
HWY_INLINE V LeastSquaresNext(M ok, V sx, V sq) {
  const hn::DFromV<V> df;
  const M go = hn::And(ok, hn::Gt(sq, hn::Zero(df)));
  return hn::IfThenElseZero(
      go, RoundScale<F>(hn::Div(sx, hn::IfThenElse(go, sq, hn::Set(df, 1.0f)))));
}

/// The candidate schedule both searches run per lane (docs/simd.md section
/// 5): screening scores every ratio of `base`, the lead is the least error
/// (first on ties); then up to kRefinements least-squares steps from each
/// lane's lead while the lane's chain goes on; only in the lanes of `valid`.
/// - prepare(s, want, inv): the lanes of `want` where s is a new usable
///   scale, which it records as tried; inv = 1 / s.
/// - score(K, s, inv, ok, e, next): scores K candidates (candidate j in the
///   lanes ok[j]) in one pass over the values and applies them to the best
///   so far in the order j = 0 .. K - 1, as K calls one after the other
///   would; e[j] and next[j] (its least-squares successor, 0 if none) per
///   lane.
/// The screening candidates do not depend on each other's scores, so they
/// share a pass: one load of each value, three independent sums per lane
/// instead of one dependency chain, and one gap (the divisions between the
/// last sums of one candidate and the first products of the next) instead
/// of three. Screen returns each lane's lead (0 where none).
template <FloatFormat F, class DF, class Prepare, class Score>
HWY_INLINE hn::Vec<DF> Screen(DF df, hn::Vec<DF> base, hn::Mask<DF> valid,
                              Prepare &prepare, Score &score) {
  using VW = hn::Vec<DF>;
  using MW = hn::Mask<DF>;
  constexpr int kScreen = int(std::size(calibrated::kRatios));
  VW s[kScreen], inv[kScreen], e[kScreen], next[kScreen];
  MW ok[kScreen];
  bool any = false;
  for (int j = 0; j < kScreen; ++j) {
    s[j] = RoundScale<F>(hn::Mul(base, hn::Set(df, calibrated::kRatios[j])));
    ok[j] = prepare(s[j], valid, inv[j]);
    any = any || !hn::AllFalse(df, ok[j]);
  }
  VW lead = hn::Zero(df);
  if (any) {
    score(std::integral_constant<int, kScreen>(), s, inv, ok, e, next);
    VW leadE = hn::Set(df, std::numeric_limits<float>::infinity());
    for (int j = 0; j < kScreen; ++j) {
      const MW better = hn::And(ok[j], hn::Lt(e[j], leadE));
      leadE = hn::IfThenElse(better, e[j], leadE);
      lead = hn::IfThenElse(better, next[j], lead);
    }
  }
  return lead;
}

/// Screen of one chunk of a batch search: prepare(chunk, s, want, inv) and
/// score(K, Chunk *[K], s, inv, ok, e, next), the forms RefineChunks takes,
/// bound to `c` (every candidate of the screening is c's).
template <FloatFormat F, class DF, class Chunk, class Prepare, class Score>
HWY_INLINE hn::Vec<DF> ScreenChunk(DF df, hn::Vec<DF> base,
                                   hn::Mask<DF> valid, Chunk &c,
                                   Prepare &prepare, Score &score) {
  using VW = hn::Vec<DF>;
  using MW = hn::Mask<DF>;
  auto prepare1 = [&](VW s, MW want, VW &inv)
                      HWY_ATTR __attribute__((always_inline)) {
    return prepare(c, s, want, inv);
  };
  auto score1 = [&](auto k, const VW *s, const VW *inv, const MW *ok, VW *e,
                    VW *next) HWY_ATTR __attribute__((always_inline)) {
    Chunk *ch[decltype(k)::value];
    for (auto &p : ch)
      p = &c;
    score(k, ch, s, inv, ok, e, next);
  };
  return Screen<F>(df, base, valid, prepare1, score1);
}

/// The least-squares steps of M chunks (1 or 2) at once, chunk m from
/// lead[m] in the lanes of chain[m]: prepare(m, s, want, inv) as above for
/// chunk m; score(M, s, inv, ok, e, next) scores candidate m for chunk m.
/// Each step of a chunk depends on the one before (a division, the rounding
/// to the model dtype, the inverse: a gap of tens of cycles, and one
/// dependency chain per sum), so two chunks take their steps in one pass,
/// which fills the gaps and the chains with independent work. A chunk whose
/// chain has ended takes no more steps (its candidates are scored in no
/// lane), as alone.
template <int M, class DF, class Prepare, class Score>
HWY_INLINE void Refine(DF df, hn::Vec<DF> *lead, hn::Mask<DF> *chain,
                       Prepare &prepare, Score &score) {
  using VW = hn::Vec<DF>;
  for (int refine = 0; refine < calibrated::kRefinements; ++refine) {
    VW ci[M];
    bool any = false;
    for (int m = 0; m < M; ++m) {
      chain[m] = prepare(m, lead[m], chain[m], ci[m]);
      any = any || !hn::AllFalse(df, chain[m]);
    }
    if (!any)
      break;
    VW e[M], next[M];
    score(std::integral_constant<int, M>(), lead, ci, chain, e, next);
    for (int m = 0; m < M; ++m)
      lead[m] = next[m];
  }
}

/// Refine on chunks[0 .. pair) (pair 1 or 2) of a search's chunk pair, each
/// from its own lead and chain (left as they are): prepare(chunk, s, want,
/// inv) for one chunk; score(M, Chunk *[2], s, inv, ok, e, next) as
/// Refine's, given the chunks. Both batch searches run their least-squares
/// steps through it.
template <class DF, class Chunk, class Prepare, class Score>
HWY_INLINE void RefineChunks(DF df, Chunk *chunks, int pair, Prepare &prepare,
                             Score &score) {
  using VW = hn::Vec<DF>;
  using MW = hn::Mask<DF>;
  VW lead[2] = {chunks[0].lead, chunks[1].lead};
  MW chain[2] = {chunks[0].chain, chunks[1].chain};
  auto prepareM = [&](int m, VW s, MW want, VW &inv)
                      HWY_ATTR __attribute__((always_inline)) {
    return prepare(chunks[m], s, want, inv);
  };
  auto scoreM = [&](auto k, const VW *s, const VW *inv, const MW *ok, VW *e,
                    VW *next) HWY_ATTR __attribute__((always_inline)) {
    Chunk *ch[2] = {&chunks[0], &chunks[1]};
    score(k, ch, s, inv, ok, e, next);
  };
  if (pair == 2)
    Refine<2>(df, lead, chain, prepareM, scoreM);
  else
    Refine<1>(df, lead, chain, prepareM, scoreM);
}

} // namespace qopt::numerics::HWY_NAMESPACE
HWY_AFTER_NAMESPACE();

#endif // per-target include guard
