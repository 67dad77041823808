//===- Executor.cpp - Schedule parameter evaluation into a tensor cache -*- C++ -*-===//
//
// Items, chunks, threads and the writer glue. What a value is, and how its
// rows are computed, is the business of the ops (EvaluableOpInterface,
// RowSelectionOpInterface in WeightsInterfaces.td); this file names none.
//
//===----------------------------------------------------------------------===//

#include "dialects/Weights/Transforms/Executor.h"
#include "dialects/Weights/Transforms/Progress.h"
#include "dialects/Weights/Transforms/ChunkOrder.h"
#include "dialects/Weights/Transforms/Prefetch.h"
#include "dialects/Weights/Transforms/WeightRange.h"
#include "qopt/Kernels/Cuda.h"
#include "qopt/Loaders/TensorReader.h"
#include "qopt/Numerics/Convert.h"
#include "qopt/TensorCache/Md5.h"

#include "llvm/Support/Format.h"
#include "llvm/Support/raw_ostream.h"

#include <atomic>
#include <chrono>
#include <cmath>
#include <limits>
#include <mutex>
#include <optional>
#include <thread>

using namespace mlir;
using namespace mlir::qopt::weights;
namespace num = ::qopt::numerics;
namespace tc = ::qopt::tensorcache;

/// Whether `op` runs a quantization scheme (its time is "quantization" in
/// mlc_llm's time usage): it carries a QuantSchemeAttrInterface attribute.
static bool quantizes(Operation *op) {
  return llvm::any_of(op->getAttrs(), [](NamedAttribute a) {
    return isa<QuantSchemeAttrInterface>(a.getValue());
  });
}

namespace {
/// A record fed by result `result` of an item's op, whole or through a
/// selection (one shard of it).
struct Consumer {
  size_t record;
  unsigned result;
  RowSelectionOpInterface selection; // null: the whole result
};

/// One unit of work: an op with every parameter that takes one of its
/// results, whole or a selection of it, so each tensor is computed once.
struct Item {
  EvaluableOpInterface op;
  SmallVector<Consumer> consumers;
  bool chunkable = true;
  // Whether a row too large for one chunk may be cut into sub-rows (a
  // stacked expert's rows): a sub-row local chain, no selection.
  bool subRowChunkable = false;
  StringRef weight; // the parameter it was quantized from (quantized_from)
};

struct Chunk {
  size_t item;
  int64_t r0, r1;
  uint64_t bytes = 0;            // input bytes it evaluates (for progress)
  double signal = 0, noise = 0; // quantization error of this chunk
  bool measured = false;        // whether it measured one
  int64_t s0 = 0, s1 = 0;       // s1 > s0: sub-rows [s0, s1) of row r0
};

/// Elements and bytes of the widest row among an op's operands and results
/// (chunks are sized by it).
std::pair<uint64_t, uint64_t> widestRow(Operation *op) {
  uint64_t elems = 0, bytes = 0;
  auto visit = [&](Type t) {
    auto type = cast<RankedTensorType>(t);
    int64_t rows = getRowCount(type);
    if (rows == 0)
      return;
    uint64_t e = uint64_t(type.getNumElements()) / uint64_t(rows);
    elems = std::max(elems, e);
    if (auto dt = fromMlirType(type.getElementType()))
      bytes = std::max<uint64_t>(bytes, e * num::dtypeSize(*dt));
  };
  llvm::for_each(op->getResultTypes(), visit);
  llvm::for_each(op->getOperandTypes(), visit);
  return {elems, bytes};
}

/// Bytes of one row of a record, as written to the file.
uint64_t fileRowBytes(const tc::RecordSpec &r) {
  int64_t rows = r.shape.empty() ? 1 : r.shape[0];
  return rows ? r.fileBytes() / uint64_t(rows) : 0;
}

class Runner {
public:
  Runner(tc::TensorCacheWriter &writer, const ExecutorOptions &opts)
      : writer(writer), opts(opts),
        // Room for every worker's current and next op.
        preparedStates(std::make_shared<PreparedStateCache>(
            2 * size_t(opts.threads ? opts.threads
                                    : std::thread::hardware_concurrency()) +
            2)) {}

