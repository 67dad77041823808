//===- SimdGptq.h - Highway kernels of GPTQ's row phase ---------*- C++ -*-===//
//
// Internal to lib/Numerics (SimdGptq.cpp, used by Gptq.cpp). Both kernels
// run their scalar definition when the SIMD kernels are off
// (simd::enabled()); every target gives the same bits, because each element
// goes through the same rounded operations in the same order.
//
//===----------------------------------------------------------------------===//

#ifndef QOPT_LIB_NUMERICS_SIMDGPTQ_H
#define QOPT_LIB_NUMERICS_SIMDGPTQ_H

#include <cstdint>

namespace qopt::numerics::simd {

/// GPTQ's lazy-batch update of `rows` rows: for r < rows, c0 <= c < c1,
///   acc = +0; for t = 0 .. b-1: acc += err[r lde + t] * u[t ldu + c];
///   x[r ldx + c] -= acc
/// with every product and sum rounded to double in that order.
void gptqLazyUpdate(const double *err, int64_t lde, int64_t rows, int64_t b,
                    const double *u, int64_t ldu, int64_t c0, int64_t c1,
                    double *x, int64_t ldx);

/// GPTQ's immediate update, deferred: for r < rows, c0 <= c < c1,
///   for t = 0 .. b-1: x[r ldx + c] -= err[r lde + t] * u[t ldu + c]
/// (each product rounded, then subtracted, t ascending): what the
/// column-by-column update of one block does to the columns after the
/// sub-block t indexes.
void gptqSubtractUpdate(const double *err, int64_t lde, int64_t rows,
                        int64_t b, const double *u, int64_t ldu, int64_t c0,
                        int64_t c1, double *x, int64_t ldx);

} // namespace qopt::numerics::simd

#endif // QOPT_LIB_NUMERICS_SIMDGPTQ_H
