//===- NumpyElementwise.h - numpy's elementwise exp and division -*- C++ -*-===//
//
// Two elementwise steps of MLC's RWKV loaders, computed as numpy computes
// them (docs/architectures.md, rwkv5 / rwkv6). No MLIR.
//
//===----------------------------------------------------------------------===//

#ifndef QOPT_NUMERICS_NUMPYELEMENTWISE_H
#define QOPT_NUMERICS_NUMPYELEMENTWISE_H

#include "qopt/Numerics/DType.h"

#include <cstddef>

namespace qopt::numerics {

/// `np.exp` of a float32 value as numpy computes it on x86-64 (its AVX2+FMA3
/// and AVX512F loop, loops_exponent_log.dispatch.c.src, the same bits on
/// both): Cody-Waite reduction by k = rint(x log2(e)), the ratio of a degree
/// 5 and a degree 2 polynomial (fused multiply-adds, one float32 division),
/// scaled by 2^k; x >= 88.72283935546875 gives inf, x <= -103.972084 gives 0,
/// NaN gives the quiet NaN 0x7FC00000. Not always the correctly rounded exp
/// (up to 2.52 ulp off).
float numpyExpF32(float x);

/// out[i] = numpyExpF32(negate ? -in[i] : in[i]) for n values (in and out
/// may be the same buffer).
void numpyExpF32Rows(const float *in, float *out, size_t n, bool negate);

/// `x / 2**exponent` of numpy (float16, float32) or ml_dtypes (bfloat16) on
/// n elements of `dtype` (F16, BF16 or F32) in place: each value widened to
/// float32, divided in float32 by the exact power of two, and rounded once
/// to `dtype` (round to nearest even, subnormals kept, as numpy's half
/// loops and ml_dtypes' bfloat16 ufuncs do). 0 <= exponent <= 15 (2^15 is
/// the largest power of two numpy's float16 holds). Returns false, writing
/// nothing, for another dtype or exponent.
bool divideByPowerOfTwo(void *data, DType dtype, size_t n, int exponent);

} // namespace qopt::numerics

#endif // QOPT_NUMERICS_NUMPYELEMENTWISE_H
