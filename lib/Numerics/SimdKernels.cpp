//===- SimdKernels.cpp - Highway kernels: quantize, casts, fp8 --*- C++ -*-===//
//
// See Simd.h. This file is compiled once per Highway target (foreach_target
// re-includes it); the HWY_ONCE part at the end holds the dispatch tables,
// the run-time switch and the public target query (qopt/Numerics/Simd.h).
//
//===----------------------------------------------------------------------===//

#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "lib/Numerics/SimdKernels.cpp"
#include <hwy/foreach_target.h> // IWYU pragma: keep

#include <hwy/highway.h>

#include "Pack.h"
#include "SimdRowQuant-inl.h"
#include "SimdRules-inl.h"

#include <algorithm>
#include <cstring>
#include <type_traits>
#include <vector>

HWY_BEFORE_NAMESPACE();
namespace qopt::numerics::HWY_NAMESPACE {

/// The target this copy was compiled for.
int64_t TargetOf() { return HWY_TARGET; }

/// Element i of an array that may be unaligned.
template <typename T>
HWY_INLINE T loadAt(const T *p, int64_t i) {
  T v;
  std::memcpy(&v, p + i, sizeof(T));
  return v;
}

template <typename T>
HWY_INLINE void storeAt(T *p, int64_t i, T v) {
  std::memcpy(p + i, &v, sizeof(T));
}

// LoadValues (model-format values as float32): SimdRowQuant-inl.h.

/// Largest magnitude bits of len values (rules::Model<F>::absBits).
template <FloatFormat F>
HWY_INLINE uint32_t GroupMaxBits(const typename rules::Model<F>::Storage *w,
                                 int64_t len) {
  using M = rules::Model<F>;
  using B = std::conditional_t<F == FloatFormat::F32, uint32_t, uint16_t>;
  constexpr B kMask = F == FloatFormat::F32 ? B(detail::kFloatAbsMask)
                                            : B(rules::kAbsMask16);
  const B *p = reinterpret_cast<const B *>(w);
  const hn::ScalableTag<B> db;
  const auto n = int64_t(hn::Lanes(db));
  int64_t i = 0;
  uint32_t r = 0;
  if (len >= n) {
    auto m = hn::Zero(db);
    for (; i + n <= len; i += n)
      m = hn::Max(m, hn::And(hn::LoadU(db, p + i), hn::Set(db, kMask)));
    r = hn::GetLane(hn::MaxOfLanes(db, m));
  }
  // A 128-bit step for the rest of groups such as 40 values.
  const hn::CappedTag<B, 16 / sizeof(B)> d128;
  const auto n128 = int64_t(hn::Lanes(d128));
  for (; i + n128 <= len; i += n128)
    r = std::max<uint32_t>(
        r, hn::GetLane(hn::MaxOfLanes(
               d128, hn::And(hn::LoadU(d128, p + i), hn::Set(d128, kMask)))));
  for (; i < len; ++i)
    r = std::max(r, M::absBits(loadAt(w, i)));
  return r;
}

/// Codes of values [i, i + Lanes(df) * steps) of a group into q; returns
/// the next index.
template <FloatFormat F, RoundingMode R, bool ZeroScale, class DF>
HWY_INLINE int64_t QuantizeSpan(DF df,
                                const typename rules::Model<F>::Storage *w,
                                int64_t i, int64_t len, float s, float maxInt,
                                float hi, uint8_t *q) {
  const hn::Rebind<uint8_t, DF> d8;
  const auto n = int64_t(hn::Lanes(df));
  const auto vs = hn::Set(df, s), vMax = hn::Set(df, maxInt),
             vHi = hn::Set(df, hi);
  for (; i + n <= len; i += n) {
    const auto x = LoadValues<F>(df, w + i);
    if constexpr (ZeroScale)
      hn::StoreU(CodesToBytes(df, QuantizeValuesZeroScale(df, x, vHi)), d8,
                 q + i);
    else
      hn::StoreU(
          CodesToBytes(df, QuantizeValues<F, R>(df, x, vs, vMax, vHi)), d8,
          q + i);
  }
  return i;
}

/// The codes of one group with the (float) scale s.
template <FloatFormat F, RoundingMode R, bool ZeroScale>
HWY_INLINE void QuantizeGroup(const typename rules::Model<F>::Storage *w,
                              int64_t len, float s, float maxInt, float hi,
                              uint8_t *q) {
  using T = typename rules::Model<F>::Storage;
  const hn::ScalableTag<float> df;
  int64_t i = QuantizeSpan<F, R, ZeroScale>(df, w, 0, len, s, maxInt, hi, q);
  const hn::CappedTag<float, 4> d4;
  i = QuantizeSpan<F, R, ZeroScale>(d4, w, i, len, s, maxInt, hi, q);
  if (i == len)
    return;
  // The last 1..3 values through a zero-padded copy.
  T pad[4] = {};
  uint8_t out[4];
  std::memcpy(pad, w + i, size_t(len - i) * sizeof(T));
  QuantizeSpan<F, R, ZeroScale>(d4, pad, 0, 4, s, maxInt, hi, out);
  std::memcpy(q + i, out, size_t(len - i));
}

/// Packs int4 codes: two codes per 16-bit lane become one byte.
HWY_INLINE void PackNibbles(const uint8_t *q, int64_t numWords,
                            uint32_t *out) {
  const hn::ScalableTag<uint16_t> d16;
  const hn::RebindToSigned<decltype(d16)> di16;
  const hn::Rebind<uint8_t, decltype(d16)> d8;
  const auto n = int64_t(hn::Lanes(d16));
  auto *o = reinterpret_cast<uint8_t *>(out);
  const int64_t total = numWords * 8;
  int64_t i = 0;
  for (; i + 2 * n <= total; i += 2 * n) {
    const auto v = hn::LoadU(d16, reinterpret_cast<const uint16_t *>(q + i));
    const auto t =
        hn::And(hn::Or(v, hn::ShiftRight<4>(v)), hn::Set(d16, uint16_t(0xFF)));
    hn::StoreU(hn::DemoteTo(d8, hn::BitCast(di16, t)), d8, o + i / 2);
  }
  packCodeWords(q + i, (total - i) / 8, 4, out + i / 8);
}

/// The float16 casts of weights.cast (convertElements: Convert.cpp), also
/// used row by row by QuantizeRowsT for values stored wider than the model
/// format.
void Bf16ToF16(const uint16_t *src, uint16_t *dst, size_t n) {
  const hn::ScalableTag<float> df;
  const hn::Rebind<uint16_t, decltype(df)> dh;
  const size_t lanes = hn::Lanes(df);
  size_t i = 0;
  for (; i + lanes <= n; i += lanes)
    hn::StoreU(FloatToHalf(df, BFloat16ToFloat(df, hn::LoadU(dh, src + i))),
               dh, dst + i);
  for (; i < n; ++i)
    storeAt(dst, int64_t(i),
            floatToHalf(bfloat16ToFloat(loadAt(src, int64_t(i)))));
}

void F32ToF16(const float *src, uint16_t *dst, size_t n) {
  const hn::ScalableTag<float> df;
  const hn::Rebind<uint16_t, decltype(df)> dh;
  const size_t lanes = hn::Lanes(df);
  size_t i = 0;
  for (; i + lanes <= n; i += lanes)
    hn::StoreU(FloatToHalf(df, hn::LoadU(df, src + i)), dh, dst + i);
  for (; i < n; ++i)
    storeAt(dst, int64_t(i), floatToHalf(loadAt(src, int64_t(i))));
}

/// Stored values of one row in the model format F: the row itself, or (for
/// values stored as S, wider than a float16 model) the row cast to float16
/// in `buf` by the cast above, which is weights.cast's own rounding.
template <FloatFormat F, FloatFormat S>
HWY_INLINE const typename rules::Model<F>::Storage *
ModelRow(const typename rules::Model<S>::Storage *src, int64_t k,
         typename rules::Model<F>::Storage *buf) {
  if constexpr (S == F) {
    (void)k, (void)buf;
    return src;
  } else {
    static_assert(F == FloatFormat::F16 && S != FloatFormat::F16);
    if constexpr (S == FloatFormat::BF16)
      Bf16ToF16(src, buf, size_t(k));
    else
      F32ToF16(src, buf, size_t(k));
    return buf;
  }
}

/// Quantizes rows of values stored as S (the model format F, or bfloat16 /
/// float32 for a float16 model: see ModelRow); returns the first row
/// holding a NaN or an infinity in the model format (rows if none), which
/// the group maxima show at no extra cost (the source range check fused
/// into this pass over the values, docs/reliability.md).
template <FloatFormat F, RoundingMode R, FloatFormat S>
int64_t QuantizeRowsT(const void *wv, int64_t rows, int64_t k, int bits,
                   int64_t groupSize, uint32_t *qweight, void *scalev) {
  using M = rules::Model<F>;
  using T = typename M::Storage;
  const int64_t numGroups = (k + groupSize - 1) / groupSize;
  const int64_t numWords = (groupSize / (32 / bits)) * numGroups;
  const auto maxInt = float((1 << (bits - 1)) - 1);
  const float hi = 2.0f * maxInt;
  // Codes of a row; the padding positions [k, numGroups * groupSize) and 8
  // bytes of slack for the packers' word loads stay 0.
  std::vector<uint8_t> q(size_t(numGroups * groupSize) + 8, 0);
  std::vector<uint32_t> maxBits(static_cast<size_t>(numGroups));
  std::vector<float> scales(static_cast<size_t>(numGroups));
  // A row cast to the model format (stored wider only): it stays in L1.
  std::vector<T> modelRow(S == F ? 0 : size_t(k));
  const auto *w = static_cast<const typename rules::Model<S>::Storage *>(wv);
  T *scale = static_cast<T *>(scalev);
  int64_t firstNonFinite = rows;
  for (int64_t row = 0; row < rows; ++row) {
    // The next row's values are fetched while this one is quantized: a row
    // is often a page of its own (2048 half values), where the hardware
    // prefetcher, which stays inside a page, starts cold.
    if (row + 1 < rows) {
      const auto *next =
          reinterpret_cast<const char *>(w + (row + 1) * k);
      const int64_t bytes = k * int64_t(sizeof(*w));
      for (int64_t b = 0; b < bytes; b += 64)
        __builtin_prefetch(next + b);
    }
    const T *wRow = ModelRow<F, S>(w + row * k, k, modelRow.data());
    T *scaleRow = scale + row * numGroups;
    bool anyNaN = false, anyInf = false;
    // Whole batches of groups row-wide (SimdRowQuant-inl.h), the rest one
    // by one.
    const int64_t rowGroups =
        GroupMaxBitsRow<F>(wRow, k / groupSize, groupSize, maxBits.data());
    for (int64_t g = 0; g < rowGroups; ++g) {
      anyNaN |= maxBits[size_t(g)] > M::kInfBits;
      anyInf |= maxBits[size_t(g)] == M::kInfBits;
    }
    for (int64_t g = rowGroups; g < numGroups; ++g) {
      const int64_t begin = g * groupSize;
      const uint32_t m =
          GroupMaxBits<F>(wRow + begin, std::min(groupSize, k - begin));
      maxBits[size_t(g)] = m;
      anyNaN |= m > M::kInfBits;
      anyInf |= m == M::kInfBits;
    }
    if ((anyNaN || anyInf) && firstNonFinite == rows)
      firstNonFinite = row;
    // The scales (rules::groupScale): float16 ones on vectors of groups.
    int64_t g = 0;
    if constexpr (F == FloatFormat::F16) {
      const hn::ScalableTag<float> df;
      const hn::RebindToUnsigned<decltype(df)> du;
      const hn::Rebind<uint16_t, decltype(df)> dh;
      const auto n = int64_t(hn::Lanes(df));
      for (; g + n <= numGroups; g += n) {
        const auto maxAbs = HalfToFloat(
            df, hn::DemoteTo(dh, hn::BitCast(hn::RebindToSigned<decltype(df)>(),
                                             hn::LoadU(du, &maxBits[size_t(g)]))));
        const auto sv = FloatToHalf(df, hn::Div(maxAbs, hn::Set(df, maxInt)));
        hn::StoreU(sv, dh, scaleRow + g);
        hn::StoreU(HalfToFloat(df, sv), df, &scales[size_t(g)]);
      }
    }
    for (; g < numGroups; ++g) {
      const T sv =
          rules::groupScale<F>(M::absBitsToFloat(maxBits[size_t(g)]), maxInt);
      storeAt(scaleRow, g, sv);
      scales[size_t(g)] = M::toFloat(sv);
    }
    // A NaN in a group: TVM's select chain decides its max.
    if (anyNaN)
      for (g = 0; g < numGroups; ++g)
        if (maxBits[size_t(g)] > M::kInfBits) {
          const int64_t begin = g * groupSize;
          const T sv = rules::groupScale<F>(
              rules::groupMaxAbs<F>(wRow + begin,
                                    std::min(groupSize, k - begin), groupSize),
              maxInt);
          storeAt(scaleRow, g, sv);
          scales[size_t(g)] = M::toFloat(sv);
        }
    // Without NaN, infinities and zero scales, the codes row-wide, then the
    // groups of the tail that is shorter than a vector.
    int64_t done = 0;
    if (!anyNaN && !anyInf && std::find(scales.begin(), scales.end(), 0.0f) ==
                       scales.end())
      done = QuantizeRowSpans<F, R>(wRow, k, groupSize, scales.data(), maxInt,
                                    hi, q.data());
    for (g = done / groupSize; g < numGroups; ++g) {
      const int64_t begin = std::max(g * groupSize, done);
      const int64_t len = std::min((g + 1) * groupSize, k) - begin;
      if (len <= 0)
        continue;
      const float s = scales[size_t(g)];
      if (s != 0.0f)
        QuantizeGroup<F, R, false>(wRow + begin, len, s, maxInt, hi,
                                   q.data() + begin);
      else
        QuantizeGroup<F, R, true>(wRow + begin, len, s, maxInt, hi,
                                  q.data() + begin);
    }
    uint32_t *qRow = qweight + row * numWords;
    if (bits == 4)
      PackNibbles(q.data(), numWords, qRow);
    else if (bits == 3)
      PackTriples(q.data(), numWords, qRow);
    else
      packCodeWords(q.data(), numWords, bits, qRow);
  }
  return firstNonFinite;
}

/// QuantizeRowsT for one stored format, model format and rounding (the
/// stored format is the model's, or BF16 / F32 for an F16 model).
template <FloatFormat S>
int64_t QuantizeRowsFrom(const void *w, int64_t rows, int64_t k, int bits,
                         int64_t groupSize, FloatFormat format,
                         RoundingMode rounding, uint32_t *qweight,
                         void *scale) {
  constexpr auto E = RoundingMode::NearestEven, A = RoundingMode::NearestAway;
  constexpr auto H = FloatFormat::F16;
  if (S != format && format != H)
    return -1;
  const bool even = rounding == E;
  if constexpr (S == FloatFormat::F16)
    return even ? QuantizeRowsT<H, E, S>(w, rows, k, bits, groupSize, qweight,
                                         scale)
                : QuantizeRowsT<H, A, S>(w, rows, k, bits, groupSize, qweight,
                                         scale);
  else if (format == H)
    return even ? QuantizeRowsT<H, E, S>(w, rows, k, bits, groupSize, qweight,
                                         scale)
                : QuantizeRowsT<H, A, S>(w, rows, k, bits, groupSize, qweight,
                                         scale);
  else
    return even ? QuantizeRowsT<S, E, S>(w, rows, k, bits, groupSize, qweight,
                                         scale)
                : QuantizeRowsT<S, A, S>(w, rows, k, bits, groupSize, qweight,
                                         scale);
}

int64_t QuantizeRows(const void *w, FloatFormat stored, int64_t rows,
                     int64_t k, int bits, int64_t groupSize,
                     FloatFormat format, RoundingMode rounding,
                     uint32_t *qweight, void *scale) {
  switch (stored) {
  case FloatFormat::F16:
    return QuantizeRowsFrom<FloatFormat::F16>(w, rows, k, bits, groupSize,
                                              format, rounding, qweight, scale);
  case FloatFormat::BF16:
    return QuantizeRowsFrom<FloatFormat::BF16>(
        w, rows, k, bits, groupSize, format, rounding, qweight, scale);
  case FloatFormat::F32:
    return QuantizeRowsFrom<FloatFormat::F32>(w, rows, k, bits, groupSize,
                                              format, rounding, qweight, scale);
  }
  return -1;
}

uint32_t MaxAbsBits16(const uint16_t *w, size_t n) {
  return GroupMaxBits<FloatFormat::F16>(w, int64_t(n));
}

void QuantizeFp8E4M3(const uint16_t *w, size_t n, float scale, uint8_t *out) {
  const hn::ScalableTag<float> df;
  const hn::Rebind<uint16_t, decltype(df)> dh;
  const hn::Rebind<uint8_t, decltype(df)> d8;
  const hn::RebindToSigned<decltype(df)> di;
  const size_t lanes = hn::Lanes(df);
  const auto vScale = hn::Set(df, scale);
  size_t i = 0;
  for (; i + lanes <= n; i += lanes) {
    const auto x = HalfToFloat(df, hn::LoadU(dh, w + i));
    const auto code = FloatToF8E4M3FN(df, hn::Div(x, vScale));
    hn::StoreU(hn::DemoteTo(d8, hn::BitCast(di, code)), d8, out + i);
  }
  for (; i < n; ++i)
    out[i] = rules::fp8E4M3Code(loadAt(w, int64_t(i)), scale);
}

void CastHalfToFp8E5M2(const uint16_t *w, size_t n, uint8_t *out) {
  const hn::ScalableTag<uint16_t> d16;
  const hn::RebindToSigned<decltype(d16)> di16;
  const hn::Rebind<uint8_t, decltype(d16)> d8;
  const size_t lanes = hn::Lanes(d16);
  const auto inf = hn::Set(d16, uint16_t(detail::kHalfInfBits));
  size_t i = 0;
  for (; i + lanes <= n; i += lanes) {
    const auto h = hn::LoadU(d16, w + i);
    const auto sign = hn::And(hn::ShiftRight<8>(h), hn::Set(d16, uint16_t(0x80)));
    const auto a = hn::And(h, hn::Set(d16, uint16_t(rules::kAbsMask16)));
    auto code = hn::ShiftRight<8>(
        hn::Add(hn::Add(a, hn::Set(d16, uint16_t(0x7F))),
                hn::And(hn::ShiftRight<8>(a), hn::Set(d16, uint16_t(1)))));
    code = hn::Min(code, hn::Set(d16, uint16_t(rules::kE5M2MaxFinite)));
    code = hn::IfThenElse(hn::Eq(a, inf), hn::Set(d16, uint16_t(0x7C)), code);
    code = hn::IfThenElse(hn::Gt(a, inf), hn::Set(d16, uint16_t(0x7E)), code);
    hn::StoreU(hn::DemoteTo(d8, hn::BitCast(di16, hn::Or(sign, code))), d8,
               out + i);
  }
  for (; i < n; ++i)
    out[i] = rules::fp8E5M2Code(loadAt(w, int64_t(i)));
}

} // namespace qopt::numerics::HWY_NAMESPACE
HWY_AFTER_NAMESPACE();

