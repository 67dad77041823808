//===- SimdBatchSearch.cpp - Scale searches, one group per lane -*- C++ -*-===//
//
// See SimdBatchSearch.h. Each kernel handles the groups of a batch in chunks
// of as many groups as the target has float lanes (every score is a float32
// sum in the scalar order). A lane whose chain has ended (or
// whose candidate is not scored by the scalar search) computes with a
// harmless scale and its results are masked off; a step that no lane takes
// is skipped. Compiled once per Highway target (foreach_target); the
// HWY_ONCE part holds the dispatch.
//
//===----------------------------------------------------------------------===//

// Arrays of vectors below: on Arm this file compiles for NEON only (as
// SimdCalibrated.cpp; the bytes are the same on every target).
#if defined(__aarch64__) && !defined(HWY_DISABLED_TARGETS)
#define HWY_DISABLED_TARGETS (HWY_SVE | HWY_SVE2 | HWY_SVE_256 | HWY_SVE2_128)
#endif

#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "lib/Numerics/SimdBatchSearch.cpp"
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
#include <cstring>
#include <iterator>
#include <limits>
#include <type_traits>
#include <utility>
#include <vector>

HWY_BEFORE_NAMESPACE();
namespace qopt::numerics::HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

namespace {

using calibrated::kMaxTried;

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

/// Whether y r is exact in float32 for every model-format value y (as
/// float, or its negation) and code r (an integer of at most 8 bits):
/// binary16 and bfloat16 values have 11 and 8 significant bits, so y r has
/// at most 19 (a bfloat16 subnormal times r is a multiple of 2^-149, a
/// float32 subnormal or normal one), and r r at most 16 on every format. An
/// exact product makes a fused multiply-add the same float as the rounded
/// product added (round(s + y r) either way; where y r overflows, both are
/// +infinity: the terms y r of a search are never negative), so the sums are
/// the scalar definition's bits with one operation less per product.
template <FloatFormat F> constexpr bool ExactProducts() {
  return F != FloatFormat::F32;
}

/// std::max(a, b) of each lane: (a < b) ? b : a.
template <class V> HWY_INLINE V MaxOf(V a, V b) {
  return hn::IfThenElse(hn::Lt(a, b), b, a);
}

/// ScaleSearch.cpp's double error (errorOf) of lane l's group: x minus the
/// codes (signed, in transposed words w: LaneCode) times s, element i into
/// lane i % kSumLanes, the lanes summed by search::sumLanes.
double LaneError(const float *x, int32_t offset, const uint32_t *w, int64_t N,
                 int64_t l, int64_t n, int bits, float maxInt, float s) {
  double e[search::kSumLanes] = {};
  for (int64_t i = 0; i < n; ++i) {
    const float d = LaneCode(w, N, l, i, bits, maxInt) * s;
    const double diff = double(x[offset + i]) - double(d);
    e[i % search::kSumLanes] += diff * diff;
  }
  return search::sumLanes(e);
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

/// A chunk of the unweighted search: its buffers and per-lane state. (The
/// constructors carry the target's attributes: the vectors' own are
/// always_inline, which GCC refuses to inline into an implicit constructor
/// without them, on Arm.)
template <class DW> struct ScaleChunk {
  HWY_ATTR ScaleChunk() {}
  float *yf;
  uint32_t *wt, *pk;
  int64_t g0;
  hn::Vec<DW> s0, e0, w, top, bottom, best, bestS, lead;
  hn::Mask<DW> valid, won, chain;
  hn::Vec<DW> tried[kMaxTried];
  int numTried;
  bool negate;
};

/// ScaleSearch.cpp's search of a chunk of groups, one per lane: every
/// candidate scored from its float32 sums in the scalar order; the winner
/// against plain rounding by their double errors, decided here from float
/// errors with a bound on their rounding where that suffices, else by the
/// scalar errorOf (same bits). Chunks are taken two at a time (Refine).
/// A lane whose group holds a NaN or an infinity, or only zeros, has no
/// candidate and keeps plain rounding (as the scalar callers skip it).
template <FloatFormat F>
void SearchScalesT(const float *x, const int32_t *offsets, int64_t n,
                   int64_t count, float maxInt, bool fullRange,
                   uint32_t *words, int bits, float *sOut, uint8_t *replaced) {
  using DW = hn::ScalableTag<float>;
  using VW = hn::Vec<DW>;
  using MW = hn::Mask<DW>;
  using Chunk = ScaleChunk<DW>;
  const DW df;
  const hn::RebindToSigned<DW> di;
  const auto N = int64_t(hn::Lanes(df));
  // Scratch kept by the thread (a row is one call), for two chunks.
  thread_local std::vector<float> yfV;
  thread_local std::vector<uint32_t> wtV, pkV;
  yfV.resize(size_t(2 * n * N));
  wtV.resize(size_t(2 * n * N));
  pkV.resize(size_t(2 * n * N));
  const float hiCode = fullRange ? maxInt + 1.0f : maxInt;
  const VW vLo = hn::Set(df, -maxInt), vHi = hn::Set(df, hiCode),
           vMax = hn::Set(df, maxInt), zeroF = hn::Zero(df),
           oneF = hn::Set(df, 1.0f), magic = hn::Set(df, rules::kRoundMagic);
  const auto absBits = hn::Set(di, 0x7FFFFFFF),
             infBits = hn::Set(di, 0x7F800000);
  // The float errors' relative rounding bound (n + 8 float32 roundings of
  // nonnegative terms, generously) and an absolute one for subnormals.
  const VW rel = hn::Set(df, float(n + 8) * 0x1p-24f),
           tiny = hn::Set(df, float(n + 8) * 0x1p-126f);

  // The values in lane order, plain rounding's words, its float error (for
  // the bound), W = sum y y, the largest magnitude's bits and, with the full
  // range, the largest values of both signs (MaxOf from +0: std::max's
  // signed zeros).
  auto begin = [&](Chunk &c) HWY_ATTR {
    TransposeGroups(df, x, offsets + c.g0, n, c.yf);
    const ChunkWords<DW> rtn(df, words, offsets + c.g0, n, bits, maxInt,
                             c.wt);
    c.s0 = hn::LoadU(df, sOut + c.g0);
    VW e0 = zeroF, top = zeroF, bottom = zeroF, w = zeroF;
    auto topBits = hn::Zero(di);
    const float *yf = c.yf;
    const VW s0 = c.s0;
    rtn.ForEach(df, [&](int64_t i, VW q) HWY_ATTR {
      const VW y = hn::LoadU(df, yf + i * N);
      const VW d = hn::Sub(y, hn::Mul(q, s0));
      e0 = hn::MulAdd(d, d, e0);
      topBits = hn::Max(topBits, hn::And(hn::BitCast(di, y), absBits));
      if (fullRange) {
        top = MaxOf(top, y);
        bottom = MaxOf(bottom, hn::Neg(y));
      }
      w = ExactProducts<F>() ? hn::MulAdd(y, y, w) : hn::Add(w, hn::Mul(y, y));
    });
    // Finite and not all zero.
    c.valid = hn::RebindMask(
        df, hn::And(hn::Gt(topBits, hn::Zero(di)), hn::Lt(topBits, infBits)));
    // Without the full range max(top / M, bottom / M) = max |y| / M.
    if (!fullRange)
      top = bottom = hn::BitCast(df, topBits);
    c.e0 = e0;
    c.w = w;
    c.top = top;
    c.bottom = bottom;
    c.best = hn::Set(df, std::numeric_limits<float>::infinity());
    c.bestS = zeroF;
    c.won = hn::Lt(oneF, zeroF);
  };
  auto prepare = [&](Chunk &c, VW s, MW want, VW &inv)
                     HWY_ATTR __attribute__((always_inline)) {
    inv = hn::Div(oneF, s);
    return FreshScales(df, s, hn::And(want, hn::IsFinite(inv)), c.tried,
                       c.numTried);
  };
  // Candidate j: scale s[j] of chunk *ch[j] in the lanes ok[j].
  auto score = [&](auto k, Chunk *const *ch, const VW *s, const VW *inv,
                   const MW *ok, VW *e, VW *next)
                   HWY_ATTR __attribute__((always_inline)) {
    constexpr int K = decltype(k)::value;
    VW ci[K], sx[K], sq[K];
    const float *yf[K];
    for (int j = 0; j < K; ++j) {
      ci[j] = hn::IfThenElse(ok[j], inv[j], oneF);
      sx[j] = zeroF;
      sq[j] = zeroF;
      yf[j] = ch[j]->yf;
    }
    for (int64_t i = 0; i < n; ++i) {
      for (int j = 0; j < K; ++j) {
        const VW y = hn::LoadU(df, yf[j] + i * N);
        // search::assignCode: never NaN (finite y and inverse).
        VW r = hn::Sub(hn::Add(hn::Mul(y, ci[j]), magic), magic);
        r = hn::Max(hn::Min(r, vHi), vLo);
        // Products rounded, then added: MulAdd where they are exact.
        sx[j] = ExactProducts<F>() ? hn::MulAdd(y, r, sx[j])
                                   : hn::Add(sx[j], hn::Mul(y, r));
        sq[j] = hn::MulAdd(r, r, sq[j]);
      }
    }
    for (int j = 0; j < K; ++j) {
      Chunk &c = *ch[j];
      const VW t1 = hn::Mul(s[j], sx[j]);
      e[j] = hn::Add(hn::Sub(c.w, hn::Add(t1, t1)),
                     hn::Mul(hn::Mul(s[j], s[j]), sq[j]));
      const MW better = hn::And(ok[j], hn::Lt(e[j], c.best));
      c.best = hn::IfThenElse(better, e[j], c.best);
      c.bestS = hn::IfThenElse(better, c.negate ? hn::Neg(s[j]) : s[j],
                               c.bestS);
      c.won = hn::Or(c.won, better);
      const MW go = hn::And(ok[j], hn::Gt(sq[j], zeroF));
      next[j] = hn::IfThenElseZero(
          go, RoundScale<F>(hn::Div(sx[j], hn::IfThenElse(go, sq[j], oneF))));
    }
  };
  // Screening of one orientation (-x after the first: the same W, top and
  // bottom exchanged).
  auto screen = [&](Chunk &c, int orient) HWY_ATTR {
    c.negate = orient == 1;
    if (c.negate) {
      for (int64_t i = 0; i < n * N; i += N)
        hn::StoreU(hn::Neg(hn::LoadU(df, c.yf + i)), df, c.yf + i);
      std::swap(c.top, c.bottom);
    }
    c.numTried = 0;
    const VW base = MaxOf(hn::Div(c.top, vHi), hn::Div(c.bottom, vMax));
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
    c.lead = Screen<F>(df, base, c.valid, prepare1, score1);
    c.chain = c.valid;
  };
  // The winners' codes (signed, of x), by the arithmetic that scored them
  // (yf holds -x after the second orientation), packed, their float errors
  // and the comparison with plain rounding.
  auto finish = [&](Chunk &c) HWY_ATTR {
    const VW absS = hn::IfThenElse(c.won, hn::Abs(c.bestS), oneF);
    const VW inv = hn::Div(oneF, absS);
    const MW flip = fullRange ? hn::Not(hn::Lt(c.bestS, zeroF))
                              : hn::Lt(c.bestS, zeroF);
    const VW signedS = hn::IfThenElse(c.won, c.bestS, oneF);
    VW e1 = zeroF;
    const float *yf = c.yf;
    PackCodes(
        df, n, bits, maxInt,
        [&](int64_t i) HWY_ATTR {
          VW y = hn::LoadU(df, yf + i * N);
          y = hn::IfThenElse(flip, hn::Neg(y), y);
          VW r = hn::Sub(hn::Add(hn::Mul(y, inv), magic), magic);
          r = hn::Max(hn::Min(r, vHi), vLo);
          const VW d = hn::Sub(y, hn::Mul(r, absS));
          e1 = hn::MulAdd(d, d, e1);
          return r;
        },
        c.pk);
    // Replaced where the winner's double error is below plain rounding's:
    // certain from the float errors and their bounds (|float - double| is
    // below rel * error + tiny for both), else decided by the scalar errors.
    const VW b1 = hn::Add(hn::Mul(e1, rel), tiny),
             b0 = hn::Add(hn::Mul(c.e0, rel), tiny);
    const MW sure =
        hn::And(c.won, hn::Lt(hn::Add(e1, b1), hn::Sub(c.e0, b0)));
    const MW unsure = hn::AndNot(
        hn::Or(sure, hn::Ge(hn::Sub(e1, b1), hn::Add(c.e0, b0))), c.won);
    alignas(64) float flags[64], uf[64], ss[64], s0f[64];
    hn::StoreU(hn::IfThenElseZero(sure, oneF), df, flags);
    if (!hn::AllFalse(df, unsure)) {
      hn::StoreU(hn::IfThenElseZero(unsure, oneF), df, uf);
      hn::StoreU(signedS, df, ss);
      hn::StoreU(c.s0, df, s0f);
      // pk holds the codes of the winner's orientation, which with its
      // signed scale are the scalar search's q and scale (errorOf).
      for (int64_t l = 0; l < N; ++l) {
        if (uf[l] == 0.0f)
          continue;
        const int32_t off = offsets[c.g0 + l];
        const double er =
            LaneError(x, off, c.wt, N, l, n, bits, maxInt, s0f[l]);
        const double ew =
            LaneError(x, off, c.pk, N, l, n, bits, maxInt, ss[l]);
        flags[l] = ew < er ? 1.0f : 0.0f;
      }
    }
    const MW take = hn::Gt(hn::LoadU(df, flags), zeroF);
    CopyWinnerWords(df, n, bits, take, offsets + c.g0, c.pk, words);
    hn::StoreU(hn::IfThenElse(take, c.bestS, c.s0), df, sOut + c.g0);
    for (int64_t l = 0; l < N; ++l)
      replaced[c.g0 + l] = flags[l] != 0.0f;
  };

  Chunk chunks[2];
  for (int m = 0; m < 2; ++m) {
    chunks[m].yf = yfV.data() + m * n * N;
    chunks[m].wt = wtV.data() + m * n * N;
    chunks[m].pk = pkV.data() + m * n * N;
    // (Read, unused, by a last chunk without a partner.)
    chunks[m].lead = zeroF;
    chunks[m].chain = hn::Lt(oneF, zeroF);
  }
  for (int64_t g0 = 0; g0 < count; g0 += 2 * N) {
    const int pair = g0 + N < count ? 2 : 1;
    for (int m = 0; m < pair; ++m) {
      chunks[m].g0 = g0 + m * N;
      begin(chunks[m]);
    }
    for (int orient = 0; orient < (fullRange ? 2 : 1); ++orient) {
      for (int m = 0; m < pair; ++m)
        screen(chunks[m], orient);
      VW lead[2] = {chunks[0].lead, chunks[1].lead};
      MW chain[2] = {chunks[0].chain, chunks[1].chain};
      auto prepareM = [&](int m, VW s, MW want, VW &inv)
                          HWY_ATTR __attribute__((always_inline)) {
        return prepare(chunks[m], s, want, inv);
      };
      auto scoreM = [&](auto k, const VW *s, const VW *inv, const MW *ok,
                        VW *e, VW *next)
                        HWY_ATTR __attribute__((always_inline)) {
        Chunk *ch[2] = {&chunks[0], &chunks[1]};
        score(k, ch, s, inv, ok, e, next);
      };
      if (pair == 2)
        Refine<2>(df, lead, chain, prepareM, scoreM);
      else
        Refine<1>(df, lead, chain, prepareM, scoreM);
    }
    for (int m = 0; m < pair; ++m)
      finish(chunks[m]);
  }
}

/// A chunk of the weighted search: its buffers and per-lane state.
template <class DW> struct WeightedChunk {
  HWY_ATTR WeightedChunk() {}
  float *xf, *af;
  uint32_t *wt;
  int64_t g0;
  hn::Vec<DW> w, best, bestS, lead;
  hn::Mask<DW> won, chain;
  hn::Vec<DW> tried[kMaxTried];
  int numTried;
};

/// calibrated::groupSearch of a chunk of groups, one per lane; chunks two at
/// a time (Refine). A lane whose group holds a NaN or an infinity, or only
/// zeros, has no candidate and keeps plain rounding (as the scalar callers
/// skip it).
template <FloatFormat F>
void WeightedSearchT(const float *xRow, const float *aRow,
                     const int32_t *offsets, int64_t n, int64_t count, float hi,
                     uint32_t *words, int bits, float *sOut,
                     uint8_t *replaced) {
  // Float arithmetic throughout: a full vector of groups per chunk.
  using DW = hn::ScalableTag<float>;
  using VW = hn::Vec<DW>;
  using MW = hn::Mask<DW>;
  using Chunk = WeightedChunk<DW>;
  const DW df;
  const hn::RebindToSigned<DW> di;
  const auto N = int64_t(hn::Lanes(df));
  // Scratch kept by the thread (a row is one call), for two chunks.
  thread_local std::vector<float> xfV, afV;
  thread_local std::vector<uint32_t> wtV;
  xfV.resize(size_t(2 * n * N));
  afV.resize(size_t(2 * n * N));
  wtV.resize(size_t(2 * n * N));
  const VW vHi = hn::Set(df, hi), vLo = hn::Set(df, -hi), zeroF = hn::Zero(df),
           oneF = hn::Set(df, 1.0f), magic = hn::Set(df, rules::kRoundMagic);
  const auto absBits = hn::Set(di, 0x7FFFFFFF),
             infBits = hn::Set(di, 0x7F800000);
  // E = (W - 2 (s X)) + (s s) Q.
  auto errorOf = [&](VW w, VW cs, VW sx, VW sq) HWY_ATTR {
    const VW t1 = hn::Mul(cs, sx);
    return hn::Add(hn::Sub(w, hn::Add(t1, t1)), hn::Mul(hn::Mul(cs, cs), sq));
  };
  auto prepare = [&](Chunk &c, VW cs, MW want, VW &inv)
                     HWY_ATTR __attribute__((always_inline)) {
    inv = hn::Div(oneF, cs);
    return FreshScales(df, cs, hn::And(want, hn::IsFinite(inv)), c.tried,
                       c.numTried);
  };
  // Candidate j: scale cs[j] of chunk *ch[j] in the lanes ok[j].
  auto score = [&](auto k, Chunk *const *ch, const VW *cs, const VW *inv,
                   const MW *ok, VW *e, VW *next)
                   HWY_ATTR __attribute__((always_inline)) {
    constexpr int K = decltype(k)::value;
    VW ci[K], sx[K], sq[K];
    const float *xf[K], *af[K];
    for (int j = 0; j < K; ++j) {
      ci[j] = hn::IfThenElse(ok[j], inv[j], oneF);
      sx[j] = zeroF;
      sq[j] = zeroF;
      xf[j] = ch[j]->xf;
      af[j] = ch[j]->af;
    }
    for (int64_t i = 0; i < n; ++i) {
      for (int j = 0; j < K; ++j) {
        const VW x = hn::LoadU(df, xf[j] + i * N);
        const VW a = hn::LoadU(df, af[j] + i * N);
        // search::assignCode: never NaN (finite x and inverse).
        VW q = hn::Sub(hn::Add(hn::Mul(x, ci[j]), magic), magic);
        q = hn::Max(hn::Min(q, vHi), vLo);
        const VW aq = hn::Mul(a, q);
        sx[j] = hn::Add(sx[j], hn::Mul(aq, x));
        sq[j] = hn::Add(sq[j], hn::Mul(aq, q));
      }
    }
    for (int j = 0; j < K; ++j) {
      Chunk &c = *ch[j];
      e[j] = errorOf(c.w, cs[j], sx[j], sq[j]);
      const MW better = hn::And(ok[j], hn::Lt(e[j], c.best));
      c.best = hn::IfThenElse(better, e[j], c.best);
      c.bestS = hn::IfThenElse(better, cs[j], c.bestS);
      c.won = hn::Or(c.won, better);
      const MW go = hn::And(ok[j], hn::Gt(sq[j], zeroF));
      next[j] = hn::IfThenElseZero(
          go, RoundScale<F>(hn::Div(sx[j], hn::IfThenElse(go, sq[j], oneF))));
    }
  };
  // The values, importance and plain rounding's words in lane order; max
  // |x|; W = sum (a x) x; plain rounding's X and Q and score (groupSearch's
  // order: i ascending from +0); then the screening.
  auto begin = [&](Chunk &c) HWY_ATTR {
    TransposeGroups(df, xRow, offsets + c.g0, n, c.xf);
    TransposeGroups(df, aRow, offsets + c.g0, n, c.af);
    const ChunkWords<DW> rtn(df, words, offsets + c.g0, n, bits, hi, c.wt);
    VW w = zeroF, sx0 = zeroF, sq0 = zeroF;
    auto topBits = hn::Zero(di);
    const float *xf = c.xf, *af = c.af;
    rtn.ForEach(df, [&](int64_t i, VW q) HWY_ATTR {
      const VW x = hn::LoadU(df, xf + i * N);
      const VW a = hn::LoadU(df, af + i * N);
      topBits = hn::Max(topBits, hn::And(hn::BitCast(di, x), absBits));
      w = hn::Add(w, hn::Mul(hn::Mul(a, x), x));
      const VW aq = hn::Mul(a, q);
      sx0 = hn::Add(sx0, hn::Mul(aq, x));
      sq0 = hn::Add(sq0, hn::Mul(aq, q));
    });
    c.w = w;
    const VW s0 = hn::LoadU(df, sOut + c.g0);
    c.best = errorOf(w, s0, sx0, sq0);
    c.bestS = s0;
    c.won = hn::Lt(oneF, zeroF);
    c.numTried = 0;
    // Finite and not all zero (the scalar callers skip other groups); max
    // |x| is the float of the largest magnitude bits.
    const MW valid = hn::RebindMask(
        df, hn::And(hn::Gt(topBits, hn::Zero(di)), hn::Lt(topBits, infBits)));
    const VW base = hn::Div(hn::BitCast(df, topBits), vHi);
    auto prepare1 = [&](VW cs, MW want, VW &inv)
                        HWY_ATTR __attribute__((always_inline)) {
      return prepare(c, cs, want, inv);
    };
    auto score1 = [&](auto k, const VW *cs, const VW *inv, const MW *ok,
                      VW *e, VW *next) HWY_ATTR __attribute__((always_inline)) {
      Chunk *ch[decltype(k)::value];
      for (auto &p : ch)
        p = &c;
      score(k, ch, cs, inv, ok, e, next);
    };
    c.lead = Screen<F>(df, base, valid, prepare1, score1);
    c.chain = valid;
  };
  // The winners' codes, by the rule that scored them, packed into the row's
  // words.
  auto finish = [&](Chunk &c) HWY_ATTR {
    const VW inv = hn::Div(oneF, hn::IfThenElse(c.won, c.bestS, oneF));
    const float *xf = c.xf;
    PackCodes(
        df, n, bits, hi,
        [&](int64_t i) HWY_ATTR {
          const VW x = hn::LoadU(df, xf + i * N);
          const VW q = hn::Sub(hn::Add(hn::Mul(x, inv), magic), magic);
          return hn::Max(hn::Min(q, vHi), vLo);
        },
        c.wt);
    CopyWinnerWords(df, n, bits, c.won, offsets + c.g0, c.wt, words);
    hn::StoreU(c.bestS, df, sOut + c.g0);
    alignas(64) float flags[64];
    hn::StoreU(hn::IfThenElseZero(c.won, oneF), df, flags);
    for (int64_t l = 0; l < N; ++l)
      replaced[c.g0 + l] = flags[l] != 0.0f;
  };

  Chunk chunks[2];
  for (int m = 0; m < 2; ++m) {
    chunks[m].xf = xfV.data() + m * n * N;
    chunks[m].af = afV.data() + m * n * N;
    chunks[m].wt = wtV.data() + m * n * N;
    // (Read, unused, by a last chunk without a partner.)
    chunks[m].lead = zeroF;
    chunks[m].chain = hn::Lt(oneF, zeroF);
  }
  for (int64_t g0 = 0; g0 < count; g0 += 2 * N) {
    const int pair = g0 + N < count ? 2 : 1;
    for (int m = 0; m < pair; ++m) {
      chunks[m].g0 = g0 + m * N;
      begin(chunks[m]);
    }
    VW lead[2] = {chunks[0].lead, chunks[1].lead};
    MW chain[2] = {chunks[0].chain, chunks[1].chain};
    auto prepareM = [&](int m, VW cs, MW want, VW &inv)
                        HWY_ATTR __attribute__((always_inline)) {
      return prepare(chunks[m], cs, want, inv);
    };
    auto scoreM = [&](auto k, const VW *cs, const VW *inv, const MW *ok,
                      VW *e, VW *next) HWY_ATTR __attribute__((always_inline)) {
      Chunk *ch[2] = {&chunks[0], &chunks[1]};
      score(k, ch, cs, inv, ok, e, next);
    };
    if (pair == 2)
      Refine<2>(df, lead, chain, prepareM, scoreM);
    else
      Refine<1>(df, lead, chain, prepareM, scoreM);
    for (int m = 0; m < pair; ++m)
      finish(chunks[m]);
  }
}

} // namespace

void LoadModelRow(FloatFormat format, const void *src, int64_t n,
                  float *dst) {
  if (format == FloatFormat::F32) {
    std::memcpy(dst, src, size_t(n) * 4);
    return;
  }
  const hn::ScalableTag<float> df;
  const hn::Rebind<uint16_t, decltype(df)> dh;
  const auto N = int64_t(hn::Lanes(df));
  const auto *h = static_cast<const uint16_t *>(src);
  int64_t i = 0;
  if (format == FloatFormat::F16) {
    for (; i + N <= n; i += N)
      hn::StoreU(HalfToFloat(df, hn::LoadU(dh, h + i)), df, dst + i);
    for (; i < n; ++i)
      dst[i] = halfToFloat(h[i]);
  } else {
    for (; i + N <= n; i += N)
      hn::StoreU(BFloat16ToFloat(df, hn::LoadU(dh, h + i)), df, dst + i);
    for (; i < n; ++i)
      dst[i] = bfloat16ToFloat(h[i]);
  }
}

void GroupTopBits(const float *x, int64_t k, int64_t gs, uint32_t *top) {
  const hn::ScalableTag<uint32_t> du;
  const auto W = int64_t(hn::Lanes(du));
  const auto *u = reinterpret_cast<const uint32_t *>(x);
  const auto absMask = hn::Set(du, 0x7FFFFFFFu);
  for (int64_t g = 0, begin = 0; begin < k; ++g, begin += gs) {
    const int64_t end = std::min(begin + gs, k);
    int64_t i = begin;
    auto m = hn::Zero(du);
    for (; i + W <= end; i += W)
      m = hn::Max(m, hn::And(hn::LoadU(du, u + i), absMask));
    uint32_t t = hn::GetLane(hn::MaxOfLanes(du, m));
    for (; i < end; ++i)
      t = std::max(t, u[i] & 0x7FFFFFFFu);
    top[g] = t;
  }
}

void SearchScalesBatch(FloatFormat format, const float *x,
                       const int32_t *offsets, int64_t n, int64_t count,
                       float maxInt, bool fullRange, uint32_t *words, int bits,
                       float *s, uint8_t *replaced) {
  switch (format) {
  case FloatFormat::F16:
    return SearchScalesT<FloatFormat::F16>(x, offsets, n, count, maxInt,
                                           fullRange, words, bits, s,
                                           replaced);
  case FloatFormat::BF16:
    return SearchScalesT<FloatFormat::BF16>(x, offsets, n, count, maxInt,
                                            fullRange, words, bits, s,
                                            replaced);
  case FloatFormat::F32:
    return SearchScalesT<FloatFormat::F32>(x, offsets, n, count, maxInt,
                                           fullRange, words, bits, s,
                                           replaced);
  }
}

void WeightedSearchBatch(FloatFormat format, const float *x, const float *a,
                         const int32_t *offsets, int64_t n, int64_t count,
                         float hi, uint32_t *words, int bits, float *s,
                         uint8_t *replaced) {
  switch (format) {
  case FloatFormat::F16:
    return WeightedSearchT<FloatFormat::F16>(x, a, offsets, n, count, hi,
                                             words, bits, s, replaced);
  case FloatFormat::BF16:
    return WeightedSearchT<FloatFormat::BF16>(x, a, offsets, n, count, hi,
                                              words, bits, s, replaced);
  case FloatFormat::F32:
    return WeightedSearchT<FloatFormat::F32>(x, a, offsets, n, count, hi,
                                             words, bits, s, replaced);
  }
}

} // namespace qopt::numerics::HWY_NAMESPACE
HWY_AFTER_NAMESPACE();