  /// Groups the parameters into items and cuts them into chunks; fails at
  /// the first op that cannot be evaluated.
  llvm::Error plan(ArrayRef<ParamOp> params) {
    DenseMap<Operation *, size_t> itemOf;
    for (size_t i = 0; i < params.size(); ++i) {
      ParamOp p = params[i];
      // No definition here (a weights.external_param): a record of another
      // part, which the serialize pass checked.
      if (!p)
        continue;
      Value v = p.getValue();
      auto selection = v.getDefiningOp<RowSelectionOpInterface>();
      if (selection)
        v = selection.getSelectedValue();
      if (llvm::Error e = checkEvaluable(v, p))
        return withParam(i, std::move(e));
      // Another part's record (--part): checked, but neither an item nor
      // chunks, so a part plans only its own (an eighth of Qwen3-30B-A3B:
      // 4,800 chunks instead of 38,563).
      if (!writer.wantsRecord(i))
        continue;
      auto op = v.getDefiningOp<EvaluableOpInterface>();
      auto [it, inserted] = itemOf.try_emplace(op, items.size());
      if (inserted)
        items.push_back({op, {}, isRowLocalChain(v),
                         isRowLocalChain(v) && isSubRowLocalChain(v),
                         p.getOriginName()});
      items[it->second].consumers.push_back(
          {i, cast<OpResult>(v).getResultNumber(), selection});
      // A selection takes whole rows.
      if (selection)
        items[it->second].subRowChunkable = false;
    }
    for (auto [i, item] : llvm::enumerate(items)) {
      int64_t rows = item.op.getRowCount();
      auto [rowElems, rowBytes] = widestRow(item.op);
      int64_t step = std::max<int64_t>(rows, 1);
      if (item.chunkable)
        step = std::max<int64_t>(
            1, int64_t(opts.chunkBytes / std::max<uint64_t>(rowElems * 4, 1)));
      if (rows == 0)
        chunks.push_back({i, 0, 0});
      // Chunks end where an op reads another operand (the inputs of fused
      // q/k/v, gate/up), so each chunk's rows are read in place.
      SmallVector<int64_t> cuts;
      if (item.chunkable)
        item.op.getRowCuts(cuts);
      cuts.push_back(rows);
      // A row larger than a chunk (a stacked expert): sub-row chunks, each
      // ending at the row's own cuts (its fused inputs).
      if (item.subRowChunkable && rowElems * 4 > opts.chunkBytes) {
        int64_t inner =
            cast<RankedTensorType>(item.op->getResult(0).getType())
                .getDimSize(1);
        uint64_t subElems = rowElems / uint64_t(std::max<int64_t>(inner, 1));
        int64_t subStep = std::max<int64_t>(
            1, int64_t(opts.chunkBytes / std::max<uint64_t>(subElems * 4, 1)));
        uint64_t subBytes = rowBytes / uint64_t(std::max<int64_t>(inner, 1));
        for (int64_t r = 0; r < rows; ++r) {
          SmallVector<int64_t> subCuts;
          item.op.getSubRowCuts(r, subCuts);
          subCuts.push_back(inner);
          size_t next = 0;
          for (int64_t s = 0; s < inner;) {
            while (subCuts[next] <= s)
              ++next;
            int64_t end = std::min(s + subStep, subCuts[next]);
            Chunk c{i, r, r + 1, uint64_t(end - s) * subBytes};
            c.s0 = s;
            c.s1 = end;
            chunks.push_back(c);
            s = end;
          }
        }
        continue;
      }
      size_t nextCut = 0;
      for (int64_t r = 0; r < rows;) {
        while (cuts[nextCut] <= r)
          ++nextCut;
        int64_t end = std::min(r + step, cuts[nextCut]);
        chunks.push_back({i, r, end, uint64_t(end - r) * rowBytes});
        r = end;
      }
    }
    // Held for the whole run: no doubling slack (an eighth of Qwen3-30B-A3B
    // plans 4,764 chunks).
    chunks.shrink_to_fit();
    order = runOrder();
    chunksLeft.reset(new std::atomic<uint32_t>[items.size()]);
    for (size_t i = 0; i < items.size(); ++i)
      chunksLeft[i].store(0);
    for (size_t c : order) {
      itemsInRun += chunksLeft[chunks[c].item].fetch_add(1) == 0;
      totalBytes += chunks[c].bytes;
    }
    return llvm::Error::success();
  }

