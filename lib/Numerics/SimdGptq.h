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

#include "qopt/Numerics/Float.h"
#include "qopt/Numerics/GroupQuant.h"

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

/// GPTQ's column-by-column step over the columns [s0, s1) of a tile of
/// `rows` rows (row i at xs + i ldx) in a group mode (codes by MLC's rule
/// for scale format f and rounding r, codes in [-maxInt, maxInt]): for each
/// column p in order and each row, with s = colScale[(p - s0) rows + i] (the
/// scale of p's group in that row),
///   v = float(x_p); q = CodeRule::code(v, s) (mlcCodes); d = q s;
///   e = (x_p - double(d)) / u[p ldu + p];
///   x_p2 -= e u[p ldu + p2] for s0 <= p < p2 < s1;
/// q is stored at codesT[(p - s0) R + i] and e at err[i lde + errCol0 +
/// p - s0]. Returns R (rows rounded up to the vector). Only with the SIMD
/// kernels on (its scalar definition is Gptq.cpp's column step).
int64_t gptqGroupColumns(FloatFormat f, RoundingMode r, double *xs,
                         int64_t ldx, int64_t rows, int64_t s0, int64_t s1,
                         const double *u, int64_t ldu, const float *colScale,
                         float maxInt, double *err, int64_t lde,
                         int64_t errCol0, float *codesT);

} // namespace qopt::numerics::simd

#endif // QOPT_LIB_NUMERICS_SIMDGPTQ_H
