//===- Fp8.h - MLC per-tensor float8 quantization ---------------*- C++ -*-===//
//
// MLC-LLM's PerTensorQuantize modes e4m3_e4m3_f16(_max_calibrate) and
// e5m2_e5m2_f16. The model dtype is float16 for all of them, so weights come
// in as binary16 bits.
//
//===----------------------------------------------------------------------===//

#ifndef QOPT_NUMERICS_FP8_H
#define QOPT_NUMERICS_FP8_H

#include <cstddef>
#include <cstdint>

namespace qopt::numerics {

/// The e4m3 per-tensor scale: max(f16(maxAbs / 448), f16(1 / (448 * 512)))
/// computed in fp16 and returned as float (the floor is 73 * 2^-24). maxAbs
/// follows TVM's `max(a, b)` = `a > b ? a : b` over |w| in order (so a NaN
/// only matters if nothing but NaNs follow it); a NaN maxAbs yields the floor.
/// For n == 0 the result is the floor.
float fp8E4M3PerTensorScale(const uint16_t *wF16, size_t n);

/// out[i] = floatToF8E4M3FN(float(w[i]) / scale) with float32 division (round
/// to nearest even, saturating at +-448). If scale is 0 (never produced by
/// fp8E4M3PerTensorScale) the IEEE quotient is emulated without dividing:
/// +-448 for nonzero w, NaN (0x7F) for zero or NaN w.
void quantizeFp8E4M3(const uint16_t *wF16, size_t n, float scale, uint8_t *out);

/// e5m2 mode: out[i] = the fp16 w[i] cast to e5m2 (round to nearest even,
/// finite values saturate at +-57344, inf stays inf, NaN -> quiet NaN 0x7E
/// with sign); identical to floatToF8E5M2(halfToFloat(w[i])).
void castHalfToFp8E5M2(const uint16_t *wF16, size_t n, uint8_t *out);

} // namespace qopt::numerics

#endif // QOPT_NUMERICS_FP8_H
