//===- SerializeTensorCache.cpp - Stream parameters to a tensor cache -*- C++ -*-===//
//
// Plans the records (names, shapes, dtypes, shards) from the IR alone, then
// evaluates each parameter's definition chain in row chunks -- read source
// rows, concatenate, cast, quantize -- on a pool of workers, and writes every
// chunk straight to its planned place in the staged shard files. Memory is
// bounded by (threads x chunk), not by the model. The tensor cache appears
// only when everything succeeded.
//
//===----------------------------------------------------------------------===//

#include "dialects/Weights/Transforms/Executor.h"
#include "dialects/Weights/Transforms/Passes.h"
#include "dialects/Weights/Transforms/Progress.h"
#include "dialects/Weights/Transforms/Records.h"
#include "dialects/Weights/Transforms/SerializeLog.h"
#include "dialects/Weights/Transforms/SerializeSegments.h"
#include "dialects/Weights/Transforms/Utils.h"
#include "qopt/Kernels/Cuda.h"
#include "qopt/TensorCache/TensorCache.h"

#include "mlir/IR/Builders.h"
#include "mlir/IR/BuiltinOps.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/Format.h"
#include "llvm/Support/Process.h"

#include <unistd.h>
#include "llvm/Support/raw_ostream.h"

#include <chrono>
#include <cmath>
#include <sys/resource.h>
#if defined(__GLIBC__)
#include <malloc.h>
#endif

namespace mlir::qopt::weights {
#define GEN_PASS_DEF_SERIALIZETENSORCACHE
#include "dialects/Weights/Transforms/Passes.h.inc"
} // namespace mlir::qopt::weights

using namespace mlir;
using namespace mlir::qopt::weights;
namespace tc = ::qopt::tensorcache;
using ::qopt::numerics::DType;

/// Total parameters for the statistics: what the map pass counted, else the
/// elements of every source tensor.
static uint64_t sourceParamCount(ModelOp model) {
  if (auto n = model.getSourceParams())
    return *n;
  uint64_t total = 0;
  model.walk([&](SourceOp s) {
    total += cast<RankedTensorType>(s.getType()).getNumElements();
  });
  return total;
}

/// Records the statistics (kStatisticsAttrName) on the op the pass runs on:
/// the module, or the model when the pass is nested under it.
static void recordStatistics(Operation *module, const tc::Statistics &stats) {
  Builder b(module->getContext());
  module->setAttr(
      kStatisticsAttrName,
      b.getDictionaryAttr(
          {b.getNamedAttr("param_size", b.getI64IntegerAttr(stats.paramSize)),
           b.getNamedAttr("param_bytes",
                          b.getI64IntegerAttr(int64_t(stats.paramBytes))),
           b.getNamedAttr("total_params",
                          b.getI64IntegerAttr(int64_t(stats.totalParams)))}));
}

/// Erases the parameters of `params` whose record `drop` selects, then every
/// op only they used. Their entries in `params` become null.
static void eraseParams(MutableArrayRef<ParamOp> params,
                        llvm::function_ref<bool(size_t)> drop) {
  SmallVector<Operation *> dropped;
  for (size_t i = 0; i < params.size(); ++i)
    if (params[i] && drop(i)) {
      dropped.push_back(params[i]);
      params[i] = ParamOp();
    }
  eraseWithUnusedDefinitions(dropped);
}

/// Returns the heap's free pages to the system. `quant-opt` raises glibc's
/// trim threshold so that the executor's freed chunk buffers stay in the
/// heap (docs/design.md, "Embedding"); the memory planning freed (the
/// checkpoint headers' records, the mapping's tables, the range policy's
/// walk, another part's IR) would then stay resident through the whole run,
/// under the executor's buffers and mappings. Trimmed once, before the
/// workers start, it is not.
static void returnFreedHeap() {
#if defined(__GLIBC__)
  malloc_trim(0);
#endif
}

std::unique_ptr<Pass> mlir::qopt::weights::createSerializeTensorCache(
    const SerializeTensorCacheOptions &options, SerializeSegments *segments);

