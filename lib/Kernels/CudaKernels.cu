//===- CudaKernels.cu - Cast and quantization kernels -----------*- C++ -*-===//
//
// CUDA versions of qopt::numerics' convertElements, groupQuantizeRows,
// fp8E4M3PerTensorScale, quantizeFp8E4M3 and castHalfToFp8E5M2, bit-identical
// to them. The element conversions are the header-inline QOPT_HD functions of
// qopt/Numerics/Float.h, compiled for the device.
//
// Must be compiled without fast math: IEEE division, no flush-to-zero, no FMA
// contraction (lib/Kernels/CMakeLists.txt passes the flags).
//
// The device code is in CudaDeviceKernels.cuh. Host side: the caller's host
// buffers are processed in chunks of about
// kChunkBytes of input through two slots, each a stream with its own pinned
// and device buffers, so that the host copies into and out of pinned memory
// overlap the other slot's transfers and kernel. The slots live in a
// per-thread context and are reused by later calls.
//
//===----------------------------------------------------------------------===//

#include "CudaDetail.h"
#include "CudaDeviceKernels.cuh"

#include "qopt/Numerics/QuantRules.h"

#include <cuda_runtime.h>

#include <algorithm>
#include <cfloat>
#include <cstring>
#include <memory>
#include <string>

