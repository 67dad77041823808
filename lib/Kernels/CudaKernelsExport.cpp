//===- CudaKernelsExport.cpp - The kernels library's entry table -*- C++ -*-===//
//
// Compiled into libQuantOptCudaKernels.so with CudaKernels.cu. Everything in
// that library has hidden visibility except qoptCudaKernelTable, which hands
// the loader (CudaLoader.cpp) the library's own entry points.
//
//===----------------------------------------------------------------------===//

#include "CudaDetail.h"

namespace qopt::kernels::detail {
static const CudaKernelTable kTable = {
    kCudaKernelAbiVersion, &deviceAvailable,   &convertElements,
    &groupQuantizeRows,    &fp8MaxAbsBits,     &quantizeFp8E4M3,
    &castHalfToFp8E5M2,    &releaseThreadContext};
} // namespace qopt::kernels::detail

extern "C" __attribute__((visibility("default")))
const qopt::kernels::detail::CudaKernelTable *
qoptCudaKernelTable() {
  return &qopt::kernels::detail::kTable;
}
