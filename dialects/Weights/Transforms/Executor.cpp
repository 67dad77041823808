//===- Executor.cpp - Evaluate parameters into a tensor cache -*- C++ -*-===//

#include "dialects/Weights/Transforms/Executor.h"
#include "dialects/Weights/Transforms/Progress.h"
#include "dialects/Weights/Transforms/Utils.h"
#include "qopt/Kernels/Cuda.h"
#include "qopt/Loaders/TensorReader.h"
#include "qopt/Numerics/Awq.h"
#include "qopt/Numerics/Convert.h"
#include "qopt/Numerics/Float.h"
#include "qopt/Numerics/Fp8.h"
#include "qopt/Numerics/GroupQuant.h"
#include "qopt/Numerics/Lora.h"
#include "qopt/Numerics/Mnn.h"
#include "qopt/Numerics/ScaleSearch.h"

#include "llvm/Support/Format.h"
#include "llvm/Support/Process.h"
#include "llvm/Support/raw_ostream.h"

#include <atomic>
#include <malloc.h>
#include <memory>
#include <type_traits>
#include <cmath>
#include <limits>
#include <chrono>
#include <cstring>
#include <mutex>
#include <thread>

using namespace mlir;
using namespace mlir::qopt::weights;
namespace num = ::qopt::numerics;
namespace tc = ::qopt::tensorcache;
namespace kern = ::qopt::kernels;
using num::DType;

/// Leaves new elements uninitialized: every buffer here is fully written
/// before it is read, and zero-filling them cost ~10% of a conversion.
template <typename T>
struct DefaultInitAllocator : std::allocator<T> {
  template <typename U>
  struct rebind {
    using other = DefaultInitAllocator<U>;
  };
  using std::allocator<T>::allocator;
  template <typename U>
  void construct(U *p) noexcept(std::is_nothrow_default_constructible_v<U>) {
    ::new (static_cast<void *>(p)) U;
  }
  template <typename U, typename... Args>
  void construct(U *p, Args &&...args) {
    ::new (static_cast<void *>(p)) U(std::forward<Args>(args)...);
  }
};
template <typename T>
using Vec = std::vector<T, DefaultInitAllocator<T>>;

static llvm::Error makeError(const llvm::Twine &msg) {
  return llvm::createStringError(llvm::inconvertibleErrorCode(), msg);
}

namespace {
/// A row range [r0, r1) of a tensor's outermost dimension, materialized.
struct Buf {
  DType dtype;
  SmallVector<int64_t> shape; // shape[0] == rows of this buffer (rank >= 1)
  Vec<uint8_t> data;
  /// When set, the bytes are these checkpoint rows mapped from the file
  /// (read straight from the page cache, no copy), not `data`.
  std::shared_ptr<const ::qopt::loaders::MappedBytes> mapped;

  const uint8_t *bytes() const {
    return mapped ? mapped->data() : data.data();
  }
  size_t byteSize() const { return mapped ? mapped->size() : data.size(); }
  /// The bytes, writable (mapped rows are copied into `data` first).
  uint8_t *mutableBytes() {
    if (mapped) {
      data.assign(mapped->data(), mapped->data() + mapped->size());
      mapped.reset();
    }
    return data.data();
  }

  int64_t numElements() const {
    int64_t n = 1;
    for (int64_t d : shape)
      n *= d;
    return n;
  }
};

/// Rows of a tensor as the executor sees it: its outermost dimension
/// (a scalar is one row of one element).
int64_t rowsOf(RankedTensorType t) {
  return t.getRank() == 0 ? 1 : t.getDimSize(0);
}

SmallVector<int64_t> rowShape(RankedTensorType t, int64_t rows) {
  SmallVector<int64_t> s(t.getShape());
  if (s.empty())
    s.push_back(1);
  s[0] = rows;
  return s;
}

DType dtypeOf(Type t) { return *fromMlirType(t); }

num::FloatFormat floatFormat(DType t) {
  return t == DType::BF16   ? num::FloatFormat::BF16
         : t == DType::F32 ? num::FloatFormat::F32
                           : num::FloatFormat::F16;
}

/// The numerics configuration of an MNN scheme.
num::MnnQuantSpec mnnSpecOf(MnnQuantAttr m) {
  num::MnnQuantSpec spec;
  spec.bits = int(m.getBits());
  spec.asymmetric = m.isAsymmetric();
  spec.block = m.getBlock();
  spec.hqq = m.getHqq();
  return spec;
}

/// Evaluates values of the weights dialect, chunk by chunk.
class Evaluator {
public:
  Evaluator(::qopt::loaders::TensorReader &reader, bool cuda)
      : reader(reader), cuda(cuda) {}

  /// Nanoseconds spent reading checkpoint bytes so far.
  uint64_t readNs = 0;

