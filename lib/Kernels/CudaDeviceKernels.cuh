//===- CudaDeviceKernels.cuh - Device code of the CUDA kernels -*- C++ -*-===//
//
// Part of quant-opt (not installed). The __global__ kernels of
// CudaKernels.cu, which includes this file once and launches them: group
// quantization, the element conversions, the float8 statistics and casts.
// Each instantiates the scalar rules of qopt/Numerics/QuantRules.h for the
// device, so they give the CPU path's bytes.
//
//===----------------------------------------------------------------------===//

#ifndef QOPT_LIB_KERNELS_CUDADEVICEKERNELS_CUH
#define QOPT_LIB_KERNELS_CUDADEVICEKERNELS_CUH

#include "qopt/Numerics/QuantRules.h"

#include <cuda_runtime.h>

#include <cfloat>
#include <cstdint>

namespace qopt::kernels::detail {

namespace num = ::qopt::numerics;
using num::DType;
using num::FloatFormat;
using num::RoundingMode;

namespace {

//===----------------------------------------------------------------------===//
// Device code
//===----------------------------------------------------------------------===//

// The numeric rules are those of the CPU path, instantiated for the device
// from qopt/Numerics/QuantRules.h (one definition each): the model formats
// (rules::Model), the x86 division results (rules::divide), TVM's max-abs
// reduction (rules::groupMaxAbs), the scale (rules::groupScale) and the
// per-value chain and clamp (rules::quantizeValue, quantizeValueZeroScale).
using num::rules::Model;

/// Group quantization of `rows` rows of k values. Each block handles a chunk
/// of rowsPerBlock consecutive rows (grid-stride over chunks); each thread
/// one group of one row: the group's scale, then its words, packed LSB
/// first with zero padding beyond k.
template <FloatFormat F, RoundingMode R, int Bits>
__global__ void groupQuantizeKernel(const typename Model<F>::Storage *w,
                                    int64_t rows, int64_t k, int bitsArg,
                                    int64_t groupSize, int64_t groupsPerRow,
                                    int64_t rowsPerBlock, uint32_t *qweight,
                                    typename Model<F>::Storage *scale) {
  using M = Model<F>;
  const int bits = Bits ? Bits : bitsArg;
  const int epw = 32 / bits;
  const int64_t wordsPerGroup = groupSize / epw;
  const int64_t wordsPerRow = wordsPerGroup * groupsPerRow;
  const float maxInt = float((1 << (bits - 1)) - 1);
  const float hi = 2.0f * maxInt;
  const int64_t perBlock = rowsPerBlock * groupsPerRow;
  for (int64_t chunk = blockIdx.x; chunk * rowsPerBlock < rows;
       chunk += gridDim.x) {
    for (int64_t i = threadIdx.x; i < perBlock; i += blockDim.x) {
      const int64_t row = chunk * rowsPerBlock + i / groupsPerRow;
      if (row >= rows)
        break;
      const int64_t g = i % groupsPerRow;
      const int64_t begin = g * groupSize;
      const int64_t len = min(groupSize, k - begin);
      const typename M::Storage *wg = w + row * k + begin;
      // One model-dtype division.
      const typename M::Storage scaleValue = num::rules::groupScale<F>(
          num::rules::groupMaxAbs<F>(wg, len, groupSize), maxInt);
      scale[row * groupsPerRow + g] = scaleValue;
      const float s = M::toFloat(scaleValue);
      uint32_t *out = qweight + row * wordsPerRow + g * wordsPerGroup;
      for (int64_t j = 0; j < wordsPerGroup; ++j) {
        uint32_t word = 0;
        for (int r = 0; r < epw; ++r) {
          const int64_t idx = j * epw + r;
          if (idx >= len)
            continue;
          const float x = M::toFloat(wg[idx]);
          word |= (s != 0.0f
                       ? num::rules::quantizeValue<F, R>(x, s, maxInt, hi)
                       : num::rules::quantizeValueZeroScale(x, hi))
                  << (r * bits);
        }
        out[j] = word;
      }
    }
  }
}

/// Widening of a source element type to float32.
template <DType S>
struct Src;

template <>
struct Src<DType::F16> {
  using Storage = uint16_t;
  __device__ static float widen(Storage v) { return num::halfToFloat(v); }
};

template <>
struct Src<DType::BF16> {
  using Storage = uint16_t;
  __device__ static float widen(Storage v) { return num::bfloat16ToFloat(v); }
};

template <>
struct Src<DType::F32> {
  using Storage = float;
  __device__ static float widen(Storage v) { return v; }
};

template <>
struct Src<DType::F8E4M3FN> {
  using Storage = uint8_t;
  __device__ static float widen(Storage v) { return num::f8E4M3FNToFloat(v); }
};

template <>
struct Src<DType::F8E5M2> {
  using Storage = uint8_t;
  __device__ static float widen(Storage v) { return num::f8E5M2ToFloat(v); }
};

/// Rounding of float32 to a destination element type.
template <DType D>
struct Dst;

template <>
struct Dst<DType::F16> {
  using Storage = uint16_t;
  __device__ static Storage narrow(float f) { return num::floatToHalf(f); }
};

template <>
struct Dst<DType::BF16> {
  using Storage = uint16_t;
  __device__ static Storage narrow(float f) { return num::floatToBFloat16(f); }
};

template <>
struct Dst<DType::F32> {
  using Storage = float;
  __device__ static Storage narrow(float f) { return f; }
};

template <DType S, DType D>
__global__ void convertKernel(const typename Src<S>::Storage *in,
                              typename Dst<D>::Storage *out, int64_t n) {
  for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < n;
       i += int64_t(gridDim.x) * blockDim.x)
    out[i] = Dst<D>::narrow(Src<S>::widen(in[i]));
}

/// Statistics of the fp8 max-abs reduction, in device memory.
struct Fp8Stats {
  /// Largest fp16 magnitude that is not a NaN.
  unsigned int maxBits;
  unsigned int pad;
  /// 1 + the global index of the last NaN (0: none).
  unsigned long long lastNaNPlusOne;
};

/// Reduces n fp16 values whose global indices start at `base` into *stats.
__global__ void fp8StatsKernel(const uint16_t *w, int64_t n, uint64_t base,
                               Fp8Stats *stats) {
  unsigned int m = 0;
  unsigned long long last = 0;
  for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < n;
       i += int64_t(gridDim.x) * blockDim.x) {
    const unsigned int a = w[i] & 0x7FFFu;
    if (a > 0x7C00u)
      last = base + uint64_t(i) + 1;
    else
      m = max(m, a);
  }
  for (int d = 16; d > 0; d /= 2) {
    m = max(m, __shfl_down_sync(0xFFFFFFFFu, m, d));
    last = max(last, __shfl_down_sync(0xFFFFFFFFu, last, d));
  }
  __shared__ unsigned int sm[32];
  __shared__ unsigned long long sl[32];
  const int lane = threadIdx.x % 32, warp = threadIdx.x / 32;
  if (lane == 0) {
    sm[warp] = m;
    sl[warp] = last;
  }
  __syncthreads();
  if (warp != 0)
    return;
  const int warps = (blockDim.x + 31) / 32;
  m = lane < warps ? sm[lane] : 0u;
  last = lane < warps ? sl[lane] : 0ull;
  for (int d = 16; d > 0; d /= 2) {
    m = max(m, __shfl_down_sync(0xFFFFFFFFu, m, d));
    last = max(last, __shfl_down_sync(0xFFFFFFFFu, last, d));
  }
  if (lane == 0) {
    atomicMax(&stats->maxBits, m);
    atomicMax(&stats->lastNaNPlusOne, last);
  }
}

__global__ void quantizeE4M3Kernel(const uint16_t *w, int64_t n, float scale,
                                   uint8_t *out) {
  for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < n;
       i += int64_t(gridDim.x) * blockDim.x) {
    out[i] = scale == 0.0f
                 ? num::rules::fp8E4M3CodeZeroScale(w[i], signbit(scale))
                 : num::rules::fp8E4M3Code(w[i], scale);
  }
}

__global__ void castE5M2Kernel(const uint16_t *w, int64_t n, uint8_t *out) {
  for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < n;
       i += int64_t(gridDim.x) * blockDim.x)
    out[i] = num::rules::fp8E5M2Code(w[i]);
}

} // namespace
} // namespace qopt::kernels::detail

#endif // QOPT_LIB_KERNELS_CUDADEVICEKERNELS_CUH