  /// The range policy, built from every parameter (a source's target is
  /// the narrowest cast on any path to a record, whichever part writes it),
  /// then kept only for the sources the planned items read: an eighth of
  /// Qwen3-30B-A3B held the table of all 18,867 sources while it ran.
  void buildRangePolicy(ArrayRef<ParamOp> params) {
    range = WeightRangePolicy::build(params, opts.clampWeights);
    if (llvm::all_of(llvm::seq<size_t>(0, params.size()),
                     [&](size_t i) { return writer.wantsRecord(i); }))
      return;
    WeightRangePolicy kept;
    kept.clamp = range.clamp;
    llvm::DenseSet<Operation *> seen;
    SmallVector<Operation *> work;
    for (const Item &item : items)
      work.push_back(item.op);
    while (!work.empty()) {
      Operation *op = work.pop_back_val();
      if (!seen.insert(op).second)
        continue;
      if (auto it = range.targets.find(op); it != range.targets.end())
        kept.targets.insert(*it);
      for (Value operand : op->getOperands())
        if (Operation *def = operand.getDefiningOp())
          work.push_back(def);
    }
    range = std::move(kept);
  }

  /// The chunks to run, in the order to run them: several shards side by
  /// side (the writer hashes them together), none whose records all belong
  /// to another part.
  std::vector<size_t> runOrder() {
    const tc::ShardPlan &plan = writer.plan();
    std::vector<SmallVector<ChunkWrite, 2>> writes(chunks.size());
    for (size_t c = 0; c < chunks.size(); ++c) {
      const Chunk &chunk = chunks[c];
      for (const Consumer &con : items[chunk.item].consumers) {
        if (!writer.wantsRecord(con.record))
          continue;
        const tc::ShardPlan::Placement &p = plan.placements[con.record];
        if (p.shard >= plan.shardBytes.size())
          continue; // a record no shard holds (the writer rejects such plans)
        const tc::RecordSpec &spec = writer.records()[con.record];
        // Where writeRows puts the chunk's rows. A selection's rows land
        // elsewhere in its record: its start stands for them.
        uint64_t offset = 0, size = 0;
        if (chunk.s1 > chunk.s0) {
          uint64_t subRowBytes = fileRowBytes(spec) /
                                 uint64_t(std::max<int64_t>(spec.shape[1], 1));
          offset = uint64_t(chunk.r0) * fileRowBytes(spec) +
                   uint64_t(chunk.s0) * subRowBytes;
          size = uint64_t(chunk.s1 - chunk.s0) * subRowBytes;
        } else if (!con.selection) {
          offset = uint64_t(chunk.r0) * fileRowBytes(spec);
          size = uint64_t(chunk.r1 - chunk.r0) * fileRowBytes(spec);
        }
        writes[c].push_back({p.shard, p.byteOffset + offset, size});
      }
    }
    return orderChunksForHashing(writes, plan.shardBytes, tc::kMd5Lanes);
  }

  llvm::Error run(::qopt::loaders::TensorReader &reader) {
    unsigned n = opts.threads ? opts.threads
                              : std::max(1u, std::thread::hardware_concurrency());
    n = std::min<unsigned>(n, std::max<size_t>(order.size(), 1));
    numWorkers = n;
    std::vector<std::thread> workers;
    for (unsigned t = 1; t < n; ++t)
      workers.emplace_back([&] { work(reader); });
    work(reader);
    for (std::thread &w : workers)
      w.join();
    std::lock_guard<std::mutex> lock(errorMutex);
    if (!firstError)
      return llvm::Error::success();
    if (firstError->first)
      return llvm::make_error<EvaluationError>(*firstError->first,
                                               firstError->second);
    return llvm::createStringError(llvm::inconvertibleErrorCode(),
                                   firstError->second);
  }

