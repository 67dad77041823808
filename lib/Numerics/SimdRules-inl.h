//===- SimdRules-inl.h - Vector forms of the numeric rules ------*- C++ -*-===//
//
// Internal to lib/Numerics; included once per Highway target by the kernel
// files (foreach_target). Each function is the vector form of a scalar
// definition in qopt/Numerics/Float.h or QuantRules.h, written from the
// same constants, lane by lane the same operations, so that every target
// produces the scalar functions' bits (the unit tests check each target).
// Where a target has a hardware conversion that rounds exactly like the
// scalar rule (x86 F16C, which the AVX2 and AVX3 targets require:
// round-to-nearest-even, overflow to inf, quiet NaNs keeping the top
// payload bits), it is used instead of the bit formula.
//
//===----------------------------------------------------------------------===//

// Per-target include guard (Highway's convention).
#if defined(QOPT_LIB_NUMERICS_SIMDRULES_INL_H) == defined(HWY_TARGET_TOGGLE)
#ifdef QOPT_LIB_NUMERICS_SIMDRULES_INL_H
#undef QOPT_LIB_NUMERICS_SIMDRULES_INL_H
#else
#define QOPT_LIB_NUMERICS_SIMDRULES_INL_H
#endif

#include "qopt/Numerics/QuantRules.h"

#include <hwy/highway.h>

HWY_BEFORE_NAMESPACE();
namespace qopt::numerics::HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

/// Whether this target converts binary16 in hardware (F16C).
#if HWY_ARCH_X86 && HWY_TARGET <= HWY_AVX2
inline constexpr bool kHardwareF16 = true;
#else
inline constexpr bool kHardwareF16 = false;
#endif

template <class D>
using VecOf = hn::Vec<D>;

/// Comparisons of 32-bit lanes whose values are below 2^31 (magnitude bits,
/// codes): signed compares, which every target has natively.
template <class DU>
HWY_INLINE auto LtU(DU du, VecOf<DU> a, VecOf<DU> b) {
  const hn::RebindToSigned<DU> di;
  return hn::RebindMask(du, hn::Lt(hn::BitCast(di, a), hn::BitCast(di, b)));
}
template <class DU>
HWY_INLINE auto GtU(DU du, VecOf<DU> a, VecOf<DU> b) {
  return LtU(du, b, a);
}
template <class DU>
HWY_INLINE auto GeU(DU du, VecOf<DU> a, VecOf<DU> b) {
  return hn::Not(LtU(du, a, b));
}

/// halfToFloat on the binary16 bits \p h (one per float lane of \p df).
/// Without F16C: the formula of halfToFloat. (F16C quiets signalling NaNs,
/// which no caller distinguishes: every NaN code or scale is decided on the
/// integer bits first.)
template <class DF>
HWY_INLINE VecOf<DF> HalfToFloat(DF df,
                                 VecOf<hn::Rebind<uint16_t, DF>> h) {
  using namespace detail;
  if constexpr (kHardwareF16) {
    const hn::Rebind<hwy::float16_t, DF> dh;
    return hn::PromoteTo(df, hn::BitCast(dh, h));
  } else {
    const hn::RebindToUnsigned<DF> du;
    const hn::RebindToSigned<DF> di;
    const auto u = hn::PromoteTo(du, h);
    const auto sign = hn::ShiftLeft<16>(hn::And(u, hn::Set(du, 0x8000u)));
    const auto a = hn::And(u, hn::Set(du, kHalfAbsMask));
    const auto shifted = hn::ShiftLeft<kHalfDroppedBits>(a);
    const auto normal = hn::Add(shifted, hn::Set(du, kHalfRebiasBits));
    const auto infNan = hn::Or(shifted, hn::Set(du, kFloatInfBits));
    const auto subnormal = hn::BitCast(
        du, hn::Mul(hn::ConvertTo(df, hn::BitCast(di, a)),
                    hn::Set(df, 0x1p-24f)));
    auto r = hn::IfThenElse(LtU(du, a, hn::Set(du, kHalfMinNormalBits)),
                            subnormal, normal);
    r = hn::IfThenElse(GeU(du, a, hn::Set(du, kHalfInfBits)), infNan, r);
    return hn::BitCast(df, hn::Or(sign, r));
  }
}