namespace {
/// The executor's workers may unique types and attributes (an evaluation
/// builds the tensor types it needs), and the context's uniquers lock only
/// with multithreading enabled. A context that ran the planning without it
/// (quant-opt convert: its passes run nothing on MLIR's threads, and
/// multithreading would enter every uniqued name and location in a
/// thread-local cache too) has it while the workers run, and not after.
struct MultithreadingForWorkers {
  MLIRContext *ctx;
  bool enabled;
  explicit MultithreadingForWorkers(MLIRContext *ctx)
      : ctx(ctx), enabled(!ctx->isMultithreadingEnabled()) {
    if (enabled)
      ctx->enableMultithreading();
  }
  ~MultithreadingForWorkers() {
    if (enabled)
      ctx->disableMultithreading();
  }
};

/// The --stats-json file, opened before the conversion without truncating
/// it; a file this run created is removed again unless keep() is called.
struct StatsFile {
  int fd = -1;
  std::string path;
  bool created = false, kept = false;

  LogicalResult open(ModelOp model, llvm::StringRef p) {
    path = p.str();
    created = !llvm::sys::fs::exists(path);
    std::error_code ec = llvm::sys::fs::openFileForWrite(
        path, fd, llvm::sys::fs::CD_OpenAlways);
    if (ec)
      return model.emitError("cannot write statistics to '")
             << path << "': " << ec.message();
    return success();
  }
  void keep() { kept = true; }
  ~StatsFile() {
    if (fd >= 0)
      ::close(fd);
    if (created && !kept)
      llvm::sys::fs::remove(path);
  }
};

using namespace serializelog;

struct SerializeTensorCachePass
    : public ::mlir::qopt::weights::impl::SerializeTensorCacheBase<SerializeTensorCachePass> {
  using Base::Base;
  SerializeTensorCachePass(const SerializeTensorCacheOptions &options,
                           SerializeSegments *segments)
      : Base(options), segments(segments) {}

  /// One segment of a conversion run in several (SerializeSegments.h).
  SerializeSegments *segments = nullptr;

  void runOnOperation() override {
    Operation *op = getOperation();
    SmallVector<ModelOp> models = getModels(op);
    if (models.size() != 1) {
      op->emitError("expected exactly one weights.model to serialize, found ")
          << models.size();
      return signalPassFailure();
    }
    ModelOp model = models.front();
    if (!dryRun && outputDir.getValue().empty()) {
      model.emitError("qopt-serialize-tensor-cache needs 'output-dir'");
      return signalPassFailure();
    }
    if (failed(checkAllBuilt(model)))
      return signalPassFailure();

    // Records, in emission order; a weights.external_param has no
    // definition here (another part writes it): its entry in params is null.
    std::vector<tc::RecordSpec> records;
    std::vector<Operation *> recordOps;
    if (failed(collectRecords(model, records, recordOps)))
      return signalPassFailure();
    std::vector<ParamOp> params;
    for (Operation *o : recordOps)
      params.push_back(dyn_cast<ParamOp>(o));

    tc::Statistics stats = tc::Statistics::fromRecords(records);
    stats.totalParams = sourceParamCount(model);

    std::optional<tc::PartSpec> partSpec;
    if (!part.getValue().empty()) {
      partSpec = parsePartSpec(part.getValue());
      if (!partSpec) {
        emitInvalidPart(model, part.getValue());
        return signalPassFailure();
      }
    }
    if (shardCapBytes == 0) {
      model.emitError("shard capacity must be positive");
      return signalPassFailure();
    }
    if (segments && partSpec) {
      model.emitError("a segment of a conversion cannot be a part");
      return signalPassFailure();
    }
    // A segment's external records are the other segments'.
    if (!segments &&
        failed(checkExternalRecords(records, recordOps, partSpec)))
      return signalPassFailure();

    if (dryRun) {
      printPlan(model, records, stats);
      if (!statsJson.getValue().empty() &&
          failed(writeStatsJson(model, stats, {})))
        return signalPassFailure();
      recordStatistics(op, stats);
      return;
    }

    // Device, writer and executor errors name the device, the output or
    // the checkpoint file themselves.
    Location unknown = UnknownLoc::get(&getContext());
    if (device != "cpu" && device != "cuda") {
      emitError(unknown, "unknown device '") << device << "'; valid: cpu, cuda";
      return signalPassFailure();
    }
    std::string why;
    if (device == "cuda" && !::qopt::kernels::cudaDeviceAvailable(&why)) {
      emitError(unknown, "--device cuda: ") << why;
      return signalPassFailure();
    }
    // --stats-json is opened (not truncated) before anything is converted,
    // so that an unwritable path fails before the cache is committed.
    StatsFile statsFile;
    if (!statsJson.getValue().empty() &&
        failed(statsFile.open(model, statsJson.getValue())))
      return signalPassFailure();
    // A segment writes into the writer of the first one, whose plan its
    // own must be (each segment planned the model again).
    std::unique_ptr<tc::TensorCacheWriter> ownWriter;
    std::unique_ptr<tc::TensorCacheWriter> &writer =
        segments ? segments->writer : ownWriter;
    if (writer && !sameRecords(records, writer->records())) {
      model.emitError("the records of this segment differ from those the "
                      "first segment planned (did the checkpoint change?)");
      return signalPassFailure();
    }
    if (!writer) {
      auto made =
          partSpec ? tc::TensorCacheWriter::createPart(outputDir.getValue(),
                                                       records, *partSpec,
                                                       shardCapBytes)
                   : tc::TensorCacheWriter::create(outputDir.getValue(),
                                                   records, shardCapBytes);
      if (!made) {
        emitError(unknown, llvm::toString(made.takeError()));
        return signalPassFailure();
      }
      writer = std::move(*made);
    }
    ProgressLine line(progress);
    ExecutorTimes times;
    ExecutorOptions opts;
    opts.threads = threads;
    opts.accuracy = accuracy;
    opts.cuda = device == "cuda";
    opts.checkpointRoot = checkpointRoot.getValue();
    opts.calibrationFile = calibrationFile.getValue();
    opts.clampWeights = clampWeights;
    opts.progress = line.isEnabled();
    opts.progressLine = &line;
    opts.times = segments ? &segments->times : &times;
    opts.chunkBytes = std::max<uint64_t>(chunkBytes, 1);
    ExecutorStats execStats;
    opts.stats = &execStats;
    // Planned and checked: another part's IR is not read again.
    size_t opsAlive = 0;
    bool execStatsWanted = std::getenv("QOPT_EXEC_STATS");
    opts.beforeRun = [&] {
      if (partSpec && eraseOtherParts)
        eraseParams(params,
                    [&](size_t i) { return !writer->wantsRecord(i); });
      returnFreedHeap();
      if (execStatsWanted)
        model.walk([&](Operation *o) { opsAlive += o != model; });
    };
    std::vector<TensorError> errors;
    std::optional<MultithreadingForWorkers> multithreading(&getContext());
    llvm::Error executed = executeParams(params, *writer, opts, &errors);
    multithreading.reset();
    if (llvm::Error err = std::move(executed)) {
      line.clear();
      // Evaluation errors are located at the op that failed.
      llvm::handleAllErrors(
          std::move(err),
          [&](const EvaluationError &e) {
            emitError(e.getLocation()) << e.getMessage();
          },
          [&](const llvm::ErrorInfoBase &e) {
            emitError(unknown) << e.message();
          });
      return signalPassFailure();
    }
    if (std::getenv("QOPT_EXEC_STATS"))
      llvm::errs() << "executor: " << execStats.chunks << " chunks ("
                   << execStats.subRowChunks << " of sub-rows), at most "
                   << execStats.maxChunkBufferBytes
                   << " buffer bytes held for one chunk; input rows: "
                   << execStats.inputMappings << " mappings ("
                   << execStats.inputMappingsInViews
                   << " views of mapped files, "
                   << execStats.inputMappingsInRanges
                   << " in the workers' ranges), "
                   << execStats.inputUnmappings
                   << " unmappings or page drops\n";
    if (execStatsWanted)
      llvm::errs() << "executor: " << opsAlive
                   << " ops in the model while the chunks ran\n";
    std::vector<std::string> ownLines;
    llvm::StringSet<> ownLogged;
    if (logParams)
      appendParamLines(params, segments ? segments->paramLines : ownLines,
                       segments ? segments->loggedParams : ownLogged);
    if (segments) {
      // Emission order: segments are consecutive runs of records. A weight
      // whose records two segments write (q_weight in one, q_scale in the
      // next) is evaluated, and measured alike, in both: counted once.
      for (TensorError &e : errors)
        if (segments->measuredWeights.insert(e.name).second)
          segments->errors.push_back(std::move(e));
      if (!segments->commit)
        return;
      errors = std::move(segments->errors);
    }
    llvm::Expected<tc::Metadata> meta = stats.metadata();
    if (!meta) {
      model.emitError(llvm::toString(meta.takeError()));
      return signalPassFailure();
    }
    if (partSpec) {
      line.clear();
      // What every part must agree on besides the records and the plan.
      std::vector<std::pair<std::string, std::string>> identity = {
          {"model", model.getSymName().str()},
          {"architecture", model.getArch().str()},
          {"quantization", model.getQuantization()
                               ? model.getQuantization()->str()
                               : std::string("none")}};
      if (llvm::Error err =
              writer->commitPart(*meta, stats.totalParams, identity)) {
        emitError(unknown, llvm::toString(std::move(err)));
        return signalPassFailure();
      }
      if (std::getenv("QOPT_HASH_STATS"))
        printHashStats(writer->hashStats());
      if (printStats)
        printPartSummary(*writer, *partSpec);
    } else {
      {
        tc::ShardPlan plan = tc::planShards(records, shardCapBytes);
        uint64_t fileBytes = 0;
        for (uint64_t b : plan.shardBytes)
          fileBytes += b;
        line.draw("[100%] md5 + commit: " +
                  std::to_string(plan.shardBytes.size()) + " shard file" +
                  (plan.shardBytes.size() == 1 ? "" : "s") + ", " +
                  ProgressLine::bytes(double(fileBytes)));
      }
      llvm::Error committed = writer->commit(*meta);
      line.clear();
      if (committed) {
        emitError(unknown, llvm::toString(std::move(committed)));
        return signalPassFailure();
      }
      if (std::getenv("QOPT_HASH_STATS"))
        printHashStats(writer->hashStats());
      if (logParams) {
        uint64_t sourceBytes = 0;
        bool gguf = false;
        if (segments) {
          sourceBytes = segments->sourceBytes;
          gguf = segments->gguf;
        } else {
          summarizeSources(model, sourceBytes, gguf);
        }
        for (const std::string &l : segments ? segments->paramLines : ownLines)
          llvm::errs() << l;
        printUsage(segments ? segments->times : times, sourceBytes, gguf);
      }
      if (printStats) {
        printStatistics(llvm::errs(), stats,
                        "Saved to directory: " + bold(outputDir.getValue()));
        if (accuracy)
          printAccuracy(errors);
      }
    }
    if (!statsJson.getValue().empty())
      if (failed(writeStatsJson(model, stats, errors, &statsFile)))
        return signalPassFailure();
    statsFile.keep();
    recordStatistics(op, stats);
  }

  static bool sameRecords(const std::vector<tc::RecordSpec> &a,
                          const std::vector<tc::RecordSpec> &b) {
    return llvm::equal(a, b, [](const tc::RecordSpec &x,
                                const tc::RecordSpec &y) {
      return x.name == y.name && x.shape == y.shape && x.dtype == y.dtype;
    });
  }

  /// A weights.external_param is a record another part writes: only a
  /// part whose shards do not hold it serializes the IR (the dry run's
  /// plan needs no definition).
  LogicalResult checkExternalRecords(const std::vector<tc::RecordSpec> &records,
                                     ArrayRef<Operation *> ops,
                                     std::optional<tc::PartSpec> spec) {
    if (dryRun || llvm::none_of(ops, llvm::IsaPred<ExternalParamOp>))
      return success();
    std::vector<bool> in;
    if (spec)
      in = recordsInPart(records, *spec, shardCapBytes);
    for (size_t i = 0; i < ops.size(); ++i) {
      if (!isa<ExternalParamOp>(ops[i]))
        continue;
      if (!spec)
        return ops[i]->emitOpError("record '")
               << records[i].name
               << "' has no definition: only a part that does not write it "
                  "can be serialized (part=I/N)";
      if (in[i])
        return ops[i]->emitOpError("record '")
               << records[i].name << "' has no definition, but part "
               << spec->index << " of " << spec->count
               << " writes its shard";
    }
    return success();
  }

  void printPartSummary(const tc::TensorCacheWriter &writer,
                        tc::PartSpec spec) {
    const tc::ShardPlan &plan = writer.plan();
    std::vector<uint32_t> owner =
        tc::assignShardsToParts(plan.shardBytes, spec.count);
    size_t shards = 0;
    uint64_t bytes = 0;
    for (size_t k = 0; k < owner.size(); ++k)
      if (owner[k] == spec.index - 1) {
        ++shards;
        bytes += plan.shardBytes[k];
      }
    llvm::outs() << "Part " << spec.index << " of " << spec.count << ": "
                 << shards << " of " << plan.shardBytes.size()
                 << " shard(s), " << bytes << " bytes, written to "
                 << outputDir.getValue() << "\n"
                 << "Manifest: "
                 << tc::partManifestPath(outputDir.getValue(), spec) << "\n";
  }

  /// The statistics JSON; with accuracy, an "Accuracy" object is added:
  /// {"RelativeFrobenius", "SQNRdB", "Tensors": [{"name", "RelativeFrobenius",
  /// "SQNRdB"}, ...]} in emission order.
  LogicalResult writeStatsJson(ModelOp model, const tc::Statistics &stats,
                               const std::vector<TensorError> &errors,
                               StatsFile *file = nullptr) {
    std::string text = tc::renderStatisticsJson(stats);
    if (accuracy && !dryRun && !text.empty() && text.back() == '}') {
      // Same layout as the rest: Python json.dumps separators and reprs.
      auto number = [](double v) {
        return std::isfinite(v) ? tc::pythonFloatRepr(v) : std::string("null");
      };
      TensorError all = total(errors);
      std::string acc = "{\"RelativeFrobenius\": " + number(all.relFrobenius()) +
                        ", \"SQNRdB\": " + number(all.sqnrDb()) +
                        ", \"Tensors\": [";
      for (size_t i = 0; i < errors.size(); ++i)
        acc += (i ? ", " : "") + std::string("{\"name\": ") +
               tc::pythonJsonString(errors[i].name) +
               ", \"RelativeFrobenius\": " + number(errors[i].relFrobenius()) +
               ", \"SQNRdB\": " + number(errors[i].sqnrDb()) + "}";
      text.pop_back();
      text += ", \"Accuracy\": " + acc + "]}}";
    }
    if (file && file->fd >= 0) {
      (void)::ftruncate(file->fd, 0); // Fails harmlessly on a pipe or tty.
      llvm::raw_fd_ostream os(file->fd, /*shouldClose=*/false);
      os << text;
      os.flush();
      if (os.has_error()) {
        std::error_code ec = os.error();
        os.clear_error();
        return model.emitError("cannot write statistics to '")
               << file->path << "': " << ec.message();
      }
      return success();
    }
    std::error_code ec;
    llvm::raw_fd_ostream os(statsJson.getValue(), ec);
    if (ec)
      return model.emitError("cannot write statistics to '")
             << statsJson.getValue() << "': " << ec.message();
    os << text;
    return success();
  }

  void printPlan(ModelOp model, const std::vector<tc::RecordSpec> &records,
                 const tc::Statistics &stats) {
    tc::ShardPlan plan = tc::planShards(records, shardCapBytes);
    llvm::raw_ostream &os = llvm::outs();
    uint64_t fileBytes = 0;
    for (uint64_t b : plan.shardBytes)
      fileBytes += b;
    os << "Dry run: " << records.size() << " parameters, "
       << plan.shardBytes.size() << " shard(s), " << fileBytes
       << " bytes of shard files";
    if (model.getQuantization())
      os << ", quantization " << *model.getQuantization();
    os << "\n";
    for (auto [i, r] : llvm::enumerate(records)) {
      os << "  params_shard_" << plan.placements[i].shard << ".bin @"
         << plan.placements[i].byteOffset << "  " << r.name << "  [";
      for (size_t d = 0; d < r.shape.size(); ++d)
        os << (d ? ", " : "") << r.shape[d];
      os << "] " << ::qopt::numerics::tvmName(r.dtype) << "  "
         << r.fileBytes() << " bytes\n";
    }
    printStatistics(os, stats, "");
  }
};
} // namespace

std::unique_ptr<Pass> mlir::qopt::weights::createSerializeTensorCache(
    const SerializeTensorCacheOptions &options, SerializeSegments *segments) {
  return std::make_unique<SerializeTensorCachePass>(options, segments);
}