  /// Per measured item, the error summed over its chunks in chunk order.
  void collectErrors(std::vector<TensorError> &out) {
    std::vector<TensorError> perItem(items.size());
    std::vector<bool> measured(items.size());
    for (const Chunk &c : chunks) {
      perItem[c.item].signal += c.signal;
      perItem[c.item].noise += c.noise;
      if (c.measured)
        measured[c.item] = true;
    }
    for (auto [i, item] : llvm::enumerate(items)) {
      if (!measured[i])
        continue;
      // The weight the item's first record was quantized from.
      perItem[i].name = item.weight.str();
      out.push_back(perItem[i]);
    }
  }

private:
  void work(::qopt::loaders::TensorReader &reader) {
    EvaluationOptions evalOpts{opts.cuda, opts.accuracy, opts.checkpointRoot};
    evalOpts.sharedResults = shared;
    evalOpts.calibrationFile = opts.calibrationFile;
    evalOpts.preparedStates = preparedStates;
    // Non-finite and out-of-range source weights (WeightRange.h).
    evalOpts.checkSourceRows = [this](Operation *s, int64_t r0,
                                      RowBuffer &b) {
      return checkWeightRange(range, s, r0, b);
    };
    // A consumer that finds its rows finite may stand for the check
    // (EvaluationContext::DeferredSourceChecks).
    evalOpts.sourceCheckFollowsFromFinite = [this](Operation *s,
                                                   ::qopt::numerics::DType t) {
      return range.followsFromFinite(s, t);
    };
    EvaluationContext ctx(reader, evalOpts);
    // Each worker's CUDA streams and buffers live as long as it works.
    struct CudaRelease {
      bool on;
      ~CudaRelease() {
        if (on)
          ::qopt::kernels::releaseCudaThreadContext();
      }
    } release{opts.cuda};
    while (!failed.load()) {
      size_t i = next.fetch_add(1);
      if (i >= order.size())
        return;
      size_t c = order[i];
      // Read ahead the chunk this worker will likely take next.
      if (size_t ahead = i + numWorkers; ahead < order.size()) {
        const Chunk &later = chunks[order[ahead]];
        // A row cut into sub-rows: read ahead with its first sub-row chunk.
        if (later.s0 == 0)
          prefetchChunk(items[later.item].op, later.r0, later.r1,
                        opts.checkpointRoot);
      }
      if (llvm::Error err = runChunk(ctx, chunks[c])) {
        std::lock_guard<std::mutex> lock(errorMutex);
        llvm::handleAllErrors(
            std::move(err),
            [&](const EvaluationError &e) {
              if (!firstError || i < firstErrorAt) {
                firstError.emplace(e.getLocation(), e.getMessage());
                firstErrorAt = i;
              }
            },
            [&](const llvm::ErrorInfoBase &e) {
              if (!firstError || i < firstErrorAt) {
                firstError.emplace(std::nullopt, e.message());
                firstErrorAt = i;
              }
            });
        failed.store(true);
        return;
      }
      reportProgress(chunks[c]);
    }
  }

