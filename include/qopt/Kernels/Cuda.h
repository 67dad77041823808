//===- Cuda.h - CUDA kernels for casts and quantization ---------*- C++ -*-===//
//
// GPU versions of the numerics library's bulk operations, bit-identical to
// them: element casts, MLC group quantization (qopt::numerics::
// groupQuantizeRows) and MLC per-tensor float8 quantization. The kernels
// evaluate the same header-inline scalar functions (qopt/Numerics/Float.h).
//
// Every function takes and fills HOST buffers (unaligned is fine): the data
// is staged through pinned buffers in chunks and overlapped with the kernels
// on two streams. Each calling thread keeps its own context (streams, pinned
// and device buffers, grown on demand and reused by later calls); threads
// may call concurrently. releaseCudaThreadContext() frees the caller's.
//
// The kernels themselves are the optional shared library
// libQuantOptCudaKernels.so (built only with nvcc), loaded on the first call;
// without it every function returns the error "libQuantOptCudaKernels.so not
// found (quant-opt was built without CUDA, or the library is not
// installed)". Linking these functions never links CUDA.
//
//===----------------------------------------------------------------------===//

#ifndef QOPT_KERNELS_CUDA_H
#define QOPT_KERNELS_CUDA_H

#include "qopt/Numerics/DType.h"
#include "qopt/Numerics/GroupQuant.h"

#include "llvm/Support/Error.h"

#include <cstddef>
#include <cstdint>
#include <string>

namespace qopt::kernels {

/// True if a CUDA device is present and can run this build's kernels;
/// otherwise false, with the reason in *why (if given), e.g.
/// "libQuantOptCudaKernels.so not found (...)" or "no usable CUDA device: ...".
bool cudaDeviceAvailable(std::string *why = nullptr);

/// Whether convertElementsCuda supports \p src -> \p dst: identical types of
/// a known size, and any pair with dst one of {F16, BF16, F32} and src one of
/// {F16, BF16, F32, F8E4M3FN, F8E5M2}.
bool isCudaConversionSupported(numerics::DType src, numerics::DType dst);

/// numerics::convertElements on the GPU (round to nearest even, NaN stays
/// NaN, overflow gives inf): n elements of \p srcType to \p dstType.
/// Identical types are copied on the host.
llvm::Error convertElementsCuda(const void *src, numerics::DType srcType,
                                void *dst, numerics::DType dstType, size_t n);

/// numerics::groupQuantizeRows on the GPU, byte for byte: \p rows rows of
/// \p k model-dtype values -> qweight [rows, wordsPerRow(spec, k)] and
/// scale [rows, groupsPerRow(spec, k)]. An invalid spec or negative extents
/// are an error; zero rows or k do nothing.
llvm::Error groupQuantizeRowsCuda(const void *w, int64_t rows, int64_t k,
                                  const numerics::GroupQuantSpec &spec,
                                  uint32_t *qweight, void *scale);

/// numerics::fp8E4M3PerTensorScale on the GPU (max |w| reduced on the
/// device, with the same NaN rules).
llvm::Expected<float> fp8E4M3PerTensorScaleCuda(const uint16_t *wF16, size_t n);

/// numerics::quantizeFp8E4M3 on the GPU.
llvm::Error quantizeFp8E4M3Cuda(const uint16_t *wF16, size_t n, float scale,
                                uint8_t *out);

/// The whole e4m3 per-tensor mode: *scale = fp8E4M3PerTensorScale(w, n) and
/// out = quantizeFp8E4M3(w, n, *scale).
llvm::Error fp8E4M3PerTensorCuda(const uint16_t *wF16, size_t n, float *scale,
                                 uint8_t *out);

/// numerics::castHalfToFp8E5M2 on the GPU.
llvm::Error castHalfToFp8E5M2Cuda(const uint16_t *wF16, size_t n, uint8_t *out);

/// Frees the calling thread's streams and buffers (the next call makes new
/// ones).
void releaseCudaThreadContext();

} // namespace qopt::kernels

#endif // QOPT_KERNELS_CUDA_H
