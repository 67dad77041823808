//===- Pipelines.cpp - The conversion pipeline ---------------*- C++ -*-===//
//
// `qopt-convert`: import -> map names -> [merge LoRA] -> quantize -> check
// requantization -> verify -> preshard -> serialize, the pipeline
// `quant-opt convert` runs.
//
//===----------------------------------------------------------------------===//

#include "dialects/Weights/Transforms/Passes.h"

#include "mlir/Pass/PassManager.h"
#include "mlir/Pass/PassRegistry.h"

using namespace mlir;
using namespace mlir::qopt::weights;

void mlir::qopt::weights::buildConvertPipeline(
    OpPassManager &pm, const ConvertPipelineOptions &opts) {
  pm.addPass(createImportCheckpoint(ImportCheckpointOptions{
      opts.source, opts.config, opts.sourceFormat, opts.modelType}));
  // Missing source tensors are reported by the verify pass, with the other
  // problems and a note at the graph's declaration.
  pm.addPass(createMapParameters(MapParametersOptions{/*deferMissing=*/true}));
  if (!opts.loraAdapter.getValue().empty())
    pm.addPass(createMergeLora(MergeLoraOptions{opts.loraAdapter}));
  pm.addPass(createQuantizeWeights(
      QuantizeWeightsOptions{opts.quantization, opts.rounding,
                             opts.optimizeScales}));
  pm.addPass(createCheckRequantize(CheckRequantizeOptions{opts.requantize}));
  pm.addPass(createVerifyParameters(VerifyParametersOptions{opts.graph}));
  if (opts.tensorParallelShards > 1)
    pm.addPass(createPreShardTP(PreShardTPOptions{opts.tensorParallelShards}));
  pm.addPass(createSerializeTensorCache(SerializeTensorCacheOptions{
      opts.output, opts.threads, opts.statsJson, opts.printStats,
      opts.dryRun, opts.accuracy, opts.progress, opts.device, opts.part,
      opts.shardCapBytes, /*checkpointRoot=*/"", opts.clampWeights, opts.logParams}));
}

void mlir::qopt::weights::registerWeightsPipelines() {
  PassPipelineRegistration<ConvertPipelineOptions>(
      "qopt-convert",
      "Convert a checkpoint to an MLC tensor cache (import, map, quantize, "
      "verify, serialize)",
      buildConvertPipeline);
}
