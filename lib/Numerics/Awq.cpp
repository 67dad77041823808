//===- Awq.cpp - AutoAWQ GEMM dequantization -------------------*- C++ -*-===//

#include "qopt/Numerics/Awq.h"
#include "qopt/Numerics/Float.h"

using namespace qopt::numerics;

void qopt::numerics::awqDequantizeGemm(const uint32_t *qweight,
                                       const uint32_t *qzeros,
                                       const uint16_t *scales, int64_t k,
                                       int64_t n, int64_t groupSize,
                                       int64_t n0, int64_t n1, uint16_t *out) {
  int64_t words = n / 8;
  for (int64_t col = n0; col < n1; ++col) {
    int shift = 4 * awqNibbleOfColumn(col);
    int64_t w = col / 8;
    uint16_t *row = out + (col - n0) * k;
    for (int64_t i = 0; i < k; ++i) {
      int64_t g = i / groupSize;
      int q = int((qweight[i * words + w] >> shift) & 15u);
      int z = int((qzeros[g * words + w] >> shift) & 15u);
      float s = halfToFloat(scales[g * n + col]);
      row[i] = floatToHalf(float(q - z) * s);
    }
  }
}
