//===- Calibration.h - Activation statistics of linear layers ---*- C++ -*-===//
//
// Runs the reference decoder forward (Decoder.h) over calibration tokens one
// layer at a time and writes, for the input x of every linear layer, the
// statistics the weight-quantization methods use, into a STATS file
// (docs/calibration.md):
//
//   W.imatrix  F32 [K]      mean over tokens of x_k^2
//   W.count    I64 [1]      tokens accumulated
//   W.hessian  F32 [K, K]   mean over tokens of x x^T (with `hessian`)
//
// keyed by the MLC weight name W; stacked experts get [E, K], [E], [E, K, K]
// over the tokens routed to each. Sums are taken in double, token by token
// in stream order, each sum by one thread: the file has the same bytes for
// any thread count. Memory: one layer's weights, the activations of all
// calibration tokens, one Hessian.
//
//===----------------------------------------------------------------------===//

#ifndef QOPT_EVAL_CALIBRATION_H
#define QOPT_EVAL_CALIBRATION_H

#include "qopt/Eval/Decoder.h"

#include "llvm/ADT/ArrayRef.h"
#include "llvm/ADT/StringRef.h"
#include "llvm/Support/Error.h"

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace qopt::eval {

//===----------------------------------------------------------------------===//
// StatsFileWriter: a safetensors file written as its tensors are computed
//===----------------------------------------------------------------------===//

/// One tensor of a STATS file.
struct StatsTensor {
  std::string name;
  bool isInt64 = false; // I64, else F32
  std::vector<int64_t> shape;
  uint64_t bytes() const;
};

/// Writes a safetensors file whose tensors are all declared up front (the
/// header, with every offset, goes first) and whose data then arrives in
/// declaration order, in pieces. The bytes go to a temporary file next to
/// the destination ("<path>.partial-XXXXXX", removed on error, on a signal
/// and when the writer is destroyed uncommitted); commit() checks that every
/// byte came, fsyncs and renames it over `path`, so `path` only ever holds a
/// complete file.
class StatsFileWriter {
public:
  static llvm::Expected<std::unique_ptr<StatsFileWriter>>
  create(llvm::StringRef path,
         llvm::ArrayRef<std::pair<std::string, std::string>> metadata,
         std::vector<StatsTensor> tensors);
  ~StatsFileWriter();

  /// Appends bytes of `tensor`, which must be the tensor being written (the
  /// next one once the current is complete).
  llvm::Error append(llvm::StringRef tensor, const void *data, uint64_t bytes);
  llvm::Error commit();

private:
  StatsFileWriter() = default;
  std::string path, tempPath;
  int fd = -1;
  std::vector<StatsTensor> tensors;
  size_t current = 0;
  uint64_t writtenOfCurrent = 0;
  bool committed = false;
};

//===----------------------------------------------------------------------===//
// Calibration
//===----------------------------------------------------------------------===//

struct CalibrationOptions {
  /// Window length: the token stream is cut into windows of this many
  /// tokens, each run from position 0.
  int64_t context = 512;
  bool hessian = false;
  unsigned threads = 1;
  /// Called after the embedding (0), each layer (1..L) and the final norm
  /// (L + 1) with (done, L + 1).
  std::function<void(int64_t, int64_t)> progress;
};

struct CalibrationResult {
  int64_t tokens = 0, windows = 0, tensors = 0;
};

/// The tensors of the STATS file of `config`, in file order: per linear
/// layer (decoderLinears order) W.hessian (with `hessian`), W.imatrix,
/// W.count.
std::vector<StatsTensor> statsTensors(const DecoderConfig &config,
                                      bool hessian);

/// Calibrates on `tokens` (each in [0, vocab); at least one) and writes the
/// STATS file `out`.
llvm::Expected<CalibrationResult>
calibrate(const DecoderConfig &config, WeightSource &source,
          llvm::ArrayRef<int32_t> tokens, llvm::StringRef out,
          const CalibrationOptions &options);

/// Sum over rows of x_k^2 for each k (x [rows, k]), in row order, in double,
/// added to `sums` [k]; split over threads by ranges of k.
void accumulateSquares(const float *x, int64_t rows, int64_t k, double *sums,
                       unsigned threads);

/// Sum over rows of x_i x_j for j <= i (x [rows, k]), in row order, in
/// double, added to the lower triangle of `sums` [k, k]; split over threads
/// by blocks of i.
void accumulateOuterProducts(const float *x, int64_t rows, int64_t k,
                             double *sums, unsigned threads);

} // namespace qopt::eval

#endif // QOPT_EVAL_CALIBRATION_H
