//===- Passes.h - Weights dialect passes --------------------*- C++ -*-===//

#ifndef QOPT_DIALECTS_WEIGHTS_TRANSFORMS_PASSES_H
#define QOPT_DIALECTS_WEIGHTS_TRANSFORMS_PASSES_H

#include "dialects/Weights/IR/WeightsOps.h"
#include "mlir/Dialect/Quant/IR/Quant.h"
#include "mlir/Pass/Pass.h"
#include "mlir/Pass/PassOptions.h"

#include <memory>
#include <string>

namespace mlir::qopt::weights {

#define GEN_PASS_DECL
#include "dialects/Weights/Transforms/Passes.h.inc"

#define GEN_PASS_REGISTRATION
#include "dialects/Weights/Transforms/Passes.h.inc"

/// The discardable module attribute qopt-serialize-tensor-cache sets when it
/// succeeds (also with dry-run): the statistics `quant-opt convert` prints,
/// as {param_size, param_bytes, total_params} i64 integers. The C API's
/// qoptConvert returns them.
inline constexpr llvm::StringLiteral kStatisticsAttrName = "weights.statistics";

/// Options of the whole conversion (`quant-opt convert`).
struct ConvertPipelineOptions
    : public PassPipelineOptions<ConvertPipelineOptions> {
  Option<std::string> source{*this, "source", llvm::cl::desc("Checkpoint path")};
  Option<std::string> config{*this, "config", llvm::cl::desc("config.json or its directory")};
  Option<std::string> sourceFormat{*this, "source-format", llvm::cl::init("auto")};
  Option<std::string> modelType{*this, "model-type", llvm::cl::init("auto")};
  Option<std::string> quantization{*this, "quantization", llvm::cl::init("q4f16_1")};
  Option<std::string> rounding{*this, "rounding", llvm::cl::init("even")};
  Option<bool> optimizeScales{*this, "optimize-scales", llvm::cl::init(false)};
  Option<std::string> graph{*this, "graph", llvm::cl::init("")};
  Option<std::string> output{*this, "output", llvm::cl::init("")};
  Option<int64_t> tensorParallelShards{*this, "tensor-parallel-shards", llvm::cl::init(1)};
  Option<unsigned> threads{*this, "threads", llvm::cl::init(0)};
  Option<std::string> device{*this, "device", llvm::cl::init("cpu")};
  Option<std::string> statsJson{*this, "stats-json", llvm::cl::init("")};
  Option<bool> printStats{*this, "print-stats", llvm::cl::init(false)};
  Option<bool> dryRun{*this, "dry-run", llvm::cl::init(false)};
  Option<bool> accuracy{*this, "accuracy", llvm::cl::init(false)};
  Option<bool> clampWeights{*this, "clamp-weights", llvm::cl::init(false)};
  Option<bool> progress{*this, "progress", llvm::cl::init(false)};
  Option<std::string> part{*this, "part", llvm::cl::init("")};
  Option<uint64_t> shardCapBytes{*this, "shard-cap-bytes",
                                 llvm::cl::init(33554432)};
  // AWQ (qopt-fold-awq-scales, docs/calibration.md): the STATS file; empty
  // means no activation-aware scaling.
  Option<std::string> awq{*this, "awq", llvm::cl::init("")};
};

/// import -> map -> quantize -> verify -> preshard -> serialize.
void buildConvertPipeline(OpPassManager &pm, const ConvertPipelineOptions &opts);

/// Registers `qopt-convert` as a named pipeline.
void registerWeightsPipelines();

} // namespace mlir::qopt::weights

#endif // QOPT_DIALECTS_WEIGHTS_TRANSFORMS_PASSES_H
