//===- FusedQuantEvaluation.cpp - One pass over a quantized weight's rows -===//
//
// The fused path of weights.quantize (docs/simd.md, "One pass over the
// source values"): a scheme that quantizes rows given in a wider float type
// (rounding them as weights.cast does) and reports NaN and infinities in
// the same pass reads the rows of the cast's input, and the range checks of
// the sources below it are left to the kernel where that is equivalent
// (EvaluationContext::DeferredSourceChecks); the rows are read again with
// the checks only when the kernel reports a non-finite value, so a failure
// is the same error as without the fused path.
//
//===----------------------------------------------------------------------===//

#include "dialects/Weights/IR/WeightsOps.h"

using namespace mlir;
using namespace mlir::qopt::weights;
namespace num = ::qopt::numerics;
using num::DType;

bool mlir::qopt::weights::forwardsNonFiniteChain(Value value) {
  auto op = value.getDefiningOp<EvaluableOpInterface>();
  if (!op || !op.forwardsNonFinite())
    return false;
  for (Value operand : op->getOperands())
    if (!forwardsNonFiniteChain(operand))
      return false;
  return true;
}

llvm::Error QuantizeOp::evaluateFromInput(
    EvaluationContext &ctx, int64_t r0, int64_t r1,
    function_ref<llvm::Expected<RowBuffer>(Value)> fetch,
    SmallVectorImpl<RowBuffer> &results) {
  QuantSchemeAttrInterface scheme = getScheme();
  auto weightType = cast<RankedTensorType>(getInput().getType());
  // The fused path: plain quantization (no statistics; measuring the error
  // needs the rows in the weight's type) by a scheme that reports NaN and
  // infinities, reading a float cast's input where the scheme rounds it
  // the same way (no buffer of the cast values).
  Value read;
  if (!getImportance() && !getHessian() && !ctx.getOptions().measureError) {
    auto castOp = getInput().getDefiningOp<CastOp>();
    std::optional<DType> from =
        castOp ? fromMlirType(castOp.getInput().getType().getElementType())
               : std::nullopt;
    std::optional<DType> own = fromMlirType(weightType.getElementType());
    if (from && num::isFloat(*from) &&
        scheme.quantizesFused(ctx, weightType, *from))
      read = castOp.getInput();
    else if (own && scheme.quantizesFused(ctx, weightType, *own))
      read = getInput();
  }
  if (!read) {
    auto in = fetch(getInput());
    if (!in)
      return in.takeError();
    return quantizeAndMeasure(ctx, r0, r1, *in, results);
  }
  // Where every op down to the sources forwards NaN and infinities, the
  // kernel's finding none stands for the sources' range checks.
  bool deferred = forwardsNonFiniteChain(read);
  llvm::Expected<RowBuffer> in = [&] {
    if (!deferred)
      return fetch(read);
    EvaluationContext::DeferredSourceChecks scope(
        ctx, *fromMlirType(weightType.getElementType()));
    return fetch(read);
  }();
  if (!in)
    return in.takeError();
  bool nonFinite = false;
  if (llvm::Error e =
          scheme.quantizeRowsFused(ctx, weightType, *in, results, nonFinite))
    return makeEvaluationError(*this, llvm::toString(std::move(e)));
  if (!nonFinite || !deferred)
    return llvm::Error::success();
  // A NaN or an infinity: the same rows again with every source check, so
  // the error names the first bad element as without the fused path. Were
  // they all to pass, the results stand (the rows are the same).
  auto checked = fetch(read);
  if (!checked)
    return checked.takeError();
  return llvm::Error::success();
}