/// floatToHalf of each lane, as binary16 bits. Without F16C: the formula
/// of floatToHalf.
template <class DF>
HWY_INLINE VecOf<hn::Rebind<uint16_t, DF>> FloatToHalf(DF df, VecOf<DF> x) {
  using namespace detail;
  const hn::Rebind<uint16_t, DF> dh;
  if constexpr (kHardwareF16) {
    const hn::Rebind<hwy::float16_t, DF> dh16;
    return hn::BitCast(dh, hn::DemoteTo(dh16, x));
  } else {
    const hn::RebindToUnsigned<DF> du;
    const hn::RebindToSigned<DF> di;
    const auto u = hn::BitCast(du, x);
    const auto sign = hn::And(hn::ShiftRight<16>(u), hn::Set(du, 0x8000u));
    const auto a = hn::And(u, hn::Set(du, kFloatAbsMask));
    const auto lowKept = hn::And(hn::ShiftRight<kHalfDroppedBits>(a),
                                 hn::Set(du, 1u));
    const auto normal = hn::Sub(
        hn::ShiftRight<kHalfDroppedBits>(
            hn::Add(hn::Add(a, hn::Set(du, kHalfRoundBias)), lowKept)),
        hn::Set(du, kHalfRebiasBits >> kHalfDroppedBits));
    const auto magic = hn::Set(du, kHalfSubnormalMagicBits);
    const auto subnormal = hn::Sub(
        hn::BitCast(du, hn::Add(hn::BitCast(df, a), hn::BitCast(df, magic))),
        magic);
    const auto nan =
        hn::Or(hn::Set(du, kHalfQuietNaNBits),
               hn::And(hn::ShiftRight<kHalfDroppedBits>(a), hn::Set(du, 0x3FFu)));
    auto r = hn::IfThenElse(LtU(du, a, hn::Set(du, kFloatHalfMinNormalBits)),
                            subnormal, normal);
    r = hn::IfThenElse(GeU(du, a, hn::Set(du, kFloatHalfOverflowBits)),
                       hn::Set(du, kHalfInfBits), r);
    r = hn::IfThenElse(GtU(du, a, hn::Set(du, kFloatInfBits)), nan, r);
    // Every lane is below 2^16: the saturating demotion is a truncation.
    return hn::DemoteTo(dh, hn::BitCast(di, hn::Or(sign, r)));
  }
}

/// bfloat16ToFloat of each lane.
template <class DF>
HWY_INLINE VecOf<DF> BFloat16ToFloat(DF df,
                                     VecOf<hn::Rebind<uint16_t, DF>> b) {
  const hn::RebindToUnsigned<DF> du;
  return hn::BitCast(df, hn::ShiftLeft<16>(hn::PromoteTo(du, b)));
}

/// rules::roundToHalfForQuantizer.
template <class DF>
HWY_INLINE VecOf<DF> RoundToHalfForQuantizer(DF df, VecOf<DF> x) {
  using namespace detail;
  const hn::RebindToUnsigned<DF> du;
  const auto u = hn::BitCast(du, x);
  const auto lowKept =
      hn::And(hn::ShiftRight<kHalfDroppedBits>(u), hn::Set(du, 1u));
  return hn::BitCast(
      df, hn::And(hn::Add(hn::Add(u, hn::Set(du, kHalfRoundBias)), lowKept),
                  hn::Set(du, rules::kHalfKeepMask)));
}