  llvm::Expected<Buf> rows(Value v, int64_t r0, int64_t r1) {
    auto type = cast<RankedTensorType>(v.getType());
    Buf out{dtypeOf(type.getElementType()), rowShape(type, r1 - r0), {}};
    Operation *def = v.getDefiningOp();
    if (auto s = dyn_cast_or_null<SourceOp>(def))
      return readSource(s, r0, r1, std::move(out));
    if (auto c = dyn_cast_or_null<ConcatOp>(def))
      return concat(c, r0, r1, std::move(out));
    if (auto s = dyn_cast_or_null<StackOp>(def)) {
      out.data.resize(out.numElements() * num::dtypeSize(out.dtype));
      size_t off = 0;
      for (int64_t r = r0; r < r1; ++r) {
        Value in = s.getInputs()[r];
        auto b = rows(in, 0, rowsOf(cast<RankedTensorType>(in.getType())));
        if (!b)
          return b.takeError();
        std::memcpy(out.data.data() + off, b->bytes(), b->byteSize());
        off += b->byteSize();
      }
      return out;
    }
    if (auto c = dyn_cast_or_null<CastOp>(def)) {
      auto in = rows(c.getInput(), r0, r1);
      if (!in)
        return in.takeError();
      if (!num::isFloat(in->dtype) && !num::isFloat(out.dtype)) {
        // Same-width integers: the bits stay (verified by the op).
        in->dtype = out.dtype;
        return in;
      }
      out.data.resize(out.numElements() * num::dtypeSize(out.dtype));
      if (cuda && kern::isCudaConversionSupported(in->dtype, out.dtype)) {
        if (llvm::Error e = kern::convertElementsCuda(
                in->bytes(), in->dtype, out.data.data(), out.dtype,
                size_t(out.numElements())))
          return std::move(e);
        return out;
      }
      if (!num::convertElements(in->bytes(), in->dtype, out.data.data(),
                                out.dtype, size_t(out.numElements())))
        return makeError("cannot cast " + llvm::Twine(num::tvmName(in->dtype)) +
                         " to " + num::tvmName(out.dtype));
      return out;
    }
    if (auto t = dyn_cast_or_null<TransposeOp>(def)) {
      auto inType = cast<RankedTensorType>(t.getInput().getType());
      auto in = rows(t.getInput(), 0, inType.getDimSize(0));
      if (!in)
        return in.takeError();
      size_t es = num::dtypeSize(in->dtype);
      Vec<uint8_t> full(in->byteSize());
      num::transpose2D(in->bytes(), inType.getDimSize(0),
                       inType.getDimSize(1), es, full.data());
      size_t rowBytes = size_t(inType.getDimSize(0)) * es;
      out.data.assign(full.begin() + r0 * rowBytes, full.begin() + r1 * rowBytes);
      return out;
    }
    if (auto d = dyn_cast_or_null<DequantizeAwqOp>(def)) {
      SmallVector<Buf> ins;
      for (Value in : d->getOperands()) {
        auto b = rows(in, 0, rowsOf(cast<RankedTensorType>(in.getType())));
        if (!b)
          return b.takeError();
        ins.push_back(std::move(*b));
      }
      out.data.resize(out.numElements() * 2);
      auto qwType = cast<RankedTensorType>(d.getQweight().getType());
      num::awqDequantizeGemm(
          reinterpret_cast<const uint32_t *>(ins[0].bytes()),
          reinterpret_cast<const uint32_t *>(ins[1].bytes()),
          reinterpret_cast<const uint16_t *>(ins[2].bytes()),
          qwType.getDimSize(0), qwType.getDimSize(1) * 8, d.getGroupSize(), r0,
          r1, reinterpret_cast<uint16_t *>(out.data.data()));
      return out;
    }
    if (auto m = dyn_cast_or_null<MergeLoraOp>(def))
      return mergeLora(m, r0, r1, std::move(out));
    if (auto a = dyn_cast_or_null<AddConstantOp>(def)) {
      auto in = rows(a.getInput(), r0, r1);
      if (!in)
        return in.takeError();
      addConstant(*in, a.getValue().convertToDouble());
      return in;
    }
    return makeError("cannot evaluate a value defined by " +
                     (def ? def->getName().getStringRef() : "a block argument"));
  }

private:
  llvm::Expected<Buf> readSource(SourceOp s, int64_t r0, int64_t r1, Buf out) {
    auto started = std::chrono::steady_clock::now();
    auto result = readSourceRows(s, r0, r1, std::move(out));
    readNs += uint64_t(std::chrono::duration_cast<std::chrono::nanoseconds>(
                           std::chrono::steady_clock::now() - started)
                           .count());
    return result;
  }

  llvm::Expected<Buf> readSourceRows(SourceOp s, int64_t r0, int64_t r1,
                                     Buf out) {
    auto type = cast<RankedTensorType>(s.getType());
    ::qopt::loaders::TensorInfo t;
    t.name = s.getKey().str();
    t.dtype = out.dtype;
    t.shape.assign(type.getShape().begin(), type.getShape().end());
    t.file = s.getFile().str();
    t.offset = uint64_t(s.getOffset());
    size_t es = num::dtypeSize(t.dtype);
    if (auto strides = s.getStrides()) {
      t.strides.assign(strides->begin(), strides->end());
      uint64_t extent = 1;
      for (size_t d = 0; d < t.shape.size(); ++d)
        if (t.shape[d] > 0)
          extent += uint64_t(t.shape[d] - 1) * uint64_t(t.strides[d]);
      t.storageBytes = extent * es;
    } else {
      t.storageBytes = uint64_t(type.getNumElements()) * es;
    }
    // GGUF: dequantized and/or un-permuted on read; the byte count of
    // encoded data follows from its encoding.
    if (auto encoding = s.getEncoding()) {
      t.encoding = encoding->str();
      t.storageBytes = 0;
    }
    if (auto heads = s.getUnpermuteHeads())
      t.unpermuteHeads = int64_t(*heads);
    if (type.getRank() != 0)
      // Mapped rows are used in place only when their elements are aligned
      // (a checkpoint may place a tensor at any byte offset).
      if (auto mapped = reader.mapRows(t, r0, r1);
          mapped && reinterpret_cast<uintptr_t>(mapped->data()) % es == 0) {
        out.mapped = std::move(mapped);
        return out;
      }
    out.data.resize(out.numElements() * es);
    llvm::Error err = type.getRank() == 0
                          ? reader.read(t, out.data.data())
                          : reader.readRows(t, r0, r1, out.data.data());
    if (err)
      return makeError("reading tensor '" + t.name +
                       "': " + llvm::toString(std::move(err)));
    return out;
  }

