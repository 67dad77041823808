//===- SerializeSegments.h - One tensor cache from several runs -*- C++ -*-===//
//
// A large model's conversion runs as segments of consecutive records, each
// planned and serialized in MLIR contexts of its own, so that the IR (and
// everything it uniqued) of one segment at a time is alive while its chunks
// run (docs/design.md, "What is alive while the chunks run"). The serialize
// passes of the segments share one writer, which stages every shard and
// commits once, after the last segment: the output directory changes only
// then, as with one run.
//
//===----------------------------------------------------------------------===//

#ifndef QOPT_DIALECTS_WEIGHTS_TRANSFORMS_SERIALIZESEGMENTS_H
#define QOPT_DIALECTS_WEIGHTS_TRANSFORMS_SERIALIZESEGMENTS_H

#include "dialects/Weights/Transforms/Executor.h"
#include "dialects/Weights/Transforms/Passes.h"

#include "llvm/ADT/StringSet.h"

#include <memory>
#include <string>
#include <vector>

namespace mlir::qopt::weights {

/// What the serialize passes of one conversion's segments share. The
/// caller sets the whole model's source summary before the first segment
/// and `commit` before the last.
struct SerializeSegments {
  /// The writer of the whole tensor cache, made by the first segment from
  /// its records (every record: the others are weights.external_param).
  std::unique_ptr<::qopt::tensorcache::TensorCacheWriter> writer;
  ExecutorTimes times;
  /// --accuracy: each quantized weight's error once, in emission order.
  std::vector<TensorError> errors;
  llvm::StringSet<> measuredWeights;
  /// mlc_llm's per-parameter log lines, in emission order, each once.
  std::vector<std::string> paramLines;
  llvm::StringSet<> loggedParams;
  /// Bytes of the whole model's source tensors, and whether one is GGUF
  /// (the time and RAM usage lines).
  uint64_t sourceBytes = 0;
  bool gguf = false;
  /// Whether this segment is the last: it commits the cache and prints
  /// what one run prints at the end.
  bool commit = false;
};

/// The source summary of `model` for SerializeSegments.
void summarizeSources(ModelOp model, uint64_t &bytes, bool &gguf);

/// qopt-serialize-tensor-cache for one segment: writes the records with a
/// definition in the IR (the others are weights.external_param) into
/// `segments->writer`, and commits with the last segment. `part` must be
/// empty.
std::unique_ptr<Pass>
createSerializeTensorCache(const SerializeTensorCacheOptions &options,
                           SerializeSegments *segments);

} // namespace mlir::qopt::weights

#endif // QOPT_DIALECTS_WEIGHTS_TRANSFORMS_SERIALIZESEGMENTS_H
