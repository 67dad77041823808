//===- CudaLoader.cpp - Load the optional CUDA kernels library --*- C++ -*-===//
//
// Defines the detail:: entry points (CudaDetail.h) in the CPU libraries by
// forwarding to libQuantOptCudaKernels.so, loaded with
// llvm::sys::DynamicLibrary on the first call (only `--device cuda` makes
// one). Nothing here links CUDA, so a build with nvcc and one without give
// the same CPU libraries; only the presence of the kernels library differs.
//
// The library is looked for, in order: at $QOPT_CUDA_KERNELS_LIBRARY; beside
// the binary that holds this code (the executable, libQuantOptCAPI.so, the
// plugin, ...) and in that binary's ../lib; then on the dynamic linker's
// search path.
//
//===----------------------------------------------------------------------===//

#include "CudaDetail.h"

#include "llvm/ADT/SmallString.h"
#include "llvm/Support/DynamicLibrary.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/Path.h"

#include <atomic>
#include <cstdlib>
#include <dlfcn.h>
#include <vector>

namespace qopt::kernels::detail {
namespace {
struct LoadedKernels {
  const CudaKernelTable *table = nullptr;
  /// Why there is no table.
  std::string error;
};
} // namespace

/// The table of the library at \p path, or why there is none.
static LoadedKernels open(const std::string &path) {
  LoadedKernels result;
  std::string err;
  auto lib = llvm::sys::DynamicLibrary::getPermanentLibrary(path.c_str(), &err);
  if (!lib.isValid()) {
    result.error = "cannot load " + path + ": " + err;
    return result;
  }
  using GetTable = const CudaKernelTable *(*)();
  auto get = reinterpret_cast<GetTable>(
      lib.getAddressOfSymbol(kCudaKernelTableSymbol));
  const CudaKernelTable *table = get ? get() : nullptr;
  if (!table || table->abiVersion != kCudaKernelAbiVersion) {
    result.error = path + " is not a CUDA kernels library of this quant-opt "
                          "version";
    return result;
  }
  result.table = table;
  return result;
}

static LoadedKernels load() {
  if (const char *env = std::getenv("QOPT_CUDA_KERNELS_LIBRARY"); env && *env)
    return open(env);
  // The directory of the binary this function was linked into.
  Dl_info info;
  if (dladdr(reinterpret_cast<void *>(&load), &info) && info.dli_fname) {
    llvm::SmallString<256> dir(info.dli_fname);
    llvm::sys::path::remove_filename(dir);
    for (const char *sub : {"", "../lib"}) {
      llvm::SmallString<256> candidate(dir);
      llvm::sys::path::append(candidate, sub, kCudaKernelsLibrary);
      if (llvm::sys::fs::exists(candidate))
        return open(std::string(candidate));
    }
  }
  LoadedKernels fromSearchPath = open(kCudaKernelsLibrary);
  if (!fromSearchPath.table)
    fromSearchPath.error =
        std::string(kCudaKernelsLibrary) +
        " not found (quant-opt was built without CUDA, or the library is not "
        "installed)";
  return fromSearchPath;
}

static std::atomic<bool> attempted{false};

static const LoadedKernels &kernels() {
  static const LoadedKernels loaded = load();
  attempted.store(true, std::memory_order_release);
  return loaded;
}

std::string deviceAvailable() {
  const LoadedKernels &k = kernels();
  return k.table ? k.table->deviceAvailable() : k.error;
}

std::string convertElements(const void *src, numerics::DType srcType, void *dst,
                            numerics::DType dstType, size_t n) {
  const LoadedKernels &k = kernels();
  return k.table ? k.table->convertElements(src, srcType, dst, dstType, n)
                 : k.error;
}

std::string groupQuantizeRows(const void *w, int64_t rows, int64_t k,
                              const numerics::GroupQuantSpec &spec,
                              uint32_t *qweight, void *scale) {
  const LoadedKernels &l = kernels();
  return l.table ? l.table->groupQuantizeRows(w, rows, k, spec, qweight, scale)
                 : l.error;
}

std::string fp8MaxAbsBits(const uint16_t *wF16, size_t n, uint16_t *bits) {
  const LoadedKernels &k = kernels();
  return k.table ? k.table->fp8MaxAbsBits(wF16, n, bits) : k.error;
}

std::string quantizeFp8E4M3(const uint16_t *wF16, size_t n, float scale,
                            uint8_t *out) {
  const LoadedKernels &k = kernels();
  return k.table ? k.table->quantizeFp8E4M3(wF16, n, scale, out) : k.error;
}

std::string castHalfToFp8E5M2(const uint16_t *wF16, size_t n, uint8_t *out) {
  const LoadedKernels &k = kernels();
  return k.table ? k.table->castHalfToFp8E5M2(wF16, n, out) : k.error;
}

void releaseThreadContext() {
  // Nothing to free (and nothing to load) before the first kernel call.
  if (!attempted.load(std::memory_order_acquire))
    return;
  const LoadedKernels &k = kernels();
  if (k.table)
    k.table->releaseThreadContext();
}

} // namespace qopt::kernels::detail
