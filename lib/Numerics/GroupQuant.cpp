//===- GroupQuant.cpp - MLC symmetric group quantization --------*- C++ -*-===//
//
// MLC's GroupQuantize._quantize as TVM compiles it, per group of a row:
//
//   max_abs = max(|w|)                          (model dtype)
//   scale   = max_abs / max_int                 (one model-dtype division)
//   q       = min(max(round(w / scale + max_int), 0), 2 * max_int)
//
// where each + and / rounds to the model dtype. The entry points dispatch
// once on (model format, rounding mode, bits) into a template whose inner
// loops are straight-line float code the compiler vectorizes.
//
//===----------------------------------------------------------------------===//

#include "qopt/Numerics/GroupQuant.h"
#include "Simd.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <vector>

namespace qopt::numerics {

namespace {

/// Storage and arithmetic of one model format.
template <FloatFormat F>
struct Model;

template <>
struct Model<FloatFormat::F16> {
  using Storage = uint16_t;
  /// Bits of +inf in |value| form; larger |value| bits are NaN.
  static constexpr uint32_t kInfBits = 0x7C00u;
  static float toFloat(Storage v) { return halfToFloat(v); }
  static Storage fromFloat(float f) { return floatToHalf(f); }
  static uint32_t absBits(Storage v) { return v & 0x7FFFu; }
  static float absBitsToFloat(uint32_t a) { return halfToFloat(uint16_t(a)); }
  /// TVM's min_value(float16).
  static float lowest() { return -65504.0f; }
};

template <>
struct Model<FloatFormat::BF16> {
  using Storage = uint16_t;
  static constexpr uint32_t kInfBits = 0x7F80u;
  static float toFloat(Storage v) { return bfloat16ToFloat(v); }
  static Storage fromFloat(float f) { return floatToBFloat16(f); }
  static uint32_t absBits(Storage v) { return v & 0x7FFFu; }
  static float absBitsToFloat(uint32_t a) {
    return bfloat16ToFloat(uint16_t(a));
  }
  /// TVM's min_value(bfloat16): 0xFF7F.
  static float lowest() { return bfloat16ToFloat(0xFF7Fu); }
};

template <>
struct Model<FloatFormat::F32> {
  using Storage = float;
  static constexpr uint32_t kInfBits = 0x7F800000u;
  static float toFloat(Storage v) { return v; }
  static Storage fromFloat(float f) { return f; }
  static uint32_t absBits(Storage v) {
    return detail::floatBits(v) & 0x7FFFFFFFu;
  }
  static float absBitsToFloat(uint32_t a) { return detail::bitsToFloat(a); }
  static float lowest() { return -std::numeric_limits<float>::max(); }
};

} // namespace

/// `round` of TVM, for a value t that is next clamped to [0, 2^8]. For
/// |t| < 2^22, adding and subtracting 1.5 * 2^23 rounds to an integer with
/// ties to even in the default rounding mode, i.e. std::nearbyint; beyond
/// that, +-inf and NaN, the result stays on the same side of the clamp
/// range as std::nearbyint's. (std::nearbyint itself is a library call on
/// baseline x86-64, which would stop the loop from vectorizing.)
template <RoundingMode R>
static inline float roundToIntegral(float t) {
  constexpr float kMagic = 0x1.8p23f;
  if constexpr (R == RoundingMode::NearestEven) {
    return (t + kMagic) - kMagic;
  } else {
    // Half away from zero (std::round): ties that went down go up.
    float a = std::fabs(t);
    float r = (a + kMagic) - kMagic;
    r += (a - r == 0.5f) ? 1.0f : 0.0f;
    return std::copysign(r, t);
  }
}

template <typename T>
static inline T loadElem(const unsigned char *base, size_t i) {
  T v;
  std::memcpy(&v, base + i * sizeof(T), sizeof(T));
  return v;
}

/// The group's max |w| as TVM's LLVM code computes it: `acc = max(acc, v)`
/// with `max(a, b)` = `a > b ? a : b`, acc starting at min_value(dtype), one
/// step per position of the group (positions beyond k give min_value).
template <FloatFormat F>
static float groupMaxAbs(const unsigned char *w, int64_t len,
                         int64_t groupSize) {
  using M = Model<F>;
  using T = typename M::Storage;
  // Without NaNs this is the largest |w|, found as an integer maximum.
  uint32_t m = 0;
  for (int64_t i = 0; i < len; ++i)
    m = std::max(m, M::absBits(loadElem<T>(w, size_t(i))));
  if (m <= M::kInfBits)
    return len > 0 ? M::absBitsToFloat(m) : M::lowest();
  // A NaN is present: replay the select chain (a NaN accumulator is replaced
  // by the next value, a NaN value replaces the accumulator).
  float acc = M::lowest();
  for (int64_t i = 0; i < groupSize; ++i) {
    float v = i < len ? std::fabs(M::toFloat(loadElem<T>(w, size_t(i))))
                      : M::lowest();
    acc = acc > v ? acc : v;
  }
  return acc;
}

/// roundTo<F16>(x) for the two roundings of the quantizer, cheaper: it
/// rounds the float32 pattern to 10 mantissa bits with no special cases. It
/// differs from roundTo<F16> only where that cannot change q:
///  - |x| < 2^-14 (half subnormal range) gives some |t| <= 2^-14 instead of
///    the subnormal; t + maxInt then rounds to maxInt either way (maxInt >= 1
///    and the half ulp next to it is >= 2^-12). The sum t + maxInt itself is
///    0 or >= 2^-11 in magnitude (a multiple of t's ulp), never subnormal.
///  - |x| >= 65520 gives a huge finite value instead of inf; both clamp to
///    the same end of [0, 2 * maxInt].
///  - NaNs of this pipeline (from fp16 inputs or 0/0, inf/inf) have their
///    low 13 bits zero and are returned unchanged.
/// The unit tests check it against the reference definition.
static inline float roundToHalfForQuantizer(float x) {
  uint32_t u = detail::floatBits(x);
  return detail::bitsToFloat((u + 0xFFFu + ((u >> 13) & 1u)) & 0xFFFFE000u);
}

template <FloatFormat F>
static inline float roundForQuantizer(float x) {
  if constexpr (F == FloatFormat::F16)
    return roundToHalfForQuantizer(x);
  else
    return roundTo<F>(x);
}

/// Quantizes n values into q (one byte each), value i with the nonzero
/// scale scales[i].
template <FloatFormat F, RoundingMode R>
static void quantizeSpan(const unsigned char *w, int64_t n, const float *scales,
                         float maxInt, float hi, uint8_t *q) {
  using M = Model<F>;
  using T = typename M::Storage;
  for (int64_t i = 0; i < n; ++i) {
    float x = M::toFloat(loadElem<T>(w, size_t(i)));
    float t = roundForQuantizer<F>(x / scales[i]);
    t = roundForQuantizer<F>(t + maxInt);
    float r = roundToIntegral<R>(t);
    // TVM's max/min are selects: NaN fails `r > 0` and becomes 0.
    r = r > 0.0f ? r : 0.0f;
    r = r < hi ? r : hi;
    q[i] = uint8_t(int32_t(r));
  }
}

/// scale == 0: w / 0 is +inf for w > 0 (clamped to hi) and -inf or NaN
/// otherwise (clamped to 0). Computed without dividing by zero.
template <FloatFormat F>
static void quantizeGroupZeroScale(const unsigned char *w, int64_t len,
                                   uint8_t hi, uint8_t *q) {
  using M = Model<F>;
  using T = typename M::Storage;
  for (int64_t i = 0; i < len; ++i)
    q[i] = M::toFloat(loadElem<T>(w, size_t(i))) > 0.0f ? hi : uint8_t(0);
}

/// Packs numWords words of epw values each, LSB first.
template <int Bits>
static void packWords(const uint8_t *q, int64_t numWords, int bits,
                      uint32_t *out) {
  const int b = Bits ? Bits : bits;
  const int epw = 32 / b;
  if constexpr (Bits == 4) {
    // SWAR: eight bytes <= 15 -> eight nibbles, LSB first.
    for (int64_t j = 0; j < numWords; ++j) {
      uint64_t u;
      std::memcpy(&u, q + j * 8, 8);
      u = (u | (u >> 4)) & 0x00FF00FF00FF00FFull;
      u = (u | (u >> 8)) & 0x0000FFFF0000FFFFull;
      u = (u | (u >> 16)) & 0x00000000FFFFFFFFull;
      out[j] = uint32_t(u);
    }
    return;
  }
  for (int64_t j = 0; j < numWords; ++j) {
    uint32_t word = 0;
    for (int r = 0; r < epw; ++r)
      word |= uint32_t(q[j * epw + r]) << (r * b);
    out[j] = word;
  }
}

/// A row at a time: the group scales first, then one long loop over the row's
/// values (with each value's group scale spread into a row-sized buffer, so
/// the loop vectorizes without per-group overhead), then the packing.
template <FloatFormat F, RoundingMode R, int Bits>
static void quantizeRowsImpl(const unsigned char *w, int64_t rows, int64_t k,
                             const GroupQuantSpec &spec, uint32_t *qweight,
                             unsigned char *scale) {
  using M = Model<F>;
  using T = typename M::Storage;
  const int bits = Bits ? Bits : spec.bits;
  const int64_t groupSize = spec.groupSize;
  const int64_t numGroups = groupsPerRow(spec, k);
  const int64_t numWords = wordsPerRow(spec, k);
  const auto maxInt = float(maxIntValue(bits));
  const float hi = 2.0f * maxInt;
  const size_t paddedK = size_t(numGroups) * size_t(groupSize);
  // Quantized values of a row; the padding positions [k, paddedK) stay 0.
  std::vector<uint8_t> q(paddedK, 0);
  std::vector<float> valueScales(paddedK, 1.0f);
  std::vector<float> groupScales(static_cast<size_t>(numGroups));
  std::vector<uint32_t> groupBits(static_cast<size_t>(numGroups));
  std::vector<T> scaleValues(static_cast<size_t>(numGroups));
  for (int64_t row = 0; row < rows; ++row) {
    const unsigned char *wRow = w + size_t(row) * size_t(k) * sizeof(T);
    unsigned char *scaleRow =
        scale + size_t(row) * size_t(numGroups) * sizeof(T);
    uint32_t *qRow = qweight + size_t(row) * size_t(numWords);
    // The whole row in one SIMD kernel where it applies (it declines rows
    // holding a NaN, which the loops below handle).
    if constexpr (F == FloatFormat::F16 && R == RoundingMode::NearestEven) {
      if (groupSize <= 64 && simd::useAvx512() &&
          simd::quantizeRowF16(reinterpret_cast<const uint16_t *>(wRow), k,
                               groupSize, maxInt, hi,
                               reinterpret_cast<uint16_t *>(scaleRow),
                               q.data())) {
        packWords<Bits>(q.data(), numWords, bits, qRow);
        continue;
      }
    }
    // 1. Largest magnitude bits per group: an integer max that vectorizes.
    bool anyNaN = false;
    for (int64_t g = 0; g < numGroups; ++g) {
      const int64_t begin = g * groupSize;
      const int64_t len = std::min(groupSize, k - begin);
      const unsigned char *wg = wRow + size_t(begin) * sizeof(T);
      uint32_t m = 0;
      for (int64_t i = 0; i < len; ++i)
        m = std::max(m, M::absBits(loadElem<T>(wg, size_t(i))));
      groupBits[size_t(g)] = m;
      anyNaN |= m > M::kInfBits;
    }
    // 2. All scales at once: one model-dtype division each, branch-free.
    for (int64_t g = 0; g < numGroups; ++g) {
      const T sv = M::fromFloat(M::absBitsToFloat(groupBits[size_t(g)]) / maxInt);
      scaleValues[size_t(g)] = sv;
    }
    // 3. Groups holding a NaN replay TVM's select chain (rare).
    if (anyNaN)
      for (int64_t g = 0; g < numGroups; ++g)
        if (groupBits[size_t(g)] > M::kInfBits) {
          const int64_t begin = g * groupSize;
          scaleValues[size_t(g)] = M::fromFloat(
              groupMaxAbs<F>(wRow + size_t(begin) * sizeof(T),
                             std::min(groupSize, k - begin), groupSize) /
              maxInt);
        }
    std::memcpy(scaleRow, scaleValues.data(), size_t(numGroups) * sizeof(T));
    bool anyZeroScale = false;
    for (int64_t g = 0; g < numGroups; ++g) {
      const int64_t begin = g * groupSize;
      const int64_t len = std::min(groupSize, k - begin);
      const float s = M::toFloat(scaleValues[size_t(g)]);
      groupScales[size_t(g)] = s;
      anyZeroScale |= s == 0.0f;
      // A zero scale's group is redone below; divide by 1 meanwhile.
      std::fill_n(valueScales.begin() + begin, len, s != 0.0f ? s : 1.0f);
    }
    quantizeSpan<F, R>(wRow, k, valueScales.data(), maxInt, hi, q.data());
    if (anyZeroScale) {
      for (int64_t g = 0; g < numGroups; ++g) {
        if (groupScales[size_t(g)] != 0.0f)
          continue;
        const int64_t begin = g * groupSize;
        quantizeGroupZeroScale<F>(wRow + size_t(begin) * sizeof(T),
                                  std::min(groupSize, k - begin), uint8_t(hi),
                                  q.data() + begin);
      }
    }
    packWords<Bits>(q.data(), numWords, bits, qRow);
  }
}

template <FloatFormat F, RoundingMode R>
static void dispatchBits(const unsigned char *w, int64_t rows, int64_t k,
                         const GroupQuantSpec &spec, uint32_t *qweight,
                         unsigned char *scale) {
  switch (spec.bits) {
  case 3:
    return quantizeRowsImpl<F, R, 3>(w, rows, k, spec, qweight, scale);
  case 4:
    return quantizeRowsImpl<F, R, 4>(w, rows, k, spec, qweight, scale);
  case 8:
    return quantizeRowsImpl<F, R, 8>(w, rows, k, spec, qweight, scale);
  default:
    return quantizeRowsImpl<F, R, 0>(w, rows, k, spec, qweight, scale);
  }
}

template <FloatFormat F>
static void dispatchRounding(const unsigned char *w, int64_t rows, int64_t k,
                             const GroupQuantSpec &spec, uint32_t *qweight,
                             unsigned char *scale) {
  if (spec.rounding == RoundingMode::NearestEven)
    return dispatchBits<F, RoundingMode::NearestEven>(w, rows, k, spec, qweight,
                                                      scale);
  return dispatchBits<F, RoundingMode::NearestAway>(w, rows, k, spec, qweight,
                                                    scale);
}

std::string validateGroupQuantSpec(const GroupQuantSpec &spec) {
  if (spec.bits < 2 || spec.bits > 8)
    return "quantized bits must be in [2, 8], got " + std::to_string(spec.bits);
  if (spec.groupSize <= 0)
    return "group size must be positive, got " + std::to_string(spec.groupSize);
  const int64_t epw = elemsPerWord(spec.bits);
  if (spec.groupSize % epw != 0)
    return "group size " + std::to_string(spec.groupSize) +
           " is not a multiple of " + std::to_string(epw) +
           " values per uint32 word (int" + std::to_string(spec.bits) + ")";
  switch (spec.modelFormat) {
  case FloatFormat::F16:
  case FloatFormat::BF16:
  case FloatFormat::F32:
    break;
  default:
    return "unknown model float format";
  }
  switch (spec.rounding) {
  case RoundingMode::NearestEven:
  case RoundingMode::NearestAway:
    break;
  default:
    return "unknown rounding mode";
  }
  return {};
}

int64_t groupsPerRow(const GroupQuantSpec &spec, int64_t k) {
  if (k <= 0 || spec.groupSize <= 0)
    return 0;
  return k / spec.groupSize + (k % spec.groupSize != 0 ? 1 : 0);
}

int64_t wordsPerRow(const GroupQuantSpec &spec, int64_t k) {
  if (spec.bits < 1 || spec.bits > 32)
    return 0;
  return (spec.groupSize / elemsPerWord(spec.bits)) * groupsPerRow(spec, k);
}

QOPT_MULTIVERSION
void groupQuantizeRows(const void *w, int64_t rows, int64_t k,
                       const GroupQuantSpec &spec, uint32_t *qweight,
                       void *scale) {
  if (!validateGroupQuantSpec(spec).empty() || rows <= 0 || k <= 0)
    return;
  auto *in = static_cast<const unsigned char *>(w);
  auto *out = static_cast<unsigned char *>(scale);
  switch (spec.modelFormat) {
  case FloatFormat::F16:
    return dispatchRounding<FloatFormat::F16>(in, rows, k, spec, qweight, out);
  case FloatFormat::BF16:
    return dispatchRounding<FloatFormat::BF16>(in, rows, k, spec, qweight, out);
  case FloatFormat::F32:
    return dispatchRounding<FloatFormat::F32>(in, rows, k, spec, qweight, out);
  }
}

template <FloatFormat F, int Bits>
static void dequantizeRowsImpl(const uint32_t *qweight,
                               const unsigned char *scale, int64_t rows,
                               int64_t k, const GroupQuantSpec &spec,
                               float *out) {
  using M = Model<F>;
  using T = typename M::Storage;
  const int bits = Bits ? Bits : spec.bits;
  const int64_t epw = elemsPerWord(bits);
  const int64_t groupSize = spec.groupSize;
  const int64_t numGroups = groupsPerRow(spec, k);
  const int64_t wordsPerGroup = groupSize / epw;
  const int64_t numWords = numGroups * wordsPerGroup;
  const auto maxInt = int32_t(maxIntValue(bits));
  const uint32_t mask = (1u << bits) - 1u;
  for (int64_t row = 0; row < rows; ++row) {
    const uint32_t *qRow = qweight + size_t(row) * size_t(numWords);
    float *outRow = out + size_t(row) * size_t(k);
    for (int64_t g = 0; g < numGroups; ++g) {
      const float s = M::toFloat(
          loadElem<T>(scale, size_t(row) * size_t(numGroups) + size_t(g)));
      const int64_t begin = g * groupSize;
      const int64_t len = std::min(groupSize, k - begin);
      const uint32_t *words = qRow + size_t(g) * size_t(wordsPerGroup);
      float *dst = outRow + begin;
      // Whole words, then the values of a partial last word.
      const int64_t fullWords = len / epw;
      for (int64_t j = 0; j < fullWords; ++j) {
        const uint32_t word = words[j];
        for (int64_t r = 0; r < epw; ++r)
          dst[j * epw + r] =
              float(int32_t((word >> (r * bits)) & mask) - maxInt) * s;
      }
      for (int64_t i = fullWords * epw; i < len; ++i)
        dst[i] = float(int32_t((words[i / epw] >> ((i % epw) * bits)) & mask) -
                       maxInt) *
                 s;
    }
  }
}

template <FloatFormat F>
static void dequantizeDispatchBits(const uint32_t *qweight,
                                   const unsigned char *scale, int64_t rows,
                                   int64_t k, const GroupQuantSpec &spec,
                                   float *out) {
  switch (spec.bits) {
  case 3:
    return dequantizeRowsImpl<F, 3>(qweight, scale, rows, k, spec, out);
  case 4:
    return dequantizeRowsImpl<F, 4>(qweight, scale, rows, k, spec, out);
  default:
    return dequantizeRowsImpl<F, 0>(qweight, scale, rows, k, spec, out);
  }
}

void groupDequantizeRows(const uint32_t *qweight, const void *scale,
                         int64_t rows, int64_t k, const GroupQuantSpec &spec,
                         float *out) {
  if (!validateGroupQuantSpec(spec).empty() || rows <= 0 || k <= 0)
    return;
  auto *in = static_cast<const unsigned char *>(scale);
  switch (spec.modelFormat) {
  case FloatFormat::F16:
    return dequantizeDispatchBits<FloatFormat::F16>(qweight, in, rows, k, spec,
                                                    out);
  case FloatFormat::BF16:
    return dequantizeDispatchBits<FloatFormat::BF16>(qweight, in, rows, k, spec,
                                                     out);
  case FloatFormat::F32:
    return dequantizeDispatchBits<FloatFormat::F32>(qweight, in, rows, k, spec,
                                                    out);
  }
}

} // namespace qopt::numerics
