//===- Convert.cpp - `quant-opt convert` -----------------------*- C++ -*-===//
//
// The command line of `mlc_llm convert_weight` (llvm::cl subcommand
// `convert`, alias `convert_weight`), mapped onto the qopt-convert
// pipeline: build an empty module, run import -> map -> [merge LoRA] ->
// quantize -> verify -> serialize, and log on stderr what mlc_llm logs.
//
//===----------------------------------------------------------------------===//

#include "Commands.h"
#include "ConvertLog.h"
#include "ConvertContexts.h"
#include "qopt/InitAll.h"
#include "qopt/Kernels/Cuda.h"
#include "qopt/Models/QuantizationModes.h"

#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/Diagnostics.h"
#include "mlir/IR/MLIRContext.h"
#include "mlir/Pass/PassManager.h"
#include "llvm/ADT/StringExtras.h"
#include "llvm/Support/Process.h"
#include "llvm/Support/raw_ostream.h"

#include <cstdlib>
#include <string>

using namespace mlir;
using ::qopt::ConvertLogArgs;
using ::qopt::LogLevel;
namespace cl = llvm::cl;
namespace weights = mlir::qopt::weights;
namespace models = ::qopt::models;

namespace qopt {
cl::SubCommand &convertCommand() {
  static cl::SubCommand cmd(
      "convert", "Convert a checkpoint into an MLC-LLM / WebLLM tensor cache, "
                 "byte for byte as `mlc_llm convert_weight` writes it (alias: "
                 "convert_weight)");
  return cmd;
}
} // namespace qopt

namespace qopt {
cl::OptionCategory &convertCategory() {
  static cl::OptionCategory cat("quant-opt convert options");
  return cat;
}
} // namespace qopt

