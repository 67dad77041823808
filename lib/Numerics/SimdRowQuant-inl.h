//===- SimdRowQuant-inl.h - Row-wide steps of the group quantizer -*- C++ -*-===//
//
// Internal to lib/Numerics; included once per Highway target by
// SimdKernels.cpp (foreach_target). The two per-row steps of the group
// quantization kernel written across the whole row instead of group by
// group, so that no vector is cut at a group's end and no per-group loop
// setup or horizontal reduction runs for every group:
//
//  - GroupMaxBitsRow: the largest magnitude bits of every group, each group
//    first reduced to one vector, then a batch of as many groups as a
//    vector has 16-bit lanes reduced together by a tree of ConcatEven /
//    ConcatOdd + Max (lane j of the result is group j's maximum), instead
//    of one MaxOfLanes per group;
//  - QuantizeRowSpans: the codes of the row, vector by vector; a vector
//    that straddles two groups takes each lane's scale from its own group
//    (a FirstN blend of the two scales);
//  - PackTriples: int3 words two at a time on 128-bit vectors.
//
// Both compute per lane exactly the operations of the group-wise code
// (QuantizeValues, rules::Model<F>::absBits): only which lanes share a
// vector changes, so the bytes are the same (SimdTargetsTest compares every
// target with the scalar definitions).
//
//===----------------------------------------------------------------------===//

// Per-target include guard (Highway's convention).
#if defined(QOPT_LIB_NUMERICS_SIMDROWQUANT_INL_H) ==                          \
    defined(HWY_TARGET_TOGGLE)
#ifdef QOPT_LIB_NUMERICS_SIMDROWQUANT_INL_H
#undef QOPT_LIB_NUMERICS_SIMDROWQUANT_INL_H
#else
#define QOPT_LIB_NUMERICS_SIMDROWQUANT_INL_H
#endif

#include "Pack.h"
#include "SimdRules-inl.h"

#include <hwy/highway.h>

#include <cstdint>
#include <type_traits>

HWY_BEFORE_NAMESPACE();
namespace qopt::numerics::HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

#if !HWY_HAVE_SCALABLE && HWY_TARGET != HWY_SCALAR
/// Whether the row-wide steps run on this target: fixed-size vectors (a
/// tree of vector values; scalable vectors cannot be array elements or
/// have a lane count known at compile time) of at least 8 lanes of 16 bits.
inline constexpr bool kRowSteps = true;
#else
inline constexpr bool kRowSteps = false;
#endif

/// Loads Lanes(df) model-format values as float32 (also used by the
/// group-wise code in SimdKernels.cpp).
template <FloatFormat F, class DF>
HWY_INLINE VecOf<DF> LoadValues(DF df,
                                const typename rules::Model<F>::Storage *p) {
  if constexpr (F == FloatFormat::F32) {
    return hn::LoadU(df, p);
  } else {
    const hn::Rebind<uint16_t, DF> dh;
    const auto h = hn::LoadU(dh, p);
    if constexpr (F == FloatFormat::F16)
      return HalfToFloat(df, h);
    else
      return BFloat16ToFloat(df, h);
  }
}

#if !HWY_HAVE_SCALABLE && HWY_TARGET != HWY_SCALAR
/// The vector of group g's magnitude bits, reduced over its gs / N lanes
/// vertically (every lane keeps its own maximum).
template <class D16>
HWY_INLINE VecOf<D16> GroupVerticalMax(D16 d16, const uint16_t *w, int64_t gs,
                                       uint16_t mask) {
  const auto n = int64_t(hn::Lanes(d16));
  const auto m = hn::Set(d16, mask);
  auto v = hn::And(hn::LoadU(d16, w), m);
  for (int64_t i = n; i < gs; i += n)
    v = hn::Max(v, hn::And(hn::LoadU(d16, w + i), m));
  return v;
}

/// Groups [g0, g0 + 2^Level) reduced to a vector whose lanes
/// [j * N / 2^Level, (j + 1) * N / 2^Level) hold partial maxima of group
/// g0 + j only; at Level = log2(N), lane j is group g0 + j's maximum.
template <int Level, class D16>
HWY_INLINE VecOf<D16> ReduceGroupTree(D16 d16, const uint16_t *w, int64_t gs,
                                      uint16_t mask) {
  if constexpr (Level == 0) {
    return GroupVerticalMax(d16, w, gs, mask);
  } else {
    const auto lo = ReduceGroupTree<Level - 1>(d16, w, gs, mask);
    const auto hi =
        ReduceGroupTree<Level - 1>(d16, w + (int64_t(1) << (Level - 1)) * gs,
                                   gs, mask);
    // Lanes 2i and 2i + 1 cover the same group: their maximum moves to
    // lane i of the lower half (lo's groups) or the upper half (hi's).
    return hn::Max(hn::ConcatEven(d16, hi, lo), hn::ConcatOdd(d16, hi, lo));
  }
}