  llvm::Expected<Buf> concat(ConcatOp c, int64_t r0, int64_t r1, Buf out) {
    int64_t axis = c.getAxis();
    size_t es = num::dtypeSize(out.dtype);
    if (axis == 0) {
      // Rows of one input (chunks are cut at the inputs' boundaries): those
      // rows as they are, without a copy.
      int64_t base = 0;
      for (Value in : c.getInputs()) {
        int64_t n = cast<RankedTensorType>(in.getType()).getDimSize(0);
        if (r0 >= base && r1 <= base + n) {
          auto b = rows(in, r0 - base, r1 - base);
          if (b)
            b->shape = out.shape;
          return b;
        }
        base += n;
      }
    }
    out.data.resize(out.numElements() * es);
    if (axis == 0) {
      // Rows come from consecutive inputs.
      int64_t base = 0;
      size_t off = 0;
      for (Value in : c.getInputs()) {
        int64_t n = cast<RankedTensorType>(in.getType()).getDimSize(0);
        int64_t lo = std::max(r0, base), hi = std::min(r1, base + n);
        if (lo < hi) {
          auto b = rows(in, lo - base, hi - base);
          if (!b)
            return b.takeError();
          std::memcpy(out.data.data() + off, b->bytes(), b->byteSize());
          off += b->byteSize();
        }
        base += n;
      }
      return out;
    }
    // Interleave: each outer index takes one block from every input.
    auto outType = cast<RankedTensorType>(c.getType());
    int64_t outer = r1 - r0;
    for (int64_t d = 1; d < axis; ++d)
      outer *= outType.getDimSize(d);
    SmallVector<Buf> parts;
    SmallVector<size_t> blocks;
    for (Value in : c.getInputs()) {
      auto b = rows(in, r0, r1);
      if (!b)
        return b.takeError();
      blocks.push_back(b->byteSize() / size_t(outer));
      parts.push_back(std::move(*b));
    }
    size_t off = 0;
    for (int64_t o = 0; o < outer; ++o)
      for (size_t i = 0; i < parts.size(); ++i) {
        std::memcpy(out.data.data() + off, parts[i].bytes() + o * blocks[i],
                    blocks[i]);
        off += blocks[i];
      }
    return out;
  }

  /// Rows [r0, r1) of W + scale * B @ A (qopt/Numerics/Lora.h); with
  /// fan_in_fan_out, W is [in, out] and its row i takes column i of A.
  llvm::Expected<Buf> mergeLora(MergeLoraOp m, int64_t r0, int64_t r1,
                                Buf out) {
    auto whole = [&](Value v) -> llvm::Expected<Vec<float>> {
      auto t = cast<RankedTensorType>(v.getType());
      auto b = rows(v, 0, rowsOf(t));
      if (!b)
        return b.takeError();
      Vec<float> f(size_t(b->numElements()));
      num::convertElements(b->bytes(), b->dtype, f.data(), DType::F32, f.size());
      return f;
    };
    auto w = rows(m.getBase(), r0, r1);
    if (!w)
      return w.takeError();
    auto a = whole(m.getLoraA()), b = whole(m.getLoraB());
    if (!a || !b)
      return a ? b.takeError() : a.takeError();
    auto aType = cast<RankedTensorType>(m.getLoraA().getType());
    int64_t rank = aType.getDimSize(0), in = aType.getDimSize(1);
    int64_t outF = cast<RankedTensorType>(m.getLoraB().getType()).getDimSize(0);
    int64_t rows = r1 - r0, cols = m.getFanInFanOut() ? outF : in;
    Vec<float> left(size_t(rows * rank)), right;
    if (!m.getFanInFanOut()) {
      std::memcpy(left.data(), b->data() + r0 * rank, left.size() * 4);
      right = std::move(*a);
    } else {
      // W'[i][j] = W[i][j] + scale * sum_k A[k][i] * B[j][k].
      for (int64_t i = 0; i < rows; ++i)
        for (int64_t k = 0; k < rank; ++k)
          left[size_t(i * rank + k)] = (*a)[size_t(k * in + r0 + i)];
      right.resize(size_t(rank * outF));
      for (int64_t k = 0; k < rank; ++k)
        for (int64_t j = 0; j < outF; ++j)
          right[size_t(k * outF + j)] = (*b)[size_t(j * rank + k)];
    }
    out.data.resize(size_t(out.numElements()) * num::dtypeSize(out.dtype));
    if (!num::loraMergeRows(w->bytes(), out.dtype, rows, cols, left.data(),
                            right.data(), rank,
                            m.getScale().convertToDouble(), out.data.data()))
      return makeError("cannot merge a LoRA adapter into a " +
                       llvm::Twine(num::tvmName(out.dtype)) + " weight");
    return out;
  }

