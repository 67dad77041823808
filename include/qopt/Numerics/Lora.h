//===- Lora.h - Merging a LoRA adapter into a weight ------------*- C++ -*-===//
//
// W' = W + scale * B @ A, the merge PEFT's merge_and_unload performs, for a
// block of rows of W. No MLIR.
//
//===----------------------------------------------------------------------===//

#ifndef QOPT_NUMERICS_LORA_H
#define QOPT_NUMERICS_LORA_H

#include "qopt/Numerics/DType.h"

#include <cstdint>

namespace qopt::numerics {

/// Merges `rows` rows of a weight:
///   out[i][j] = T(float(w[i][j]) + float(scale * d[i][j])),
///   d[i][j]   = sum over k = 0..rank-1, in that order, of
///               double(b[i][k]) * double(a[k][j])   (in float64),
/// where T is `dtype` (F16, BF16 or F32; round to nearest even), `w` and
/// `out` hold rows x cols elements of `dtype` (they may be the same
/// buffer), `b` the matching rows x rank rows of B and `a` all of A
/// (rank x cols), both float32. The float32 add of a float32 delta is
/// PEFT's `weight += delta` with a float32 adapter; the float64 sum makes
/// the result independent of summation order within a row. Returns false
/// for an unsupported dtype.
bool loraMergeRows(const void *w, DType dtype, int64_t rows, int64_t cols,
                   const float *b, const float *a, int64_t rank, double scale,
                   void *out);

} // namespace qopt::numerics

#endif // QOPT_NUMERICS_LORA_H
