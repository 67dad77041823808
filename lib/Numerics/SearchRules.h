//===- SearchRules.h - Per-element rules of the scale searches --*- C++ -*-===//
//
// Internal to lib/Numerics: the element steps of --optimize-scales
// (ScaleSearch.cpp) and of HQQ (Hqq.cpp), written once. The scalar loops
// call them; the Highway kernels (SimdSearch.cpp) apply the same formulas on
// vectors, accumulating element i into lane i % kSumLanes exactly as the
// scalar loops do, so the sums, and with them the chosen scales, are the
// same bytes on every target.
//
//===----------------------------------------------------------------------===//

#ifndef QOPT_LIB_NUMERICS_SEARCHRULES_H
#define QOPT_LIB_NUMERICS_SEARCHRULES_H

#include "qopt/Numerics/QuantRules.h"

namespace qopt::numerics::search {

/// Independent accumulators of the searches' sums: element i goes to lane
/// i % kSumLanes (short dependency chains, a fixed summation order).
inline constexpr int kSumLanes = 8;

/// The lanes' sum, pairwise in a fixed order.
inline double sumLanes(const double (&v)[kSumLanes]) {
  return ((v[0] + v[1]) + (v[2] + v[3])) + ((v[4] + v[5]) + (v[6] + v[7]));
}

/// Scale search: the signed value in [lo, hi] nearest to y * inv (ties to
/// even; y * inv is bounded by the clamp range times a small factor unless
/// the scale was rounded far down, where the magic rounding may be off but
/// the clamp still holds). Never NaN for finite y and inv.
inline float assignCode(float y, float inv, float lo, float hi) {
  float r = (y * inv + rules::kRoundMagic) - rules::kRoundMagic;
  r = r < hi ? r : hi;
  return r > lo ? r : lo;
}

/// HQQ: std::nearbyint for |t| < 2^51 (ties to even in the default rounding
/// mode); a larger |t| stays beyond the clamp range [0, 255].
inline double roundHalfEven(double t) {
  return (t + rules::kRoundMagicD) - rules::kRoundMagicD;
}

/// HQQ: clamp(v, 0, qmax) as selects.
inline double clampHqqCode(double v, double qmax) {
  v = v < qmax ? v : qmax;
  return v > 0.0 ? v : 0.0;
}

} // namespace qopt::numerics::search

#endif // QOPT_LIB_NUMERICS_SEARCHRULES_H