  static void addConstant(Buf &b, double c) {
    size_t n = size_t(b.numElements());
    float cf = float(c);
    if (b.dtype == DType::F32) {
      auto *p = reinterpret_cast<float *>(b.mutableBytes());
      for (size_t i = 0; i < n; ++i)
        p[i] += cf;
      return;
    }
    auto *p = reinterpret_cast<uint16_t *>(b.mutableBytes());
    if (b.dtype == DType::BF16)
      for (size_t i = 0; i < n; ++i)
        p[i] = num::floatToBFloat16(num::bfloat16ToFloat(p[i]) + cf);
    else
      for (size_t i = 0; i < n; ++i)
        p[i] = num::floatToHalf(num::halfToFloat(p[i]) + cf);
  }

  ::qopt::loaders::TensorReader &reader;
  bool cuda;
};

/// A record fed by output `result` of an item, whole or one shard of it.
struct Consumer {
  size_t record;
  unsigned result;
  ShardOp shard; // null: the whole output
};

/// One unit of work: a value (or a quantize op) with every parameter that
/// takes it whole or one of its shards, evaluated over rows [r0, r1) of its
/// input, so each tensor is computed once.
struct Item {
  Value input;                      // what is evaluated
  QuantizeOp quantize;              // null for a plain value
  SmallVector<Consumer> consumers;
  bool chunkable = true;
  int64_t totalRows = 1;
};

struct Chunk {
  size_t item;
  int64_t r0, r1;
  double signal = 0, noise = 0; // quantization error of this chunk
  uint64_t bytes = 0;            // input bytes it evaluates (for progress)
};

bool chainIsRowLocal(Value v) {
  Operation *def = v.getDefiningOp();
  if (!def || isa<SourceOp>(def))
    return true;
  if (isa<TransposeOp, DequantizeAwqOp>(def))
    return false;
  for (Value in : def->getOperands())
    if (!chainIsRowLocal(in))
      return false;
  return true;
}

/// The row offsets at which the inputs of an axis-0 concatenation start
/// (after the first), looking through element-wise ops.
void concatCuts(Value v, SmallVectorImpl<int64_t> &cuts) {
  Operation *def = v.getDefiningOp();
  if (isa_and_nonnull<CastOp, AddConstantOp>(def))
    return concatCuts(def->getOperand(0), cuts);
  auto c = dyn_cast_or_null<ConcatOp>(def);
  if (!c || c.getAxis() != 0)
    return;
  int64_t base = 0;
  for (Value in : c.getInputs()) {
    if (base > 0)
      cuts.push_back(base);
    base += cast<RankedTensorType>(in.getType()).getDimSize(0);
  }
}

/// Bytes of one row of a result, as written to the file.
uint64_t fileRowBytes(const tc::RecordSpec &r) {
  int64_t rows = r.shape.empty() ? 1 : r.shape[0];
  return rows ? r.fileBytes() / uint64_t(rows) : 0;
}

class Runner {
public:
  Runner(ArrayRef<ParamOp> params, tc::TensorCacheWriter &writer,
         const ExecutorOptions &opts)
      : writer(writer), opts(opts) {
    DenseMap<Value, size_t> itemOf;
    for (size_t i = 0; i < params.size(); ++i) {
      ParamOp p = params[i];
      Value v = p.getValue();
      ShardOp shard = v.getDefiningOp<ShardOp>();
      if (shard)
        v = shard.getInput();
      QuantizeOp q = v.getDefiningOp<QuantizeOp>();
      Value key = q ? q->getResult(0) : v;
      auto [it, inserted] = itemOf.try_emplace(key, items.size());
      if (inserted) {
        Item item;
        item.quantize = q;
        item.input = q ? q.getInput() : v;
        auto scheme = q ? dyn_cast<GroupQuantAttr>(q.getScheme()) : nullptr;
        bool rowwise = !q || isa<MnnQuantAttr>(q.getScheme()) ||
                       (scheme && scheme.getLayout() == Layout::NK);
        item.chunkable = chainIsRowLocal(item.input) && rowwise;
        items.push_back(item);
      }
      unsigned result = q ? cast<OpResult>(v).getResultNumber() : 0;
      items[it->second].consumers.push_back({i, result, shard});
    }
    for (auto [i, item] : llvm::enumerate(items)) {
      auto type = cast<RankedTensorType>(item.input.getType());
      item.totalRows = rowsOf(type);
      int64_t rows = item.totalRows;
      uint64_t rowBytes =
          rows ? uint64_t(type.getNumElements()) * 4 / uint64_t(rows) : 1;
      int64_t step = item.chunkable
                         ? std::max<int64_t>(
                               1, int64_t(opts.chunkBytes / std::max<uint64_t>(
                                                                rowBytes, 1)))
                         : std::max<int64_t>(rows, 1);
      uint64_t inRowBytes =
          rows ? uint64_t(type.getNumElements()) *
                     num::dtypeSize(dtypeOf(type.getElementType())) /
                     uint64_t(rows)
               : 0;
      if (rows == 0)
        chunks.push_back({i, 0, 0});
      // Chunks end at the boundaries of row-concatenated inputs (fused
      // q/k/v, gate/up), so each chunk's rows are one input's, read in place.
      SmallVector<int64_t> cuts;
      if (item.chunkable)
        concatCuts(item.input, cuts);
      cuts.push_back(rows);
      size_t nextCut = 0;
      for (int64_t r = 0; r < rows;) {
        while (cuts[nextCut] <= r)
          ++nextCut;
        int64_t end = std::min(r + step, cuts[nextCut]);
        chunks.push_back({i, r, end, 0, 0, uint64_t(end - r) * inRowBytes});
        r = end;
      }
    }
    chunksLeft.reset(new std::atomic<uint32_t>[items.size()]);
    for (size_t i = 0; i < items.size(); ++i)
      chunksLeft[i].store(0);
    for (const Chunk &c : chunks) {
      chunksLeft[c.item].fetch_add(1);
      totalBytes += c.bytes;
    }
  }

