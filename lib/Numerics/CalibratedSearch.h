//===- CalibratedSearch.h - Importance-weighted scale search ----*- C++ -*-===//
//
// Internal to lib/Numerics: the per-group (per-block) searches shared by the
// importance-weighted quantizers and GPTQ (Calibrated.cpp, Gptq.cpp). Every
// step is a plain float32 or double operation in a fixed order, so that
// test/reference/calibrated.py reproduces the bytes (docs/calibration.md,
// "Formulas"). The library builds with -ffp-contract=off.
//
//===----------------------------------------------------------------------===//

#ifndef QOPT_LIB_NUMERICS_CALIBRATEDSEARCH_H
#define QOPT_LIB_NUMERICS_CALIBRATEDSEARCH_H

#include "qopt/Numerics/Float.h"
#include "qopt/Numerics/Mnn.h"
#include "qopt/Numerics/QuantRules.h"

#include <cmath>
#include <cstdint>
#include <cstring>
#include <iterator>
#include <type_traits>

namespace qopt::numerics::calibrated {

/// The clipping ratios screened, as in ScaleSearch.cpp.
inline constexpr float kRatios[] = {1.00f, 0.90f, 0.80f};
/// Least-squares refinements from the screened candidate of least error.
inline constexpr int kRefinements = 2;
/// Candidates one orientation of a group scores at most.
inline constexpr int kMaxTried = int(std::size(kRatios)) + kRefinements;
/// MNN's threshold below which a scale counts as zero.
inline constexpr float kMnnEpsilon = 1e-6f;

/// Round half to even of a float32 value to an integral float32.
inline float rne(float t) { return std::nearbyint(t); }
/// Round half away from zero (C's round), MNN's rounding.
inline float rha(float t) { return std::round(t); }
inline float clampTo(float r, float lo, float hi) {
  return r < lo ? lo : (r > hi ? hi : r);
}

/// How a code is derived and dequantized: symmetric q in [lo, hi] with
/// w ~ q * s (group modes: lo = -M, ties to even, scales rounded to the
/// model format; MNN symmetric: lo = -T - 1, ties away, float32 scales), or
/// asymmetric q in [0, hi] with w ~ q * s + m (MNN).
struct CodeRule {
  float lo = 0, hi = 0;
  bool tiesAway = false;
  bool asymmetric = false;
  /// Scales rounded to this format (F32: kept as computed).
  FloatFormat scaleFormat = FloatFormat::F32;
  /// MNN: a scale at or below kMnnEpsilon gives the zero code.
  bool mnnEpsilon = false;
  /// Group modes: codes by MLC's own rule (QuantRules.h quantizeValue:
  /// round(model(model(v / s) + M)) with this tie rule, clamped to
  /// [0, 2M], minus M; a zero scale gives +-M by the sign of v).
  bool mlcCodes = false;
  RoundingMode mlcRounding = RoundingMode::NearestEven;

