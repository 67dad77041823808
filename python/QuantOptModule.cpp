//===- QuantOptModule.cpp - quant_opt._core (pybind11) ----------*- C++ -*-===//
//
// The Python module over the C API (include/qopt-c), as upstream MLIR's
// Python bindings sit on mlir-c: convert() calls qoptConvert, and
// run_pipeline() parses IR text and runs a pass pipeline through mlir-c's
// IR and Pass API with quant-opt's dialects and passes registered.
// quant_opt/__init__.py turns failures into quant_opt.ConversionError /
// quant_opt.PipelineError carrying the diagnostics.
//
//===----------------------------------------------------------------------===//

#include "qopt-c/Convert.h"
#include "qopt-c/Dialects.h"
#include "qopt-c/Passes.h"

#include "mlir-c/Diagnostics.h"
#include "mlir-c/IR.h"
#include "mlir-c/Pass.h"

#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <cctype>
#include <optional>
#include <string>
#include <tuple>
#include <vector>

namespace py = pybind11;

namespace {
/// (severity, location, message), as Python gets them.
using Diagnostic = std::tuple<std::string, std::string, std::string>;
using Diagnostics = std::vector<Diagnostic>;

const char *severityName(MlirDiagnosticSeverity s) {
  switch (s) {
  case MlirDiagnosticError:
    return "error";
  case MlirDiagnosticWarning:
    return "warning";
  case MlirDiagnosticNote:
    return "note";
  case MlirDiagnosticRemark:
    return "remark";
  }
  return "error";
}

std::string toString(MlirStringRef s) { return std::string(s.data, s.length); }

void appendTo(MlirStringRef s, void *out) {
  static_cast<std::string *>(out)->append(s.data, s.length);
}

void collectConvertDiagnostic(MlirDiagnosticSeverity severity,
                              MlirStringRef location, MlirStringRef message,
                              void *userData) {
  static_cast<Diagnostics *>(userData)->emplace_back(
      severityName(severity), toString(location), toString(message));
}

void collectMlirDiagnostic(MlirDiagnostic diag, Diagnostics &out) {
  std::string location, message;
  mlirLocationPrint(mlirDiagnosticGetLocation(diag), appendTo, &location);
  mlirDiagnosticPrint(diag, appendTo, &message);
  out.emplace_back(severityName(mlirDiagnosticGetSeverity(diag)), location,
                   message);
  for (intptr_t i = 0, e = mlirDiagnosticGetNumNotes(diag); i < e; ++i)
    collectMlirDiagnostic(mlirDiagnosticGetNote(diag, i), out);
}

MlirLogicalResult handleMlirDiagnostic(MlirDiagnostic diag, void *userData) {
  collectMlirDiagnostic(diag, *static_cast<Diagnostics *>(userData));
  return mlirLogicalResultSuccess();
}

/// (ok, statistics dict or None, diagnostics).
py::tuple convert(const std::string &config, const std::string &quantization,
                  std::optional<std::string> output,
                  std::optional<std::string> source,
                  const std::string &sourceFormat, const std::string &modelType,
                  const std::string &device, std::optional<std::string> graph,
                  std::optional<std::string> statsJson,
                  const std::string &rounding, int64_t tensorParallelShards,
                  unsigned threads, bool dryRun, bool accuracy,
                  bool optimizeScales) {
  Diagnostics diags;
  QoptConvertOptions o = qoptConvertOptionsGetDefault();
  o.config = config.c_str();
  o.quantization = quantization.c_str();
  o.output = output ? output->c_str() : nullptr;
  o.source = source ? source->c_str() : nullptr;
  o.sourceFormat = sourceFormat.c_str();
  o.modelType = modelType.c_str();
  o.device = device.c_str();
  o.graph = graph ? graph->c_str() : nullptr;
  o.statsJson = statsJson ? statsJson->c_str() : nullptr;
  o.rounding = rounding.c_str();
  o.tensorParallelShards = tensorParallelShards;
  o.threads = threads;
  o.dryRun = dryRun;
  o.accuracy = accuracy;
  o.optimizeScales = optimizeScales;
  o.diagnosticCallback = collectConvertDiagnostic;
  o.userData = &diags;
  QoptConvertStatistics stats;
  MlirLogicalResult result;
  {
    py::gil_scoped_release release;
    result = qoptConvert(&o, &stats);
  }
  if (mlirLogicalResultIsFailure(result))
    return py::make_tuple(false, py::none(), diags);
  py::dict d;
  d["ParamSize"] = stats.paramSize;
  d["ParamBytes"] = stats.paramBytes;
  d["TotalParams"] = stats.totalParams;
  d["BitsPerParam"] = stats.bitsPerParam;
  d["ParamSizeGB"] = stats.paramSizeGB;
  return py::make_tuple(true, d, diags);
}

/// (ok, printed IR or None, diagnostics).
py::tuple runPipeline(const std::string &ir, std::string pipeline) {
  qoptRegisterAllPasses();
  if (pipeline.rfind("builtin.module(", 0) != 0)
    pipeline = "builtin.module(" + pipeline + ")";
  Diagnostics diags;
  std::optional<std::string> printed;
  {
    py::gil_scoped_release release;
    MlirDialectRegistry registry = mlirDialectRegistryCreate();
    qoptRegisterAllDialects(registry);
    MlirContext ctx = mlirContextCreateWithRegistry(registry, false);
    mlirDialectRegistryDestroy(registry);
    MlirDiagnosticHandlerID handler = mlirContextAttachDiagnosticHandler(
        ctx, handleMlirDiagnostic, &diags, nullptr);
    MlirModule module = mlirModuleCreateParse(
        ctx, mlirStringRefCreate(ir.data(), ir.size()));
    if (!mlirModuleIsNull(module)) {
      MlirPassManager pm = mlirPassManagerCreate(ctx);
      std::string parseError;
      MlirLogicalResult parsed = mlirParsePassPipeline(
          mlirPassManagerGetAsOpPassManager(pm),
          mlirStringRefCreate(pipeline.data(), pipeline.size()), appendTo,
          &parseError);
      if (mlirLogicalResultIsFailure(parsed)) {
        while (!parseError.empty() && std::isspace(
                                          (unsigned char)parseError.back()))
          parseError.pop_back();
        diags.emplace_back("error", "", parseError);
      } else {
        MlirOperation op = mlirModuleGetOperation(module);
        if (mlirLogicalResultIsSuccess(mlirPassManagerRunOnOp(pm, op))) {
          printed.emplace();
          mlirOperationPrint(op, appendTo, &*printed);
          printed->push_back('\n');
        }
      }
      mlirPassManagerDestroy(pm);
      mlirModuleDestroy(module);
    }
    mlirContextDetachDiagnosticHandler(ctx, handler);
    mlirContextDestroy(ctx);
  }
  if (!printed)
    return py::make_tuple(false, py::none(), diags);
  return py::make_tuple(true, *printed, diags);
}
} // namespace

PYBIND11_MODULE(_core, m) {
  m.doc() = "quant-opt's C API for Python (use the quant_opt package)";
  m.def("convert", &convert, py::arg("config"), py::arg("quantization"),
        py::arg("output") = py::none(), py::kw_only(),
        py::arg("source") = py::none(), py::arg("source_format") = "auto",
        py::arg("model_type") = "auto", py::arg("device") = "cpu",
        py::arg("graph") = py::none(), py::arg("stats_json") = py::none(),
        py::arg("rounding") = "even", py::arg("tensor_parallel_shards") = 1,
        py::arg("threads") = 0, py::arg("dry_run") = false,
        py::arg("accuracy") = false, py::arg("optimize_scales") = false);
  m.def("run_pipeline", &runPipeline, py::arg("ir_text"), py::arg("pipeline"));
}
