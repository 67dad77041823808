//===- Prefetch.cpp - Read-ahead of the checkpoint rows of a chunk -*- C++ -*-===//

#include "dialects/Weights/Transforms/Prefetch.h"
#include "dialects/Weights/IR/WeightsOps.h"
#include "dialects/Weights/Transforms/Utils.h"

#include <fcntl.h>
#include <unistd.h>

using namespace mlir;
using namespace mlir::qopt::weights;

void mlir::qopt::weights::prefetchRows(Value v, int64_t r0, int64_t r1) {
  if (r1 <= r0)
    return;
  Operation *def = v.getDefiningOp();
  if (isa_and_nonnull<CastOp, AddConstantOp>(def))
    return prefetchRows(def->getOperand(0), r0, r1);
  if (auto c = dyn_cast_or_null<ConcatOp>(def)) {
    if (c.getAxis() != 0)
      return;
    int64_t base = 0;
    for (Value in : c.getInputs()) {
      int64_t n = cast<RankedTensorType>(in.getType()).getDimSize(0);
      int64_t lo = std::max(r0, base), hi = std::min(r1, base + n);
      if (lo < hi)
        prefetchRows(in, lo - base, hi - base);
      base += n;
    }
    return;
  }
  auto s = dyn_cast_or_null<SourceOp>(def);
  if (!s || s.getStrides() || s.getEncoding() || s.getUnpermuteHeads())
    return;
  auto type = cast<RankedTensorType>(s.getType());
  std::optional<::qopt::numerics::DType> dt =
      fromMlirType(type.getElementType());
  if (!dt || type.getRank() == 0 || type.getDimSize(0) <= 0)
    return;
  uint64_t rowBytes = uint64_t(type.getNumElements()) /
                      uint64_t(type.getDimSize(0)) *
                      ::qopt::numerics::dtypeSize(*dt);
  int fd = ::open(s.getFile().str().c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return;
  ::posix_fadvise(fd, off_t(uint64_t(s.getOffset()) + uint64_t(r0) * rowBytes),
                  off_t(uint64_t(r1 - r0) * rowBytes), POSIX_FADV_WILLNEED);
  ::close(fd);
}

void mlir::qopt::weights::prefetchChunk(EvaluableOpInterface op, int64_t r0,
                                        int64_t r1) {
  Operation *o = op.getOperation();
  if (o->getNumResults() == 0)
    return;
  prefetchRows(o->getResult(0), r0, r1);
  if (o->getNumOperands() == 0 || !op.isRowLocal())
    return;
  auto in = dyn_cast<RankedTensorType>(o->getOperand(0).getType());
  auto out = dyn_cast<RankedTensorType>(o->getResult(0).getType());
  if (in && out && in.getRank() > 0 && out.getRank() > 0 &&
      in.getDimSize(0) == out.getDimSize(0))
    prefetchRows(o->getOperand(0), r0, r1);
}
