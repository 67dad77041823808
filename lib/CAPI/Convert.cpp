//===- Convert.cpp - qoptConvert: checkpoint -> tensor cache -----*- C++ -*-===//
//
// Builds the same qopt-convert pipeline as `quant-opt convert` on an empty
// module, reports diagnostics through the caller's callback, and reads the
// statistics the serialize pass recorded on the module (weights.statistics).
//
//===----------------------------------------------------------------------===//

#include "qopt-c/Convert.h"
#include "dialects/Weights/Transforms/Utils.h"
#include "qopt/InitAll.h"
#include "qopt/TensorCache/TensorCache.h"

#include "mlir/CAPI/Support.h"
#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/Diagnostics.h"
#include "mlir/IR/MLIRContext.h"
#include "mlir/Pass/PassManager.h"

#include <string>

using namespace mlir;
namespace weights = mlir::qopt::weights;

static MlirDiagnosticSeverity wrapSeverity(DiagnosticSeverity s) {
  switch (s) {
  case DiagnosticSeverity::Error:
    return MlirDiagnosticError;
  case DiagnosticSeverity::Warning:
    return MlirDiagnosticWarning;
  case DiagnosticSeverity::Note:
    return MlirDiagnosticNote;
  case DiagnosticSeverity::Remark:
    return MlirDiagnosticRemark;
  }
  return MlirDiagnosticError;
}

static void report(const QoptConvertOptions &o, MlirDiagnosticSeverity severity,
                   const std::string &location, const std::string &message) {
  if (o.diagnosticCallback)
    o.diagnosticCallback(severity, wrap(llvm::StringRef(location)),
                         wrap(llvm::StringRef(message)), o.userData);
}

static void reportDiagnostic(const QoptConvertOptions &o, Diagnostic &diag) {
  std::string file, tensor;
  weights::describeCheckpointLocation(diag.getLocation(), file, tensor);
  std::string location = file;
  if (!tensor.empty())
    location += (location.empty() ? "" : ": ") + ("tensor '" + tensor + "'");
  report(o, wrapSeverity(diag.getSeverity()), location, diag.str());
  for (Diagnostic &note : diag.getNotes())
    reportDiagnostic(o, note);
}

QoptConvertOptions qoptConvertOptionsGetDefault(void) {
  QoptConvertOptions o = {};
  o.tensorParallelShards = 1;
  return o;
}

MlirLogicalResult qoptConvert(const QoptConvertOptions *options,
                              QoptConvertStatistics *statistics) {
  const QoptConvertOptions &o = *options;
  auto str = [](const char *s, const char *dflt) {
    return std::string(s ? s : dflt);
  };
  if (!o.config || !*o.config) {
    report(o, MlirDiagnosticError, "", "missing config (a model directory or "
                                       "its config.json)");
    return mlirLogicalResultFailure();
  }
  if (!o.quantization || !*o.quantization) {
    report(o, MlirDiagnosticError, "", "missing quantization mode");
    return mlirLogicalResultFailure();
  }
  if (o.tensorParallelShards < 1) {
    report(o, MlirDiagnosticError, "",
           "tensor-parallel shard count must be a positive integer, got " +
               std::to_string(o.tensorParallelShards));
    return mlirLogicalResultFailure();
  }

  DialectRegistry registry;
  ::qopt::registerAllDialects(registry);
  MLIRContext ctx(registry);
  ctx.loadAllAvailableDialects();
  ctx.printOpOnDiagnostic(false);
  ScopedDiagnosticHandler handler(&ctx, [&](Diagnostic &diag) {
    reportDiagnostic(o, diag);
    return success();
  });

  OwningOpRef<ModuleOp> module =
      ModuleOp::create(FileLineColLoc::get(&ctx, o.config, 0, 0));
  PassManager pm(&ctx);
  weights::ConvertPipelineOptions opts;
  opts.config = str(o.config, "");
  opts.source = str(o.source, "");
  opts.sourceFormat = str(o.sourceFormat, "auto");
  opts.modelType = str(o.modelType, "auto");
  opts.quantization = str(o.quantization, "");
  opts.rounding = str(o.rounding, "even");
  opts.optimizeScales = o.optimizeScales;
  opts.graph = str(o.graph, "");
  opts.output = str(o.output, "");
  opts.tensorParallelShards = o.tensorParallelShards;
  opts.threads = o.threads;
  opts.device = str(o.device, "cpu");
  opts.statsJson = str(o.statsJson, "");
  opts.printStats = false;
  opts.dryRun = o.dryRun;
  opts.accuracy = o.accuracy; // --stats-json alone writes statistics only
  opts.progress = false;
  weights::buildConvertPipeline(pm, opts);
  if (failed(pm.run(*module)))
    return mlirLogicalResultFailure();

  auto recorded = (*module)->getAttrOfType<DictionaryAttr>(
      weights::kStatisticsAttrName);
  if (!recorded) {
    report(o, MlirDiagnosticError, "",
           "internal error: the pipeline recorded no statistics");
    return mlirLogicalResultFailure();
  }
  if (statistics) {
    auto get = [&](llvm::StringRef key) -> uint64_t {
      auto a = recorded.getAs<IntegerAttr>(key);
      return a ? a.getValue().getZExtValue() : 0;
    };
    ::qopt::tensorcache::Statistics stats;
    stats.paramSize = int64_t(get("param_size"));
    stats.paramBytes = get("param_bytes");
    stats.totalParams = get("total_params");
    statistics->paramSize = stats.paramSize;
    statistics->paramBytes = stats.paramBytes;
    statistics->totalParams = stats.totalParams;
    statistics->bitsPerParam = stats.bitsPerParam();
    statistics->paramSizeGB = stats.paramSizeGB();
  }
  return mlirLogicalResultSuccess();
}
