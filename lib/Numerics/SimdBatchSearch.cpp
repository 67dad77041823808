//===- SimdBatchSearch.cpp - Scale searches, one group per lane -*- C++ -*-===//
//
// See SimdBatchSearch.h: --optimize-scales' search (--imatrix's is
// SimdWeightedSearch.cpp, the schedule both run SimdBatchSchedule-inl.h).
// The kernel handles the groups of a batch in chunks
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
#include "SimdBatchSchedule-inl.h"
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
      next[j] = LeastSquaresNext<F>(ok[j], sx[j], sq[j]);
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
    c.lead = ScreenChunk<F>(df, base, c.valid, c, prepare, score);
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
      RefineChunks(df, chunks, pair, prepare, score);
    }
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

} // namespace qopt::numerics::HWY_NAMESPACE
HWY_AFTER_NAMESPACE();

#if HWY_ONCE

#include "SimdBatchSearch.h"

namespace qopt::numerics {

HWY_EXPORT(SearchScalesBatch);
HWY_EXPORT(LoadModelRow);

namespace simd {

void searchScalesBatch(FloatFormat format, const float *x,
                       const int32_t *offsets, int64_t n, int64_t count,
                       float maxInt, bool fullRange, uint32_t *words, int bits,
                       float *s, uint8_t *replaced) {
  HWY_DYNAMIC_DISPATCH(SearchScalesBatch)(format, x, offsets, n, count, maxInt,
                                          fullRange, words, bits, s,
                                          replaced);
}

void loadModelRow(FloatFormat format, const void *src, int64_t n,
                  float *dst) {
  HWY_DYNAMIC_DISPATCH(LoadModelRow)(format, src, n, dst);
}

} // namespace simd
} // namespace qopt::numerics

#endif // HWY_ONCE
