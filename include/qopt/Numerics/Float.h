//===- Float.h - Scalar conversions between float formats -------*- C++ -*-===//
//
// Bit-exact conversions between float32 and the narrow float formats a
// checkpoint or a tensor cache can hold: IEEE binary16, bfloat16, OCP
// float8 e4m3fn and e5m2. Every function is header-inline, branch-light
// (selects only, so loops over them auto-vectorize) and usable from CUDA
// device code through QOPT_HD.
//
// All roundings are round-to-nearest, ties-to-even. The float32 arithmetic
// used internally (a few additions of powers of two) is exact or rounds in
// the default IEEE mode; the functions must not be compiled with
// -ffast-math, flush-to-zero or a changed rounding mode.
//
//===----------------------------------------------------------------------===//

#ifndef QOPT_NUMERICS_FLOAT_H
#define QOPT_NUMERICS_FLOAT_H

#include "qopt/Numerics/Config.h"

#include <bit>
#include <cstdint>

namespace qopt::numerics {

namespace detail {

/// The bits of a float32.
QOPT_HD constexpr uint32_t floatBits(float x) {
#if defined(__CUDA_ARCH__)
  return __float_as_uint(x);
#else
  return std::bit_cast<uint32_t>(x);
#endif
}

/// The float32 with bits \p u.
QOPT_HD constexpr float bitsToFloat(uint32_t u) {
#if defined(__CUDA_ARCH__)
  return __uint_as_float(u);
#else
  return std::bit_cast<float>(u);
#endif
}

/// Constants of the binary16 <-> float32 conversions below, shared with
/// their vector forms (lib/Numerics/SimdRules-inl.h).
inline constexpr uint32_t kFloatAbsMask = 0x7FFFFFFFu;
inline constexpr uint32_t kFloatInfBits = 0x7F800000u;
inline constexpr uint32_t kHalfAbsMask = 0x7FFFu;
inline constexpr uint32_t kHalfInfBits = 0x7C00u;
/// The smallest normal binary16 magnitude (2^-14), as half and float bits.
inline constexpr uint32_t kHalfMinNormalBits = 0x400u;
inline constexpr uint32_t kFloatHalfMinNormalBits = 0x38800000u;
/// |x| at or above 65504 + half an ulp rounds to infinity.
inline constexpr uint32_t kFloatHalfOverflowBits = 0x477FF000u;
/// Float32 mantissa bits a binary16 drops, and the round-to-nearest-even
/// bias added before dropping them (plus the lowest kept bit).
inline constexpr int kHalfDroppedBits = 13;
inline constexpr uint32_t kHalfRoundBias = 0xFFFu;
/// Exponent re-bias 127 - 15, in float32 bits.
inline constexpr uint32_t kHalfRebiasBits = 0x38000000u;
/// Bits of 0.5f: adding 0.5 makes one float ulp the half subnormal step.
inline constexpr uint32_t kHalfSubnormalMagicBits = 0x3F000000u;
/// The quiet bit of a binary16 NaN (with the exponent).
inline constexpr uint32_t kHalfQuietNaNBits = 0x7E00u;

/// Float32 bits of 2^e for a normal exponent e in [-126, 127].
QOPT_HD constexpr uint32_t pow2Bits(int e) { return uint32_t(e + 127) << 23; }

/// `c ? ifTrue : ifFalse` as a bit blend. Written as a ternary, GCC sinks a
/// float operation feeding only one arm into a branch and then, because
/// float operations may trap (-ftrapping-math is the default), refuses to
/// vectorize the loop; the blend keeps every operation unconditional.
QOPT_HD constexpr uint32_t select(bool c, uint32_t ifTrue, uint32_t ifFalse) {
  uint32_t mask = 0u - uint32_t(c);
  return ifFalse ^ ((ifFalse ^ ifTrue) & mask);
}

/// Rounds the magnitude \p a (float32 bits without sign, finite or +inf) to
/// the unsigned code of a float format with \p E exponent bits, \p M mantissa
/// bits and IEEE bias 2^(E-1)-1, ties to even. The code may exceed the
/// format's largest finite code (the caller saturates or maps to infinity);
/// infinity yields some code above every finite one.
template <int E, int M>
QOPT_HD constexpr uint32_t roundMagnitudeToMinifloat(uint32_t a) {
  constexpr int bias = (1 << (E - 1)) - 1;
  constexpr int shift = 23 - M;
  // Normal range: round the float32 bit pattern at the target mantissa
  // width (a carry into the exponent field is the correct result), then
  // re-bias the exponent.
  uint32_t normal =
      (a + ((1u << (shift - 1)) - 1) + ((a >> shift) & 1u)) >> shift;
  normal -= uint32_t(127 - bias) << M;
  // Subnormal range: adding 2^(1-bias-M+23) makes one float32 ulp equal
  // one target subnormal step, so the FPU's round-to-nearest-even does the
  // rounding; the difference of the bit patterns is the code (a result of
  // exactly 2^M is the smallest normal, also correct).
  constexpr uint32_t magicBits = pow2Bits(1 - bias - M + 23);
  uint32_t subnormal =
      floatBits(bitsToFloat(a) + bitsToFloat(magicBits)) - magicBits;
  constexpr uint32_t minNormalBits = pow2Bits(1 - bias);
  return select(a < minNormalBits, subnormal, normal);
}

/// Decodes the unsigned finite code \p c of the float format <E, M> (no
/// sign bit) to float32 exactly.
template <int E, int M>
QOPT_HD constexpr float decodeMinifloatMagnitude(uint32_t c) {
  constexpr int bias = (1 << (E - 1)) - 1;
  uint32_t exponent = c >> M;
  uint32_t mantissa = c & ((1u << M) - 1);
  float normal =
      bitsToFloat(((exponent + 127 - bias) << 23) | (mantissa << (23 - M)));
  // Subnormal: mantissa * 2^(1-bias-M), exact.
  float subnormal =
      float(int32_t(mantissa)) * bitsToFloat(pow2Bits(1 - bias - M));
  return bitsToFloat(
      select(exponent == 0, floatBits(subnormal), floatBits(normal)));
}

} // namespace detail

//===----------------------------------------------------------------------===//
// IEEE binary16
//===----------------------------------------------------------------------===//

/// float32 -> IEEE binary16, round to nearest even. Overflow (|x| >= 65520)
/// gives +-inf, subnormal results are exact, NaN gives a quiet NaN with the
/// sign and the top 9 payload bits kept (as x86 F16C and ARM do).
QOPT_HD constexpr uint16_t floatToHalf(float x) {
  using namespace detail;
  uint32_t u = floatBits(x);
  uint32_t sign = (u >> 16) & 0x8000u;
  uint32_t a = u & kFloatAbsMask;
  // Normal half results: |x| in [2^-14, 65520).
  uint32_t normal =
      ((a + kHalfRoundBias + ((a >> kHalfDroppedBits) & 1u)) >>
       kHalfDroppedBits) -
      (kHalfRebiasBits >> kHalfDroppedBits);
  // Subnormal half results: |x| < 2^-14. 0.5 has a float ulp of 2^-24, the
  // half subnormal step.
  uint32_t subnormal =
      floatBits(bitsToFloat(a) + bitsToFloat(kHalfSubnormalMagicBits)) -
      kHalfSubnormalMagicBits;
  uint32_t nan = kHalfQuietNaNBits | ((a >> kHalfDroppedBits) & 0x3FFu);
  uint32_t r = select(a < kFloatHalfMinNormalBits, subnormal, normal);
  r = select(a >= kFloatHalfOverflowBits, kHalfInfBits, r);
  r = select(a > kFloatInfBits, nan, r);
  return uint16_t(sign | r);
}

/// IEEE binary16 -> float32, exact (NaN payloads are kept bit for bit).
QOPT_HD constexpr float halfToFloat(uint16_t h) {
  using namespace detail;
  uint32_t sign = uint32_t(h & 0x8000u) << 16;
  uint32_t a = h & kHalfAbsMask;
  uint32_t normal = (a << kHalfDroppedBits) + kHalfRebiasBits;
  uint32_t infNan = (a << kHalfDroppedBits) | kFloatInfBits;
  uint32_t subnormal = floatBits(float(int32_t(a)) * 0x1p-24f);
  uint32_t r = select(a < kHalfMinNormalBits, subnormal, normal);
  r = select(a >= kHalfInfBits, infNan, r);
  return bitsToFloat(sign | r);
}

//===----------------------------------------------------------------------===//
// bfloat16
//===----------------------------------------------------------------------===//

/// float32 -> bfloat16, round to nearest even on the bit pattern (overflow
/// gives inf). NaN gives a quiet NaN keeping the sign and the top payload
/// bits (as AVX512-BF16 does).
QOPT_HD constexpr uint16_t floatToBFloat16(float x) {
  uint32_t u = detail::floatBits(x);
  uint32_t rounded = (u + 0x7FFFu + ((u >> 16) & 1u)) >> 16;
  uint32_t nan = (u >> 16) | 0x40u;
  return uint16_t(
      detail::select((u & 0x7FFFFFFFu) > 0x7F800000u, nan, rounded));
}

/// bfloat16 -> float32, exact.
QOPT_HD constexpr float bfloat16ToFloat(uint16_t b) {
  return detail::bitsToFloat(uint32_t(b) << 16);
}

/// float32 -> bfloat16 with TVM's "f32-to-bf16" tensor-cache encoding: round
/// to nearest even on the bit pattern when |x| < 0x7F7F0000 (as float,
/// 3.3895314e38), plain truncation (u >> 16) otherwise, so NaN keeps its top
/// 16 bits, inf stays inf and huge finite values truncate.
QOPT_HD constexpr uint16_t floatToBFloat16Tvm(float x) {
  uint32_t u = detail::floatBits(x);
  uint32_t rounded = (u + 0x7FFFu + ((u >> 16) & 1u)) >> 16;
  return uint16_t(
      detail::select((u & 0x7FFFFFFFu) < 0x7F7F0000u, rounded, u >> 16));
}

//===----------------------------------------------------------------------===//
// float8
//===----------------------------------------------------------------------===//

/// float32 -> OCP float8 e4m3fn (bias 7, no inf, NaN = 0x7F/0xFF, largest
/// finite 448), round to nearest even. Finite values beyond 448 and +-inf
/// saturate to +-448 (0x7E/0xFE); NaN gives 0x7F with the sign kept.
QOPT_HD constexpr uint8_t floatToF8E4M3FN(float x) {
  uint32_t u = detail::floatBits(x);
  uint32_t sign = (u >> 24) & 0x80u;
  uint32_t a = u & 0x7FFFFFFFu;
  uint32_t code = detail::roundMagnitudeToMinifloat<4, 3>(a);
  code = detail::select(code < 0x7Eu, code, 0x7Eu);
  code = detail::select(a > 0x7F800000u, 0x7Fu, code);
  return uint8_t(sign | code);
}

/// OCP float8 e4m3fn -> float32, exact (0x7F/0xFF -> quiet NaN with sign).
QOPT_HD constexpr float f8E4M3FNToFloat(uint8_t v) {
  uint32_t sign = uint32_t(v & 0x80u) << 24;
  uint32_t c = v & 0x7Fu;
  uint32_t magnitude =
      detail::floatBits(detail::decodeMinifloatMagnitude<4, 3>(c));
  return detail::bitsToFloat(
      sign | detail::select(c == 0x7Fu, 0x7FC00000u, magnitude));
}

/// float32 -> float8 e5m2 (bias 15, IEEE-like with inf), round to nearest
/// even. Finite values that would round beyond 57344 saturate to +-57344
/// (0x7B/0xFB); +-inf stays +-inf (0x7C/0xFC); NaN gives the quiet NaN 0x7E
/// with the sign kept.
QOPT_HD constexpr uint8_t floatToF8E5M2(float x) {
  uint32_t u = detail::floatBits(x);
  uint32_t sign = (u >> 24) & 0x80u;
  uint32_t a = u & 0x7FFFFFFFu;
  uint32_t code = detail::roundMagnitudeToMinifloat<5, 2>(a);
  code = detail::select(code < 0x7Bu, code, 0x7Bu);
  code = detail::select(a == 0x7F800000u, 0x7Cu, code);
  code = detail::select(a > 0x7F800000u, 0x7Eu, code);
  return uint8_t(sign | code);
}

/// float8 e5m2 -> float32, exact (e5m2 is the top byte of a binary16).
QOPT_HD constexpr float f8E5M2ToFloat(uint8_t v) {
  return halfToFloat(uint16_t(uint16_t(v) << 8));
}

//===----------------------------------------------------------------------===//
// Emulated arithmetic of a model dtype
//===----------------------------------------------------------------------===//

/// The float formats a model computes in.
enum class FloatFormat : uint8_t { F16, BF16, F32 };

/// Rounds a float32 operation result to \p F. An fp16 or bf16 operation is
/// emulated exactly as `roundTo<F>(float(a) op float(b))` for + - * /,
/// because float32 has at least 2p+2 significand bits for both formats.
/// The result equals halfToFloat(floatToHalf(x)) (F16) or
/// bfloat16ToFloat(floatToBFloat16(x)) (BF16) bit for bit, but never leaves
/// the float32 domain.
template <FloatFormat F>
QOPT_HD constexpr float roundTo(float x) {
  if constexpr (F == FloatFormat::F16) {
    uint32_t u = detail::floatBits(x);
    uint32_t sign = u & 0x80000000u;
    uint32_t a = u & 0x7FFFFFFFu;
    // Normal half range: round the float32 pattern to 10 mantissa bits.
    uint32_t normal = (a + 0xFFFu + ((a >> 13) & 1u)) & 0xFFFFE000u;
    // Subnormal half range: 0.5 has a float ulp of 2^-24 (both steps exact
    // but the first, which rounds to nearest even).
    uint32_t subnormal =
        detail::floatBits((detail::bitsToFloat(a) + 0.5f) - 0.5f);
    uint32_t nan = (a | 0x00400000u) & 0xFFFFE000u;
    uint32_t r = detail::select(a < 0x38800000u, subnormal, normal);
    r = detail::select(a >= 0x477FF000u, 0x7F800000u, r);
    r = detail::select(a > 0x7F800000u, nan, r);
    return detail::bitsToFloat(sign | r);
  } else if constexpr (F == FloatFormat::BF16) {
    uint32_t u = detail::floatBits(x);
    uint32_t a = u & 0x7FFFFFFFu;
    uint32_t rounded = (u + 0x7FFFu + ((u >> 16) & 1u)) & 0xFFFF0000u;
    uint32_t nan = (u | 0x00400000u) & 0xFFFF0000u;
    return detail::bitsToFloat(detail::select(a > 0x7F800000u, nan, rounded));
  } else {
    return x;
  }
}

/// Run-time-format version of roundTo<F>(x) (F32 returns x unchanged).
QOPT_HD constexpr float roundTo(float x, FloatFormat f) {
  switch (f) {
  case FloatFormat::F16:
    return roundTo<FloatFormat::F16>(x);
  case FloatFormat::BF16:
    return roundTo<FloatFormat::BF16>(x);
  case FloatFormat::F32:
    break;
  }
  return x;
}

} // namespace qopt::numerics

#endif // QOPT_NUMERICS_FLOAT_H
