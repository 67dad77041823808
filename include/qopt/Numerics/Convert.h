//===- Convert.h - Bulk element conversions ---------------------*- C++ -*-===//
//
// Whole-buffer conversions between element types with numpy `astype`
// semantics, the tensor-cache f32-to-bf16 encoding, and a 2-D transpose.
// Buffers hold host-order (little-endian on every supported host) elements
// and may be unaligned. Source and destination must not overlap.
//
//===----------------------------------------------------------------------===//

#ifndef QOPT_NUMERICS_CONVERT_H
#define QOPT_NUMERICS_CONVERT_H

#include "qopt/Numerics/DType.h"

#include <cstddef>
#include <cstdint>

namespace qopt::numerics {

/// Whether convertElements supports \p src -> \p dst: identical types, any
/// pair of {F16, BF16, F32, F64}, and F8E4M3FN / F8E5M2 to any of those four
/// (an exact widening).
bool isConversionSupported(DType src, DType dst);

/// numpy `astype` semantics: every source value is widened exactly to float
/// (double for F64) and rounded ONCE, round-to-nearest-even, to the
/// destination (so F64 -> F16 is not rounded twice). NaN stays NaN (quiet),
/// overflow gives inf. Source and destination may be unaligned. Supports the
/// pairs isConversionSupported accepts; returns false, writing nothing, for
/// any other pair or if n elements do not fit in size_t bytes.
bool convertElements(const void *src, DType srcType, void *dst, DType dstType,
                     size_t n);

/// Writes n float32 values in TVM's f32-to-bf16 file encoding (see
/// floatToBFloat16Tvm).
void encodeF32AsBF16Tvm(const float *src, uint16_t *dst, size_t n);

/// Row-major 2-D transpose of elemSize-byte elements: src [rows, cols] ->
/// dst [cols, rows]. Negative extents are treated as 0.
void transpose2D(const void *src, int64_t rows, int64_t cols, size_t elemSize,
                 void *dst);

} // namespace qopt::numerics

#endif // QOPT_NUMERICS_CONVERT_H