  /// Per quantized item, the error summed over its chunks in chunk order.
  void collectErrors(std::vector<TensorError> &out) {
    std::vector<TensorError> perItem(items.size());
    for (const Chunk &c : chunks) {
      perItem[c.item].signal += c.signal;
      perItem[c.item].noise += c.noise;
    }
    for (auto [i, item] : llvm::enumerate(items)) {
      if (!item.quantize)
        continue;
      perItem[i].name = weightName(item);
      out.push_back(perItem[i]);
    }
  }

  /// The name of the weight a quantize item replaced.
  std::string weightName(const Item &item) {
    StringRef n = writer.records()[item.consumers[0].record].name;
    n = n.take_front(n.find("_shard-"));
    return (n.rsplit('.').first + ".weight").str();
  }

  llvm::Error run(::qopt::loaders::TensorReader &reader) {
    unsigned n = opts.threads ? opts.threads
                              : std::max(1u, std::thread::hardware_concurrency());
    n = std::min<unsigned>(n, std::max<size_t>(chunks.size(), 1));
    std::vector<std::thread> workers;
    for (unsigned t = 1; t < n; ++t)
      workers.emplace_back([&] { work(reader); });
    work(reader);
    for (std::thread &w : workers)
      w.join();
    std::lock_guard<std::mutex> lock(errorMutex);
    if (!firstError.empty())
      return makeError(firstError);
    return llvm::Error::success();
  }

private:
  void work(::qopt::loaders::TensorReader &reader) {
    Evaluator eval(reader, opts.cuda);
    // Each worker's CUDA streams and buffers live as long as it works.
    struct CudaRelease {
      bool on;
      ~CudaRelease() {
        if (on)
          kern::releaseCudaThreadContext();
      }
    } release{opts.cuda};
    while (!failed.load()) {
      size_t c = next.fetch_add(1);
      if (c >= chunks.size())
        return;
      if (llvm::Error err = runChunk(eval, chunks[c])) {
        std::lock_guard<std::mutex> lock(errorMutex);
        if (firstError.empty())
          firstError = llvm::toString(std::move(err));
        failed.store(true);
        return;
      }
      reportProgress(chunks[c]);
    }
  }

  llvm::Error write(size_t record, int64_t r0, const void *data, size_t size) {
    const tc::RecordSpec &r = writer.records()[record];
    uint64_t offset = uint64_t(r0) * fileRowBytes(r);
    if (r.dtype != DType::F32)
      return writer.writeRecordPart(record, offset, data, size);
    // float32 records are stored in TVM's f32-to-bf16 encoding.
    size_t n = size / 4;
    Vec<uint16_t> enc(n);
    num::encodeF32AsBF16Tvm(static_cast<const float *>(data), enc.data(), n);
    return writer.writeRecordPart(record, offset, enc.data(), n * 2);
  }

  llvm::Error runChunk(Evaluator &eval, Chunk &c) {
    Item &item = items[c.item];
    using Clock = std::chrono::steady_clock;
    auto ns = [](Clock::time_point a, Clock::time_point b) {
      return uint64_t(
          std::chrono::duration_cast<std::chrono::nanoseconds>(b - a).count());
    };
    uint64_t read0 = eval.readNs;
    Clock::time_point t0 = Clock::now();
    auto in = eval.rows(item.input, c.r0, c.r1);
    if (!in)
      return withParam(item, in.takeError());
    Clock::time_point t1 = Clock::now();
    if (opts.times) {
      uint64_t read = eval.readNs - read0;
      opts.times->loadNs += read;
      opts.times->mapNs += ns(t0, t1) - std::min(read, ns(t0, t1));
    }
    if (!item.quantize)
      return withParam(item, emit(item, 0, *in, c.r0));
    llvm::Error err = quantize(item, *in, c.r0, c);
    if (opts.times)
      opts.times->quantNs += ns(t1, Clock::now());
    return withParam(item, std::move(err));
  }

  /// Writes rows [r0, r0 + rows) of output `result` of `item` to every
  /// record that takes it, whole or sharded.
  llvm::Error emit(Item &item, unsigned result, const Buf &out, int64_t r0) {
    for (const Consumer &c : item.consumers) {
      if (c.result != result)
        continue;
      llvm::Error err = c.shard ? emitShard(c, out, r0)
                                : write(c.record, r0, out.bytes(),
                                        out.byteSize());
      if (err)
        return err;
    }
    return llvm::Error::success();
  }

