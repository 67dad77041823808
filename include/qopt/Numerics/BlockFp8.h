//===- BlockFp8.h - FP8 checkpoints with block scales -----------*- C++ -*-===//
//
// Checkpoints quantized to float8 e4m3fn in blocks (DeepSeek-V3, Qwen3-FP8:
// config.json `quantization_config.weight_block_size`, usually [128, 128])
// store each linear weight W [N, K] as F8_E4M3 codes and a float32 (or
// bfloat16) `weight_scale_inv` [ceil(N/bn), ceil(K/bk)]. The weight is
// `code * scale_inv` of its block, as DeepSeek's `weight_dequant` and
// transformers' FP8 dequantization compute it: in float32, then rounded once
// to the dtype they store.
//
//===----------------------------------------------------------------------===//

#ifndef QOPT_NUMERICS_BLOCKFP8_H
#define QOPT_NUMERICS_BLOCKFP8_H

#include <cstdint>

namespace qopt::numerics {

/// Rows [r0, r1) of a block-quantized matrix of `cols` columns: out[(r - r0)
/// * cols + c] = f8E4M3FNToFloat(codes[(r - r0) * cols + c]) * scales[(r /
/// rowBlock - r0 / rowBlock) * scaleCols + c / colBlock], a float32
/// product (exact for normal results). `codes` holds rows [r0, r1);
/// `scales` the scale rows from r0 / rowBlock on; scaleCols =
/// ceil(cols / colBlock).
void dequantizeBlockFp8E4M3(const uint8_t *codes, const float *scales,
                            int64_t r0, int64_t r1, int64_t cols,
                            int64_t rowBlock, int64_t colBlock, float *out);

} // namespace qopt::numerics

#endif // QOPT_NUMERICS_BLOCKFP8_H
