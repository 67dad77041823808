//===- GroupQuantSimd.h - Explicit SIMD kernels of GroupQuant ---*- C++ -*-===//
//
// Internal to lib/Numerics. The float16 / round-half-to-even path of
// groupQuantizeRows (every MLC f16 mode today) has two hot loops: the
// largest |w| bits per group and the per-value quantization. On CPUs with
// AVX-512 (F, BW, VL) and F16C they run as the kernels below, chosen at run
// time; their results are identical to the portable loops (hardware f16
// conversions round to nearest even exactly as roundTo<F16>; the unit tests
// run both paths against the reference).
//
//===----------------------------------------------------------------------===//

#ifndef QOPT_LIB_NUMERICS_GROUPQUANTSIMD_H
#define QOPT_LIB_NUMERICS_GROUPQUANTSIMD_H

#include <cstdint>

namespace qopt::numerics::simd {

/// Whether the AVX-512 kernels may run: the CPU has them and
/// setSimdKernelsEnabled (GroupQuant.h) has not turned them off.
bool useAvx512();

/// out[g] = max over group g of row `w` (k float16 values, groups of
/// groupSize <= 64, the last one shorter) of the bits |w| & 0x7FFF.
void groupMaxAbsBitsF16(const uint16_t *w, int64_t k, int64_t groupSize,
                        uint32_t *out);

/// q[i] = clamp(rne(f16(f16(w[i] / scales[i]) + maxInt)), 0, hi) for the
/// float16 values w, as quantizeSpan<F16, NearestEven>.
void quantizeSpanF16(const uint16_t *w, int64_t n, const float *scales,
                     float maxInt, float hi, uint8_t *q);

} // namespace qopt::numerics::simd

#endif // QOPT_LIB_NUMERICS_GROUPQUANTSIMD_H
