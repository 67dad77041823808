//===- QuantRules.h - The scalar rules of the quantizers --------*- C++ -*-===//
//
// One definition of each numeric rule of MLC's group quantization and of
// the per-tensor float8 mode: the model formats' storage, the max-abs and
// scale steps, the per-value rounding chain and its clamp. The portable CPU
// loops (lib/Numerics), the CUDA kernels (lib/Kernels/CudaKernels.cu) call
// these functions; the Highway kernels (lib/Numerics/SimdRules-inl.h) write
// the same formulas on vectors from the constants below, and the unit tests
// check every compiled SIMD target against them byte for byte.
// docs/design.md ("Numerics and SIMD") describes the layering.
//
//===----------------------------------------------------------------------===//

#ifndef QOPT_NUMERICS_QUANTRULES_H
#define QOPT_NUMERICS_QUANTRULES_H

#include "qopt/Numerics/Float.h"
#include "qopt/Numerics/GroupQuant.h"

#include <cstdint>

namespace qopt::numerics::rules {

//===----------------------------------------------------------------------===//
// Constants shared by the scalar and the vector forms
//===----------------------------------------------------------------------===//

/// Adding and subtracting 1.5 * 2^23 rounds a float |t| < 2^22 to an
/// integer, ties to even, in the default rounding mode.
inline constexpr float kRoundMagic = 0x1.8p23f;
/// The same for double |t| < 2^51.
inline constexpr double kRoundMagicD = 0x1.8p52;
/// Rounding a float32 pattern to the 10 mantissa bits of a binary16: add
/// detail::kHalfRoundBias plus the lowest kept bit, keep kHalfKeepMask.
inline constexpr uint32_t kHalfKeepMask = 0xFFFFE000u;
/// The magnitude bits of a 16-bit float (binary16 or bfloat16).
inline constexpr uint32_t kAbsMask16 = 0x7FFFu;
/// TVM's min_value(float16), the initial value of its max reduction.
inline constexpr float kLowestF16 = -65504.0f;
/// f16(1 / (448 * 512)) = 73 * 2^-24: the floor of the e4m3 scale.
inline constexpr uint16_t kMinFp8ScaleF16 = 0x0049;
/// Largest e4m3fn magnitude, the divisor of the e4m3 scale.
inline constexpr float kFp8E4M3Max = 448.0f;

//===----------------------------------------------------------------------===//
// Model formats
//===----------------------------------------------------------------------===//

/// Storage and arithmetic of one model format (the dtype MLC computes in).
template <FloatFormat F>
struct Model;

template <>
struct Model<FloatFormat::F16> {
  using Storage = uint16_t;
  /// Bits of +inf in |value| form; larger |value| bits are NaN.
  static constexpr uint32_t kInfBits = 0x7C00u;
  QOPT_HD static float toFloat(Storage v) { return halfToFloat(v); }
  QOPT_HD static Storage fromFloat(float f) { return floatToHalf(f); }
  QOPT_HD static uint32_t absBits(Storage v) { return v & kAbsMask16; }
  QOPT_HD static float absBitsToFloat(uint32_t a) {
    return halfToFloat(uint16_t(a));
  }
  /// TVM's min_value(float16).
  QOPT_HD static float lowest() { return kLowestF16; }
};

template <>
struct Model<FloatFormat::BF16> {
  using Storage = uint16_t;
  static constexpr uint32_t kInfBits = 0x7F80u;
  QOPT_HD static float toFloat(Storage v) { return bfloat16ToFloat(v); }
  QOPT_HD static Storage fromFloat(float f) { return floatToBFloat16(f); }
  QOPT_HD static uint32_t absBits(Storage v) { return v & kAbsMask16; }
  QOPT_HD static float absBitsToFloat(uint32_t a) {
    return bfloat16ToFloat(uint16_t(a));
  }
  /// TVM's min_value(bfloat16): 0xFF7F.
  QOPT_HD static float lowest() { return bfloat16ToFloat(0xFF7Fu); }
};

template <>
struct Model<FloatFormat::F32> {
  using Storage = float;
  static constexpr uint32_t kInfBits = 0x7F800000u;
  QOPT_HD static float toFloat(Storage v) { return v; }
  QOPT_HD static Storage fromFloat(float f) { return f; }
  QOPT_HD static uint32_t absBits(Storage v) {
    return detail::floatBits(v) & 0x7FFFFFFFu;
  }
  QOPT_HD static float absBitsToFloat(uint32_t a) {
    return detail::bitsToFloat(a);
  }
  /// -FLT_MAX.
  QOPT_HD static float lowest() { return detail::bitsToFloat(0xFF7FFFFFu); }
};

//===----------------------------------------------------------------------===//
// Arithmetic
//===----------------------------------------------------------------------===//

/// a / b with the x86 SSE results the CPU path gets: on the host the plain
/// IEEE division; on a GPU, whose NaN results differ (the canonical NaN
/// 0x7FFFFFFF), a NaN operand is returned quieted (the first if both are)
/// and an invalid operation (0/0, inf/inf) gives the "real indefinite"
/// 0xFFC00000, so the sign and payload bits that reach a stored scale or an
/// fp8 code agree.
QOPT_HD inline float divide(float a, float b) {
#if defined(__CUDA_ARCH__)
  const uint32_t ua = detail::floatBits(a);
  const uint32_t ub = detail::floatBits(b);
  if ((ua & 0x7FFFFFFFu) > 0x7F800000u)
    return detail::bitsToFloat(ua | 0x00400000u);
  if ((ub & 0x7FFFFFFFu) > 0x7F800000u)
    return detail::bitsToFloat(ub | 0x00400000u);
  const float q = a / b;
  return q != q ? detail::bitsToFloat(0xFFC00000u) : q;
#else
  return a / b;
#endif
}

/// TVM's `round` for a value t that is next clamped to [0, 2^8]: adding and
/// subtracting kRoundMagic (std::nearbyint for |t| < 2^22; beyond that,
/// +-inf and NaN, the result stays on the same side of the clamp range).
/// NearestAway (std::round for |t| < 2^22): ties that went down go up.
template <RoundingMode R>
QOPT_HD inline float roundToIntegral(float t) {
  if constexpr (R == RoundingMode::NearestEven) {
    return (t + kRoundMagic) - kRoundMagic;
  } else {
    const uint32_t u = detail::floatBits(t);
    const float a = detail::bitsToFloat(u & 0x7FFFFFFFu);
    float r = (a + kRoundMagic) - kRoundMagic;
    r += (a - r == 0.5f) ? 1.0f : 0.0f;
    return detail::bitsToFloat(detail::floatBits(r) | (u & 0x80000000u));
  }
}

/// roundTo<F16>(x) as the quantizer needs it, cheaper: the float32 pattern
/// rounded to 10 mantissa bits with no special cases. It differs from
/// roundTo<F16> only where that cannot change a code:
///  - |x| < 2^-14 (half subnormal range) gives some |t| <= 2^-14 instead of
///    the subnormal; t + maxInt then rounds to maxInt either way (maxInt >= 1
///    and the half ulp next to it is >= 2^-12). The sum t + maxInt itself is
///    0 or >= 2^-11 in magnitude (a multiple of t's ulp), never subnormal.
///  - |x| >= 65520 gives a huge finite value instead of inf; both clamp to
///    the same end of [0, 2 * maxInt].
///  - NaNs of this pipeline (from fp16 inputs or 0/0, inf/inf) have their
///    low 13 bits zero and are returned unchanged.
/// The unit tests check it against roundTo<F16>.
QOPT_HD inline float roundToHalfForQuantizer(float x) {
  const uint32_t u = detail::floatBits(x);
  return detail::bitsToFloat(
      (u + detail::kHalfRoundBias + ((u >> detail::kHalfDroppedBits) & 1u)) &
      kHalfKeepMask);
}

/// Rounds a quantizer intermediate to the model format F.
template <FloatFormat F>
QOPT_HD inline float roundForQuantizer(float x) {
  if constexpr (F == FloatFormat::F16)
    return roundToHalfForQuantizer(x);
  else
    return roundTo<F>(x);
}

/// TVM's clamp: max then min as selects, so a NaN fails `r > 0` and gives 0.
QOPT_HD inline float clampCode(float r, float hi) {
  r = r > 0.0f ? r : 0.0f;
  return r < hi ? r : hi;
}

//===----------------------------------------------------------------------===//
// Group quantization (MLC GroupQuantize)
//===----------------------------------------------------------------------===//

/// The stored scale of a group: one model-dtype division of its max |w|.
template <FloatFormat F>
QOPT_HD inline typename Model<F>::Storage groupScale(float maxAbs,
                                                     float maxInt) {
  return Model<F>::fromFloat(divide(maxAbs, maxInt));
}

/// One code for a nonzero scale s: clamp(round(F(F(x / s) + maxInt)), 0, hi)
/// with each + and / rounded to the model format.
template <FloatFormat F, RoundingMode R>
QOPT_HD inline uint32_t quantizeValue(float x, float s, float maxInt,
                                      float hi) {
  float t = roundForQuantizer<F>(divide(x, s));
  t = roundForQuantizer<F>(t + maxInt);
  return uint32_t(int32_t(clampCode(roundToIntegral<R>(t), hi)));
}

/// One code for a zero scale: x / 0 is +inf for x > 0 (clamped to hi) and
/// -inf or NaN otherwise (clamped to 0); computed without dividing.
QOPT_HD inline uint32_t quantizeValueZeroScale(float x, float hi) {
  return x > 0.0f ? uint32_t(hi) : 0u;
}

/// One step of TVM's max reduction, `max(a, b)` = `a > b ? a : b` (a NaN
/// accumulator is replaced by the next value, a NaN value replaces it).
/// Compared as float32 bit patterns so that no compiler turns it into a
/// max instruction with other NaN rules (nvcc's max.f32 keeps a).
QOPT_HD inline float tvmMax(float acc, float v) {
  const uint32_t ua = detail::floatBits(acc), uv = detail::floatBits(v);
  const bool nanA = (ua & 0x7FFFFFFFu) > 0x7F800000u;
  const bool nanV = (uv & 0x7FFFFFFFu) > 0x7F800000u;
  return !nanA && !nanV && acc > v ? acc : v;
}

/// |x| as a bit operation (no NaN canonicalisation).
QOPT_HD inline float absBitsOf(float x) {
  return detail::bitsToFloat(detail::floatBits(x) & 0x7FFFFFFFu);
}

/// The group's max |w| as TVM's LLVM code computes it: `acc = max(acc, |v|)`
/// from min_value over all groupSize positions, those at or beyond len
/// giving min_value. Without NaNs that is the largest magnitude, found as
/// an integer maximum of the magnitude bits; with one the chain is replayed.
template <FloatFormat F>
QOPT_HD inline float groupMaxAbs(const typename Model<F>::Storage *w,
                                 int64_t len, int64_t groupSize) {
  using M = Model<F>;
  uint32_t m = 0;
  for (int64_t i = 0; i < len; ++i) {
    const uint32_t a = M::absBits(w[i]);
    m = m > a ? m : a;
  }
  if (m <= M::kInfBits)
    return len > 0 ? M::absBitsToFloat(m) : M::lowest();
  float acc = M::lowest();
  for (int64_t i = 0; i < groupSize; ++i)
    acc = tvmMax(acc, i < len ? absBitsOf(M::toFloat(w[i])) : M::lowest());
  return acc;
}

//===----------------------------------------------------------------------===//
// Per-tensor float8 (MLC PerTensorQuantize)
//===----------------------------------------------------------------------===//

/// The e4m3 scale from the tensor's max |w| (TVM's reduction, as above):
/// max(f16(maxAbs / 448), f16(1 / (448 * 512))) as float.
QOPT_HD inline float fp8E4M3Scale(float maxAbs) {
  const float scale = roundTo<FloatFormat::F16>(divide(maxAbs, kFp8E4M3Max));
  const float floor = halfToFloat(kMinFp8ScaleF16);
  return scale > floor ? scale : floor;
}

/// The e4m3 code of the fp16 value w for a nonzero scale.
QOPT_HD inline uint8_t fp8E4M3Code(uint16_t w, float scale) {
  return floatToF8E4M3FN(divide(halfToFloat(w), scale));
}

/// The e4m3 code of w / +-0 without dividing: +-inf saturates to +-448,
/// 0 / 0 and NaN give NaN (0x7F).
QOPT_HD inline uint8_t fp8E4M3CodeZeroScale(uint16_t w, bool scaleNegative) {
  const uint32_t a = w & kAbsMask16;
  const uint32_t sign = ((uint32_t(w) >> 8) & 0x80u) ^ (scaleNegative ? 0x80u : 0u);
  return (a == 0 || a > 0x7C00u) ? uint8_t(0x7Fu) : uint8_t(sign | 0x7Eu);
}

/// The e5m2 code of the fp16 value w: e5m2 is the top byte of a binary16,
/// so the low byte is rounded away, ties to even (a carry into the exponent
/// is correct, subnormals included); finite values saturate at 0x7B, inf
/// stays inf, NaN gives 0x7E. Equal to floatToF8E5M2(halfToFloat(w)).
inline constexpr uint32_t kE5M2MaxFinite = 0x7Bu;
QOPT_HD inline uint8_t fp8E5M2Code(uint16_t w) {
  const uint32_t sign = (uint32_t(w) >> 8) & 0x80u;
  const uint32_t a = w & kAbsMask16;
  uint32_t code = (a + 0x7Fu + ((a >> 8) & 1u)) >> 8;
  code = code < kE5M2MaxFinite ? code : kE5M2MaxFinite;
  code = a == 0x7C00u ? 0x7Cu : code;
  code = a > 0x7C00u ? 0x7Eu : code;
  return uint8_t(sign | code);
}

//===----------------------------------------------------------------------===//
// MNN weight quantization
//===----------------------------------------------------------------------===//

/// Floats at or above 2^23 in magnitude are integers.
inline constexpr float kFloatIntegralFrom = 0x1p23f;

/// C's round (half away from zero) for every float, inline: a magnitude a
/// below 2^23 is rounded to an integer, ties to even, by adding and
/// subtracting 2^23 (the sum lies in [2^23, 2^24), whose step is 1), then
/// the ties that went down are moved up and the sign of t is put back
/// (round(-0.3) = -0); integers, infinities and NaN are returned unchanged.
QOPT_HD inline float roundHalfAway(float t) {
  const uint32_t u = detail::floatBits(t);
  const float a = detail::bitsToFloat(u & 0x7FFFFFFFu);
  float r = (a + kFloatIntegralFrom) - kFloatIntegralFrom;
  r += (a - r == 0.5f) ? 1.0f : 0.0f;
  r = detail::bitsToFloat(detail::floatBits(r) | (u & 0x80000000u));
  return a < kFloatIntegralFrom ? r : t;
}

/// clamp(r, lo, hi) as MNN writes it, fmax(fmin(r, hi), lo): NaN gives hi.
QOPT_HD inline float mnnClamp(float r, float lo, float hi) {
  r = r < hi ? r : hi;
  return r > lo ? r : lo;
}

/// MNN's (IDSTEncoder's) code of w: clamp(round((w - sub) / scale), lo, hi)
/// + offset, round = half away from zero (symmetric: sub 0, [lo, hi] =
/// [-2^(b-1), 2^(b-1) - 1], offset 2^(b-1); asymmetric: sub = the block's
/// min, [0, 2^b - 1], offset 0).
QOPT_HD inline uint8_t mnnCode(float w, float sub, float scale, float lo,
                               float hi, int offset) {
  return uint8_t(int(mnnClamp(roundHalfAway((w - sub) / scale), lo, hi)) +
                 offset);
}

} // namespace qopt::numerics::rules

#endif // QOPT_NUMERICS_QUANTRULES_H
