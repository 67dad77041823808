//===- Simd.h - Explicit SIMD kernels of the numerics -----------*- C++ -*-===//
//
// Internal to lib/Numerics. The float16 / round-half-to-even path of
// groupQuantizeRows (every MLC f16 mode today) and the bf16/f32 -> f16 casts
// run, on CPUs with AVX-512 (F, BW, VL) and F16C, as the kernels below,
// chosen at run time (SimdX86.cpp); their results are identical to the portable loops (hardware f16
// conversions round to nearest even exactly as roundTo<F16>; the unit tests
// run both paths against the reference).
//
//===----------------------------------------------------------------------===//

#ifndef QOPT_LIB_NUMERICS_SIMD_H
#define QOPT_LIB_NUMERICS_SIMD_H

#include <cstddef>
#include <cstdint>

namespace qopt::numerics::simd {

/// Whether the AVX-512 kernels may run: the CPU has them and
/// setSimdKernelsEnabled (GroupQuant.h) has not turned them off.
bool useAvx512();

/// One row of groupQuantizeRows for float16 values and round-half-to-even:
/// k values `w` in groups of groupSize <= 64 (the last one shorter); writes
/// the float16 scales and the codes q[0, k). Returns false, having written
/// nothing meaningful, if the row holds a NaN (TVM's select chain is then
/// replayed by the portable loops).
bool quantizeRowF16(const uint16_t *w, int64_t k, int64_t groupSize,
                    float maxInt, float hi, uint16_t *scales, uint8_t *q);

/// dst[i] = floatToHalf(bfloat16ToFloat(src[i])) for n values: a shift and
/// vcvtps2ph, which rounds (and quiets NaNs) exactly as floatToHalf.
void bf16ToF16(const uint16_t *src, uint16_t *dst, size_t n);
/// dst[i] = floatToHalf(src[i]) for n values.
void f32ToF16(const float *src, uint16_t *dst, size_t n);

} // namespace qopt::numerics::simd

#endif // QOPT_LIB_NUMERICS_SIMD_H
