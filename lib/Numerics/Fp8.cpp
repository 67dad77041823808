//===- Fp8.cpp - MLC per-tensor float8 quantization -------------*- C++ -*-===//
//
// PerTensorQuantize.quantize_float8 as TVM compiles it:
//   scale = max(f16(max|w| / 448), f16(1 / (448 * 512)))   (fp16, then f32)
//   q     = float8_e4m3fn(float32(w) / scale)
// and, for e5m2 (no scale), q = float8_e5m2(w).
//
//===----------------------------------------------------------------------===//

#include "qopt/Numerics/Fp8.h"
#include "qopt/Numerics/Float.h"

#include <algorithm>
#include <cmath>

namespace qopt::numerics {

/// f16(1 / (448 * 512)) = f16(4.3596e-6) = 73 * 2^-24 (73.14 steps of the
/// subnormal 2^-24, rounded down).
static constexpr uint16_t kMinScaleF16 = 0x0049;

/// TVM's min_value(float16), the reduction's initial value.
static constexpr float kLowestF16 = -65504.0f;

float fp8E4M3PerTensorScale(const uint16_t *wF16, size_t n) {
  // Without NaNs max|w| is the integer maximum of the magnitude bits.
  uint32_t m = 0;
  for (size_t i = 0; i < n; ++i)
    m = std::max(m, uint32_t(wF16[i] & 0x7FFFu));
  float maxAbs;
  if (n == 0) {
    maxAbs = kLowestF16;
  } else if (m <= 0x7C00u) {
    maxAbs = halfToFloat(uint16_t(m));
  } else {
    // A NaN is present: replay `acc = acc > v ? acc : v` in order.
    maxAbs = kLowestF16;
    for (size_t i = 0; i < n; ++i) {
      float v = std::fabs(halfToFloat(wF16[i]));
      maxAbs = maxAbs > v ? maxAbs : v;
    }
  }
  float scale = roundTo<FloatFormat::F16>(maxAbs / 448.0f);
  float floor = halfToFloat(kMinScaleF16);
  return scale > floor ? scale : floor;
}

void quantizeFp8E4M3(const uint16_t *wF16, size_t n, float scale,
                     uint8_t *out) {
  if (scale == 0.0f) {
    // IEEE w / +-0 without dividing: +-inf saturates, 0 / 0 and NaN are NaN.
    const uint32_t scaleSign = std::signbit(scale) ? 0x80u : 0u;
    for (size_t i = 0; i < n; ++i) {
      const uint32_t a = wF16[i] & 0x7FFFu;
      const uint32_t sign = ((wF16[i] >> 8) & 0x80u) ^ scaleSign;
      out[i] = (a == 0 || a > 0x7C00u) ? uint8_t(0x7Fu) : uint8_t(sign | 0x7Eu);
    }
    return;
  }
  for (size_t i = 0; i < n; ++i)
    out[i] = floatToF8E4M3FN(halfToFloat(wF16[i]) / scale);
}

void castHalfToFp8E5M2(const uint16_t *wF16, size_t n, uint8_t *out) {
  // e5m2 is the top byte of a binary16: round the low byte away, ties to
  // even (a carry into the exponent is correct, subnormals included).
  for (size_t i = 0; i < n; ++i) {
    const uint32_t h = wF16[i];
    const uint32_t sign = (h >> 8) & 0x80u;
    const uint32_t a = h & 0x7FFFu;
    uint32_t code = (a + 0x7Fu + ((a >> 8) & 1u)) >> 8;
    code = code < 0x7Bu ? code : 0x7Bu;
    code = a == 0x7C00u ? 0x7Cu : code;
    code = a > 0x7C00u ? 0x7Eu : code;
    out[i] = uint8_t(sign | code);
  }
}

} // namespace qopt::numerics
