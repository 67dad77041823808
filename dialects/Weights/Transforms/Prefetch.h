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
/// `v`, following what each op reports it reads
/// (EvaluableOpInterface::getRowReads) down to the checkpoint byte ranges of
/// sources. Best effort: any error is ignored. `root`, when not empty,
/// replaces the model's checkpoint_root.
void prefetchRows(Value v, int64_t r0, int64_t r1, StringRef root = {});

/// Reads ahead what evaluating rows [r0, r1) of `op` (a chunk's op) will
/// read, as prefetchRows does for its results.
void prefetchChunk(EvaluableOpInterface op, int64_t r0, int64_t r1,
                   StringRef root = {});

} // namespace mlir::qopt::weights

#endif // QOPT_DIALECTS_WEIGHTS_TRANSFORMS_PREFETCH_H
