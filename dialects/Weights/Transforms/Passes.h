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

/// The passes of qopt-convert that run (its `stage` option).
enum class ConvertStage { All, Plan, Serialize };

/// Options of the whole conversion (`quant-opt convert`).
struct ConvertPipelineOptions
    : public PassPipelineOptions<ConvertPipelineOptions> {
  Option<std::string> source{*this, "source",
                             llvm::cl::desc("Checkpoint file or directory "
                                            "(default: the config's directory)")};
  Option<std::string> config{*this, "config",
                             llvm::cl::desc("config.json or the directory "
                                            "holding it (or a GGUF file)")};
  Option<std::string> sourceFormat{
      *this, "source-format",
      llvm::cl::desc("auto|huggingface-safetensor|huggingface-torch|gguf|awq"),
      llvm::cl::init("auto")};
  Option<std::string> modelType{
      *this, "model-type",
      llvm::cl::desc("Architecture, or auto to read it from config.json"),
      llvm::cl::init("auto")};
  Option<std::string> quantization{
      *this, "quantization",
      llvm::cl::desc("MLC quantization mode (q0f16, q4f16_1, ...)"),
      llvm::cl::init("q4f16_1")};
  Option<std::string> rounding{
      *this, "rounding",
      llvm::cl::desc("Ties of group quantization's round: even or away"),
      llvm::cl::init("even")};
  Option<bool> optimizeScales{
      *this, "optimize-scales",
      llvm::cl::desc("Group modes: search each group's scale for the least "
                     "error"),
      llvm::cl::init(false)};
  Option<std::string> graph{
      *this, "graph",
      llvm::cl::desc("Expected parameters: .mlir or MLC metadata .json"),
      llvm::cl::init("")};
  Option<std::string> output{*this, "output",
                             llvm::cl::desc("Output directory"),
                             llvm::cl::init("")};
  Option<int64_t> tensorParallelShards{
      *this, "tensor-parallel-shards",
      llvm::cl::desc("Pre-shard the parameters for N GPUs"), llvm::cl::init(1)};
  Option<unsigned> threads{*this, "threads",
                           llvm::cl::desc("Worker threads (0 = all cores)"),
                           llvm::cl::init(0)};
  Option<std::string> device{*this, "device",
                             llvm::cl::desc("Where casts and quantization "
                                            "run: cpu or cuda"),
                             llvm::cl::init("cpu")};
  Option<std::string> statsJson{
      *this, "stats-json",
      llvm::cl::desc("Also write the statistics as JSON to this file"),
      llvm::cl::init("")};
  Option<bool> printStats{
      *this, "print-stats",
      llvm::cl::desc("Log the statistics lines of mlc_llm convert_weight"),
      llvm::cl::init(false)};
  Option<bool> logParams{
      *this, "log-params",
      llvm::cl::desc("Log one line per parameter and the time and RAM usage, "
                     "as mlc_llm does"),
      llvm::cl::init(false)};
  Option<bool> dryRun{*this, "dry-run",
                      llvm::cl::desc("Print the plan; read no weights, write "
                                     "nothing"),
                      llvm::cl::init(false)};
  Option<bool> accuracy{*this, "accuracy",
                        llvm::cl::desc("Measure each quantized weight's "
                                       "error"),
                        llvm::cl::init(false)};
  Option<bool> clampWeights{
      *this, "clamp-weights",
      llvm::cl::desc("Clamp weights outside the target type's range instead "
                     "of failing"),
      llvm::cl::init(false)};
  Option<bool> progress{*this, "progress",
                        llvm::cl::desc("Show progress on stderr when it is a "
                                       "terminal"),
                        llvm::cl::init(false)};
  Option<std::string> part{
      *this, "part",
      llvm::cl::desc("I/N: write only the I-th of N slices of the shards plus "
                     "a part manifest"),
      llvm::cl::init("")};
  Option<uint64_t> shardCapBytes{
      *this, "shard-cap-bytes",
      llvm::cl::desc("Shard capacity in bytes (mlc_llm: 32 MiB)"),
      llvm::cl::init(33554432)};
  Option<std::string> loraAdapter{
      *this, "lora-adapter",
      llvm::cl::desc("PEFT LoRA adapter directory merged into the base "
                     "weights before quantization"),
      llvm::cl::init("")};
  Option<std::string> requantize{
      *this, "requantize",
      llvm::cl::desc("Quantizing weights already quantized in the source: "
                     "allow, warn or error"),
      llvm::cl::init("warn")};
  // Calibration-aware quantization (qopt-attach-calibration,
  // docs/calibration.md).
  Option<std::string> imatrix{
      *this, "imatrix",
      llvm::cl::desc("Importance-weighted scale search with the statistics "
                     "of this file (STATS or a llama.cpp imatrix)"),
      llvm::cl::init("")};
  Option<std::string> gptq{
      *this, "gptq",
      llvm::cl::desc("GPTQ error compensation with the Hessians of this "
                     "STATS file"),
      llvm::cl::init("")};
  Option<double> gptqDamp{
      *this, "gptq-damp",
      llvm::cl::desc("GPTQ dampening (fraction of the Hessian's mean "
                     "diagonal)"),
      llvm::cl::init(0.01)};
  Option<int64_t> gptqBlock{
      *this, "gptq-block",
      llvm::cl::desc("GPTQ block size (columns compensated at once)"),
      llvm::cl::init(128)};
  Option<bool> gptqActOrder{
      *this, "gptq-act-order",
      llvm::cl::desc("GPTQ: columns by descending Hessian diagonal, static "
                     "groups"),
      llvm::cl::init(false)};
  // AWQ (qopt-fold-awq-scales, docs/calibration.md): the STATS file; empty
  // means no activation-aware scaling.
  Option<std::string> awq{
      *this, "awq",
      llvm::cl::desc("Calibration statistics: fold AWQ's activation-aware "
                     "scales before quantization"),
      llvm::cl::init("")};
  Option<int64_t> awqRows{
      *this, "awq-rows",
      llvm::cl::desc("AWQ: rows of each weight the scale search measures "
                     "the error on, spread evenly (0: every row)"),
      llvm::cl::init(128)};
  // Memory of a part: qopt-serialize-tensor-cache's erase-other-parts.
  Option<bool> eraseOtherParts{
      *this, "erase-other-parts",
      llvm::cl::desc("With part: erase the other parts' parameters from the "
                     "IR once they are planned"),
      llvm::cl::init(false)};
  // Issue 16: planning and the run in separate MLIR contexts (quant-opt
  // convert --part; docs/design.md, "What is alive while the chunks run").
  Option<ConvertStage> stage{
      *this, "stage", llvm::cl::desc("Which passes of the pipeline run"),
      llvm::cl::init(ConvertStage::All),
      llvm::cl::values(
          clEnumValN(ConvertStage::All, "all", "the whole pipeline"),
          clEnumValN(ConvertStage::Plan, "plan",
                     "up to presharding, then (with part) qopt-select-part"),
          clEnumValN(ConvertStage::Serialize, "serialize",
                     "qopt-serialize-tensor-cache alone, on what plan "
                     "left"))};
};

/// import -> map -> quantize -> verify -> preshard -> serialize.
void buildConvertPipeline(OpPassManager &pm, const ConvertPipelineOptions &opts);

/// Registers `qopt-convert` as a named pipeline.
void registerWeightsPipelines();

} // namespace mlir::qopt::weights

#endif // QOPT_DIALECTS_WEIGHTS_TRANSFORMS_PASSES_H
