//===- SerializeLog.h - What the serialize pass prints --------*- C++ -*-===//
//
// mlc_llm's log lines and quant-opt's statistics lines, as
// qopt-serialize-tensor-cache prints them after a conversion.
//
//===----------------------------------------------------------------------===//

#ifndef QOPT_DIALECTS_WEIGHTS_TRANSFORMS_SERIALIZELOG_H
#define QOPT_DIALECTS_WEIGHTS_TRANSFORMS_SERIALIZELOG_H

#include "dialects/Weights/IR/WeightsOps.h"
#include "dialects/Weights/Transforms/Executor.h"
#include "qopt/TensorCache/TensorCache.h"

#include "llvm/ADT/StringSet.h"
#include "llvm/Support/raw_ostream.h"

#include <string>
#include <vector>

namespace mlir::qopt::weights::serializelog {

/// QOPT_HASH_STATS=1: where the md5 bytes came from.
void printHashStats(const ::qopt::tensorcache::ShardHasher::Stats &s);
/// `text` in bold / MLC's green when stderr shows colors.
std::string bold(const std::string &text);
std::string green(const std::string &text);
/// mlc_llm's statistics lines, then `last` when not empty.
void printStatistics(llvm::raw_ostream &os,
                     const ::qopt::tensorcache::Statistics &stats,
                     const std::string &last);
/// "(256, 32)", "(128,)", "()": a Python tuple, as mlc_llm prints shapes.
std::string pythonShape(ArrayRef<int64_t> shape);
/// Appends mlc_llm's line of each parameter of `params` (null entries
/// skipped) as it leaves the quantizer: before presharding, the shards of
/// one tensor once (under its name, kept in `logged`).
void appendParamLines(ArrayRef<ParamOp> params, std::vector<std::string> &lines,
                      llvm::StringSet<> &logged);
/// mlc_llm's time and RAM usage lines after the parameters.
void printUsage(const ExecutorTimes &times, uint64_t sourceBytes, bool gguf);
/// The errors summed.
TensorError total(const std::vector<TensorError> &errors);
/// The --accuracy summary line.
void printAccuracy(const std::vector<TensorError> &errors);

} // namespace mlir::qopt::weights::serializelog

#endif // QOPT_DIALECTS_WEIGHTS_TRANSFORMS_SERIALIZELOG_H
