//===- Awq.h - AutoAWQ GEMM dequantization ---------------------*- C++ -*-===//
//
// AutoAWQ's GEMM layout (docs/source-formats.md, AutoAWQ): qweight [K, N/8] and
// qzeros [K/G, N/8] pack 8 four-bit values along the output axis in the
// order [0, 2, 4, 6, 1, 3, 5, 7]; scales [K/G, N] are fp16.
//
//===----------------------------------------------------------------------===//

#ifndef QOPT_NUMERICS_AWQ_H
#define QOPT_NUMERICS_AWQ_H

#include <cstdint>

namespace qopt::numerics {

/// The nibble (0..7) of a word that holds output column `n % 8`.
constexpr int awqNibbleOfColumn(int64_t n) {
  constexpr int kReverse[8] = {0, 4, 1, 5, 2, 6, 3, 7};
  return kReverse[n % 8];
}

/// W[n, k] = (q - z) * s in fp16 (the product of a small integer and an
/// fp16 scale, rounded once), for output rows [n0, n1): `out` holds
/// (n1 - n0) x k fp16 values in HF orientation [N, K].
void awqDequantizeGemm(const uint32_t *qweight, const uint32_t *qzeros,
                       const uint16_t *scales, int64_t k, int64_t n,
                       int64_t groupSize, int64_t n0, int64_t n1,
                       uint16_t *out);

} // namespace qopt::numerics

#endif // QOPT_NUMERICS_AWQ_H