/// rules::roundToHalfForQuantizer on lanes that are zero or normal with
/// |x| < 2^74, in three float operations (Veltkamp's splitting, T. J.
/// Dekker 1971): c = x * (2^13 + 1), then c - (c - x) keeps the 11 leading
/// significand bits of x rounded to nearest, ties to even. The group
/// quantizer's fast rows use it (RowCodes) instead of the F16C round trip
/// (two conversions, each with a shuffle-port uop: the bottleneck of the
/// AVX2 kernel) or the bit formula (five integer operations).
///
/// Equality with the bit formula, bit for bit: every step is an IEEE
/// binary32 operation rounded to nearest even (no FMA contraction:
/// -ffp-contract=off), and for x = m * 2^e all three results scale by 2^e
/// exactly while none is subnormal or overflows, so the result on one
/// binade decides it on every binade in range. It was checked exhaustively
/// for every binary32 pattern with a biased exponent in [1, 200] (|x| <
/// 2^74, 3.36e9 values) and for +-0, and RowQuantTest checks the codes of
/// every finite half value against a set of scales on every target. The
/// lanes it gets: x / s with x a finite half value and s a nonzero finite
/// half scale is 0 or in [2^-41, 2^40]; that rounded, plus maxInt, is 0 or
/// in [2^-51, 2^41] (a multiple of 2^-51). Not for infinities or NaN (c - x
/// would be NaN where the bit formula keeps an infinity).
template <class DF>
HWY_INLINE VecOf<DF> RoundToHalfBySplitting(DF df, VecOf<DF> x) {
  const auto c = hn::Mul(x, hn::Set(df, 8193.0f));
  return hn::Sub(c, hn::Sub(c, x));
}

/// roundTo<BF16>.
template <class DF>
HWY_INLINE VecOf<DF> RoundToBFloat16(DF df, VecOf<DF> x) {
  using namespace detail;
  const hn::RebindToUnsigned<DF> du;
  const auto u = hn::BitCast(du, x);
  const auto a = hn::And(u, hn::Set(du, kFloatAbsMask));
  const auto keep = hn::Set(du, 0xFFFF0000u);
  const auto rounded = hn::And(
      hn::Add(hn::Add(u, hn::Set(du, 0x7FFFu)),
              hn::And(hn::ShiftRight<16>(u), hn::Set(du, 1u))),
      keep);
  const auto nan = hn::And(hn::Or(u, hn::Set(du, 0x00400000u)), keep);
  return hn::BitCast(
      df, hn::IfThenElse(GtU(du, a, hn::Set(du, kFloatInfBits)), nan, rounded));
}

/// rules::roundForQuantizer<F>. With F16C the float16 step is the exact
/// roundTo<F16> (a conversion round trip, two instructions); its codes equal
/// those of the cheaper bit formula (see rules::roundToHalfForQuantizer, and
/// the exhaustive unit test over every half value).
template <FloatFormat F, class DF>
HWY_INLINE VecOf<DF> RoundForQuantizer(DF df, VecOf<DF> x) {
  if constexpr (F == FloatFormat::F16 && kHardwareF16)
    return HalfToFloat(df, FloatToHalf(df, x));
  else if constexpr (F == FloatFormat::F16)
    return RoundToHalfForQuantizer(df, x);
  else if constexpr (F == FloatFormat::BF16)
    return RoundToBFloat16(df, x);
  else
    return x;
}

/// rules::roundToIntegral<R>.
template <RoundingMode R, class DF>
HWY_INLINE VecOf<DF> RoundToIntegral(DF df, VecOf<DF> t) {
  const auto magic = hn::Set(df, rules::kRoundMagic);
  if constexpr (R == RoundingMode::NearestEven) {
    return hn::Sub(hn::Add(t, magic), magic);
  } else {
    const hn::RebindToUnsigned<DF> du;
    const auto u = hn::BitCast(du, t);
    const auto signBit = hn::And(u, hn::Set(du, 0x80000000u));
    const auto a = hn::BitCast(df, hn::AndNot(hn::Set(du, 0x80000000u), u));
    auto r = hn::Sub(hn::Add(a, magic), magic);
    r = hn::Add(r, hn::IfThenElseZero(hn::Eq(hn::Sub(a, r), hn::Set(df, 0.5f)),
                                      hn::Set(df, 1.0f)));
    return hn::BitCast(df, hn::Or(hn::BitCast(du, r), signBit));
  }
}

