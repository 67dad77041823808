//===- SimdCalibrated.h - Highway kernels of GPTQ ---------------*- C++ -*-===//
//
// Internal to lib/Numerics (SimdCalibrated.cpp). Runs the scalar definition
// when the SIMD kernels are off (simd::enabled()); both give the same bits.
//
//===----------------------------------------------------------------------===//

#ifndef QOPT_LIB_NUMERICS_SIMDCALIBRATED_H
#define QOPT_LIB_NUMERICS_SIMDCALIBRATED_H

#include "qopt/Numerics/Float.h"
#include "qopt/Numerics/GroupQuant.h"

#include <cstdint>

namespace qopt::numerics::simd {

/// Left-looking Cholesky factor R (upper, row-major n x n; only the upper
/// triangle is written) of the symmetric A(i, j) = a[i lda + j ldb]: for
/// each row i, for j >= i, v = A(i, j) then v -= R[t][i] * R[t][j] for
/// t = 0 .. i-1 in order; R[i][i] = sqrt(v_ii), R[i][j] = v_ij / R[i][i].
/// False at the first pivot v_ii that is not > 0.
bool choleskyRows(const double *a, int64_t lda, int64_t ldb, int64_t n,
                  double *r);

/// li (row-major, zero on entry) = L^-1 of the lower triangular row-major
/// l, column c by forward substitution: li[c][c] = 1 / l[c][c]; for i > c,
/// s = 0, s += l[i][t] * li[t][c] for t = c .. i-1, li[i][c] = -s / l[i][i].
void invertLower(const double *l, int64_t n, double *li);

/// g[i][j] for j >= i = sum over t = j .. n-1 in order (from 0) of
/// li[t][i] * li[t][j] (Linv^T Linv); g's lower triangle is clobbered.
void gramUpper(const double *li, int64_t n, double *g);

/// One candidate of the importance-weighted search for the group rule
/// (CalibratedSearch.h, CodeRule with mlcCodes; format f, rounding r,
/// codes in [-hi, hi], scale s > 0): for i < n, q[i] = the code of x[i],
/// and in float32, with d = x - q s:
///   te[i] = a (d d),  tx[i] = (a q) x,  tq[i] = (a q) q
/// (the terms that weightedError and the least-squares refinement add up).
void weightedTerms(FloatFormat f, RoundingMode r, const float *x,
                   const float *a, int64_t n, float s, float hi, float *q,
                   float *te, float *tx, float *tq);

} // namespace qopt::numerics::simd

#endif // QOPT_LIB_NUMERICS_SIMDCALIBRATED_H
