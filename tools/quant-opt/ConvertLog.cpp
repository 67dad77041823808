//===- ConvertLog.cpp - What `quant-opt convert` logs ----------*- C++ -*-===//

#include "ConvertLog.h"

#include "dialects/Weights/IR/WeightsOps.h"
#include "dialects/Weights/Transforms/Utils.h"

#include "mlir/IR/BuiltinOps.h"
#include "mlir/Pass/Pass.h"
#include "llvm/ADT/SetVector.h"
#include "llvm/Support/Path.h"
#include "llvm/Support/Process.h"
#include "llvm/Support/raw_ostream.h"

#include <set>
#include <thread>
#include <vector>

using namespace mlir;
namespace weights = mlir::qopt::weights;

static bool useColor() { return llvm::sys::Process::StandardErrHasColors(); }

static std::string style(const char *code, const std::string &text) {
  return useColor() ? std::string(code) + text + "\033[0m" : text;
}

namespace qopt {
std::string logFound() { return style("\033[92m", "Found"); }
std::string logNotFound() { return style("\033[91m", "Not found"); }
std::string logBold(const std::string &text) {
  return style("\033[1m", text);
}
} // namespace qopt

namespace {
/// The source format mlc_llm would name for what the importer read.
std::string sourceFormatOf(weights::ModelOp model, llvm::StringRef file) {
  if (auto q = model.getConfig().getAs<DictionaryAttr>("quantization_config"))
    if (auto m = q.getAs<StringAttr>("quant_method"); m && m.getValue() == "awq")
      return "awq";
  if (file.ends_with(".gguf"))
    return "gguf";
  // A sharded checkpoint's source configuration is its index:
  // model.safetensors.index.json for safetensors shards,
  // pytorch_model.bin.index.json for torch ones (mlc_llm's detection).
  if (file.ends_with(".safetensors") || file.ends_with(".safetensors.index.json"))
    return "huggingface-safetensor";
  return "huggingface-torch";
}

class ConvertLogger : public PassInstrumentation {
public:
  explicit ConvertLogger(const ::qopt::ConvertLogArgs &args) : args(args) {}

  void runAfterPass(Pass *pass, Operation *op) override {
    if (pass->getArgument() != "qopt-import-checkpoint" ||
        args.level == ::qopt::LogLevel::Quiet)
      return;
    auto module = dyn_cast<ModuleOp>(op);
    if (!module)
      return;
    for (weights::ModelOp model : module.getOps<weights::ModelOp>())
      log(model);
  }

private:
  void log(weights::ModelOp model) {
    llvm::raw_ostream &os = llvm::errs();
    std::string configPath;
    if (auto f = dyn_cast<FileLineColLoc>(model.getLoc()))
      configPath = f.getFilename().str();
    // The checkpoint files, in the order they are read.
    // Sources name files relative to the model's checkpoint_root.
    llvm::SetVector<std::string, std::vector<std::string>,
                    std::set<std::string>>
        files;
    for (weights::SourceOp s : model.getBody().front().getOps<weights::SourceOp>())
      files.insert(model.resolveCheckpointPath(s.getFile()));
    std::string sourceConfig =
        model.getSourceIndex()
            ? model.resolveCheckpointPath(*model.getSourceIndex())
            : (files.empty() ? "" : files[0]);
    std::string format = sourceFormatOf(model, sourceConfig);
    os << ::qopt::logFound() << " model configuration: " << configPath << "\n";
    for (const std::string &line : args.deviceLog)
      os << line << "\n";
    os << "Finding weights in: "
       << llvm::sys::path::parent_path(sourceConfig) << "\n";
    os << ::qopt::logFound() << " source weight format: " << format
       << ". Source configuration: " << sourceConfig << "\n";
    if (args.sourceFormat == "auto") {
      os << "Using source weight configuration: " << ::qopt::logBold(sourceConfig)
         << ". Use `--source` to override.\n";
      os << "Using source weight format: " << ::qopt::logBold(format)
         << ". Use `--source-format` to override.\n";
    }
    os << ::qopt::logFound() << " model type: "
       << ::qopt::logBold(model.getArch().str())
       << ". Use `--model-type` to override.\n";

    // mlc_llm pads the bold option name to 25 characters, escape codes
    // included: 17 visible ones.
    os << ::qopt::logBold("Weight conversion with arguments:") << "\n";
    auto arg = [&](llvm::StringRef name, llvm::StringRef value) {
      std::string padded = name.str();
      padded.resize(std::max<size_t>(padded.size(), 17), ' ');
      std::string shown = ::qopt::logBold(name.str()) +
                          padded.substr(name.size());
      os << "  " << shown << " " << value << "\n";
    };
    arg("--config", configPath);
    arg("--quantization", args.quantization);
    arg("--model-type", model.getArch());
    arg("--device", args.device);
    arg("--source", sourceConfig);
    arg("--source-format", format);
    arg("--output", args.output);
    if (!args.loraAdapter.empty())
      arg("--lora-adapter", args.loraAdapter);
    if (args.level == ::qopt::LogLevel::Verbose) {
      os << "Threads: "
         << (args.threads ? std::to_string(args.threads)
                          : "all cores (" +
                                std::to_string(std::max(
                                    1u, std::thread::hardware_concurrency())) +
                                ")")
         << "\n";
      for (const std::string &f : files)
        os << "Loading HF parameters from: " << f << "\n";
    }
  }

  ::qopt::ConvertLogArgs args;
};

} // namespace

namespace qopt {
std::unique_ptr<PassInstrumentation>
createConvertLogger(const ConvertLogArgs &args) {
  return std::make_unique<ConvertLogger>(args);
}
} // namespace qopt

namespace qopt {
LogicalResult printConvertDiagnostic(Diagnostic &diag) {
  std::string message = diag.str(), file, tensor;
  weights::describeCheckpointLocation(diag.getLocation(), file, tensor);
  std::string prefix;
  if (!file.empty() && message.find(file) == std::string::npos)
    prefix = file + ": ";
  if (!tensor.empty() && message.find("'" + tensor + "'") == std::string::npos)
    prefix += "tensor '" + tensor + "': ";
  const char *severity = "error";
  switch (diag.getSeverity()) {
  case DiagnosticSeverity::Warning:
    severity = "warning";
    break;
  case DiagnosticSeverity::Note:
    severity = "note";
    break;
  case DiagnosticSeverity::Remark:
    severity = "remark";
    break;
  case DiagnosticSeverity::Error:
    break;
  }
  llvm::errs() << "quant-opt: " << severity << ": " << prefix << message
               << "\n";
  for (Diagnostic &note : diag.getNotes())
    (void)printConvertDiagnostic(note);
  return success();
}
} // namespace qopt