#if HWY_ONCE

#include "SimdBatchSearch.h"

namespace qopt::numerics {

HWY_EXPORT(SearchScalesBatch);
HWY_EXPORT(WeightedSearchBatch);
HWY_EXPORT(LoadModelRow);
HWY_EXPORT(GroupTopBits);

namespace simd {

void searchScalesBatch(FloatFormat format, const float *x,
                       const int32_t *offsets, int64_t n, int64_t count,
                       float maxInt, bool fullRange, uint32_t *words, int bits,
                       float *s, uint8_t *replaced) {
  HWY_DYNAMIC_DISPATCH(SearchScalesBatch)(format, x, offsets, n, count, maxInt,
                                          fullRange, words, bits, s,
                                          replaced);
}

void weightedSearchBatch(FloatFormat format, const float *x, const float *a,
                         const int32_t *offsets, int64_t n, int64_t count,
                         float hi, uint32_t *words, int bits, float *s,
                         uint8_t *replaced) {
  HWY_DYNAMIC_DISPATCH(WeightedSearchBatch)(format, x, a, offsets, n, count,
                                            hi, words, bits, s, replaced);
}

void groupTopBits(const float *x, int64_t k, int64_t gs, uint32_t *top) {
  HWY_DYNAMIC_DISPATCH(GroupTopBits)(x, k, gs, top);
}

void loadModelRow(FloatFormat format, const void *src, int64_t n,
                  float *dst) {
  HWY_DYNAMIC_DISPATCH(LoadModelRow)(format, src, n, dst);
}

} // namespace simd
} // namespace qopt::numerics

#endif // HWY_ONCE
