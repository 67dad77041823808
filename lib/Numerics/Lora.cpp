//===- Lora.cpp - Merging a LoRA adapter into a weight ----------*- C++ -*-===//

#include "qopt/Numerics/Lora.h"
#include "qopt/Numerics/Convert.h"

#include <algorithm>
#include <vector>

using namespace qopt::numerics;

bool qopt::numerics::loraMergeRows(const void *w, DType dtype, int64_t rows,
                                   int64_t cols, const float *b,
                                   const float *a, int64_t rank, double scale,
                                   void *out) {
  if (dtype != DType::F16 && dtype != DType::BF16 && dtype != DType::F32)
    return false;
  size_t es = dtypeSize(dtype);
  std::vector<double> acc(static_cast<size_t>(cols));
  std::vector<float> row(static_cast<size_t>(cols));
  for (int64_t i = 0; i < rows; ++i) {
    std::fill(acc.begin(), acc.end(), 0.0);
    for (int64_t k = 0; k < rank; ++k) {
      double bik = double(b[i * rank + k]);
      const float *ak = a + k * cols;
      for (int64_t j = 0; j < cols; ++j)
        acc[size_t(j)] += bik * double(ak[j]);
    }
    const auto *src = static_cast<const uint8_t *>(w) + size_t(i * cols) * es;
    convertElements(src, dtype, row.data(), DType::F32, size_t(cols));
    for (int64_t j = 0; j < cols; ++j)
      row[size_t(j)] += float(scale * acc[size_t(j)]);
    auto *dst = static_cast<uint8_t *>(out) + size_t(i * cols) * es;
    convertElements(row.data(), DType::F32, dst, dtype, size_t(cols));
  }
  return true;
}
