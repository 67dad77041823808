//===- CudaDetail.h - LLVM-free interface of the CUDA kernels ---*- C++ -*-===//
//
// The layer between the public API (Cuda.cpp, which validates arguments and
// returns llvm::Error) and the CUDA implementation (CudaKernels.cu). It uses
// no LLVM header so that nvcc never parses one.
//
// The implementation is an optional shared library, libQuantOptCudaKernels.so
// (built only where nvcc exists), that exports one C symbol,
// qoptCudaKernelTable, returning a CudaKernelTable of these functions.
// CudaLoader.cpp defines the functions below in the CPU libraries: it loads
// that library on the first call and forwards to it, or reports why it
// cannot, so CPU-only programs never link CUDA. Every function returns an empty string on success and
// otherwise the reason it failed. Arguments are already validated: sizes do
// not overflow, specs are valid, counts are positive.
//
//===----------------------------------------------------------------------===//

#ifndef QOPT_LIB_KERNELS_CUDADETAIL_H
#define QOPT_LIB_KERNELS_CUDADETAIL_H

#include "qopt/Numerics/DType.h"
#include "qopt/Numerics/GroupQuant.h"

#include <cstddef>
#include <cstdint>
#include <string>

namespace qopt::kernels::detail {

/// Empty if a CUDA device can run this build's kernels, else why not.
std::string deviceAvailable();

/// Converts n elements (src and dst one of F16, BF16, F32; src may also be
/// F8E4M3FN or F8E5M2; srcType != dstType).
std::string convertElements(const void *src, numerics::DType srcType, void *dst,
                            numerics::DType dstType, size_t n);

/// groupQuantizeRows on the device; rows > 0, k > 0, spec valid, and the
/// byte sizes rows * k * elem, rows * words * 4 fit in size_t.
std::string groupQuantizeRows(const void *w, int64_t rows, int64_t k,
                              const numerics::GroupQuantSpec &spec,
                              uint32_t *qweight, void *scale);

/// The fp16 bits of the `max|w|` that fp8E4M3PerTensorScale derives its
/// scale from: the largest magnitude (<= 0x7C00) when the tensor has no NaN
/// or its last NaN is followed by other values (then the largest magnitude
/// after it), and 0x7E00 (a NaN) when the last element is a NaN. n > 0.
std::string fp8MaxAbsBits(const uint16_t *wF16, size_t n, uint16_t *bits);

/// quantizeFp8E4M3 on the device; n > 0.
std::string quantizeFp8E4M3(const uint16_t *wF16, size_t n, float scale,
                            uint8_t *out);

/// castHalfToFp8E5M2 on the device; n > 0.
std::string castHalfToFp8E5M2(const uint16_t *wF16, size_t n, uint8_t *out);

/// Frees the calling thread's device and pinned buffers and streams.
void releaseThreadContext();

/// The entry points of libQuantOptCudaKernels.so, with the signatures above.
struct CudaKernelTable {
  /// kCudaKernelAbiVersion of the library's build; the loader refuses any
  /// other value.
  unsigned abiVersion;
  std::string (*deviceAvailable)();
  std::string (*convertElements)(const void *, numerics::DType, void *,
                                 numerics::DType, size_t);
  std::string (*groupQuantizeRows)(const void *, int64_t, int64_t,
                                   const numerics::GroupQuantSpec &,
                                   uint32_t *, void *);
  std::string (*fp8MaxAbsBits)(const uint16_t *, size_t, uint16_t *);
  std::string (*quantizeFp8E4M3)(const uint16_t *, size_t, float, uint8_t *);
  std::string (*castHalfToFp8E5M2)(const uint16_t *, size_t, uint8_t *);
  void (*releaseThreadContext)();
};

/// Bumped whenever CudaKernelTable or the types it passes change.
inline constexpr unsigned kCudaKernelAbiVersion = 1;

/// The file name of the kernels library and of its one exported symbol
/// (`extern "C" const CudaKernelTable *qoptCudaKernelTable()`).
inline constexpr const char *kCudaKernelsLibrary = "libQuantOptCudaKernels.so";
inline constexpr const char *kCudaKernelTableSymbol = "qoptCudaKernelTable";

} // namespace qopt::kernels::detail

#endif // QOPT_LIB_KERNELS_CUDADETAIL_H