constexpr int Log2Exact(size_t n) {
  int l = 0;
  while ((size_t(1) << l) < n)
    ++l;
  return (size_t(1) << l) == n ? l : -1;
}
#endif

#if !HWY_HAVE_SCALABLE && HWY_TARGET != HWY_SCALAR
/// GroupMaxBitsRow with vectors of 2^L 16-bit lanes (a multiple of which
/// the group size is).
template <int L, class D16, typename T>
HWY_INLINE int64_t GroupMaxBitsBatches(D16 d16, const T *w, int64_t numGroups,
                                       int64_t groupSize, uint32_t *maxBits) {
  const int64_t n = int64_t(1) << L;
  if (numGroups < n)
    return 0;
  const auto *p = reinterpret_cast<const uint16_t *>(w);
  const uint16_t mask = uint16_t(rules::kAbsMask16);
  const hn::Half<D16> dh;
  const hn::Rebind<uint32_t, decltype(dh)> d32;
  int64_t g = 0;
  for (; g + n <= numGroups; g += n) {
    const auto m = ReduceGroupTree<L>(d16, p + g * groupSize, groupSize, mask);
    hn::StoreU(hn::PromoteTo(d32, hn::LowerHalf(dh, m)), d32, maxBits + g);
    hn::StoreU(hn::PromoteTo(d32, hn::UpperHalf(dh, m)), d32,
               maxBits + g + n / 2);
  }
  return g;
}
#endif

/// maxBits[g] = the largest rules::Model<F>::absBits over group g, for the
/// first groups of the row in whole batches of N (16-bit lanes) groups;
/// returns how many groups it did (0 where it does not apply: float32
/// rows, a group size that is a multiple of neither N nor 8, or fewer
/// groups than one batch).
template <FloatFormat F>
HWY_INLINE int64_t GroupMaxBitsRow(const typename rules::Model<F>::Storage *w,
                                   int64_t numGroups, int64_t groupSize,
                                   uint32_t *maxBits) {
#if !HWY_HAVE_SCALABLE && HWY_TARGET != HWY_SCALAR
  if constexpr (F != FloatFormat::F32) {
    const hn::ScalableTag<uint16_t> d16;
    constexpr size_t N = hn::MaxLanes(d16);
    constexpr int L = Log2Exact(N);
    if constexpr (L >= 3) {
      if (groupSize % int64_t(N) == 0)
        return GroupMaxBitsBatches<L>(d16, w, numGroups, groupSize, maxBits);
      // Groups such as 40 values: 128-bit vectors, batches of 8 groups.
      const hn::FixedTag<uint16_t, 8> d128;
      if (groupSize % 8 == 0)
        return GroupMaxBitsBatches<3>(d128, w, numGroups, groupSize, maxBits);
    }
  }
#endif
  (void)w, (void)numGroups, (void)groupSize, (void)maxBits;
  return 0;
}

/// QuantizeValues + CodesToBytes for the lanes of a row whose scale is
/// finite and nonzero and whose values are not NaN (so t below is finite).
/// Round half to even: t + 2^23 rounds t to an integer in the low mantissa
/// bits exactly as (t + kRoundMagic) - kRoundMagic does for t in [0, 2^22);
/// a t below 0 gives a pattern at most that of 2^23, which the clamp's
/// lower bound (code 0, what clampCode gives every round(t) <= 0) replaces;
/// the upper bound is hi's pattern. Three operations instead of six.
template <FloatFormat F, RoundingMode R, class DF>
HWY_INLINE VecOf<hn::Rebind<uint8_t, DF>>
RowCodes(DF df, VecOf<DF> x, VecOf<DF> s, VecOf<DF> maxInt, VecOf<DF> hi) {
  if constexpr (R == RoundingMode::NearestEven) {
    const hn::RebindToSigned<DF> di;
    const hn::Rebind<uint8_t, DF> d8;
    // The float16 steps by Veltkamp's splitting (RoundToHalfBySplitting:
    // the bits of rules::roundToHalfForQuantizer for the finite lanes of
    // these rows), three float operations each instead of a conversion
    // round trip.
    const auto round = [&](VecOf<DF> v) {
      if constexpr (F == FloatFormat::F16)
        return RoundToHalfBySplitting(df, v);
      else
        return RoundForQuantizer<F>(df, v);
    };
    auto t = round(hn::Div(x, s));
    t = round(hn::Add(t, maxInt));
    const auto zero = hn::Set(di, int32_t(0x4B000000));
    auto u = hn::BitCast(di, hn::Add(t, hn::Set(df, 0x1p23f)));
    u = hn::Min(hn::Max(u, zero),
                hn::BitCast(di, hn::Add(hi, hn::Set(df, 0x1p23f))));
    return hn::TruncateTo(d8, hn::BitCast(hn::RebindToUnsigned<DF>(), u));
  } else {
    return CodesToBytes(df, QuantizeValues<F, R>(df, x, s, maxInt, hi));
  }
}

