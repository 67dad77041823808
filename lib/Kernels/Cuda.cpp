//===- Cuda.cpp - Argument checks of the CUDA kernels' host API -*- C++ -*-===//
//
// Validates the arguments (specs, extents, byte sizes with checked
// arithmetic), handles the trivial cases on the host, and turns the
// implementation's error strings into llvm::Error. The work itself is in
// CudaKernels.cu (or CudaStub.cpp without nvcc).
//
//===----------------------------------------------------------------------===//

#include "qopt/Kernels/Cuda.h"
#include "CudaDetail.h"

#include "qopt/Numerics/Fp8.h"

#include <cstring>
#include <limits>

namespace qopt::kernels {

using numerics::DType;

static llvm::Error makeError(const llvm::Twine &msg) {
  return llvm::createStringError(llvm::inconvertibleErrorCode(), msg);
}

/// An llvm::Error from a detail function's result, prefixed with \p what.
static llvm::Error check(const std::string &err, const char *what) {
  if (err.empty())
    return llvm::Error::success();
  return makeError(llvm::Twine(what) + ": " + err);
}

/// a * b, or false if it does not fit in size_t.
static bool mulSize(size_t a, size_t b, size_t &out) {
  if (b != 0 && a > std::numeric_limits<size_t>::max() / b)
    return false;
  out = a * b;
  return true;
}

static bool isCudaFloat(DType t) {
  return t == DType::F16 || t == DType::BF16 || t == DType::F32;
}

bool cudaDeviceAvailable(std::string *why) {
  std::string err = detail::deviceAvailable();
  if (why)
    *why = err;
  return err.empty();
}

bool isCudaConversionSupported(DType src, DType dst) {
  if (src == dst)
    return numerics::dtypeSize(src) != 0;
  return isCudaFloat(dst) &&
         (isCudaFloat(src) || src == DType::F8E4M3FN || src == DType::F8E5M2);
}

llvm::Error convertElementsCuda(const void *src, DType srcType, void *dst,
                                DType dstType, size_t n) {
  if (!isCudaConversionSupported(srcType, dstType))
    return makeError("convertElementsCuda: cannot convert " +
                     llvm::Twine(numerics::tvmName(srcType)) + " to " +
                     numerics::tvmName(dstType) + " on the GPU");
  size_t srcBytes, dstBytes;
  if (!mulSize(n, numerics::dtypeSize(srcType), srcBytes) ||
      !mulSize(n, numerics::dtypeSize(dstType), dstBytes))
    return makeError("convertElementsCuda: " + llvm::Twine(n) +
                     " elements do not fit in memory");
  if (n == 0)
    return llvm::Error::success();
  if (srcType == dstType) {
    std::memcpy(dst, src, srcBytes);
    return llvm::Error::success();
  }
  return check(detail::convertElements(src, srcType, dst, dstType, n),
               "convertElementsCuda");
}

llvm::Error groupQuantizeRowsCuda(const void *w, int64_t rows, int64_t k,
                                  const numerics::GroupQuantSpec &spec,
                                  uint32_t *qweight, void *scale) {
  std::string invalid = numerics::validateGroupQuantSpec(spec);
  if (!invalid.empty())
    return makeError("groupQuantizeRowsCuda: " + invalid);
  if (rows < 0 || k < 0)
    return makeError("groupQuantizeRowsCuda: negative extent (rows " +
                     llvm::Twine(rows) + ", k " + llvm::Twine(k) + ")");
  if (rows == 0 || k == 0)
    return llvm::Error::success();
  // Checked byte sizes of the input and both outputs. groupsPerRow and
  // wordsPerRow cannot overflow: groups <= k, words <= groups * groupSize.
  size_t elem = spec.modelFormat == numerics::FloatFormat::F32 ? 4 : 2;
  size_t inBytes, qBytes, sBytes, tmp;
  const auto groups = size_t(numerics::groupsPerRow(spec, k));
  const auto words = size_t(spec.groupSize / numerics::elemsPerWord(spec.bits));
  bool fits = mulSize(size_t(rows), size_t(k), tmp) &&
              mulSize(tmp, elem, inBytes) && mulSize(groups, words, tmp) &&
              mulSize(tmp, size_t(rows), tmp) && mulSize(tmp, 4, qBytes) &&
              mulSize(size_t(rows), groups, tmp) && mulSize(tmp, elem, sBytes);
  // The kernels index with int64_t.
  constexpr auto kMax = size_t(std::numeric_limits<int64_t>::max());
  if (!fits || inBytes > kMax || qBytes > kMax)
    return makeError("groupQuantizeRowsCuda: " + llvm::Twine(rows) + " x " +
                     llvm::Twine(k) + " values do not fit in memory");
  return check(detail::groupQuantizeRows(w, rows, k, spec, qweight, scale),
               "groupQuantizeRowsCuda");
}

llvm::Expected<float> fp8E4M3PerTensorScaleCuda(const uint16_t *wF16,
                                                size_t n) {
  if (n > std::numeric_limits<size_t>::max() / 2)
    return makeError("fp8E4M3PerTensorScaleCuda: " + llvm::Twine(n) +
                     " elements do not fit in memory");
  if (n == 0)
    return numerics::fp8E4M3PerTensorScale(wF16, 0);
  uint16_t bits = 0;
  if (llvm::Error e = check(detail::fp8MaxAbsBits(wF16, n, &bits),
                            "fp8E4M3PerTensorScaleCuda"))
    return std::move(e);
  // The one-element tensor {max|w|} has the same scale as the whole tensor
  // (a trailing NaN stays the trailing NaN), so the library computes it.
  return numerics::fp8E4M3PerTensorScale(&bits, 1);
}

llvm::Error quantizeFp8E4M3Cuda(const uint16_t *wF16, size_t n, float scale,
                                uint8_t *out) {
  if (n > std::numeric_limits<size_t>::max() / 2)
    return makeError("quantizeFp8E4M3Cuda: " + llvm::Twine(n) +
                     " elements do not fit in memory");
  if (n == 0)
    return llvm::Error::success();
  return check(detail::quantizeFp8E4M3(wF16, n, scale, out),
               "quantizeFp8E4M3Cuda");
}

llvm::Error fp8E4M3PerTensorCuda(const uint16_t *wF16, size_t n, float *scale,
                                 uint8_t *out) {
  llvm::Expected<float> s = fp8E4M3PerTensorScaleCuda(wF16, n);
  if (!s)
    return s.takeError();
  *scale = *s;
  return quantizeFp8E4M3Cuda(wF16, n, *s, out);
}

llvm::Error castHalfToFp8E5M2Cuda(const uint16_t *wF16, size_t n,
                                  uint8_t *out) {
  if (n > std::numeric_limits<size_t>::max() / 2)
    return makeError("castHalfToFp8E5M2Cuda: " + llvm::Twine(n) +
                     " elements do not fit in memory");
  if (n == 0)
    return llvm::Error::success();
  return check(detail::castHalfToFp8E5M2(wF16, n, out),
               "castHalfToFp8E5M2Cuda");
}

void releaseCudaThreadContext() { detail::releaseThreadContext(); }

} // namespace qopt::kernels
