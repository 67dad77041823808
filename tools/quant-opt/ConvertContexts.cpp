//===- ConvertContexts.cpp - The MLIR contexts of a conversion -*- C++ -*-===//
//
// `quant-opt convert` plans in one MLIR context and converts in another, so
// that what planning uniqued for the whole checkpoint (a name and a location
// per tensor, never freed while a context lives) is not held while the
// chunks run: a part (--part) moves its IR to a fresh context as bytecode; a
// whole conversion runs as segments of consecutive records, each planned
// and serialized in contexts of its own (docs/design.md, "What is alive
// while the chunks run").
//
//===----------------------------------------------------------------------===//

#include "ConvertContexts.h"
#include "ConvertLog.h"
#include "dialects/Weights/Transforms/SerializeSegments.h"

#include "mlir/Bytecode/BytecodeWriter.h"
#include "mlir/IR/Diagnostics.h"
#include "mlir/Parser/Parser.h"
#include "mlir/Pass/PassManager.h"

using namespace mlir;
namespace weights = mlir::qopt::weights;

namespace qopt {

/// The context a conversion runs in. Without MLIR's multithreading: nothing
/// in the conversion's passes runs on MLIR's threads, and with it every
/// uniqued name and location (one of each per checkpoint tensor) is entered
/// in a thread-local cache too (1.3 MB for Qwen3-30B-A3B's 18,867 tensors,
/// held to the end). The serialize pass enables it while its workers run
/// (they unique types). (Threading::DISABLED at construction leaves the
/// uniquers' own switch on: disableMultithreading() sets both.)
std::unique_ptr<MLIRContext> makeContext(const DialectRegistry &registry) {
  auto ctx = std::make_unique<MLIRContext>(registry);
  ctx->disableMultithreading();
  ctx->loadAllAvailableDialects();
  ctx->printOpOnDiagnostic(false);
  ctx->getDiagEngine().registerHandler(::qopt::printConvertDiagnostic);
  return ctx;
}

/// Moves `module` into a new context as bytecode and drops the context it
/// was in, with everything that context uniqued (for a plan of the whole
/// checkpoint, a name and a location per tensor: never freed while it
/// lives). Bytecode keeps the locations, so diagnostics name the checkpoint
/// file and tensor as in one context. Null (diagnosed) on failure.
static OwningOpRef<ModuleOp>
moveToFreshContext(OwningOpRef<ModuleOp> &module,
                   std::unique_ptr<MLIRContext> &ctx,
                   const DialectRegistry &registry) {
  std::string bytecode;
  {
    llvm::raw_string_ostream os(bytecode);
    if (failed(writeBytecodeToFile(*module, os))) {
      emitError(module->getLoc(), "cannot write the planned IR as bytecode");
      return nullptr;
    }
  }
  module = nullptr;
  ctx = makeContext(registry);
  ParserConfig config(ctx.get());
  // The parsed IR holds no reference into the bytecode (no resources).
  return parseSourceString<ModuleOp>(bytecode, config, "planned IR");
}

/// A part: what the plan stage left (its definitions, the other records as
/// weights.external_param) is serialized in a fresh context.
int runInFreshContext(OwningOpRef<ModuleOp> &module,
                      std::unique_ptr<MLIRContext> &ctx,
                      const DialectRegistry &registry,
                      const weights::ConvertPipelineOptions &opts) {
  OwningOpRef<ModuleOp> run = moveToFreshContext(module, ctx, registry);
  if (!run)
    return 1;
  PassManager pm(ctx.get());
  weights::buildConvertPipeline(pm, opts);
  return failed(pm.run(*run)) ? 1 : 0;
}

/// The whole conversion after its plan stage ran on `module`: in one piece
/// (serialize in the same context) when `count` (0: one per 2,500
/// checkpoint tensors) is 1, else as `count` segments of consecutive
/// records. Segment k is planned again in a fresh context (the first reuses
/// `module`), keeps its records (qopt-select-part{first-record, end-record})
/// and is serialized in another fresh context; the serialize passes share
/// one writer, which commits after the last (SerializeSegments.h).
int runSegments(OwningOpRef<ModuleOp> &module,
                std::unique_ptr<MLIRContext> &ctx,
                const DialectRegistry &registry,
                weights::ConvertPipelineOptions &opts, unsigned count,
                llvm::StringRef config) {
  auto models = module->getOps<weights::ModelOp>();
  size_t tensors = 0, records = 0;
  if (!models.empty()) {
    weights::ModelOp model = *models.begin();
    tensors = llvm::range_size(
        model.getBody().front().getOps<weights::SourceOp>());
    records = llvm::range_size(model.getParams());
  }
  if (count == 0)
    count = unsigned(std::max<size_t>(1, (tensors + 2499) / 2500));
  count = unsigned(std::min<size_t>(count, std::max<size_t>(records, 1)));
  opts.stage = weights::ConvertStage::Serialize;
  if (count <= 1) {
    PassManager pm(ctx.get());
    weights::buildConvertPipeline(pm, opts);
    return failed(pm.run(*module)) ? 1 : 0;
  }
  weights::SerializeSegments shared;
  weights::summarizeSources(*models.begin(), shared.sourceBytes, shared.gguf);
  weights::SerializeTensorCacheOptions serialize{
      opts.output, opts.threads, opts.statsJson, opts.printStats,
      opts.dryRun, opts.accuracy, opts.progress, opts.device, /*part=*/"",
      opts.shardCapBytes, /*checkpointRoot=*/"", opts.clampWeights,
      opts.logParams};
  for (unsigned k = 0; k < count; ++k) {
    if (k > 0) {
      // The same plan again: its warnings were reported by the first.
      ctx = makeContext(registry);
      ctx->getDiagEngine().registerHandler([](Diagnostic &d) {
        return success(d.getSeverity() != DiagnosticSeverity::Error);
      });
      module = ModuleOp::create(FileLineColLoc::get(ctx.get(), config, 0, 0));
      PassManager pm(ctx.get());
      opts.stage = weights::ConvertStage::Plan;
      weights::buildConvertPipeline(pm, opts);
      if (failed(pm.run(*module)))
        return 1;
    }
    {
      weights::SelectPartOptions select;
      select.shardCapBytes = opts.shardCapBytes;
      select.firstRecord = records * k / count;
      select.endRecord = records * (k + 1) / count;
      PassManager pm(ctx.get());
      pm.addPass(weights::createSelectPart(select));
      if (failed(pm.run(*module)))
        return 1;
    }
    OwningOpRef<ModuleOp> run = moveToFreshContext(module, ctx, registry);
    if (!run)
      return 1;
    shared.commit = k + 1 == count;
    PassManager pm(ctx.get());
    pm.addPass(weights::createSerializeTensorCache(serialize, &shared));
    if (failed(pm.run(*run)))
      return 1;
  }
  return 0;
}

} // namespace qopt
