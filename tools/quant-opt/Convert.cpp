//===- Convert.cpp - `quant-opt convert` -----------------------*- C++ -*-===//
//
// The command line of `mlc_llm convert_weight`, mapped onto the qopt-convert
// pipeline: build an empty module, run import -> map -> quantize -> verify
// -> serialize, print the statistics.
//
//===----------------------------------------------------------------------===//

#include "Convert.h"
#include "dialects/Weights/Transforms/Utils.h"
#include "qopt/InitAll.h"
#include "qopt/Models/QuantizationModes.h"

#include "mlir/IR/Builders.h"
#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/Diagnostics.h"
#include "mlir/IR/MLIRContext.h"
#include "mlir/Pass/PassManager.h"
#include "llvm/Support/Process.h"
#include "llvm/Support/SourceMgr.h"
#include "llvm/Support/raw_ostream.h"

#include <cstdlib>
#include <optional>
#include <string>

using namespace mlir;
namespace weights = mlir::qopt::weights;

static const char *kUsage = R"(usage: quant-opt convert CONFIG --quantization MODE -o OUTPUT [options]

Converts a checkpoint into an MLC-LLM / WebLLM tensor cache, byte for byte as
`mlc_llm convert_weight` writes it.

  CONFIG                    model directory, or its config.json
  --quantization MODE       q0f16 q0bf16 q0f32 q3f16_0 q3f16_1 q4f16_0 q4f16_1
                            q4bf16_0 q4bf16_1 q4f32_1 q4f16_2 q4f16_autoawq e5m2_e5m2_f16
                            e4m3_e4m3_f16 e4m3_e4m3_f16_max_calibrate
  -o, --output OUTPUT       output directory
  --source PATH             checkpoint (default: CONFIG's directory)
  --source-format FMT       auto|huggingface-safetensor|huggingface-torch|gguf|awq
  --model-type TYPE         auto|llama|...
  --device DEV              cpu|cuda (default cpu)
  --tensor-parallel-shards N  pre-shard for N GPUs (also MLC_INTERNAL_PRESHARD_NUM)
  --graph FILE              expected parameters (.mlir or MLC metadata .json)
  --dry-run                 print the plan; read no weights, write nothing
  --stats-json FILE         also write the statistics as JSON
  --threads N               worker threads (default: all cores)
  --part I/N                write only the I-th of N slices of the shards,
                            plus a part manifest; run all N (on any
                            machines sharing OUTPUT), then
                            `quant-opt merge-parts OUTPUT`
  --shard-cap-mb X          shard capacity in MiB (default 32, as mlc_llm)
  --accuracy                measure each quantized weight's error (relative
                            Frobenius, SQNR) and print a summary; implied by
                            --stats-json, which lists them per tensor
  --clamp-weights           replace NaN weights by 0 and infinite or
                            out-of-range ones (beyond the float type they
                            are cast to, e.g. |w| > 65504 for f16) by the
                            largest finite value; without it they are an
                            error naming the tensor
  --rounding even|away      ties of group quantization's round (default even)
  --optimize-scales         group modes: search each group's scale for the
                            least error; same MLC format
  --quantization mnn        MNN-style weight quantization, with
    --weight-quant-bits N       2..8 (default 8)
    --weight-quant-asymmetric   per block min + scale (default symmetric)
    --weight-quant-block N      0 = channel-wise (default), or a multiple
                                of 16 from 32 to 256 along the input axis
    --hqq                       HQQ zero-point optimization (asymmetric)
)";

namespace {
struct ConvertArgs {
  std::string config, output, source, sourceFormat = "auto", modelType = "auto";
  std::string quantization, device = "cpu", graph, statsJson, rounding = "even";
  std::string part;
  uint64_t shardCapBytes = 32ull << 20;
  int64_t shards = 1;
  unsigned threads = 0;
  bool dryRun = false;
  bool accuracy = false;
  bool optimizeScales = false;
  bool clampWeights = false;
  // MNNConvert's weight quantization flags (--quantization mnn).
  int64_t mnnBits = 8, mnnBlock = 0;
  bool mnnAsymmetric = false, mnnHqq = false;
  // The last MNN flag given, if any (they need --quantization mnn).
  std::string mnnFlag;
};
} // namespace

static int usageError(const std::string &msg) {
  llvm::errs() << "quant-opt convert: " << msg << "\n"
               << "run 'quant-opt convert --help' for usage\n";
  return 2;
}

