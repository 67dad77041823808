//===- FtQuant.h - MLC q4f16_ft (FasterTransformer int4) --------*- C++ -*-===//
//
// MLC's FTQuantize for a linear weight W [N, K] (float16), as mlc_llm writes
// it (docs/quantization.md, "q4f16_ft"):
//
//  1. Per output channel n, symmetric int4 in float16 arithmetic:
//       scale[n] = f16(max_k |W[n, k]| / 7)
//       q[n, k]  = clamp(round_even(f16(W[n, k] / scale[n])), -8, 7) & 0xF
//  2. Transposed and packed two per byte along N: P [K, N/2] (int8), the
//     lower n in the low nibble.
//  3. FasterTransformer's ft_preprocess_weight(P, sm, is_int4 = true), the
//     layout CUTLASS's fpA_intB GEMM reads:
//       sm 75..89: (a) rows of P permuted in blocks of 32
//                  (permute_B_rows_for_mixed_gemm), (b) the int4 matrix
//                  transposed to column major [N][K] (subbyte_transpose),
//                  (c) uint32 words of 4 adjacent columns interleaved in
//                  tiles of 64 rows (interleave_column_major_tensor,
//                  ThreadblockK 64, 4 columns per 128-byte cache line);
//       sm 70..74: none of (a)-(c);
//       then (d) every nibble biased by +8 (unsigned) and the 8 nibbles of
//       each little-endian uint32 reordered 0 2 4 6 1 3 5 7 -> positions
//       0..7 (add_bias_and_interleave_int4s_inplace).
//     Other sm values are refused, as FasterTransformer does.
//
//===----------------------------------------------------------------------===//

#ifndef QOPT_NUMERICS_FTQUANT_H
#define QOPT_NUMERICS_FTQUANT_H

#include <cstdint>
#include <string>

namespace qopt::numerics {

/// The architecture mlc's FT preprocessing is reproduced for by default
/// (any of sm 75..89 gives the same bytes).
inline constexpr int kFtDefaultSm = 80;

/// Empty when ft_preprocess_weight(sm, int4) takes a weight [n, k]; else
/// the reason (FasterTransformer's own shape and architecture checks).
std::string validateFtInt4(int64_t n, int64_t k, int sm);

/// Steps 1-2: `w` float16 bits [n, k] -> `packed` [k, n / 2] bytes and
/// `scale` float16 bits [n]. n must be even.
void ftQuantizeInt4(const uint16_t *w, int64_t n, int64_t k, uint8_t *packed,
                    uint16_t *scale);

/// Step 3 on `in` [k, n / 2] (validateFtInt4(n, k, sm) must be empty):
/// `out` gets the same number of bytes.
void ftPreprocessInt4(const uint8_t *in, int64_t k, int64_t n, int sm,
                      uint8_t *out);

/// The inverse map of ftPreprocessInt4 (with validateFtInt4(n, k, sm)
/// empty): the nibble index (byte * 2 + high) of `in` that output nibble
/// `o` came from. Output nibble o holds that input nibble XOR 8.
int64_t ftPreprocessSource(int64_t o, int64_t k, int64_t n, int sm);

/// Float32 values [n, k] of a preprocessed weight `q` [k, n / 2] and its
/// float16 scales [n].
void ftDequantizeInt4(const uint8_t *q, const uint16_t *scale, int64_t n,
                      int64_t k, int sm, float *out);

} // namespace qopt::numerics

#endif // QOPT_NUMERICS_FTQUANT_H
