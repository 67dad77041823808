//===- WeightRange.h - Non-finite and out-of-range source weights -*- C++ -*-===//
//
// Which float type each source tensor's values end up cast to, and the
// located error for a weight that type cannot hold (qopt/Numerics/Range.h,
// docs/reliability.md). The executor checks every source chunk it reads.
//
//===----------------------------------------------------------------------===//

#ifndef QOPT_WEIGHTS_TRANSFORMS_WEIGHTRANGE_H
#define QOPT_WEIGHTS_TRANSFORMS_WEIGHTRANGE_H

#include "dialects/Weights/IR/WeightsEvaluation.h"
#include "dialects/Weights/IR/WeightsOps.h"
#include "qopt/Numerics/Range.h"

#include "llvm/ADT/DenseMap.h"
#include "llvm/Support/Error.h"

namespace mlir::qopt::weights {

struct WeightRangePolicy {
  /// Per weights.source op, the narrowest float format a cast on the way to
  /// a parameter gives its values.
  llvm::DenseMap<Operation *, ::qopt::numerics::FloatFormat> targets;
  /// --clamp-weights: clamp instead of failing.
  bool clamp = false;

  /// Walks the definitions of `params` (null entries are skipped); a
  /// source's `range_type` counts as a cast on the way.
  static WeightRangePolicy build(ArrayRef<ParamOp> params, bool clamp);

  /// The format values of `source` (stored as `own`) must be finite in.
  ::qopt::numerics::FloatFormat
  targetOf(SourceOp source, ::qopt::numerics::FloatFormat own) const;

  /// Whether checkWeightRange accepts every chunk of `source` whose values
  /// are all finite once rounded to `format`
  /// (EvaluationOptions::sourceCheckFollowsFromFinite): without clamping,
  /// when the format the values must be finite in is the narrower of their
  /// own and `format` (float16, bfloat16 or float32; a source of another
  /// type is never checked).
  bool followsFromFinite(Operation *source,
                         ::qopt::numerics::DType format) const;

  /// "<file>: tensor '<key>': element [r, c] is <value>..." for the element
  /// `index` of a chunk of `source` that starts at row `row0`.
  llvm::Error error(SourceOp source, int64_t row0, ArrayRef<int64_t> chunkShape,
                    size_t index, float value,
                    ::qopt::numerics::FloatFormat target) const;
};

/// Checks (or, with policy.clamp, clamps in place) a chunk of rows of the
/// weights.source `source` starting at row `r0` (the signature of
/// EvaluationOptions::checkSourceRows); float16/bfloat16/float32 only.
llvm::Error checkWeightRange(const WeightRangePolicy &policy,
                             Operation *source, int64_t r0, RowBuffer &rows);

} // namespace mlir::qopt::weights

#endif // QOPT_WEIGHTS_TRANSFORMS_WEIGHTRANGE_H
