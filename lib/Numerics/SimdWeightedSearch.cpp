//===- SimdWeightedSearch.cpp - --imatrix's search, one group per lane -*- C++ -*-===//
//
// See SimdBatchSearch.h (weightedSearchBatch): calibrated::groupSearch for
// chunks of as many groups as the target has float lanes, every score a
// float32 sum in the scalar order, with the candidate schedule of
// SimdBatchSchedule-inl.h. Compiled once per Highway target
// (foreach_target); the HWY_ONCE part holds the dispatch.
//
//===----------------------------------------------------------------------===//

// Arrays of vectors below: on Arm this file compiles for NEON only (as
// SimdCalibrated.cpp; the bytes are the same on every target).
#if defined(__aarch64__) && !defined(HWY_DISABLED_TARGETS)
#define HWY_DISABLED_TARGETS (HWY_SVE | HWY_SVE2 | HWY_SVE_256 | HWY_SVE2_128)
#endif

#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "lib/Numerics/SimdWeightedSearch.cpp"
#include <hwy/foreach_target.h> // IWYU pragma: keep

#include <hwy/highway.h>

#include "CalibratedSearch.h"
#include "SimdBatchSchedule-inl.h"
#include "SimdBatchWords-inl.h"
#include "SimdRules-inl.h"

#include <cstdint>
#include <limits>
#include <type_traits>
#include <vector>

HWY_BEFORE_NAMESPACE();
namespace qopt::numerics::HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

namespace {

using calibrated::kMaxTried;

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
      next[j] = LeastSquaresNext<F>(ok[j], sx[j], sq[j]);
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
    c.lead = ScreenChunk<F>(df, base, valid, c, prepare, score);
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
    RefineChunks(df, chunks, pair, prepare, score);
    for (int m = 0; m < pair; ++m)
      finish(chunks[m]);
  }
}

} // namespace

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

HWY_EXPORT(WeightedSearchBatch);

void simd::weightedSearchBatch(FloatFormat format, const float *x,
                               const float *a, const int32_t *offsets,
                               int64_t n, int64_t count, float hi,
                               uint32_t *words, int bits, float *s,
                               uint8_t *replaced) {
  HWY_DYNAMIC_DISPATCH(WeightedSearchBatch)(format, x, a, offsets, n, count,
                                            hi, words, bits, s, replaced);
}

} // namespace qopt::numerics

#endif // HWY_ONCE
