//===- LoraEvaluation.cpp - Evaluating weights.merge_lora ------*- C++ -*-===//
//
// EvaluableOpInterface of weights.merge_lora: rows [r0, r1) of the base
// weight plus scale * B @ A, computed by qopt/Numerics/Lora.h.
//
//===----------------------------------------------------------------------===//

#include "dialects/Weights/IR/WeightsOps.h"
#include "qopt/Numerics/Convert.h"
#include "qopt/Numerics/Lora.h"

#include <cstring>

using namespace mlir;
using namespace mlir::qopt::weights;
namespace num = ::qopt::numerics;
using num::DType;

bool MergeLoraOp::isRowLocal() { return true; }

llvm::Error MergeLoraOp::evaluateRows(EvaluationContext &ctx, int64_t r0,
                                      int64_t r1,
                                      SmallVectorImpl<RowBuffer> &results) {
  // A and B are small (rank rows or columns): read whole, as float32.
  auto asFloat = [&](Value v) -> llvm::Expected<UninitVector<float>> {
    auto b = ctx.getAllRows(v);
    if (!b)
      return b.takeError();
    UninitVector<float> f(size_t(b->numElements()));
    num::convertElements(b->bytes(), b->dtype, f.data(), DType::F32, f.size());
    return f;
  };
  auto w = ctx.getRows(getBase(), r0, r1);
  if (!w)
    return w.takeError();
  auto a = asFloat(getLoraA());
  if (!a)
    return a.takeError();
  auto b = asFloat(getLoraB());
  if (!b)
    return b.takeError();
  auto aType = cast<RankedTensorType>(getLoraA().getType());
  int64_t rank = aType.getDimSize(0), in = aType.getDimSize(1);
  int64_t out = cast<RankedTensorType>(getLoraB().getType()).getDimSize(0);
  int64_t rows = r1 - r0, cols = getFanInFanOut() ? out : in;
  // W'[i] = W[i] + scale * left[i] @ right: left holds the rows of B that
  // match W's (or, with fan_in_fan_out, the columns of A), right A (or B^T).
  UninitVector<float> left(size_t(rows * rank)), right;
  if (!getFanInFanOut()) {
    std::memcpy(left.data(), b->data() + r0 * rank, left.size() * 4);
    right = std::move(*a);
  } else {
    for (int64_t i = 0; i < rows; ++i)
      for (int64_t k = 0; k < rank; ++k)
        left[size_t(i * rank + k)] = (*a)[size_t(k * in + r0 + i)];
    right.resize(size_t(rank * out));
    for (int64_t k = 0; k < rank; ++k)
      for (int64_t j = 0; j < out; ++j)
        right[size_t(k * out + j)] = (*b)[size_t(j * rank + k)];
  }
  RowBuffer result = RowBuffer::allocate(getType(), rows);
  if (!num::loraMergeRows(w->bytes(), result.dtype, rows, cols, left.data(),
                          right.data(), rank, getScale().convertToDouble(),
                          result.data.data()))
    return makeEvaluationError(*this, "cannot merge a LoRA adapter into a " +
                                          llvm::Twine(num::tvmName(result.dtype)) +
                                          " weight");
  results.push_back(std::move(result));
  return llvm::Error::success();
}