  /// MLC's ShardSingleDim: shard i holds block i of every segment.
  llvm::Error emitShard(const Consumer &c, const Buf &out, int64_t r0) {
    ShardOp sh = c.shard;
    int64_t dim = sh.getDim(), t = sh.getCount(), idx = sh.getIndex();
    SmallVector<int64_t> segs = sh.getSegmentLengths();
    size_t es = num::dtypeSize(out.dtype);
    int64_t rows = out.shape[0];
    if (dim == 0) {
      // Full row r lies in segment j at block (r - off_j) / seg_j.
      size_t rowBytes = rows ? out.byteSize() / size_t(rows) : 0;
      int64_t off = 0, local = 0;
      for (int64_t seg : segs) {
        int64_t lo = std::max(r0, off + idx * seg);
        int64_t hi = std::min(r0 + rows, off + (idx + 1) * seg);
        if (lo < hi)
          if (llvm::Error e = write(c.record, local + (lo - off - idx * seg),
                                    out.bytes() + (lo - r0) * rowBytes,
                                    size_t(hi - lo) * rowBytes))
            return e;
        off += seg * t;
        local += seg;
      }
      return llvm::Error::success();
    }
    int64_t outer = rows, inner = 1;
    for (int64_t d = 1; d < dim; ++d)
      outer *= out.shape[d];
    for (size_t d = dim + 1; d < out.shape.size(); ++d)
      inner *= out.shape[d];
    int64_t full = out.shape[dim], per = 0;
    for (int64_t seg : segs)
      per += seg;
    Vec<uint8_t> part(size_t(outer * per * inner) * es);
    uint8_t *dst = part.data();
    for (int64_t o = 0; o < outer; ++o) {
      int64_t off = 0;
      for (int64_t seg : segs) {
        size_t n = size_t(seg * inner) * es;
        std::memcpy(dst,
                    out.bytes() +
                        (size_t(o * full + off + idx * seg) * inner) * es,
                    n);
        dst += n;
        off += seg * t;
      }
    }
    return write(c.record, r0, part.data(), part.size());
  }

  llvm::Error withParam(Item &item, llvm::Error err) {
    if (!err)
      return err;
    const std::string &name = writer.records()[item.consumers[0].record].name;
    return makeError("parameter '" + name + "': " + llvm::toString(std::move(err)));
  }

  /// MNN-style: codes from float32 arithmetic; scales and mins stored in
  /// the expressed type (the accuracy report measures the stored values).
  llvm::Error quantizeMnn(Item &item, MnnQuantAttr m, Buf &in, int64_t r0,
                          Chunk &chunk) {
    num::MnnQuantSpec spec = mnnSpecOf(m);
    size_t n = size_t(in.numElements());
    int64_t k = in.shape.back();
    int64_t rows = k ? int64_t(n) / k : 0;
    int64_t bytes = num::mnnPackedRowBytes(spec, k);
    int64_t blocks = num::mnnBlocksPerRow(spec, k);
    Vec<float> w(n);
    num::convertElements(in.bytes(), in.dtype, w.data(), DType::F32, n);
    Vec<uint8_t> packed(size_t(rows * bytes));
    Vec<float> scale(size_t(rows * blocks)), zero(scale.size());
    num::mnnQuantizeRows(w.data(), rows, k, spec, packed.data(), scale.data(),
                         zero.data());
    auto store = [&](Vec<float> &v, unsigned result) {
      auto type = cast<RankedTensorType>(item.quantize.getResult(result).getType());
      Buf b{dtypeOf(type.getElementType()), rowShape(type, in.shape[0]), {}};
      b.data.resize(v.size() * num::dtypeSize(b.dtype));
      num::convertElements(v.data(), DType::F32, b.data.data(), b.dtype, v.size());
      // What a runtime will read back.
      num::convertElements(b.data.data(), b.dtype, v.data(), DType::F32, v.size());
      return b;
    };
    auto q = cast<RankedTensorType>(item.quantize.getResult(0).getType());
    Buf qBuf{DType::U8, rowShape(q, in.shape[0]), std::move(packed)};
    Buf sBuf = store(scale, 1);
    Buf zBuf = spec.asymmetric ? store(zero, 2) : Buf{};
    if (opts.accuracy) {
      Vec<float> deq(n);
      num::mnnDequantizeRows(qBuf.data.data(), scale.data(), zero.data(), rows,
                             k, spec, deq.data());
      accumulate(chunk, w.data(), deq.data(), n);
    }
    if (llvm::Error e = emit(item, 0, qBuf, r0))
      return e;
    if (llvm::Error e = emit(item, 1, sBuf, r0))
      return e;
    if (!spec.asymmetric)
      return llvm::Error::success();
    return emit(item, 2, zBuf, r0);
  }

  static void accumulate(Chunk &c, const float *w, const float *wq, size_t n) {
    double signal = 0, noise = 0;
    for (size_t i = 0; i < n; ++i) {
      double d = double(w[i]) - double(wq[i]);
      signal += double(w[i]) * double(w[i]);
      noise += d * d;
    }
    c.signal += signal;
    c.noise += noise;
  }