#if HWY_ONCE

#include "Simd.h"
#include "qopt/Numerics/Simd.h"

#include <atomic>
#include <cstdlib>
#include <strings.h>

namespace qopt::numerics {

HWY_EXPORT(TargetOf);
HWY_EXPORT(QuantizeRows);
HWY_EXPORT(Bf16ToF16);
HWY_EXPORT(F32ToF16);
HWY_EXPORT(MaxAbsBits16);
HWY_EXPORT(QuantizeFp8E4M3);
HWY_EXPORT(CastHalfToFp8E5M2);

static std::atomic<bool> simdSwitch{true};

void setSimdKernelsEnabled(bool enabled) { simdSwitch.store(enabled); }

/// QOPT_SIMD_TARGET=NAME (a Highway target name such as AVX2, SSE4 or
/// SCALAR) disables every better target, so that a machine can run the code
/// another one would; an unknown name changes nothing.
static void applyTargetCap() {
  const char *want = std::getenv("QOPT_SIMD_TARGET");
  if (!want || !*want)
    return;
  for (int64_t t = 1; t > 0; t <<= 1) {
    if ((HWY_TARGETS & t) && strcasecmp(hwy::TargetName(t), want) == 0) {
      // Better targets have lower bits.
      hwy::DisableTargets(t - 1);
      return;
    }
  }
}

namespace simd {

bool enabled() {
  // QOPT_DISABLE_SIMD (any value) keeps the portable loops, for comparisons.
  static const bool allowed = [] {
    applyTargetCap();
    return std::getenv("QOPT_DISABLE_SIMD") == nullptr;
  }();
  return allowed && simdSwitch.load(std::memory_order_relaxed);
}

int64_t groupQuantizeRows(const void *w, FloatFormat stored, int64_t rows,
                          int64_t k, const GroupQuantSpec &spec,
                          uint32_t *qweight, void *scale) {
  return HWY_DYNAMIC_DISPATCH(QuantizeRows)(w, stored, rows, k, spec.bits,
                                            spec.groupSize, spec.modelFormat,
                                            spec.rounding, qweight, scale);
}

void bf16ToF16(const uint16_t *src, uint16_t *dst, size_t n) {
  HWY_DYNAMIC_DISPATCH(Bf16ToF16)(src, dst, n);
}

void f32ToF16(const float *src, uint16_t *dst, size_t n) {
  HWY_DYNAMIC_DISPATCH(F32ToF16)(src, dst, n);
}

uint32_t maxAbsBits16(const uint16_t *w, size_t n) {
  return HWY_DYNAMIC_DISPATCH(MaxAbsBits16)(w, n);
}

void quantizeFp8E4M3(const uint16_t *w, size_t n, float scale, uint8_t *out) {
  HWY_DYNAMIC_DISPATCH(QuantizeFp8E4M3)(w, n, scale, out);
}

void castHalfToFp8E5M2(const uint16_t *w, size_t n, uint8_t *out) {
  HWY_DYNAMIC_DISPATCH(CastHalfToFp8E5M2)(w, n, out);
}

} // namespace simd

std::string simdTargetName() {
  if (!simd::enabled())
    return "portable";
  return hwy::TargetName(HWY_DYNAMIC_DISPATCH(TargetOf)());
}

std::vector<std::string> simdCompiledTargets() {
  std::vector<std::string> names;
  for (int64_t t = 1; t > 0; t <<= 1)
    if (HWY_TARGETS & t)
      names.emplace_back(hwy::TargetName(t));
  return names;
}

std::vector<std::string> simdRunnableTargets() {
  std::vector<std::string> names;
  const int64_t runnable = HWY_TARGETS & hwy::SupportedTargets();
  for (int64_t t = 1; t > 0; t <<= 1)
    if (runnable & t)
      names.emplace_back(hwy::TargetName(t));
  return names;
}

int64_t simdCompiledTargetMask() { return HWY_TARGETS; }

} // namespace qopt::numerics

#endif // HWY_ONCE