namespace {
cl::SubCommand &sub() { return ::qopt::convertCommand(); }
cl::OptionCategory &cat() { return ::qopt::convertCategory(); }

// mlc_llm's options first, in its order.
cl::opt<std::string> config(cl::Positional, cl::sub(sub()), cl::cat(cat()),
                            cl::value_desc("CONFIG"),
                            cl::desc("<CONFIG: model directory, or its "
                                     "config.json (or a GGUF file)>"));
cl::opt<std::string> quantization(
    "quantization", cl::sub(sub()), cl::cat(cat()), cl::value_desc("MODE"),
    cl::desc("Quantization mode (case-insensitive): q0f16 q0bf16 q0f32 "
             "q3f16_0 q3f16_1 q4f16_0 q4f16_1 q4bf16_0 q4bf16_1 q4f32_1 "
             "q4f16_2 q4f16_autoawq e5m2_e5m2_f16 e4m3_e4m3_f16 "
             "e4m3_e4m3_f16_max_calibrate fp8_e4m3fn_bf16_block_scale "
             "fp8_e4m3fn_bf16_block_scale_static_activation, "
             "mnn_w<bits>[_asym][_b<block>]"
             "[_hqq], or mnn with the --weight-quant-* flags (required)"));
cl::opt<std::string> modelType(
    "model-type", cl::sub(sub()), cl::cat(cat()), cl::init("auto"),
    cl::value_desc("TYPE"),
    cl::desc("Architecture (llama, mistral, ...), or auto to read it from "
             "config.json (default: auto)"));
cl::opt<std::string> device(
    "device", cl::sub(sub()), cl::cat(cat()), cl::init("auto"),
    cl::value_desc("DEV"),
    cl::desc("auto|cpu|cpu:0|cuda|cuda:N: where casts and quantization run; "
             "auto = cuda:0 when a usable GPU is found, else cpu:0 "
             "(default: auto)"));
cl::opt<std::string> source(
    "source", cl::sub(sub()), cl::cat(cat()), cl::init("auto"),
    cl::value_desc("PATH"),
    cl::desc("Checkpoint file or directory; auto = CONFIG's directory "
             "(default: auto)"));
cl::opt<std::string> sourceFormat(
    "source-format", cl::sub(sub()), cl::cat(cat()), cl::init("auto"),
    cl::value_desc("FMT"),
    cl::desc("auto|huggingface-safetensor|huggingface-torch|gguf|awq "
             "(default: auto)"));
cl::opt<std::string> output("output", cl::sub(sub()), cl::cat(cat()),
                            cl::value_desc("DIR"),
                            cl::desc("Output directory (required)"));
cl::alias outputShort("o", cl::aliasopt(output),
                      cl::desc("Alias for --output"));
cl::opt<std::string> loraAdapter(
    "lora-adapter", cl::sub(sub()), cl::cat(cat()), cl::value_desc("DIR"),
    cl::desc("PEFT LoRA adapter directory (adapter_config.json + "
             "adapter_model.safetensors or .bin), merged into the base "
             "weights before quantization"));

// Ours.
cl::opt<std::string> shardsOpt(
    "tensor-parallel-shards", cl::sub(sub()), cl::cat(cat()),
    cl::value_desc("N"),
    cl::desc("Pre-shard for N GPUs (also MLC_INTERNAL_PRESHARD_NUM)"));
cl::opt<std::string> graph(
    "graph", cl::sub(sub()), cl::cat(cat()), cl::value_desc("FILE"),
    cl::desc("Expected parameters (.mlir or MLC metadata .json)"));
cl::opt<bool> dryRun("dry-run", cl::sub(sub()), cl::cat(cat()),
                     cl::desc("Print the plan on stdout; read no weights, "
                              "write nothing"));
cl::opt<std::string> statsJson(
    "stats-json", cl::sub(sub()), cl::cat(cat()), cl::value_desc("FILE"),
    cl::desc("Also write the statistics as JSON (with --accuracy, the error "
             "of each tensor too)"));
cl::opt<std::string> part(
    "part", cl::sub(sub()), cl::cat(cat()), cl::value_desc("I/N"),
    cl::desc("Write only the I-th of N slices of the shards, plus a part "
             "manifest; run all N (on any machines sharing OUTPUT), then "
             "`quant-opt merge-parts OUTPUT`"));
cl::opt<std::string> shardCapMb(
    "shard-cap-mb", cl::sub(sub()), cl::cat(cat()), cl::value_desc("X"),
    cl::desc("Shard capacity in MiB (default 32, as mlc_llm)"));
cl::opt<unsigned> segments(
    "segments", cl::sub(sub()), cl::cat(cat()), cl::init(0),
    cl::value_desc("N"),
    cl::desc("Run the conversion as N segments of consecutive records, each "
             "planned and serialized in MLIR contexts of its own, so that "
             "the IR of one segment at a time is held while its tensors are "
             "converted; same output, committed once (default 0: one "
             "segment per 2,500 checkpoint tensors)"));
cl::opt<unsigned> threads("threads", cl::sub(sub()), cl::cat(cat()),
                          cl::init(0), cl::value_desc("N"),
                          cl::desc("Worker threads (default 0: all cores)"));
cl::opt<bool> accuracy(
    "accuracy", cl::sub(sub()), cl::cat(cat()),
    cl::desc("Measure each quantized weight's error (relative Frobenius, "
             "SQNR) and print a summary"));
cl::opt<std::string> rounding(
    "rounding", cl::sub(sub()), cl::cat(cat()), cl::init("even"),
    cl::value_desc("even|away"),
    cl::desc("Ties of group quantization's round (default: even)"));
cl::opt<bool> optimizeScales(
    "optimize-scales", cl::sub(sub()), cl::cat(cat()),
    cl::desc("Group modes: search each group's scale for the least error; "
             "same MLC format"));
cl::opt<bool> clampWeights(
    "clamp-weights", cl::sub(sub()), cl::cat(cat()),
    cl::desc("Replace NaN weights by 0 and infinite or out-of-range ones "
             "(beyond the float type they are cast to, e.g. |w| > 65504 for "
             "f16) by the largest finite value; without it they are an "
             "error naming the tensor"));
cl::opt<bool> allowRequantize(
    "allow-requantize", cl::sub(sub()), cl::cat(cat()),
    cl::desc("Quantize weights that are already quantized in the source "
             "(GGUF Q4_K, AutoAWQ, ...) without a warning"));
cl::opt<bool> strict("strict", cl::sub(sub()), cl::cat(cat()),
                     cl::desc("Make the requantization warning an error"));
cl::opt<bool> quiet("quiet", cl::sub(sub()), cl::cat(cat()),
                    cl::desc("Log only warnings and errors"));
cl::opt<bool> verbose("verbose", cl::sub(sub()), cl::cat(cat()),
                      cl::desc("Also log the files read and the threads"));

// Calibration-aware quantization (docs/calibration.md).
cl::opt<std::string> imatrixFile(
    "imatrix", cl::sub(sub()), cl::cat(cat()), cl::value_desc("FILE"),
    cl::desc("Importance-weighted scale search (group and MNN modes) with "
             "the statistics of FILE: a STATS file of quant-opt calibrate, "
             "or a llama.cpp imatrix (.gguf or legacy .dat); same format"));
cl::opt<std::string> gptqFile(
    "gptq", cl::sub(sub()), cl::cat(cat()), cl::value_desc("STATS"),
    cl::desc("GPTQ error compensation with the Hessians of STATS (quant-opt "
             "calibrate --hessian); same format"));
cl::opt<double> gptqDamp(
    "gptq-damp", cl::sub(sub()), cl::cat(cat()), cl::init(0.01),
    cl::value_desc("X"),
    cl::desc("--gptq: dampening, a fraction of the Hessian's mean diagonal "
             "(default 0.01)"));
cl::opt<int64_t> gptqBlock(
    "gptq-block", cl::sub(sub()), cl::cat(cat()), cl::init(128),
    cl::value_desc("N"),
    cl::desc("--gptq: columns compensated at once (default 128)"));
cl::opt<bool> gptqActOrder(
    "gptq-act-order", cl::sub(sub()), cl::cat(cat()),
    cl::desc("--gptq: quantize columns by descending Hessian diagonal, "
             "group scales from the original weights (MLC's layout kept)"));

// MNNConvert's weight quantization flags (--quantization mnn).
cl::opt<unsigned> mnnBits("weight-quant-bits", cl::sub(sub()), cl::cat(cat()),
                          cl::init(8), cl::value_desc("N"),
                          cl::desc("--quantization mnn: 2..8 (default 8)"));
cl::opt<bool> mnnAsymmetric(
    "weight-quant-asymmetric", cl::sub(sub()), cl::cat(cat()),
    cl::desc("--quantization mnn: per block min + scale (default "
             "symmetric)"));
cl::opt<std::string> mnnBlock(
    "weight-quant-block", cl::sub(sub()), cl::cat(cat()), cl::init("0"),
    cl::value_desc("N"),
    cl::desc("--quantization mnn: 0 = channel-wise (default), or a multiple "
             "of 16 from 32 to 256 along the input axis"));
cl::opt<bool> mnnHqq("hqq", cl::sub(sub()), cl::cat(cat()),
                     cl::desc("--quantization mnn: HQQ zero-point "
                              "optimization (asymmetric)"));

// Calibration-aware quantization (docs/calibration.md).
cl::opt<std::string> awq(
    "awq", cl::sub(sub()), cl::cat(cat()), cl::value_desc("STATS"),
    cl::desc("Fold AWQ's activation-aware per-channel scales, searched from "
             "the calibration statistics STATS (quant-opt calibrate), into "
             "the weights and norms before quantizing"));
cl::opt<int64_t> awqRows(
    "awq-rows", cl::sub(sub()), cl::cat(cat()), cl::value_desc("N"),
    cl::init(128),
    cl::desc("--awq: rows of each weight the scale search measures the "
             "error on, spread evenly; 0 = every row (docs/calibration.md)"));
} // namespace

