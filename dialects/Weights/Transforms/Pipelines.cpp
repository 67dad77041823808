//===- Pipelines.cpp - The conversion pipeline ---------------*- C++ -*-===//
//
// `qopt-convert`: import -> map names -> [merge LoRA] -> quantize -> check
// requantization -> verify -> preshard -> serialize, the pipeline
// `quant-opt convert` runs; its `stage` option splits it in two (plan, with
// part then qopt-select-part; serialize), which `quant-opt convert --part`
// runs in two MLIR contexts.
//
//===----------------------------------------------------------------------===//

#include "dialects/Weights/Transforms/Passes.h"

#include "mlir/Pass/PassManager.h"
#include "mlir/Pass/PassRegistry.h"

using namespace mlir;
using namespace mlir::qopt::weights;

static void buildPlanStage(OpPassManager &pm,
                           const ConvertPipelineOptions &opts);

void mlir::qopt::weights::buildConvertPipeline(
    OpPassManager &pm, const ConvertPipelineOptions &opts) {
  if (opts.stage != ConvertStage::Serialize)
    buildPlanStage(pm, opts);
  if (opts.stage == ConvertStage::Plan) {
    if (!opts.part.getValue().empty())
      pm.addPass(createSelectPart(
          SelectPartOptions{opts.part, opts.shardCapBytes}));
    return;
  }
  SerializeTensorCacheOptions serialize{
      opts.output, opts.threads, opts.statsJson, opts.printStats,
      opts.dryRun, opts.accuracy, opts.progress, opts.device, opts.part,
      opts.shardCapBytes, /*checkpointRoot=*/"", opts.clampWeights, opts.logParams};
  serialize.eraseOtherParts = opts.eraseOtherParts;
  pm.addPass(createSerializeTensorCache(serialize));
}

/// import -> ... -> preshard: everything before the serialize pass.
static void buildPlanStage(OpPassManager &pm,
                           const ConvertPipelineOptions &opts) {
  pm.addPass(createImportCheckpoint(ImportCheckpointOptions{
      opts.source, opts.config, opts.sourceFormat, opts.modelType}));
  // Missing source tensors are reported by the verify pass, with the other
  // problems and a note at the graph's declaration.
  pm.addPass(createMapParameters(MapParametersOptions{/*deferMissing=*/true}));
  if (!opts.loraAdapter.getValue().empty())
    pm.addPass(createMergeLora(MergeLoraOptions{opts.loraAdapter}));
  if (!opts.awq.getValue().empty())
    pm.addPass(createFoldAwqScales(FoldAwqScalesOptions{
        opts.awq, opts.quantization, opts.rounding, /*grid=*/20,
        /*useHessian=*/true, opts.awqRows}));
  pm.addPass(createQuantizeWeights(
      QuantizeWeightsOptions{opts.quantization, opts.rounding,
                             opts.optimizeScales}));
  if (!opts.imatrix.getValue().empty() || !opts.gptq.getValue().empty()) {
    // One statistics file per model: --imatrix and --gptq name the same.
    AttachCalibrationOptions cal;
    cal.file = opts.gptq.getValue().empty() ? opts.imatrix.getValue()
                                            : opts.gptq.getValue();
    cal.importance = !opts.imatrix.getValue().empty();
    cal.gptq = !opts.gptq.getValue().empty();
    cal.gptqDamp = opts.gptqDamp;
    cal.gptqBlock = opts.gptqBlock;
    cal.gptqActOrder = opts.gptqActOrder;
    pm.addPass(createAttachCalibration(cal));
  }
  pm.addPass(createCheckRequantize(CheckRequantizeOptions{opts.requantize}));
  pm.addPass(createVerifyParameters(VerifyParametersOptions{opts.graph}));
  if (opts.tensorParallelShards > 1)
    pm.addPass(createPreShardTP(PreShardTPOptions{opts.tensorParallelShards}));
}

void mlir::qopt::weights::registerWeightsPipelines() {
  PassPipelineRegistration<ConvertPipelineOptions>(
      "qopt-convert",
      "Convert a checkpoint to an MLC tensor cache (import, map, quantize, "
      "verify, serialize)",
      buildConvertPipeline);
}
