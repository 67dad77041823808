//===- Fp8.cpp - MLC per-tensor float8 quantization -------------*- C++ -*-===//
//
// PerTensorQuantize.quantize_float8 as TVM compiles it:
//   scale = max(f16(max|w| / 448), f16(1 / (448 * 512)))   (fp16, then f32)
//   q     = float8_e4m3fn(float32(w) / scale)
// and, for e5m2 (no scale), q = float8_e5m2(w).
//
//===----------------------------------------------------------------------===//

#include "qopt/Numerics/Fp8.h"
#include "Simd.h"
#include "qopt/Numerics/QuantRules.h"

#include <algorithm>
#include <cmath>

namespace qopt::numerics {

float fp8E4M3PerTensorScale(const uint16_t *wF16, size_t n) {
  // Without NaNs max|w| is the integer maximum of the magnitude bits.
  uint32_t m = 0;
  if (simd::enabled()) {
    m = simd::maxAbsBits16(wF16, n);
  } else {
    for (size_t i = 0; i < n; ++i)
      m = std::max(m, uint32_t(wF16[i] & rules::kAbsMask16));
  }
  float maxAbs;
  if (n == 0) {
    maxAbs = rules::kLowestF16;
  } else if (m <= detail::kHalfInfBits) {
    maxAbs = halfToFloat(uint16_t(m));
  } else {
    // A NaN is present: replay TVM's select chain in order.
    maxAbs = rules::kLowestF16;
    for (size_t i = 0; i < n; ++i)
      maxAbs = rules::tvmMax(maxAbs, rules::absBitsOf(halfToFloat(wF16[i])));
  }
  return rules::fp8E4M3Scale(maxAbs);
}

void quantizeFp8E4M3(const uint16_t *wF16, size_t n, float scale,
                     uint8_t *out) {
  if (scale == 0.0f) {
    const bool negative = std::signbit(scale);
    for (size_t i = 0; i < n; ++i)
      out[i] = rules::fp8E4M3CodeZeroScale(wF16[i], negative);
    return;
  }
  if (simd::enabled())
    return simd::quantizeFp8E4M3(wF16, n, scale, out);
  for (size_t i = 0; i < n; ++i)
    out[i] = rules::fp8E4M3Code(wF16[i], scale);
}

void castHalfToFp8E5M2(const uint16_t *wF16, size_t n, uint8_t *out) {
  if (simd::enabled())
    return simd::castHalfToFp8E5M2(wF16, n, out);
  for (size_t i = 0; i < n; ++i)
    out[i] = rules::fp8E5M2Code(wF16[i]);
}

} // namespace qopt::numerics