static int usageError(const std::string &msg) {
  llvm::errs() << "quant-opt convert: " << msg << "\n"
               << "run 'quant-opt convert --help' for usage\n";
  return 2;
}

/// The MNN flag given last on the command line, if any.
static std::string lastMnnFlag() {
  std::string flag;
  unsigned pos = 0;
  auto consider = [&](const cl::Option &o, llvm::StringRef name) {
    if (o.getNumOccurrences() && o.getPosition() >= pos) {
      pos = o.getPosition();
      flag = ("--" + name).str();
    }
  };
  consider(mnnBits, "weight-quant-bits");
  consider(mnnAsymmetric, "weight-quant-asymmetric");
  consider(mnnBlock, "weight-quant-block");
  consider(mnnHqq, "hqq");
  return flag;
}

/// mlc_llm's `--device` values: auto, cpu, cpu:0, cuda, cuda:N. Sets
/// `kind` ("cpu"/"cuda") and `shown` ("cpu:0"), and appends the detection
/// lines mlc_llm logs for auto; an error message otherwise.
static std::string resolveDevice(llvm::StringRef value, std::string &kind,
                                 std::string &shown,
                                 std::vector<std::string> &log) {
  std::string v = value.lower();
  if (v == "auto") {
    std::string why;
    if (::qopt::kernels::cudaDeviceAvailable(&why)) {
      kind = "cuda";
      shown = "cuda:0";
      log.push_back(::qopt::logFound() + " device: cuda:0");
    } else {
      kind = "cpu";
      shown = "cpu:0";
      log.push_back(::qopt::logNotFound() + " device: cuda:0 (" + why + ")");
      log.push_back(::qopt::logFound() + " device: cpu:0");
    }
    log.push_back("Using device: " + ::qopt::logBold(shown));
    return "";
  }
  llvm::StringRef name = v, index;
  std::tie(name, index) = llvm::StringRef(v).split(':');
  unsigned n = 0;
  if ((name != "cpu" && name != "cuda") ||
      (!index.empty() && index.getAsInteger(10, n)) ||
      (v.find(':') != std::string::npos && index.empty()))
    return "unknown device '" + value.str() +
           "'; valid: auto, cpu, cpu:0, cuda, cuda:N";
  kind = name.str();
  shown = (name + ":" + llvm::Twine(n)).str();
  if (kind == "cpu" && n != 0)
    return "device '" + value.str() +
           "' is not found on this machine (the CPU is cpu:0)";
  if (kind == "cuda" && n != 0) {
    // Kernels use the current device: make GPU N the only visible one
    // before CUDA starts.
    ::setenv("CUDA_VISIBLE_DEVICES", std::to_string(n).c_str(), 1);
  }
  return "";
}

