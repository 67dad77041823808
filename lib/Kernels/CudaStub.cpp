//===- CudaStub.cpp - The CUDA kernels in a build without nvcc --*- C++ -*-===//
//
// Compiled instead of CudaKernels.cu when CMake found no CUDA compiler: every
// entry point fails with the same explanation.
//
//===----------------------------------------------------------------------===//

#include "CudaDetail.h"

namespace qopt::kernels::detail {

static std::string notBuilt() {
  return "quant-opt was built without CUDA (nvcc not found)";
}

std::string deviceAvailable() { return notBuilt(); }

std::string convertElements(const void *, numerics::DType, void *,
                            numerics::DType, size_t) {
  return notBuilt();
}

std::string groupQuantizeRows(const void *, int64_t, int64_t,
                              const numerics::GroupQuantSpec &, uint32_t *,
                              void *) {
  return notBuilt();
}

std::string fp8MaxAbsBits(const uint16_t *, size_t, uint16_t *) {
  return notBuilt();
}

std::string quantizeFp8E4M3(const uint16_t *, size_t, float, uint8_t *) {
  return notBuilt();
}

std::string castHalfToFp8E5M2(const uint16_t *, size_t, uint8_t *) {
  return notBuilt();
}

void releaseThreadContext() {}

} // namespace qopt::kernels::detail
