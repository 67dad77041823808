//===- Convert.cpp - Bulk element conversions -------------------*- C++ -*-===//
//
// Each entry point dispatches once on the element types and then runs a
// plain loop over a scalar conversion from Float.h (the bf16/f32 -> f16
// casts: the Highway kernels of SimdKernels.cpp unless the SIMD kernels are
// off). Elements are loaded and stored with memcpy, so buffers may be
// unaligned.
//
//===----------------------------------------------------------------------===//

#include "qopt/Numerics/Convert.h"
#include "Simd.h"
#include "qopt/Numerics/Float.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>

namespace qopt::numerics {

namespace {

/// How each convertible type is stored and widened.
template <DType T>
struct Elem;

template <>
struct Elem<DType::F16> {
  using Storage = uint16_t;
  static float widen(Storage v) { return halfToFloat(v); }
  static Storage narrow(float f) { return floatToHalf(f); }
};

template <>
struct Elem<DType::BF16> {
  using Storage = uint16_t;
  static float widen(Storage v) { return bfloat16ToFloat(v); }
  static Storage narrow(float f) { return floatToBFloat16(f); }
};

template <>
struct Elem<DType::F32> {
  using Storage = float;
  static float widen(Storage v) { return v; }
  static Storage narrow(float f) { return f; }
};

template <>
struct Elem<DType::F64> {
  using Storage = double;
};

template <>
struct Elem<DType::F8E4M3FN> {
  using Storage = uint8_t;
  static float widen(Storage v) { return f8E4M3FNToFloat(v); }
};

template <>
struct Elem<DType::F8E5M2> {
  using Storage = uint8_t;
  static float widen(Storage v) { return f8E5M2ToFloat(v); }
};

} // namespace

/// double -> float rounded to odd: the float truncation of d with its last
/// bit set when d is inexact. Rounding that to nearest-even at a precision
/// of at most 22 bits (half: 11, bfloat16: 8) gives the correctly rounded
/// result of d, so double -> half does not round twice.
static float doubleToFloatRoundToOdd(double d) {
  float f = static_cast<float>(d);
  if (static_cast<double>(f) == d || std::isnan(d))
    return f;
  uint32_t bits = detail::floatBits(f);
  // f was rounded away from zero (or overflowed to inf): step back.
  if (std::fabs(static_cast<double>(f)) > std::fabs(d))
    bits -= 1;
  return detail::bitsToFloat(bits | 1u);
}

/// One element of S to D, rounding once.
template <DType S, DType D>
static typename Elem<D>::Storage convertOne(typename Elem<S>::Storage v) {
  if constexpr (S == DType::F64) {
    if constexpr (D == DType::F32)
      return static_cast<float>(v);
    else
      return Elem<D>::narrow(doubleToFloatRoundToOdd(v));
  } else if constexpr (D == DType::F64) {
    return static_cast<double>(Elem<S>::widen(v));
  } else {
    return Elem<D>::narrow(Elem<S>::widen(v));
  }
}

template <DType S, DType D>
static void convertLoop(const unsigned char *src, unsigned char *dst,
                        size_t n) {
  using SrcT = typename Elem<S>::Storage;
  using DstT = typename Elem<D>::Storage;
  for (size_t i = 0; i < n; ++i) {
    SrcT v;
    std::memcpy(&v, src + i * sizeof(SrcT), sizeof(SrcT));
    DstT r = convertOne<S, D>(v);
    std::memcpy(dst + i * sizeof(DstT), &r, sizeof(DstT));
  }
}

using ConvertFn = void (*)(const unsigned char *, unsigned char *, size_t);

/// The loop for S -> D; identical types are copied, not converted.
template <DType S, DType D>
static ConvertFn loopFor() {
  if constexpr (S == D)
    return nullptr;
  else
    return &convertLoop<S, D>;
}

template <DType S>
static ConvertFn selectForDst(DType dst) {
  switch (dst) {
  case DType::F16:
    return loopFor<S, DType::F16>();
  case DType::BF16:
    return loopFor<S, DType::BF16>();
  case DType::F32:
    return loopFor<S, DType::F32>();
  case DType::F64:
    return loopFor<S, DType::F64>();
  default:
    return nullptr;
  }
}

/// The loop converting src to dst (not for identical types), or null.
static ConvertFn selectConversion(DType src, DType dst) {
  switch (src) {
  case DType::F16:
    return selectForDst<DType::F16>(dst);
  case DType::BF16:
    return selectForDst<DType::BF16>(dst);
  case DType::F32:
    return selectForDst<DType::F32>(dst);
  case DType::F64:
    return selectForDst<DType::F64>(dst);
  case DType::F8E4M3FN:
    return selectForDst<DType::F8E4M3FN>(dst);
  case DType::F8E5M2:
    return selectForDst<DType::F8E5M2>(dst);
  default:
    return nullptr;
  }
}

bool isConversionSupported(DType src, DType dst) {
  if (src == dst)
    return dtypeSize(src) != 0;
  return selectConversion(src, dst) != nullptr;
}

bool convertElements(const void *src, DType srcType, void *dst, DType dstType,
                     size_t n) {
  size_t srcSize = dtypeSize(srcType), dstSize = dtypeSize(dstType);
  if (srcSize == 0 || dstSize == 0)
    return false;
  constexpr size_t kMax = std::numeric_limits<size_t>::max();
  if (n > kMax / srcSize || n > kMax / dstSize)
    return false;
  if (srcType == dstType) {
    if (n != 0)
      std::memcpy(dst, src, n * srcSize);
    return true;
  }
  if (dstType == DType::F16 &&
      (srcType == DType::BF16 || srcType == DType::F32) && simd::enabled()) {
    if (srcType == DType::BF16)
      simd::bf16ToF16(static_cast<const uint16_t *>(src),
                      static_cast<uint16_t *>(dst), n);
    else
      simd::f32ToF16(static_cast<const float *>(src),
                     static_cast<uint16_t *>(dst), n);
    return true;
  }
  if (srcType == DType::F16 && dstType == DType::F32 && simd::enabled()) {
    simd::halfToFloat(static_cast<const uint16_t *>(src),
                      static_cast<float *>(dst), n);
    return true;
  }
  ConvertFn fn = selectConversion(srcType, dstType);
  if (!fn)
    return false;
  fn(static_cast<const unsigned char *>(src), static_cast<unsigned char *>(dst),
     n);
  return true;
}

void encodeF32AsBF16Tvm(const float *src, uint16_t *dst, size_t n) {
  auto *in = reinterpret_cast<const unsigned char *>(src);
  auto *out = reinterpret_cast<unsigned char *>(dst);
  for (size_t i = 0; i < n; ++i) {
    float v;
    std::memcpy(&v, in + i * sizeof(float), sizeof(float));
    uint16_t r = floatToBFloat16Tvm(v);
    std::memcpy(out + i * sizeof(uint16_t), &r, sizeof(uint16_t));
  }
}

/// Cache-blocked transpose of N-byte elements (N = 0: elemSize at run time).
template <size_t N>
static void transposeBlocked(const unsigned char *src, size_t rows, size_t cols,
                             size_t elemSize, unsigned char *dst) {
  const size_t size = N ? N : elemSize;
  constexpr size_t kTile = 32;
  for (size_t r0 = 0; r0 < rows; r0 += kTile) {
    size_t r1 = std::min(rows, r0 + kTile);
    for (size_t c0 = 0; c0 < cols; c0 += kTile) {
      size_t c1 = std::min(cols, c0 + kTile);
      for (size_t r = r0; r < r1; ++r)
        for (size_t c = c0; c < c1; ++c)
          std::memcpy(dst + (c * rows + r) * size, src + (r * cols + c) * size,
                      size);
    }
  }
}

void transpose2D(const void *src, int64_t rows, int64_t cols, size_t elemSize,
                 void *dst) {
  if (rows <= 0 || cols <= 0 || elemSize == 0)
    return;
  auto *in = static_cast<const unsigned char *>(src);
  auto *out = static_cast<unsigned char *>(dst);
  auto r = static_cast<size_t>(rows), c = static_cast<size_t>(cols);
  switch (elemSize) {
  case 1:
    return transposeBlocked<1>(in, r, c, elemSize, out);
  case 2:
    return transposeBlocked<2>(in, r, c, elemSize, out);
  case 4:
    return transposeBlocked<4>(in, r, c, elemSize, out);
  case 8:
    return transposeBlocked<8>(in, r, c, elemSize, out);
  default:
    return transposeBlocked<0>(in, r, c, elemSize, out);
  }
}

} // namespace qopt::numerics
