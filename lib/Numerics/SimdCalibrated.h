//===- SimdCalibrated.h - Highway kernels of GPTQ ---------------*- C++ -*-===//
//
// Internal to lib/Numerics (SimdCalibrated.cpp). Runs the scalar definition
// when the SIMD kernels are off (simd::enabled()); both give the same bits.
//
//===----------------------------------------------------------------------===//

#ifndef QOPT_LIB_NUMERICS_SIMDCALIBRATED_H
#define QOPT_LIB_NUMERICS_SIMDCALIBRATED_H

#include <cstdint>

namespace qopt::numerics::simd {

/// GPTQ's lazy-batch update of `rows` rows: for r < rows, c0 <= c < c1,
///   acc = +0; for t = 0 .. b-1: acc += err[r b + t] * u[t ldu + c];
///   x[r ldx + c] -= acc
/// with every product and sum rounded to double in that order.
void gptqLazyUpdate(const double *err, int64_t rows, int64_t b,
                    const double *u, int64_t ldu, int64_t c0, int64_t c1,
                    double *x, int64_t ldx);

} // namespace qopt::numerics::simd

#endif // QOPT_LIB_NUMERICS_SIMDCALIBRATED_H