  llvm::Error quantize(Item &item, Buf &in, int64_t r0, Chunk &chunk) {
    Attribute scheme = item.quantize.getScheme();
    size_t n = size_t(in.numElements());
    if (auto g = dyn_cast<GroupQuantAttr>(scheme)) {
      num::GroupQuantSpec spec{int(g.getBits()), g.getGroupSize(),
                               floatFormat(in.dtype),
                               g.getRounding() == Rounding::NearestAway
                                   ? num::RoundingMode::NearestAway
                                   : num::RoundingMode::NearestEven};
      int64_t k = in.shape.back();
      int64_t rows = k ? int64_t(n) / k : 0;
      int64_t words = num::wordsPerRow(spec, k), groups = num::groupsPerRow(spec, k);
      size_t ses = num::dtypeSize(in.dtype);
      // The packed words go into a byte buffer that becomes the output.
      Vec<uint8_t> qw(size_t(rows * words) * 4);
      auto *words32 = reinterpret_cast<uint32_t *>(qw.data());
      Vec<uint8_t> sc(size_t(rows * groups) * ses);
      if (g.getOptimizeScales())
        num::groupQuantizeRowsOptimized(in.bytes(), rows, k, spec, words32,
                                        sc.data());
      else if (opts.cuda) {
        if (llvm::Error e = kern::groupQuantizeRowsCuda(in.bytes(), rows, k,
                                                        spec, words32,
                                                        sc.data()))
          return e;
      } else
        num::groupQuantizeRows(in.bytes(), rows, k, spec, words32, sc.data());
      if (opts.accuracy) {
        Vec<float> deq(n), orig(n);
        num::groupDequantizeRows(words32, sc.data(), rows, k, spec, deq.data());
        num::convertElements(in.bytes(), in.dtype, orig.data(), DType::F32, n);
        accumulate(chunk, orig.data(), deq.data(), n);
      }
      if (g.getLayout() == Layout::KN) {
        Vec<uint8_t> qwT(qw.size());
        Vec<uint8_t> scT(sc.size());
        num::transpose2D(qw.data(), rows, words, 4, qwT.data());
        num::transpose2D(sc.data(), rows, groups, ses, scT.data());
        qw.swap(qwT);
        sc.swap(scT);
      }
      Buf qwBuf{DType::U32, {}, {}}, scBuf{in.dtype, {}, {}};
      auto type0 = cast<RankedTensorType>(item.quantize.getResult(0).getType());
      auto type1 = cast<RankedTensorType>(item.quantize.getResult(1).getType());
      int64_t outRows = g.getLayout() == Layout::KN ? type0.getDimSize(0)
                                                     : in.shape[0];
      qwBuf.shape = rowShape(type0, outRows);
      scBuf.shape = rowShape(type1, g.getLayout() == Layout::KN
                                        ? type1.getDimSize(0)
                                        : in.shape[0]);
      qwBuf.data = std::move(qw);
      scBuf.data = std::move(sc);
      if (llvm::Error e = emit(item, 0, qwBuf, r0))
        return e;
      return emit(item, 1, scBuf, r0);
    }
    if (auto m = dyn_cast<MnnQuantAttr>(scheme))
      return quantizeMnn(item, m, in, r0, chunk);
    auto p = cast<PerTensorQuantAttr>(scheme);
    const auto *w = reinterpret_cast<const uint16_t *>(in.bytes());
    auto fp8Type = cast<RankedTensorType>(item.quantize.getResult(0).getType());
    Buf q{*fromMlirType(fp8Type.getElementType()), in.shape, {}};
    q.data.resize(n);
    auto scalar = [](float v) {
      Buf b{DType::F32, {1}, Vec<uint8_t>(4)};
      std::memcpy(b.data.data(), &v, 4);
      return b;
    };
    if (!p.getUseScale()) {
      if (opts.cuda) {
        if (llvm::Error e = kern::castHalfToFp8E5M2Cuda(w, n, q.data.data()))
          return e;
      } else {
        num::castHalfToFp8E5M2(w, n, q.data.data());
      }
      if (opts.accuracy) {
        Vec<float> deq(n), orig(n);
        for (size_t i = 0; i < n; ++i) {
          deq[i] = num::f8E5M2ToFloat(q.data[i]);
          orig[i] = num::halfToFloat(w[i]);
        }
        accumulate(chunk, orig.data(), deq.data(), n);
      }
      return emit(item, 0, q, 0);
    }
    float scale;
    if (opts.cuda) {
      if (llvm::Error e = kern::fp8E4M3PerTensorCuda(w, n, &scale, q.data.data()))
        return e;
    } else {
      scale = num::fp8E4M3PerTensorScale(w, n);
      num::quantizeFp8E4M3(w, n, scale, q.data.data());
    }
    if (opts.accuracy) {
      Vec<float> deq(n), orig(n);
      for (size_t i = 0; i < n; ++i) {
        deq[i] = num::f8E4M3FNToFloat(q.data[i]) * scale;
        orig[i] = num::halfToFloat(w[i]);
      }
      accumulate(chunk, orig.data(), deq.data(), n);
    }
    if (llvm::Error e = emit(item, 0, q, 0))
      return e;
    if (llvm::Error e = emit(item, 1, scalar(scale), 0))
      return e;
    if (!p.getCalibrationPlaceholder())
      return llvm::Error::success();
    // MLC leaves the calibration scale uninitialized; we write 1.0.
    return emit(item, 2, scalar(1.0f), 0);
  }