static bool parseInt(const std::string &s, int64_t &out) {
  char *end = nullptr;
  long long v = std::strtoll(s.c_str(), &end, 10);
  if (s.empty() || *end)
    return false;
  out = v;
  return true;
}

/// Prints `error: <file>: tensor '<name>': <message>`, leaving out what the
/// message already says.
static LogicalResult printDiagnostic(Diagnostic &diag) {
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
    (void)printDiagnostic(note);
  return success();
}

int ::qopt::runConvert(int argc, char **argv) {
  ConvertArgs a;
  std::string shardsText;
  if (const char *env = std::getenv("MLC_INTERNAL_PRESHARD_NUM"))
    shardsText = env;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg == "-h" || arg == "--help") {
      llvm::outs() << kUsage;
      return 0;
    }
    std::optional<std::string> inlineValue;
    if (arg.rfind("--", 0) == 0 && arg.find('=') != std::string::npos) {
      inlineValue = arg.substr(arg.find('=') + 1);
      arg = arg.substr(0, arg.find('='));
    }
    auto value = [&](std::string &dst) -> bool {
      if (inlineValue) {
        dst = *inlineValue;
        return true;
      }
      if (i + 1 >= argc)
        return false;
      dst = argv[++i];
      return true;
    };
    std::string v;
    if (arg == "--dry-run") {
      a.dryRun = true;
    } else if (arg == "--accuracy") {
      a.accuracy = true;
    } else if (arg == "--clamp-weights") {
      a.clampWeights = true;
    } else if (arg == "--optimize-scales") {
      a.optimizeScales = true;
    } else if (arg == "--weight-quant-asymmetric") {
      a.mnnFlag = arg;
      a.mnnAsymmetric = true;
    } else if (arg == "--hqq") {
      a.mnnFlag = arg;
      a.mnnHqq = true;
    } else if (arg == "--weight-quant-bits") {
      a.mnnFlag = arg;
      if (!value(v) || !parseInt(v, a.mnnBits) || a.mnnBits < 2 || a.mnnBits > 8)
        return usageError("--weight-quant-bits needs a value from 2 to 8");
    } else if (arg == "--weight-quant-block") {
      a.mnnFlag = arg;
      if (!value(v) || !parseInt(v, a.mnnBlock) ||
          !::qopt::models::isValidMnnBlock(a.mnnBlock))
        return usageError("--weight-quant-block must be 0 (channel-wise) or "
                          "a multiple of 16 from 32 to 256, got '" + v + "'");
    } else if (arg == "--quantization") {
      if (!value(a.quantization))
        return usageError("--quantization needs a value");
    } else if (arg == "-o" || arg == "--output") {
      if (!value(a.output))
        return usageError(arg + " needs a value");
    } else if (arg == "--source") {
      if (!value(a.source))
        return usageError("--source needs a value");
    } else if (arg == "--source-format") {
      if (!value(a.sourceFormat))
        return usageError("--source-format needs a value");
    } else if (arg == "--model-type") {
      if (!value(a.modelType))
        return usageError("--model-type needs a value");
    } else if (arg == "--device") {
      if (!value(a.device))
        return usageError("--device needs a value");
    } else if (arg == "--graph") {
      if (!value(a.graph))
        return usageError("--graph needs a value");
    } else if (arg == "--stats-json") {
      if (!value(a.statsJson))
        return usageError("--stats-json needs a value");
    } else if (arg == "--rounding") {
      if (!value(a.rounding))
        return usageError("--rounding needs a value");
    } else if (arg == "--tensor-parallel-shards") {
      if (!value(shardsText))
        return usageError("--tensor-parallel-shards needs a value");
    } else if (arg == "--part") {
      if (!value(a.part))
        return usageError("--part needs a value I/N");
      auto [i, n] = llvm::StringRef(a.part).split('/');
      uint32_t index, count;
      if (i.getAsInteger(10, index) || n.getAsInteger(10, count) ||
          index < 1 || index > count)
        return usageError("--part needs I/N with 1 <= I <= N, got '" +
                          a.part + "'");
    } else if (arg == "--shard-cap-mb") {
      char *end = nullptr;
      double mb = value(v) ? std::strtod(v.c_str(), &end) : 0;
      if (v.empty() || *end || !(mb * 1048576 >= 1) || mb > 1e9)
        return usageError("--shard-cap-mb needs a positive size in MiB, got '" +
                          v + "'");
      a.shardCapBytes = uint64_t(mb * 1048576);
    } else if (arg == "--threads") {
      int64_t n;
      if (!value(v) || !parseInt(v, n) || n < 0 || n > 4096)
        return usageError("--threads needs a count between 0 and 4096");
      a.threads = unsigned(n);
    } else if (!arg.empty() && arg[0] == '-') {
      return usageError("unknown option '" + arg + "'");
    } else if (a.config.empty()) {
      a.config = arg;
    } else {
      return usageError("unexpected argument '" + arg + "'");
    }
  }
  if (a.config.empty())
    return usageError("missing CONFIG (a model directory or its config.json)");
  if (a.quantization.empty())
    return usageError("missing --quantization MODE; valid modes: " +
                      ::qopt::models::quantizationModeList());
  if (!a.mnnFlag.empty() && a.quantization != "mnn")
    return usageError(
        a.mnnFlag + " applies only to --quantization mnn" +
        (llvm::StringRef(a.quantization).starts_with("mnn_")
             ? " (the mode name '" + a.quantization + "' already fixes it)"
             : ", not '" + a.quantization + "'"));
  if (a.quantization == "mnn") {
    if (a.mnnHqq && !a.mnnAsymmetric)
      return usageError("--hqq needs --weight-quant-asymmetric (HQQ optimizes "
                        "zero points)");
    a.quantization = ::qopt::models::mnnModeName(
        int(a.mnnBits), a.mnnAsymmetric, a.mnnBlock, a.mnnHqq);
  }
  if (const auto *m = ::qopt::models::findQuantizationMode(a.quantization);
      m && m->kind == ::qopt::models::QuantizationMode::Kind::MNN &&
      !::qopt::models::isValidMnnBlock(m->mnnBlock))
    return usageError("MNN block must be 0 (channel-wise) or a multiple of "
                      "16 from 32 to 256, got " +
                      std::to_string(m->mnnBlock) + " in '" + a.quantization +
                      "'");
  if (!shardsText.empty() && (!parseInt(shardsText, a.shards) || a.shards < 1))
    return usageError("tensor-parallel shard count must be a positive "
                      "integer, got '" + shardsText + "'");
  if (!::qopt::models::findQuantizationMode(a.quantization)) {
    std::string why =
        ::qopt::models::unsupportedModeReason(a.quantization, a.shards);
    return usageError((why.empty() ? "unknown quantization mode '" +
                                         a.quantization + "'"
                                   : why) +
                      "; valid modes: " +
                      ::qopt::models::quantizationModeList());
  }
  if (a.output.empty() && !a.dryRun)
    return usageError("missing -o OUTPUT");
  if (a.device != "cpu" && a.device != "cuda")
    return usageError("unknown device '" + a.device + "'; valid: cpu, cuda");

  DialectRegistry registry;
  ::qopt::registerAllDialects(registry);
  MLIRContext ctx(registry);
  ctx.loadAllAvailableDialects();
  ctx.printOpOnDiagnostic(false);
  ctx.getDiagEngine().registerHandler(printDiagnostic);

  OwningOpRef<ModuleOp> module =
      ModuleOp::create(FileLineColLoc::get(&ctx, a.config, 0, 0));
  PassManager pm(&ctx);
  weights::ConvertPipelineOptions opts;
  opts.config = a.config;
  opts.source = a.source;
  opts.sourceFormat = a.sourceFormat;
  opts.modelType = a.modelType;
  opts.quantization = a.quantization;
  opts.rounding = a.rounding;
  opts.optimizeScales = a.optimizeScales;
  opts.graph = a.graph;
  opts.output = a.output;
  opts.tensorParallelShards = a.shards;
  opts.threads = a.threads;
  opts.device = a.device;
  opts.statsJson = a.statsJson;
  opts.part = a.part;
  opts.shardCapBytes = a.shardCapBytes;
  opts.printStats = true;
  opts.dryRun = a.dryRun;
  opts.accuracy = a.accuracy || !a.statsJson.empty();
  opts.clampWeights = a.clampWeights;
  opts.progress = true;
  weights::buildConvertPipeline(pm, opts);
  if (failed(pm.run(*module)))
    return 1;
  return 0;
}