/// rules::clampCode: the `r > 0` select (NaN gives 0), then the minimum
/// with hi, which equals the `r < hi` select once r is not NaN.
template <class DF>
HWY_INLINE VecOf<DF> ClampCode(DF df, VecOf<DF> r, VecOf<DF> hi) {
  r = hn::IfThenElseZero(hn::Gt(r, hn::Zero(df)), r);
  return hn::Min(r, hi);
}

/// rules::quantizeValue<F, R> on a vector (nonzero scale s), the codes as
/// integral floats in [0, hi].
template <FloatFormat F, RoundingMode R, class DF>
HWY_INLINE VecOf<DF> QuantizeValues(DF df, VecOf<DF> x, VecOf<DF> s,
                                    VecOf<DF> maxInt, VecOf<DF> hi) {
  auto t = RoundForQuantizer<F>(df, hn::Div(x, s));
  t = RoundForQuantizer<F>(df, hn::Add(t, maxInt));
  return ClampCode(df, RoundToIntegral<R>(df, t), hi);
}

/// rules::quantizeValueZeroScale on a vector (codes as floats).
template <class DF>
HWY_INLINE VecOf<DF> QuantizeValuesZeroScale(DF df, VecOf<DF> x,
                                             VecOf<DF> hi) {
  return hn::IfThenElseZero(hn::Gt(x, hn::Zero(df)), hi);
}

/// Integral floats in [0, 255] to bytes: adding 2^23 puts the integer in
/// the low mantissa bits (exactly), whose low byte is kept.
template <class DF>
HWY_INLINE VecOf<hn::Rebind<uint8_t, DF>> CodesToBytes(DF df, VecOf<DF> r) {
  const hn::RebindToUnsigned<DF> du;
  const hn::Rebind<uint8_t, DF> d8;
  return hn::TruncateTo(d8, hn::BitCast(du, hn::Add(r, hn::Set(df, 0x1p23f))));
}

/// detail::roundMagnitudeToMinifloat<E, M> on float32 magnitude bits.
template <int E, int M, class DU>
HWY_INLINE VecOf<DU> RoundMagnitudeToMinifloat(DU du, VecOf<DU> a) {
  constexpr int bias = (1 << (E - 1)) - 1;
  constexpr int shift = 23 - M;
  const hn::Rebind<float, DU> df;
  auto normal = hn::ShiftRight<shift>(hn::Add(
      hn::Add(a, hn::Set(du, (1u << (shift - 1)) - 1)),
      hn::And(hn::ShiftRight<shift>(a), hn::Set(du, 1u))));
  normal = hn::Sub(normal, hn::Set(du, uint32_t(127 - bias) << M));
  const auto magic = hn::Set(du, detail::pow2Bits(1 - bias - M + 23));
  const auto subnormal = hn::Sub(
      hn::BitCast(du, hn::Add(hn::BitCast(df, a), hn::BitCast(df, magic))),
      magic);
  return hn::IfThenElse(LtU(du, a, hn::Set(du, detail::pow2Bits(1 - bias))),
                        subnormal, normal);
}

/// floatToF8E4M3FN of each lane, as the code in a 32-bit lane.
template <class DF>
HWY_INLINE VecOf<hn::RebindToUnsigned<DF>> FloatToF8E4M3FN(DF df,
                                                           VecOf<DF> x) {
  const hn::RebindToUnsigned<DF> du;
  const auto u = hn::BitCast(du, x);
  const auto sign = hn::And(hn::ShiftRight<24>(u), hn::Set(du, 0x80u));
  const auto a = hn::And(u, hn::Set(du, detail::kFloatAbsMask));
  auto code = RoundMagnitudeToMinifloat<4, 3>(du, a);
  const auto maxFinite = hn::Set(du, 0x7Eu);
  code = hn::IfThenElse(LtU(du, code, maxFinite), code, maxFinite);
  code = hn::IfThenElse(GtU(du, a, hn::Set(du, detail::kFloatInfBits)),
                        hn::Set(du, 0x7Fu), code);
  return hn::Or(sign, code);
}

} // namespace qopt::numerics::HWY_NAMESPACE
HWY_AFTER_NAMESPACE();

#endif // per-target include guard