namespace qopt::kernels::detail {

namespace num = ::qopt::numerics;
using num::DType;
using num::FloatFormat;
using num::RoundingMode;

namespace {

//===----------------------------------------------------------------------===//
// Host side: per-thread context and the chunk pipeline
//===----------------------------------------------------------------------===//

/// Input bytes per chunk.
constexpr size_t kChunkBytes = size_t(16) << 20;
constexpr int kThreads = 256;

std::string cudaMessage(cudaError_t e, const char *what) {
  return std::string(what) + ": " + cudaGetErrorName(e) + " (" +
         cudaGetErrorString(e) + ")";
}

#define QOPT_CUDA_TRY(expr)                                                    \
  do {                                                                         \
    cudaError_t qoptErr = (expr);                                              \
    if (qoptErr != cudaSuccess)                                                \
      return cudaMessage(qoptErr, #expr);                                      \
  } while (false)

/// A pinned host or device allocation that grows on demand.
class Buffer {
public:
  explicit Buffer(bool pinned) : pinned(pinned) {}
  Buffer(const Buffer &) = delete;
  Buffer &operator=(const Buffer &) = delete;
  ~Buffer() { release(); }

  /// Makes the buffer hold at least n bytes (old contents are dropped).
  std::string reserve(size_t n) {
    if (n <= capacity)
      return {};
    release();
    // Round up to 1 MiB so that slightly growing requests reuse it.
    size_t want = (n + (size_t(1) << 20) - 1) & ~((size_t(1) << 20) - 1);
    cudaError_t e =
        pinned ? cudaMallocHost(&ptr, want) : cudaMalloc(&ptr, want);
    if (e != cudaSuccess) {
      ptr = nullptr;
      (void)cudaGetLastError();
      return cudaMessage(e, pinned ? "cudaMallocHost" : "cudaMalloc") + " of " +
             std::to_string(want) + " bytes";
    }
    capacity = want;
    return {};
  }

  void release() {
    if (ptr)
      (void)(pinned ? cudaFreeHost(ptr) : cudaFree(ptr));
    ptr = nullptr;
    capacity = 0;
  }

  void *data() const { return ptr; }

private:
  bool pinned;
  void *ptr = nullptr;
  size_t capacity = 0;
};

/// A host copy to do once a slot's work is done: pinned output bytes
/// [offset, offset + bytes) to dst.
struct OutCopy {
  void *dst = nullptr;
  size_t offset = 0, bytes = 0;
};

/// One chunk of work: its input bytes and where its output bytes go.
struct ChunkIO {
  const void *src = nullptr;
  size_t inBytes = 0, outBytes = 0;
  OutCopy copies[2];
};

/// A stream with its own staging and device buffers.
struct Slot {
  cudaStream_t stream = nullptr;
  Buffer hostIn{true}, hostOut{true}, devIn{false}, devOut{false};
  bool busy = false;
  OutCopy copies[2];
};

class Context {
public:
  Context() = default;
  Context(const Context &) = delete;
  Context &operator=(const Context &) = delete;
  ~Context() {
    for (Slot &s : slots)
      if (s.stream) {
        (void)cudaStreamSynchronize(s.stream);
        (void)cudaStreamDestroy(s.stream);
      }
  }

  std::string init() {
    if (ready)
      return {};
    QOPT_CUDA_TRY(cudaGetDevice(&device));
    for (Slot &s : slots)
      QOPT_CUDA_TRY(
          cudaStreamCreateWithFlags(&s.stream, cudaStreamNonBlocking));
    if (std::string e = devStats.reserve(sizeof(Fp8Stats)); !e.empty())
      return e;
    ready = true;
    return {};
  }

  /// Runs numChunks chunks: io(c) describes chunk c, launch(c, in, out,
  /// stream) enqueues its kernel(s) on the stream.
  template <typename IOFn, typename LaunchFn>
  std::string run(size_t numChunks, IOFn io, LaunchFn launch) {
    QOPT_CUDA_TRY(cudaSetDevice(device));
    std::string err;
    for (size_t c = 0; c < numChunks && err.empty(); ++c) {
      Slot &s = slots[c % 2];
      err = finish(s);
      if (err.empty())
        err = enqueue(s, c, io(c), launch);
    }
    for (Slot &s : slots) {
      std::string e = finish(s);
      if (err.empty())
        err = e;
    }
    return err;
  }

  Fp8Stats *stats() { return static_cast<Fp8Stats *>(devStats.data()); }
  cudaStream_t firstStream() { return slots[0].stream; }

private:
  template <typename LaunchFn>
  std::string enqueue(Slot &s, size_t c, const ChunkIO &io, LaunchFn &launch) {
    for (Buffer *b : {&s.hostIn, &s.devIn})
      if (std::string e = b->reserve(io.inBytes); !e.empty())
        return e;
    for (Buffer *b : {&s.hostOut, &s.devOut})
      if (std::string e = b->reserve(io.outBytes); !e.empty())
        return e;
    std::memcpy(s.hostIn.data(), io.src, io.inBytes);
    s.busy = true;
    s.copies[0] = s.copies[1] = OutCopy();
    QOPT_CUDA_TRY(cudaMemcpyAsync(s.devIn.data(), s.hostIn.data(), io.inBytes,
                                  cudaMemcpyHostToDevice, s.stream));
    launch(c, s.devIn.data(), s.devOut.data(), s.stream);
    QOPT_CUDA_TRY(cudaGetLastError());
    if (io.outBytes)
      QOPT_CUDA_TRY(cudaMemcpyAsync(s.hostOut.data(), s.devOut.data(),
                                    io.outBytes, cudaMemcpyDeviceToHost,
                                    s.stream));
    s.copies[0] = io.copies[0];
    s.copies[1] = io.copies[1];
    return {};
  }

  /// Waits for the slot's work and copies its output out.
  std::string finish(Slot &s) {
    if (!s.busy)
      return {};
    s.busy = false;
    QOPT_CUDA_TRY(cudaStreamSynchronize(s.stream));
    for (const OutCopy &oc : s.copies)
      if (oc.bytes)
        std::memcpy(oc.dst, static_cast<char *>(s.hostOut.data()) + oc.offset,
                    oc.bytes);
    return {};
  }

  int device = 0;
  bool ready = false;
  Slot slots[2];
  Buffer devStats{false};
};

thread_local std::unique_ptr<Context> threadContext;

std::string getContext(Context *&ctx) {
  if (!threadContext)
    threadContext = std::make_unique<Context>();
  if (std::string e = threadContext->init(); !e.empty()) {
    threadContext.reset();
    return e;
  }
  ctx = threadContext.get();
  return {};
}

/// Blocks for a grid-stride loop over n elements.
unsigned gridFor(int64_t n) {
  return unsigned(
      std::clamp<int64_t>((n + kThreads - 1) / kThreads, 1, int64_t(1) << 16));
}

/// Runs an elementwise kernel over n elements of inSize bytes producing
/// outSize bytes each; launch(in, out, count, firstIndex, stream).
template <typename LaunchFn>
std::string runElementwise(const void *src, size_t n, size_t inSize, void *dst,
                           size_t outSize, LaunchFn launch) {
  Context *ctx;
  if (std::string e = getContext(ctx); !e.empty())
    return e;
  const size_t perChunk =
      std::max<size_t>(1, kChunkBytes / std::max(inSize, outSize));
  const size_t numChunks = (n + perChunk - 1) / perChunk;
  auto io = [&](size_t c) {
    const size_t first = c * perChunk, count = std::min(perChunk, n - first);
    ChunkIO r;
    r.src = static_cast<const char *>(src) + first * inSize;
    r.inBytes = count * inSize;
    r.outBytes = count * outSize;
    if (dst)
      r.copies[0] = {static_cast<char *>(dst) + first * outSize, 0, r.outBytes};
    return r;
  };
  return ctx->run(numChunks, io,
                  [&](size_t c, void *in, void *out, cudaStream_t stream) {
                    const size_t first = c * perChunk;
                    launch(in, out, int64_t(std::min(perChunk, n - first)),
                           uint64_t(first), stream);
                  });
}

template <DType S, DType D>
void launchConvert(const void *in, void *out, int64_t n, cudaStream_t st) {
  convertKernel<S, D><<<gridFor(n), kThreads, 0, st>>>(
      static_cast<const typename Src<S>::Storage *>(in),
      static_cast<typename Dst<D>::Storage *>(out), n);
}

using ConvertLauncher = void (*)(const void *, void *, int64_t, cudaStream_t);

template <DType S>
ConvertLauncher convertFor(DType dst) {
  switch (dst) {
  case DType::F16:
    return S == DType::F16 ? nullptr : &launchConvert<S, DType::F16>;
  case DType::BF16:
    return S == DType::BF16 ? nullptr : &launchConvert<S, DType::BF16>;
  case DType::F32:
    return S == DType::F32 ? nullptr : &launchConvert<S, DType::F32>;
  default:
    return nullptr;
  }
}

ConvertLauncher convertLauncher(DType src, DType dst) {
  switch (src) {
  case DType::F16:
    return convertFor<DType::F16>(dst);
  case DType::BF16:
    return convertFor<DType::BF16>(dst);
  case DType::F32:
    return convertFor<DType::F32>(dst);
  case DType::F8E4M3FN:
    return convertFor<DType::F8E4M3FN>(dst);
  case DType::F8E5M2:
    return convertFor<DType::F8E5M2>(dst);
  default:
    return nullptr;
  }
}

/// Group-quantization launch parameters of one chunk of rows.
struct GroupLaunch {
  int64_t rows, k, groupSize, groupsPerRow;
  int bits;
  size_t scaleOffset; // bytes of qweight before the scales in `out`
};

template <FloatFormat F, RoundingMode R, int Bits>
void launchGroupQuantize(const void *in, void *out, const GroupLaunch &p,
                         cudaStream_t st) {
  using T = typename Model<F>::Storage;
  const int64_t rowsPerBlock =
      std::max<int64_t>(1, kThreads / std::max<int64_t>(p.groupsPerRow, 1));
  const int64_t perBlock = rowsPerBlock * p.groupsPerRow;
  const int threads =
      int(std::min<int64_t>(kThreads, (perBlock + 31) / 32 * 32));
  const auto blocks = unsigned(std::clamp<int64_t>(
      (p.rows + rowsPerBlock - 1) / rowsPerBlock, 1, int64_t(1) << 20));
  groupQuantizeKernel<F, R, Bits><<<blocks, threads, 0, st>>>(
      static_cast<const T *>(in), p.rows, p.k, p.bits, p.groupSize,
      p.groupsPerRow, rowsPerBlock, static_cast<uint32_t *>(out),
      reinterpret_cast<T *>(static_cast<char *>(out) + p.scaleOffset));
}

using GroupLauncher = void (*)(const void *, void *, const GroupLaunch &,
                               cudaStream_t);

template <FloatFormat F, RoundingMode R>
GroupLauncher groupForBits(int bits) {
  switch (bits) {
  case 3:
    return &launchGroupQuantize<F, R, 3>;
  case 4:
    return &launchGroupQuantize<F, R, 4>;
  default:
    return &launchGroupQuantize<F, R, 0>;
  }
}

template <FloatFormat F>
GroupLauncher groupForRounding(const num::GroupQuantSpec &spec) {
  if (spec.rounding == RoundingMode::NearestAway)
    return groupForBits<F, RoundingMode::NearestAway>(spec.bits);
  return groupForBits<F, RoundingMode::NearestEven>(spec.bits);
}

GroupLauncher groupLauncher(const num::GroupQuantSpec &spec) {
  switch (spec.modelFormat) {
  case FloatFormat::BF16:
    return groupForRounding<FloatFormat::BF16>(spec);
  case FloatFormat::F32:
    return groupForRounding<FloatFormat::F32>(spec);
  default:
    return groupForRounding<FloatFormat::F16>(spec);
  }
}

} // namespace

//===----------------------------------------------------------------------===//
// Entry points
//===----------------------------------------------------------------------===//

std::string deviceAvailable() {
  int count = 0;
  cudaError_t e = cudaGetDeviceCount(&count);
  if (e != cudaSuccess) {
    (void)cudaGetLastError();
    return std::string("no usable CUDA device: ") + cudaGetErrorString(e);
  }
  if (count == 0)
    return "no CUDA device found";
  // Fails if no kernel image in this build runs on the current device.
  cudaFuncAttributes attrs;
  e = cudaFuncGetAttributes(&attrs, castE5M2Kernel);
  if (e != cudaSuccess) {
    (void)cudaGetLastError();
    return std::string("the CUDA kernels (built for sm_80 and sm_90) cannot "
                       "run on this device: ") +
           cudaGetErrorString(e);
  }
  return {};
}

std::string convertElements(const void *src, DType srcType, void *dst,
                            DType dstType, size_t n) {
  ConvertLauncher launch = convertLauncher(srcType, dstType);
  if (!launch)
    return "unsupported conversion";
  return runElementwise(src, n, num::dtypeSize(srcType), dst,
                        num::dtypeSize(dstType),
                        [&](const void *in, void *out, int64_t count, uint64_t,
                            cudaStream_t st) { launch(in, out, count, st); });
}

std::string groupQuantizeRows(const void *w, int64_t rows, int64_t k,
                              const num::GroupQuantSpec &spec,
                              uint32_t *qweight, void *scale) {
  Context *ctx;
  if (std::string e = getContext(ctx); !e.empty())
    return e;
  const size_t elem = spec.modelFormat == FloatFormat::F32 ? 4 : 2;
  const int64_t groups = num::groupsPerRow(spec, k);
  const int64_t words = num::wordsPerRow(spec, k);
  const size_t inRow = size_t(k) * elem, qRow = size_t(words) * 4,
               sRow = size_t(groups) * elem;
  const size_t rowsPerChunk =
      std::max<size_t>(1, kChunkBytes / std::max(inRow, qRow));
  const size_t numChunks = (size_t(rows) + rowsPerChunk - 1) / rowsPerChunk;
  auto chunkRows = [&](size_t c) {
    return std::min(rowsPerChunk, size_t(rows) - c * rowsPerChunk);
  };
  auto io = [&](size_t c) {
    const size_t r0 = c * rowsPerChunk, n = chunkRows(c);
    ChunkIO r;
    r.src = static_cast<const char *>(w) + r0 * inRow;
    r.inBytes = n * inRow;
    r.outBytes = n * (qRow + sRow);
    r.copies[0] = {reinterpret_cast<char *>(qweight) + r0 * qRow, 0, n * qRow};
    r.copies[1] = {static_cast<char *>(scale) + r0 * sRow, n * qRow, n * sRow};
    return r;
  };
  GroupLauncher launch = groupLauncher(spec);
  return ctx->run(
      numChunks, io, [&](size_t c, void *in, void *out, cudaStream_t st) {
        GroupLaunch p{
            int64_t(chunkRows(c)), k, spec.groupSize, groups, spec.bits,
            chunkRows(c) * qRow};
        launch(in, out, p, st);
      });
}

std::string fp8MaxAbsBits(const uint16_t *wF16, size_t n, uint16_t *bits) {
  Context *ctx;
  if (std::string e = getContext(ctx); !e.empty())
    return e;
  Fp8Stats *stats = ctx->stats();
  // One pass over [first, n): the largest non-NaN magnitude and the last NaN.
  auto reduce = [&](size_t first, Fp8Stats &host) -> std::string {
    QOPT_CUDA_TRY(
        cudaMemsetAsync(stats, 0, sizeof(Fp8Stats), ctx->firstStream()));
    QOPT_CUDA_TRY(cudaStreamSynchronize(ctx->firstStream()));
    std::string e = runElementwise(
        wF16 + first, n - first, 2, nullptr, 0,
        [&](const void *in, void *, int64_t count, uint64_t index,
            cudaStream_t st) {
          fp8StatsKernel<<<gridFor(count), kThreads, 0, st>>>(
              static_cast<const uint16_t *>(in), count, first + index, stats);
        });
    if (!e.empty())
      return e;
    QOPT_CUDA_TRY(
        cudaMemcpy(&host, stats, sizeof(Fp8Stats), cudaMemcpyDeviceToHost));
    return {};
  };
  Fp8Stats all{};
  if (std::string e = reduce(0, all); !e.empty())
    return e;
  if (all.lastNaNPlusOne == 0) {
    *bits = uint16_t(all.maxBits);
    return {};
  }
  if (all.lastNaNPlusOne == n) {
    *bits = 0x7E00u;
    return {};
  }
  // After the last NaN the select chain restarts: the largest magnitude of
  // the values that follow it (none of them a NaN).
  Fp8Stats suffix{};
  if (std::string e = reduce(size_t(all.lastNaNPlusOne), suffix); !e.empty())
    return e;
  *bits = uint16_t(suffix.maxBits);
  return {};
}

std::string quantizeFp8E4M3(const uint16_t *wF16, size_t n, float scale,
                            uint8_t *out) {
  return runElementwise(
      wF16, n, 2, out, 1,
      [&](const void *in, void *o, int64_t count, uint64_t, cudaStream_t st) {
        quantizeE4M3Kernel<<<gridFor(count), kThreads, 0, st>>>(
            static_cast<const uint16_t *>(in), count, scale,
            static_cast<uint8_t *>(o));
      });
}

std::string castHalfToFp8E5M2(const uint16_t *wF16, size_t n, uint8_t *out) {
  return runElementwise(
      wF16, n, 2, out, 1,
      [&](const void *in, void *o, int64_t count, uint64_t, cudaStream_t st) {
        castE5M2Kernel<<<gridFor(count), kThreads, 0, st>>>(
            static_cast<const uint16_t *>(in), count,
            static_cast<uint8_t *>(o));
      });
}

void releaseThreadContext() { threadContext.reset(); }

} // namespace qopt::kernels::detail