  llvm::Error runChunk(EvaluationContext &ctx, Chunk &c) {
    Item &item = items[c.item];
    SmallVector<RowBuffer, 3> results;
    EvaluationContext::Times before = ctx.times;
    ctx.times.childNs = 0;
    auto started = std::chrono::steady_clock::now();
    BufferBytes::resetPeak();
    bool sub = c.s1 > c.s0;
    llvm::Error evaluated =
        sub ? item.op.evaluateSubRows(ctx, c.r0, c.s0, c.s1, results)
            : item.op.evaluateRows(ctx, c.r0, c.r1, results);
    if (opts.times) {
      // mlc_llm's "Time usage": loading, mapping, quantization.
      uint64_t total =
          uint64_t(std::chrono::duration_cast<std::chrono::nanoseconds>(
                       std::chrono::steady_clock::now() - started)
                       .count());
      uint64_t self = total - std::min(total, ctx.times.childNs);
      opts.times->loadNs += ctx.times.readNs - before.readNs;
      opts.times->mapNs += ctx.times.otherNs - before.otherNs;
      (quantizes(item.op.getOperation()) ? opts.times->quantNs
                                        : opts.times->mapNs) += self;
    }
    if (evaluated)
      return withParam(item.consumers[0].record, std::move(evaluated));
    std::tie(c.measured, c.signal, c.noise) = ctx.takeError();
    for (Consumer &consumer : item.consumers) {
      if (!writer.wantsRecord(consumer.record))
        continue;
      const RowBuffer &rows = results[consumer.result];
      const tc::RecordSpec &spec = writer.records()[consumer.record];
      auto write = [&](int64_t row, const uint8_t *data, size_t size) {
        return writeRows(consumer.record, uint64_t(row) * fileRowBytes(spec),
                         data, size);
      };
      llvm::Error e = llvm::Error::success();
      if (consumer.selection) {
        e = consumer.selection.selectRows(rows, c.r0, write);
      } else if (sub) {
        // Sub-rows [s0, s1) of row r0: the record is [rows, inner, ...].
        uint64_t subRowBytes =
            fileRowBytes(spec) / uint64_t(std::max<int64_t>(spec.shape[1], 1));
        e = writeRows(consumer.record,
                      uint64_t(c.r0) * fileRowBytes(spec) +
                          uint64_t(c.s0) * subRowBytes,
                      rows.bytes(), rows.byteSize());
      } else {
        e = write(c.r0, rows.bytes(), rows.byteSize());
      }
      if (e)
        return withParam(consumer.record, std::move(e));
    }
    results.clear();
    // The most evaluation buffers this worker held for the chunk.
    uint64_t held = uint64_t(std::max<int64_t>(BufferBytes::resetPeak(), 0));
    uint64_t seen = maxChunkBufferBytes.load();
    while (held > seen && !maxChunkBufferBytes.compare_exchange_weak(seen, held))
      ;
    return llvm::Error::success();
  }

public:
  /// Chunks planned, those that are sub-rows of a row, and the most
  /// evaluation buffer bytes one chunk held.
  ExecutorStats stats() const {
    ExecutorStats s;
    s.chunks = chunks.size();
    for (const Chunk &c : chunks)
      s.subRowChunks += c.s1 > c.s0;
    s.maxChunkBufferBytes = maxChunkBufferBytes.load();
    return s;
  }

private:
  /// Writes `size` bytes at byte `offset` of a record.
  llvm::Error writeRows(size_t record, uint64_t offset, const void *data,
                        size_t size) {
    const tc::RecordSpec &r = writer.records()[record];
    if (r.dtype != num::DType::F32)
      return writer.writeRecordPart(record, offset, data, size);
    // float32 records are stored in TVM's f32-to-bf16 encoding.
    size_t n = size / 4;
    UninitVector<uint16_t> enc(n);
    num::encodeF32AsBF16Tvm(static_cast<const float *>(data), enc.data(), n);
    return writer.writeRecordPart(record, offset, enc.data(), n * 2);
  }