/// The calibration flags against each other and the mode; an error
/// message, or empty.
static std::string checkCalibrationFlags(const std::string &mode) {
  bool any = imatrixFile.getNumOccurrences() || gptqFile.getNumOccurrences();
  for (const cl::Option *o : std::initializer_list<const cl::Option *>{
           &gptqDamp, &gptqBlock, &gptqActOrder})
    if (o->getNumOccurrences() && !gptqFile.getNumOccurrences())
      return "--" + o->ArgStr.str() + " needs --gptq STATS";
  if (imatrixFile.getNumOccurrences() && imatrixFile.empty())
    return "--imatrix needs a file";
  if (gptqFile.getNumOccurrences() && gptqFile.empty())
    return "--gptq needs a file";
  if (!imatrixFile.empty() && !gptqFile.empty() && imatrixFile != gptqFile)
    return "--imatrix and --gptq must name the same statistics file (one "
           "calibration file per model), got '" +
           imatrixFile.getValue() + "' and '" + gptqFile.getValue() + "'";
  if (!(gptqDamp >= 0) || gptqDamp > 1e6)
    return "--gptq-damp needs a non-negative number";
  if (gptqBlock < 1)
    return "--gptq-block needs a positive column count";
  const models::QuantizationMode *m = models::findQuantizationMode(mode);
  if (any && m && m->kind != models::QuantizationMode::Kind::GroupQuant &&
      m->kind != models::QuantizationMode::Kind::MNN)
    return std::string(imatrixFile.getNumOccurrences() ? "--imatrix"
                                                        : "--gptq") +
           " applies to the group modes (q3f16_*, q4f16_*, ...) and the MNN "
           "modes, not '" + mode + "'";
  if (any && m && m->kind == models::QuantizationMode::Kind::MNN && m->mnnHqq)
    return "calibration statistics do not combine with HQQ ('" + mode +
           "'): HQQ optimizes its own objective";
  return "";
}