  float round(float t) const { return tiesAway ? rha(t) : rne(t); }
  float toScale(float s) const { return roundTo(s, scaleFormat); }
  bool usable(float s) const {
    return mnnEpsilon ? s > kMnnEpsilon : s > 0.0f;
  }
  /// The code of v for scale s (and min m).
  float code(float v, float s, float m) const {
    if (mlcCodes)
      return float(int32_t(mlcCode(v, s))) - hi;
    if (!usable(s))
      return 0.0f;
    float t = asymmetric ? (v - m) / s : v / s;
    return clampTo(round(t), lo, hi);
  }
  /// MLC's stored code of v for the scale s (group modes).
  uint32_t mlcCode(float v, float s) const {
    if (s == 0.0f)
      return rules::quantizeValueZeroScale(v, 2 * hi);
    auto go = [&](auto f) {
      constexpr FloatFormat F = decltype(f)::value;
      return mlcRounding == RoundingMode::NearestAway
                 ? rules::quantizeValue<F, RoundingMode::NearestAway>(
                       v, s, hi, 2 * hi)
                 : rules::quantizeValue<F, RoundingMode::NearestEven>(
                       v, s, hi, 2 * hi);
    };
    switch (scaleFormat) {
    case FloatFormat::F16:
      return go(std::integral_constant<FloatFormat, FloatFormat::F16>());
    case FloatFormat::BF16:
      return go(std::integral_constant<FloatFormat, FloatFormat::BF16>());
    default:
      return go(std::integral_constant<FloatFormat, FloatFormat::F32>());
    }
  }
  /// What the code dequantizes to.
  float value(float q, float s, float m) const {
    float d = q * s;
    return asymmetric ? d + m : d;
  }
};

/// A model-format value (uint16 bits of F16/BF16, or a float) as float.
inline float loadModelValue(const unsigned char *p, FloatFormat f) {
  if (f == FloatFormat::F32) {
    float v;
    std::memcpy(&v, p, 4);
    return v;
  }
  uint16_t h;
  std::memcpy(&h, p, 2);
  return f == FloatFormat::F16 ? halfToFloat(h) : bfloat16ToFloat(h);
}

/// Stores a float representable in the model format.
inline void storeModelValue(float v, FloatFormat f, unsigned char *p) {
  if (f == FloatFormat::F32) {
    std::memcpy(p, &v, 4);
    return;
  }
  uint16_t h = f == FloatFormat::F16 ? floatToHalf(v) : floatToBFloat16(v);
  std::memcpy(p, &h, 2);
}

/// The MNN code range of `spec`: its code offset (2^(bits-1) symmetric, 0
/// asymmetric) and the rule of its codes (docs/mnn-format.md).
struct MnnCodes {
  int offset;
  CodeRule rule;
};
inline MnnCodes mnnCodes(const MnnQuantSpec &spec) {
  const float hi = spec.asymmetric ? float((1 << spec.bits) - 1)
                                   : float((1 << (spec.bits - 1)) - 1);
  return {spec.asymmetric ? 0 : 1 << (spec.bits - 1),
          CodeRule{spec.asymmetric ? 0.0f : -hi - 1.0f, hi, true,
                   spec.asymmetric, FloatFormat::F32, true}};
}

/// sum_i a_i (x_i - value(q_i))^2 in float32 (each operation rounded), i
/// ascending from +0.
inline float weightedError(const CodeRule &rule, const float *x,
                           const float *a, const float *q, int64_t n, float s,
                           float m) {
  float e = 0;
  for (int64_t i = 0; i < n; ++i) {
    float d = x[i] - rule.value(q[i], s, m);
    float t = d * d;
    t = a[i] * t;
    e += t;
  }
  return e;
}

/// The weighted search of one group/block of n finite values x with
/// importance a. (s, m, q) hold the candidate to beat on entry (its codes
/// in q) and the best on return; `tmp` has room for n floats. Returns
/// whether a candidate replaced the entry one.
bool weightedSearch(const CodeRule &rule, const float *x, const float *a,
                    int64_t n, float &s, float &m, float *q, float *tmp);

/// --imatrix's search of one group of MLC's group modes (docs/calibration.md,
/// "Formulas"; the MNN block search and GPTQ's group scales use
/// weightedSearch): n finite values x with importance a, codes in [-M, M]
/// by search::assignCode (round(x * float(1 / s)), ties to even), scales
/// rounded to `format`, every candidate scored from its float32 sums as
/// E = (W - 2 s X) + s^2 Q. (s, q) hold plain rounding's scale and signed
/// codes on entry and the best on return; `tmp` has room for n floats.
/// Returns whether a candidate replaced the entry one.
bool groupSearch(const float *x, const float *a, int64_t n, float maxInt,
                 FloatFormat format, float &s, float *q, float *tmp);

/// The starting parameters of a group/block (no importance): symmetric
/// s = toScale(max|v| / hi') with hi' = M (group) or T (MNN), m = 0;
/// asymmetric s = (max - min) / hi, m = min.
void plainParams(const CodeRule &rule, float divisor, const float *v,
                 int64_t n, float &s, float &m);

} // namespace qopt::numerics::calibrated

#endif // QOPT_LIB_NUMERICS_CALIBRATEDSEARCH_H
