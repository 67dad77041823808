//===- Executor.h - Evaluate parameters into a tensor cache -*- C++ -*-===//
//
// The conversion scheduler behind qopt-serialize-tensor-cache: cuts the
// tensors of the weights.param ops into row chunks, has a pool of threads
// evaluate them through the ops' EvaluableOpInterface, and writes every
// chunk at its planned place in the staged shard files. It knows no op:
// the semantics live on the ops and scheme attributes (docs/design.md,
// "Evaluation").
//
//===----------------------------------------------------------------------===//

#ifndef QOPT_DIALECTS_WEIGHTS_TRANSFORMS_EXECUTOR_H
#define QOPT_DIALECTS_WEIGHTS_TRANSFORMS_EXECUTOR_H

#include "dialects/Weights/IR/WeightsOps.h"
#include "qopt/TensorCache/TensorCache.h"

#include "llvm/Support/Error.h"

#include <atomic>
#include <functional>

namespace mlir::qopt::weights {

class ProgressLine;

/// Seconds the workers spent (summed over threads), as mlc_llm's
/// "Time usage" line reports them.
struct ExecutorTimes {
  std::atomic<uint64_t> loadNs{0};  // reading checkpoint bytes
  std::atomic<uint64_t> mapNs{0};   // concat/stack/transpose/cast/merge
  std::atomic<uint64_t> quantNs{0}; // quantization
};

/// What the scheduler did (ExecutorOptions::stats).
struct ExecutorStats {
  size_t chunks = 0;       // chunks planned
  size_t subRowChunks = 0; // of them, sub-rows of a row (stacked experts)
  /// The most bytes of evaluation buffers (RowBuffer data and other
  /// UninitVectors, not the mapped checkpoint rows) one worker held while
  /// it computed and wrote one chunk.
  uint64_t maxChunkBufferBytes = 0;
  /// Checkpoint rows mapped (TensorReader::mapRows), those that were views
  /// of a whole file's mapping, those placed in a worker's mapping range,
  /// and the unmappings or page drops (TLB shootdowns when another worker
  /// runs) they cost, the final ones included.
  uint64_t inputMappings = 0, inputMappingsInViews = 0,
           inputMappingsInRanges = 0, inputUnmappings = 0;
};

struct ExecutorOptions {
  /// Worker threads; 0 = all cores.
  unsigned threads = 0;
  /// Target bytes of input one chunk evaluates at a time, counted as
  /// float32 (a float16 chunk is half of it). 4 MiB: the 2 MiB of a float16
  /// chunk stay in a core's L2 cache between the range check's pass and the
  /// kernel's (8 MiB measured 4-6% more CPU for q4f16_1 and more RSS).
  uint64_t chunkBytes = 4ull << 20;
  /// Print a progress line on stderr (only when it is a terminal).
  bool progress = false;
  /// Where the progress line is drawn (with `progress`); the caller clears
  /// it.
  ProgressLine *progressLine = nullptr;
  /// When set, receives the time spent per phase.
  ExecutorTimes *times = nullptr;
  /// Measure the quantization error of every quantized parameter.
  bool accuracy = false;
  /// Run casts, group quantization and float8 quantization with the CUDA
  /// kernels (qopt/Kernels/Cuda.h; the caller checked for a device).
  bool cuda = false;
  /// Read the checkpoint files relative to this directory instead of each
  /// model's `checkpoint_root` (the checkpoint was moved); empty: the IR's.
  std::string checkpointRoot;
  /// Read the calibration statistics from this file instead of each
  /// model's `calibration_file`; empty: the IR's.
  std::string calibrationFile;
  /// Clamp NaN, infinite and out-of-range source weights instead of failing
  /// (qopt/Numerics/Range.h).
  bool clampWeights = false;
  /// When set, receives what the scheduler did.
  ExecutorStats *stats = nullptr;
  /// Called once, after every parameter has been checked and the chunks
  /// planned, before the workers start. From then on the executor reads
  /// only the definitions of the records the writer wants (its part), so
  /// the caller may erase the others' IR and return freed memory
  /// (SerializeTensorCache.cpp).
  std::function<void()> beforeRun;
};

/// Quantization error of one weight: its model-dtype values w against the
/// dequantized values wq.
struct TensorError {
  std::string name; // the weight's name, e.g. "model.layers.0.mlp.down_proj.weight"
  double signal = 0; // sum of w^2
  double noise = 0;  // sum of (w - wq)^2
  double relFrobenius() const;
  double sqnrDb() const;
};

/// Evaluates `params` (record i of `writer` is params[i]; null for a record
/// of another part, which the writer must not want) and writes them.
/// The first error stops the workers and is returned: an EvaluationError at
/// the op that could not be evaluated (its message names the parameter), or
/// a plain error of the writer.
/// With `options.accuracy`, `errors` receives one entry per quantized weight,
/// in emission order (sums taken in a fixed order: the same for any thread
/// count).
llvm::Error executeParams(llvm::ArrayRef<ParamOp> params,
                          ::qopt::tensorcache::TensorCacheWriter &writer,
                          const ExecutorOptions &options,
                          std::vector<TensorError> *errors = nullptr);

} // namespace mlir::qopt::weights

#endif // QOPT_DIALECTS_WEIGHTS_TRANSFORMS_EXECUTOR_H
