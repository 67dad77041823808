//===- Prefetch.cpp - Read-ahead of the checkpoint rows of a chunk -*- C++
//-*-===//
//
// Follows EvaluableOpInterface::getRowReads from a chunk's op down to the
// checkpoint byte ranges it will read and hands them to the kernel. Which
// rows an op reads is the op's business (docs/design.md, "Evaluation"); no
// op class is named here.
//
//===----------------------------------------------------------------------===//

#include "dialects/Weights/Transforms/Prefetch.h"

#include "llvm/ADT/SmallPtrSet.h"

#include <fcntl.h>
#include <unistd.h>

using namespace mlir;
using namespace mlir::qopt::weights;

/// Starts the kernel reading `bytes` into the page cache.
static void adviseWillNeed(const RowReads::FileBytes &bytes) {
  int fd = ::open(bytes.path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return;
  ::posix_fadvise(fd, off_t(bytes.offset), off_t(bytes.length),
                  POSIX_FADV_WILLNEED);
  ::close(fd);
}

/// Reads ahead what `op` reads for rows [r0, r1), following operand rows
/// to the ops that produce them.
static void prefetchOpRows(EvaluableOpInterface op, int64_t r0, int64_t r1,
                           StringRef root) {
  SmallVector<std::tuple<EvaluableOpInterface, int64_t, int64_t>> work = {
      {op, r0, r1}};
  while (!work.empty()) {
    auto [o, lo, hi] = work.pop_back_val();
    RowReads reads;
    reads.checkpointRoot = root;
    o.getRowReads(lo, hi, reads);
    for (const RowReads::FileBytes &bytes : reads.fileBytes)
      adviseWillNeed(bytes);
    for (const RowReads::OperandRows &rows : reads.operandRows)
      if (auto def = rows.value.getDefiningOp<EvaluableOpInterface>())
        work.push_back({def, rows.r0, rows.r1});
  }
}

void mlir::qopt::weights::prefetchRows(Value v, int64_t r0, int64_t r1,
                                       StringRef root) {
  if (r1 <= r0)
    return;
  if (auto def = v.getDefiningOp<EvaluableOpInterface>())
    prefetchOpRows(def, r0, r1, root);
}

void mlir::qopt::weights::prefetchChunk(EvaluableOpInterface op, int64_t r0,
                                        int64_t r1, StringRef root) {
  if (op->getNumResults() == 0 || r1 <= r0)
    return;
  prefetchOpRows(op, r0, r1, root);
}