  /// Prefixes "parameter '<name>': " to an error, keeping its location.
  llvm::Error withParam(size_t record, llvm::Error err) {
    std::string prefix =
        "parameter '" + writer.records()[record].name + "': ";
    return llvm::handleErrors(
        std::move(err),
        [&](std::unique_ptr<EvaluationError> e) -> llvm::Error {
          e->prepend(prefix);
          return llvm::Error(std::move(e));
        },
        [&](const llvm::ErrorInfoBase &e) -> llvm::Error {
          return llvm::createStringError(llvm::inconvertibleErrorCode(),
                                         prefix + e.message());
        });
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
    bool last = tensorsDone == itemsInRun;
    if (!last && now - lastReport < std::chrono::milliseconds(200))
      return;
    lastReport = now;
    double secs = std::chrono::duration<double>(now - start).count();
    double frac = totalBytes ? double(bytes) / double(totalBytes) : 1.0;
    double rate = secs > 0 ? double(bytes) / secs : 0;
    double eta = rate > 0 ? double(totalBytes - bytes) / rate : 0;
    // Both sizes in the unit of the total.
    bool gb = totalBytes >= 1e9;
    double unit = gb ? 1e9 : 1e6;
    std::string text;
    llvm::raw_string_ostream os(text);
    os << llvm::format("[%3.0f%%] convert %zu/%zu tensors, %.*f/%.*f %s, ",
                       frac * 100, tensorsDone, itemsInRun, gb ? 2 : 1,
                       double(bytes) / unit, gb ? 2 : 1,
                       double(totalBytes) / unit, gb ? "GB" : "MB")
       << ProgressLine::rate(rate) << llvm::format(", ETA %.1f s", eta);
    opts.progressLine->draw(text);
  }

  tc::TensorCacheWriter &writer;
  const ExecutorOptions &opts;
  WeightRangePolicy range;
  // Whole-tensor results computed once for all workers (awq_scales).
  std::shared_ptr<SharedResults> shared = std::make_shared<SharedResults>();
  std::shared_ptr<PreparedStateCache> preparedStates;
  std::vector<Item> items;
  std::vector<Chunk> chunks;
  std::vector<size_t> order; // indices into chunks
  unsigned numWorkers = 1;
  std::atomic<size_t> next{0}, itemsDone{0};
  std::atomic<uint64_t> bytesDone{0};
  std::atomic<uint64_t> maxChunkBufferBytes{0};
  uint64_t totalBytes = 0;
  size_t itemsInRun = 0; // items with chunks to run
  std::unique_ptr<std::atomic<uint32_t>[]> chunksLeft; // per item
  std::atomic<bool> failed{false};
  std::mutex errorMutex, progressMutex;
  /// The error of the failing chunk first in `order`, not the first to
  /// fail in time: chunks are taken in order, so when one fails every chunk
  /// before it has been taken and finishes; the one reported is the same for
  /// any thread count and timing.
  std::optional<std::pair<std::optional<Location>, std::string>> firstError;
  size_t firstErrorAt = 0;
  std::chrono::steady_clock::time_point start = std::chrono::steady_clock::now();
  std::chrono::steady_clock::time_point lastReport = start;
};
} // namespace

llvm::Error mlir::qopt::weights::executeParams(
    ArrayRef<ParamOp> params, tc::TensorCacheWriter &writer,
    const ExecutorOptions &opts, std::vector<TensorError> *errors) {
  Runner runner(writer, opts);
  if (llvm::Error err = runner.plan(params))
    return err;
  runner.buildRangePolicy(params);
  if (opts.beforeRun)
    opts.beforeRun();
  ::qopt::loaders::TensorReader reader;
  if (llvm::Error err = runner.run(reader))
    return err;
  // A source file that shrank under mapped rows (TensorReader.h).
  if (llvm::Error err = reader.takeChangedFileError())
    return err;
  if (errors && opts.accuracy)
    runner.collectErrors(*errors);
  if (opts.stats) {
    *opts.stats = runner.stats();
    const ::qopt::loaders::MappingCounters &m = reader.mappingCounters();
    opts.stats->inputMappings = m.mappings;
    opts.stats->inputMappingsInViews = m.viewed;
    opts.stats->inputMappingsInRanges = m.placed;
    // The ranges still held are unmapped with the reader, just below.
    reader.releaseMappingRanges();
    opts.stats->inputUnmappings = m.unmappings();
  }
  return llvm::Error::success();
}

double TensorError::relFrobenius() const {
  return signal > 0 ? std::sqrt(noise / signal) : 0.0;
}

double TensorError::sqnrDb() const {
  if (noise <= 0)
    return std::numeric_limits<double>::infinity();
  return 10.0 * std::log10(signal / noise);
}
