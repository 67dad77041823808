//===- BlockFp8.cpp - FP8 checkpoints with block scales ---------*- C++ -*-===//
//
// DeepSeek-V3's `weight_dequant` (inference/kernel.py): y = x * s per
// block, with x the float8 code widened to float32 and s the block's
// `weight_scale_inv`, computed in float32. The caller rounds y to the dtype
// it stores.
//
//===----------------------------------------------------------------------===//

#include "qopt/Numerics/BlockFp8.h"
#include "qopt/Numerics/Float.h"

#include <array>

namespace qopt::numerics {

void dequantizeBlockFp8E4M3(const uint8_t *codes, const float *scales,
                            int64_t r0, int64_t r1, int64_t cols,
                            int64_t rowBlock, int64_t colBlock, float *out) {
  // Every code's value, once.
  static const std::array<float, 256> table = [] {
    std::array<float, 256> t{};
    for (unsigned i = 0; i < 256; ++i)
      t[i] = f8E4M3FNToFloat(uint8_t(i));
    return t;
  }();
  const int64_t scaleCols = (cols + colBlock - 1) / colBlock;
  const int64_t firstBlock = r0 / rowBlock;
  for (int64_t r = r0; r < r1; ++r) {
    const float *s = scales + (r / rowBlock - firstBlock) * scaleCols;
    const uint8_t *c = codes + (r - r0) * cols;
    float *o = out + (r - r0) * cols;
    for (int64_t j = 0; j < cols; j += colBlock) {
      const float scale = s[j / colBlock];
      const int64_t end = j + colBlock < cols ? j + colBlock : cols;
      for (int64_t k = j; k < end; ++k)
        o[k] = table[c[k]] * scale;
    }
  }
}

} // namespace qopt::numerics