/// The codes q[0, end) of a row (the caller does the rest), vector by
/// vector, each lane with its group's scale: scales[g] for every group is
/// nonzero and finite and the row has no NaN (the caller checked). Returns end, the
/// last multiple of the vector length in k, or 0 where the step does not
/// apply (groups narrower than a vector).
template <FloatFormat F, RoundingMode R>
HWY_INLINE int64_t QuantizeRowSpans(const typename rules::Model<F>::Storage *w,
                                    int64_t k, int64_t groupSize,
                                    const float *scales, float maxInt,
                                    float hi, uint8_t *q) {
  if constexpr (!kRowSteps) {
    (void)w, (void)k, (void)groupSize, (void)scales, (void)maxInt, (void)hi,
        (void)q;
    return 0;
  } else {
    const hn::ScalableTag<float> df;
    const hn::Rebind<uint8_t, decltype(df)> d8;
    const auto n = int64_t(hn::Lanes(df));
    if (groupSize < n)
      return 0;
    const auto vMax = hn::Set(df, maxInt), vHi = hn::Set(df, hi);
    int64_t g = 0, groupEnd = groupSize;
    int64_t i = 0;
    for (; i + n <= k; i += n) {
      // Lanes [0, groupEnd - i) belong to group g, the rest to g + 1.
      auto vs = hn::Set(df, scales[g]);
      if (i + n > groupEnd) {
        vs = hn::IfThenElse(hn::FirstN(df, size_t(groupEnd - i)), vs,
                            hn::Set(df, scales[g + 1]));
        ++g;
        groupEnd += groupSize;
      } else if (i + n == groupEnd) {
        ++g;
        groupEnd += groupSize;
      }
      const auto x = LoadValues<F>(df, w + i);
      hn::StoreU(RowCodes<F, R>(df, x, vs, vMax, vHi), d8, q + i);
    }
    return i;
  }
}

/// packCodeWords(q, numWords, 3, out) (Pack.h), two words per 128-bit
/// vector: each u64 lane takes the first 8 codes of its word (a load at
/// the word's 10 codes) through the same SWAR steps, then codes 8 and 9 at
/// bits 24 and 27. q must be readable 8 bytes past the last word's codes.
HWY_INLINE void PackTriples(const uint8_t *q, int64_t numWords,
                            uint32_t *out) {
  int64_t j = 0;
#if !HWY_HAVE_SCALABLE && HWY_TARGET != HWY_SCALAR
  const hn::FixedTag<uint8_t, 16> d8;
  const hn::FixedTag<uint64_t, 2> d64;
  const hn::FixedTag<uint32_t, 2> d32;
  // The second load reads 16 bytes at word j + 1: 6 past its codes.
  for (; j + 2 < numWords; j += 2) {
    const auto a = hn::BitCast(d64, hn::LoadU(d8, q + 10 * j));
    const auto b = hn::BitCast(d64, hn::LoadU(d8, q + 10 * j + 10));
    auto u = hn::InterleaveLower(d64, a, b); // codes 0..7 of each word
    const auto h = hn::InterleaveUpper(d64, a, b); // codes 8, 9 at bytes 0, 1
    u = hn::And(hn::Or(u, hn::ShiftRight<5>(u)),
                hn::Set(d64, 0x003F003F003F003Full));
    u = hn::And(hn::Or(u, hn::ShiftRight<10>(u)),
                hn::Set(d64, 0x00000FFF00000FFFull));
    u = hn::And(hn::Or(u, hn::ShiftRight<20>(u)),
                hn::Set(d64, 0x0000000000FFFFFFull));
    const auto c8 = hn::ShiftLeft<24>(hn::And(h, hn::Set(d64, 0xFFull)));
    const auto c9 =
        hn::ShiftLeft<27>(hn::And(hn::ShiftRight<8>(h), hn::Set(d64, 0xFFull)));
    hn::StoreU(hn::TruncateTo(d32, hn::Or(u, hn::Or(c8, c9))), d32, out + j);
  }
#endif
  packCodeWords(q + 10 * j, numWords - j, 3, out + j);
}

} // namespace qopt::numerics::HWY_NAMESPACE
HWY_AFTER_NAMESPACE();

#endif // per-target include guard