namespace qopt {
int runConvert() {
  std::string shardsText = shardsOpt;
  if (shardsText.empty())
    if (const char *env = std::getenv("MLC_INTERNAL_PRESHARD_NUM"))
      shardsText = env;
  if (config.empty())
    return usageError("missing CONFIG (a model directory or its config.json)");
  if (quantization.empty())
    return usageError("missing --quantization MODE; valid modes: " +
                      models::quantizationModeList());
  std::string mode = llvm::StringRef(quantization).lower();
  std::string mnnFlag = lastMnnFlag();
  if (mnnBits.getNumOccurrences() && (mnnBits < 2 || mnnBits > 8))
    return usageError("--weight-quant-bits needs a value from 2 to 8");
  int64_t block = 0;
  if (llvm::StringRef(mnnBlock).getAsInteger(10, block) ||
      !models::isValidMnnBlock(block))
    return usageError("--weight-quant-block must be 0 (channel-wise) or a "
                      "multiple of 16 from 32 to 256, got '" +
                      mnnBlock.getValue() + "'");
  if (!mnnFlag.empty() && mode != "mnn")
    return usageError(mnnFlag + " applies only to --quantization mnn" +
                      (llvm::StringRef(mode).starts_with("mnn_")
                           ? " (the mode name '" + mode + "' already fixes it)"
                           : ", not '" + mode + "'"));
  if (mode == "mnn") {
    if (mnnHqq && !mnnAsymmetric)
      return usageError("--hqq needs --weight-quant-asymmetric (HQQ optimizes "
                        "zero points)");
    mode = models::mnnModeName(int(mnnBits), mnnAsymmetric, block, mnnHqq);
  }
  if (const auto *m = models::findQuantizationMode(mode);
      m && m->kind == models::QuantizationMode::Kind::MNN &&
      !models::isValidMnnBlock(m->mnnBlock))
    return usageError("MNN block must be 0 (channel-wise) or a multiple of "
                      "16 from 32 to 256, got " +
                      std::to_string(m->mnnBlock) + " in '" + mode + "'");
  int64_t shards = 1;
  if (!shardsText.empty() &&
      (llvm::StringRef(shardsText).getAsInteger(10, shards) || shards < 1))
    return usageError("tensor-parallel shard count must be a positive "
                      "integer, got '" + shardsText + "'");
  if (std::string why = models::unsupportedModeReason(mode, shards);
      !why.empty())
    return usageError(why);
  if (!models::findQuantizationMode(mode))
    return usageError("unknown quantization mode '" + quantization +
                      "'; valid modes: " + models::quantizationModeList());
  if (output.empty() && !dryRun)
    return usageError("missing -o OUTPUT");
  if (!part.empty()) {
    auto [i, n] = llvm::StringRef(part).split('/');
    uint32_t index, count;
    if (i.getAsInteger(10, index) || n.getAsInteger(10, count) || index < 1 ||
        index > count)
      return usageError("--part needs I/N with 1 <= I <= N, got '" + part +
                        "'");
  }
  uint64_t shardCapBytes = 32ull << 20;
  if (shardCapMb.getNumOccurrences()) {
    const std::string &v = shardCapMb;
    char *end = nullptr;
    double mb = std::strtod(v.c_str(), &end);
    if (v.empty() || *end || !(mb * 1048576 >= 1) || mb > 1e9)
      return usageError("--shard-cap-mb needs a positive size in MiB, got '" +
                        v + "'");
    shardCapBytes = uint64_t(mb * 1048576);
  }
  if (std::string err = checkCalibrationFlags(mode); !err.empty())
    return usageError(err);
  if (threads > 4096)
    return usageError("--threads needs a count between 0 and 4096");
  if (segments.getNumOccurrences() && (!part.empty() || dryRun))
    return usageError(std::string("--segments applies to a whole conversion, "
                                  "not with ") +
                      (part.empty() ? "--dry-run" : "--part"));
  if (quiet && verbose)
    return usageError("--quiet and --verbose exclude each other");
  if (strict && allowRequantize)
    return usageError("--strict and --allow-requantize exclude each other");
  std::string deviceKind, deviceShown;
  std::vector<std::string> deviceLog;
  if (std::string err =
          resolveDevice(device, deviceKind, deviceShown, deviceLog);
      !err.empty())
    return usageError(err);

  DialectRegistry registry;
  ::qopt::registerAllDialects(registry);
  std::unique_ptr<MLIRContext> ctx = makeContext(registry);

  LogLevel level = quiet     ? LogLevel::Quiet
                   : verbose ? LogLevel::Verbose
                             : LogLevel::Info;
  std::string sourcePath = llvm::StringRef(source).lower() == "auto"
                               ? std::string()
                               : source.getValue();
  ConvertLogArgs logArgs;
  logArgs.level = level;
  logArgs.quantization = mode;
  logArgs.device = deviceShown;
  logArgs.deviceLog = deviceLog;
  logArgs.sourceFormat = llvm::StringRef(sourceFormat).lower();
  logArgs.output = output;
  logArgs.loraAdapter = loraAdapter;
  logArgs.threads = threads;

  OwningOpRef<ModuleOp> module =
      ModuleOp::create(FileLineColLoc::get(ctx.get(), config, 0, 0));
  weights::ConvertPipelineOptions opts;
  opts.config = config;
  opts.source = sourcePath;
  opts.sourceFormat = logArgs.sourceFormat;
  opts.modelType = llvm::StringRef(modelType).lower();
  opts.quantization = mode;
  opts.rounding = rounding;
  opts.optimizeScales = optimizeScales;
  opts.clampWeights = clampWeights;
  opts.graph = graph;
  opts.output = output;
  opts.tensorParallelShards = shards;
  opts.threads = threads;
  opts.device = deviceKind;
  opts.statsJson = statsJson;
  opts.part = part;
  opts.shardCapBytes = shardCapBytes;
  opts.printStats = level != LogLevel::Quiet;
  opts.logParams = level != LogLevel::Quiet;
  opts.dryRun = dryRun;
  opts.accuracy = accuracy;
  opts.progress = level != LogLevel::Quiet;
  opts.loraAdapter = loraAdapter;
  opts.requantize = allowRequantize ? "allow" : strict ? "error" : "warn";
  opts.imatrix = imatrixFile;
  opts.gptq = gptqFile;
  opts.gptqDamp = gptqDamp;
  opts.gptqBlock = gptqBlock;
  opts.gptqActOrder = gptqActOrder;
  opts.awq = awq;
  opts.awqRows = awqRows;
  // Nothing prints the IR after the conversion: a part drops the other
  // parts' IR before its chunks run (docs/design.md).
  opts.eraseOtherParts = true;
  // A part plans in one context and runs in another (docs/design.md, "What
  // is alive while the chunks run").
  bool twoContexts = !part.empty() && !dryRun;
  if (twoContexts)
    opts.stage = weights::ConvertStage::Plan;
  bool whole = part.empty() && !dryRun;
  if (whole)
    opts.stage = weights::ConvertStage::Plan;
  {
    PassManager pm(ctx.get());
    weights::buildConvertPipeline(pm, opts);
    pm.addInstrumentation(::qopt::createConvertLogger(logArgs));
    if (failed(pm.run(*module)))
      return 1;
  }
  if (twoContexts) {
    opts.stage = weights::ConvertStage::Serialize;
    return runInFreshContext(module, ctx, registry, opts);
  }
  if (!whole)
    return 0;
  return runSegments(module, ctx, registry, opts, segments, config);
}
} // namespace qopt
