//===- CudaTestUtil.h - Helpers of the CUDA kernel tests -------*- C++ -*-===//
//
// Part of quant-opt. Shared by CudaKernelsTest.cpp (argument checks, group
// quantization) and CudaConvertTest.cpp (casts, float8).
//
//===----------------------------------------------------------------------===//

#ifndef QOPT_TEST_UNITTESTS_KERNELS_CUDATESTUTIL_H
#define QOPT_TEST_UNITTESTS_KERNELS_CUDATESTUTIL_H

#include "qopt/Kernels/Cuda.h"

#include "llvm/Support/Error.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <string>
#include <vector>

/// Skips a test, with the reason, when no CUDA device can run the kernels.
#define REQUIRE_GPU()                                                          \
  do {                                                                         \
    std::string why;                                                           \
    if (!::qopt::kernels::cudaDeviceAvailable(&why))                           \
      GTEST_SKIP() << why;                                                     \
  } while (false)

namespace qopt::kernels::test {

/// The message of an error (empty for success), consuming it.
inline std::string message(llvm::Error e) {
  return e ? llvm::toString(std::move(e)) : std::string();
}

/// Index of the first differing element, or -1.
template <typename T>
int64_t firstDiff(const std::vector<T> &a, const std::vector<T> &b) {
  if (a.size() != b.size())
    return 0;
  for (size_t i = 0; i < a.size(); ++i)
    if (a[i] != b[i])
      return int64_t(i);
  return -1;
}

} // namespace qopt::kernels::test

#endif // QOPT_TEST_UNITTESTS_KERNELS_CUDATESTUTIL_H
