//===- SerializeLog.cpp - What the serialize pass prints ------*- C++ -*-===//

#include "dialects/Weights/Transforms/SerializeLog.h"

#include "dialects/Weights/IR/WeightsEvaluation.h"
#include "dialects/Weights/Transforms/SerializeSegments.h"

#include "llvm/Support/Format.h"
#include "llvm/Support/Process.h"

#include <sys/resource.h>

using namespace mlir;
using namespace mlir::qopt::weights;
namespace tc = ::qopt::tensorcache;
using ::qopt::numerics::DType;

void mlir::qopt::weights::summarizeSources(ModelOp model, uint64_t &bytes,
                                           bool &gguf) {
  bytes = 0;
  gguf = false;
  model.walk([&](SourceOp s) {
    auto type = cast<RankedTensorType>(s.getType());
    gguf |= s.getFile().ends_with(".gguf");
    if (std::optional<DType> dt = fromMlirType(type.getElementType()))
      bytes += uint64_t(type.getNumElements()) * ::qopt::numerics::dtypeSize(*dt);
  });
}

namespace mlir::qopt::weights::serializelog {

static bool color() { return llvm::sys::Process::StandardErrHasColors(); }

void printHashStats(const tc::ShardHasher::Stats &s) {
  llvm::errs() << llvm::format(
      "md5: %llu bytes hashed as written (%llu waited out of order, %llu "
      "read back), %llu batches (%llu cut short), %.1f lanes per batch, at "
      "most %.1f MB "
      "waiting in %.1f MB of copies, %llu staged files mapped, %llu "
      "page drops\n",
      (unsigned long long)s.bytes, (unsigned long long)s.outOfOrder,
      (unsigned long long)s.readBack, (unsigned long long)s.batches,
      (unsigned long long)s.cutShort,
      s.batches ? double(s.laneBatches) / double(s.batches) : 0.0,
      double(s.peakWaiting) / 1e6, double(s.peakHeld) / 1e6,
      (unsigned long long)s.viewMaps,
      (unsigned long long)s.pageDrops);
}

std::string bold(const std::string &text) {
  return color() ? "\033[1m" + text + "\033[0m" : text;
}
std::string green(const std::string &text) {
  return color() ? "\033[92m" + text + "\033[0m" : text;
}

/// mlc_llm's statistics lines (statistics on stderr; in a dry run's plan,
/// on stdout).
void printStatistics(llvm::raw_ostream &os,
                            const tc::Statistics &stats,
                            const std::string &last) {
  bool styled = &os == &llvm::errs() && color();
  for (const std::string &line : tc::formatStatisticsLines(stats, styled))
    os << line << "\n";
  if (!last.empty())
    os << last << "\n";
}

/// "(256, 32)", "(128,)", "()": a Python tuple, as mlc_llm prints shapes.
std::string pythonShape(ArrayRef<int64_t> shape) {
  std::string s = "(";
  for (size_t i = 0; i < shape.size(); ++i)
    s += (i ? ", " : "") + std::to_string(shape[i]);
  return s + (shape.size() == 1 ? ",)" : ")");
}

/// What mlc_llm logs while converting: one line per parameter as it
/// leaves the quantizer (before presharding; the shards of one tensor
/// once, under its name), appended to `lines`.
void appendParamLines(ArrayRef<ParamOp> params,
                      std::vector<std::string> &lines,
                      llvm::StringSet<> &logged) {
  for (ParamOp p : params) {
    if (!p)
      continue;
    Value v = p.getValue();
    std::string name = p.getName().str();
    if (auto shard = v.getDefiningOp<ShardOp>()) {
      v = shard.getInput();
      name = name.substr(0, name.rfind("_shard-"));
      if (!logged.insert(name).second)
        continue;
    }
    auto type = cast<RankedTensorType>(v.getType());
    std::optional<DType> dt = fromMlirType(type.getElementType());
    lines.push_back(
        std::string(v.getDefiningOp<QuantizeOp>() ? "[Quantized]"
                                                  : "[Not quantized]") +
        " Parameter: \"" + bold(name) +
        "\", shape: " + pythonShape(type.getShape()) + ", dtype: " +
        std::string(dt ? ::qopt::numerics::tvmName(*dt) : "?") + "\n");
  }
}

/// mlc_llm's time and RAM usage lines after the parameters.
void printUsage(const ExecutorTimes &times, uint64_t sourceBytes,
                       bool gguf) {
  llvm::raw_ostream &os = llvm::errs();
  auto secs = [](const std::atomic<uint64_t> &ns) { return double(ns) / 1e9; };
  os << green("Time usage")
     << llvm::format(": %s loading: %.3f sec; Pre-quantization mapping: "
                     "%.3f sec; Quantization: %.3f sec\n",
                     gguf ? "GGUF" : "HF", secs(times.loadNs),
                     secs(times.mapNs), secs(times.quantNs));
  struct rusage usage {};
  getrusage(RUSAGE_SELF, &usage);
  double gib = 1024.0 * 1024.0 * 1024.0;
  os << green("RAM usage")
     << llvm::format(": Peak RAM: %.3f GB. Total bytes loaded from disk: "
                     "%.3f GB\n",
                     double(usage.ru_maxrss) * 1024.0 / gib,
                     double(sourceBytes) / gib);
}

TensorError total(const std::vector<TensorError> &errors) {
  TensorError all;
  for (const TensorError &e : errors) {
    all.signal += e.signal;
    all.noise += e.noise;
  }
  return all;
}

void printAccuracy(const std::vector<TensorError> &errors) {
  if (errors.empty()) {
    llvm::errs() << "Quantization error: no quantized weights\n";
    return;
  }
  TensorError all = total(errors);
  llvm::errs() << llvm::format(
      "Quantization error: relative Frobenius %.6f, SQNR %.2f dB over %zu "
      "quantized weights\n",
      all.relFrobenius(), all.sqnrDb(), errors.size());
}


} // namespace mlir::qopt::weights::serializelog
