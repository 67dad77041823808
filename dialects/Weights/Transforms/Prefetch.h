//===- Prefetch.h - Read-ahead of the checkpoint rows of a chunk -*- C++ -*-===//
//
// While a worker quantizes one chunk, the kernel reads the rows of a later
// chunk into the page cache (posix_fadvise WILLNEED starts the reads and
// returns), so a cold checkpoint is read while the CPUs compute instead of
// in the synchronous page faults of the next chunk's mmap.
//
//===----------------------------------------------------------------------===//

#ifndef QOPT_DIALECTS_WEIGHTS_TRANSFORMS_PREFETCH_H
#define QOPT_DIALECTS_WEIGHTS_TRANSFORMS_PREFETCH_H

#include "dialects/Weights/IR/WeightsOps.h"
#include "mlir/IR/Value.h"

#include <cstdint>

namespace mlir::qopt::weights {

/// Asks the kernel to read ahead the checkpoint bytes of rows [r0, r1) of
/// `v`, looking through casts, added constants and row concatenations down
/// to plain (unstrided, unencoded) sources. Best effort: anything else, and
/// any error, is ignored.
void prefetchRows(Value v, int64_t r0, int64_t r1);

/// Reads ahead what evaluating rows [r0, r1) of `op` will read: its first
/// result's producers, and for a row-local op whose first operand has the
/// same rows (a quantize, a cast), that operand's.
void prefetchChunk(EvaluableOpInterface op, int64_t r0, int64_t r1);

} // namespace mlir::qopt::weights

#endif // QOPT_DIALECTS_WEIGHTS_TRANSFORMS_PREFETCH_H
