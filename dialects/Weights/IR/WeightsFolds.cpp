//===- WeightsFolds.cpp - Folders of the weights ops -------------*- C++ -*-===//
//
// Simplifications that keep every byte of the tensor cache: a cast to the
// same type, a cast of an exact cast, a concatenation of one tensor, a
// transpose of a transpose, one shard of one (docs/design.md, "Folding").
//
//===----------------------------------------------------------------------===//

#include "dialects/Weights/IR/WeightsOps.h"
#include "qopt/Numerics/Convert.h"

#include "llvm/ADT/APFloat.h"

using namespace mlir;
using namespace mlir::qopt::weights;

/// Whether casting from `a` to `b` loses nothing: a float format that holds
/// every value of `a`, or a same-width integer reinterpretation.
static bool isExactCast(Type a, Type b) {
  if (a == b)
    return true;
  auto fa = dyn_cast<FloatType>(a), fb = dyn_cast<FloatType>(b);
  if (fa && fb)
    return llvm::APFloatBase::isRepresentableBy(fa.getFloatSemantics(),
                                                fb.getFloatSemantics());
  return isa<IntegerType>(a) && isa<IntegerType>(b) &&
         a.getIntOrFloatBitWidth() == b.getIntOrFloatBitWidth();
}

/// Whether `weights.cast` can go from `a` to `b` (its verifier's rule).
static bool isCastable(Type a, Type b) {
  if (isa<IntegerType>(a) && isa<IntegerType>(b))
    return a.getIntOrFloatBitWidth() == b.getIntOrFloatBitWidth();
  std::optional<::qopt::numerics::DType> from = fromMlirType(a),
                                         to = fromMlirType(b);
  return isa<FloatType>(a) && isa<FloatType>(b) && from && to &&
         ::qopt::numerics::isConversionSupported(*from, *to);
}

OpFoldResult CastOp::fold(FoldAdaptor) {
  if (getInput().getType() == getType())
    return getInput();
  // cast(cast(x : A -> B) : B -> C) with A -> B exact rounds x once from A
  // to C, as a single cast does (numpy astype semantics).
  auto inner = getInput().getDefiningOp<CastOp>();
  if (!inner)
    return {};
  Value x = inner.getInput();
  Type a = cast<RankedTensorType>(x.getType()).getElementType();
  Type b = cast<RankedTensorType>(inner.getType()).getElementType();
  Type c = cast<RankedTensorType>(getType()).getElementType();
  if (!isExactCast(a, b))
    return {};
  if (x.getType() == getType())
    return x;
  if (!isCastable(a, c))
    return {};
  getInputMutable().assign(x);
  return getResult();
}

OpFoldResult ConcatOp::fold(FoldAdaptor) {
  if (getInputs().size() == 1 && getInputs()[0].getType() == getType())
    return getInputs()[0];
  return {};
}

OpFoldResult TransposeOp::fold(FoldAdaptor) {
  if (auto inner = getInput().getDefiningOp<TransposeOp>())
    return inner.getInput();
  return {};
}

OpFoldResult ShardOp::fold(FoldAdaptor) {
  if (getCount() == 1)
    return getInput();
  return {};
}