  /// "[ 42%] convert 120/291 tensors, 0.93/2.20 GB, 1.85 GB/s, ETA 0.7 s"
  /// (MB below a GB), at most five times a second, when opts.progress.
  void reportProgress(const Chunk &c) {
    size_t tensorsDone = 0;
    if (chunksLeft[c.item].fetch_sub(1) == 1)
      tensorsDone = ++itemsDone;
    else
      tensorsDone = itemsDone.load();
    uint64_t bytes = (bytesDone += c.bytes);
    if (!opts.progress || !opts.progressLine)
      return;
    std::lock_guard<std::mutex> lock(progressMutex);
    auto now = std::chrono::steady_clock::now();
    bool last = tensorsDone == items.size();
    if (!last && now - lastReport < std::chrono::milliseconds(200))
      return;
    lastReport = now;
    double secs = std::chrono::duration<double>(now - start).count();
    double frac = totalBytes ? double(bytes) / double(totalBytes) : 1.0;
    double rate = secs > 0 ? double(bytes) / secs : 0;
    double eta = rate > 0 ? double(totalBytes - bytes) / rate : 0;
    // Both sizes in the unit of the total.
    double unit = totalBytes >= 1e9 ? 1e9 : 1e6;
    std::string text;
    llvm::raw_string_ostream os(text);
    os << llvm::format("[%3.0f%%] convert %zu/%zu tensors, %.*f/%.*f %s, ",
                       frac * 100, tensorsDone, items.size(),
                       unit == 1e9 ? 2 : 1, double(bytes) / unit,
                       unit == 1e9 ? 2 : 1, double(totalBytes) / unit,
                       unit == 1e9 ? "GB" : "MB")
       << ProgressLine::rate(rate) << llvm::format(", ETA %.1f s", eta);
    opts.progressLine->draw(text);
  }

  tc::TensorCacheWriter &writer;
  const ExecutorOptions &opts;
  std::vector<Item> items;
  std::vector<Chunk> chunks;
  std::atomic<size_t> next{0}, itemsDone{0};
  std::atomic<uint64_t> bytesDone{0};
  uint64_t totalBytes = 0;
  std::unique_ptr<std::atomic<uint32_t>[]> chunksLeft; // per item
  std::atomic<bool> failed{false};
  std::mutex errorMutex, progressMutex;
  std::string firstError;
  std::chrono::steady_clock::time_point start = std::chrono::steady_clock::now();
  std::chrono::steady_clock::time_point lastReport = start;
};
} // namespace

llvm::Error mlir::qopt::weights::executeParams(
    ArrayRef<ParamOp> params, tc::TensorCacheWriter &writer,
    const ExecutorOptions &opts, std::vector<TensorError> *errors) {
  // Keep freed chunk buffers in the heap instead of returning them to the
  // kernel after every chunk (munmap + page faults on the next one).
  static std::once_flag mallocTuned;
  std::call_once(mallocTuned, [] {
    mallopt(M_MMAP_THRESHOLD, 256 << 20);
    mallopt(M_TRIM_THRESHOLD, 512 << 20);
  });
  ::qopt::loaders::TensorReader reader;
  Runner runner(params, writer, opts);
  if (llvm::Error err = runner.run(reader))
    return err;
  if (errors && opts.accuracy)
    runner.collectErrors(*errors);
  return llvm::Error::success();
}

llvm::Expected<std::vector<double>>
mlir::qopt::weights::evaluateMnnScales(QuantizeOp op) {
  auto m = dyn_cast<MnnQuantAttr>(op.getScheme());
  if (!m)
    return makeError("not an MNN-style quantize op");
  num::MnnQuantSpec spec = mnnSpecOf(m);
  ::qopt::loaders::TensorReader reader;
  Evaluator eval(reader, /*cuda=*/false);
  auto type = cast<RankedTensorType>(op.getInput().getType());
  auto in = eval.rows(op.getInput(), 0, rowsOf(type));
  if (!in)
    return in.takeError();
  size_t n = size_t(in->numElements());
  int64_t k = in->shape.back();
  int64_t rows = k ? int64_t(n) / k : 0;
  int64_t blocks = num::mnnBlocksPerRow(spec, k);
  Vec<float> w(n);
  num::convertElements(in->bytes(), in->dtype, w.data(), DType::F32, n);
  Vec<uint8_t> packed(size_t(rows * num::mnnPackedRowBytes(spec, k)));
  Vec<float> scale(size_t(rows * blocks)), zero(scale.size());
  num::mnnQuantizeRows(w.data(), rows, k, spec, packed.data(), scale.data(),
                       zero.data());
  // The values a runtime reads back: rounded to the expressed type, as
  // quantizeMnn stores them.
  auto scaleType = cast<RankedTensorType>(op.getResult(1).getType());
  DType stored = dtypeOf(scaleType.getElementType());
  Vec<uint8_t> bytes(scale.size() * num::dtypeSize(stored));
  num::convertElements(scale.data(), DType::F32, bytes.data(), stored,
                       scale.size());
  num::convertElements(bytes.data(), stored, scale.data(), DType::F32,
                       scale.size());
  return std::vector<double>(scale.begin(), scale.end());
}

double TensorError::relFrobenius() const {
  return signal > 0 ? std::sqrt(noise / signal) : 0.0;
}

double TensorError::sqnrDb() const {
  if (noise <= 0)
    return std::numeric_limits<double>::infinity();
  return 10.0 * std::log10(signal / noise);
}
