//===- BlockFp8Evaluation.cpp - FP8 block-scale checkpoints -----*- C++ -*-===//
//
// Verification and EvaluableOpInterface of weights.dequantize_block_fp8:
// float8 e4m3fn codes times their block's scale_inv, in float32
// (lib/Numerics/BlockFp8.cpp), rounded to the result's type.
//
//===----------------------------------------------------------------------===//

#include "dialects/Weights/IR/WeightsOps.h"
#include "qopt/Numerics/BlockFp8.h"
#include "qopt/Numerics/Convert.h"

using namespace mlir;
using namespace mlir::qopt::weights;
namespace num = ::qopt::numerics;
using num::DType;

LogicalResult DequantizeBlockFp8Op::verify() {
  auto w = cast<RankedTensorType>(getWeight().getType());
  auto s = cast<RankedTensorType>(getScaleInv().getType());
  auto out = cast<RankedTensorType>(getResult().getType());
  ArrayRef<int64_t> block = getBlockSize();
  if (block.size() != 2 || block[0] <= 0 || block[1] <= 0)
    return emitOpError("block size must be two positive integers");
  if (!isa<Float8E4M3FNType>(w.getElementType()) || w.getRank() < 2 ||
      w.getRank() > 3)
    return emitOpError("weight must be a 2-D or 3-D f8E4M3FN tensor, got ")
           << w;
  if (!(s.getElementType().isF32() || s.getElementType().isBF16()))
    return emitOpError("scale_inv must be f32 or bf16, got ")
           << s.getElementType();
  int64_t rank = w.getRank();
  SmallVector<int64_t> expected(w.getShape().drop_back(2));
  expected.push_back(llvm::divideCeil(w.getDimSize(rank - 2), block[0]));
  expected.push_back(llvm::divideCeil(w.getDimSize(rank - 1), block[1]));
  if (s.getShape() != ArrayRef<int64_t>(expected))
    return emitOpError("scale_inv ")
           << s << " does not match weight " << w << " with blocks of "
           << block[0] << "x" << block[1] << ": expected shape "
           << RankedTensorType::get(expected, s.getElementType());
  Type e = out.getElementType();
  if (out.getShape() != w.getShape() || !(e.isF32() || e.isBF16() || e.isF16()))
    return emitOpError("result must have the weight's shape and be f32, bf16 "
                       "or f16, got ")
           << out;
  return success();
}

bool DequantizeBlockFp8Op::isRowLocal() { return true; }

llvm::Error DequantizeBlockFp8Op::evaluateRows(
    EvaluationContext &ctx, int64_t r0, int64_t r1,
    SmallVectorImpl<RowBuffer> &results) {
  auto w = cast<RankedTensorType>(getWeight().getType());
  ArrayRef<int64_t> block = getBlockSize();
  bool batched = w.getRank() == 3;
  int64_t rows = w.getDimSize(w.getRank() - 2);
  int64_t cols = w.getDimSize(w.getRank() - 1);
  // The scale rows these weight rows use: the same batch rows, or the
  // blocks the rows fall into.
  int64_t s0 = batched ? r0 : r0 / block[0];
  int64_t s1 = batched ? r1 : (r1 - 1) / block[0] + 1;
  auto codes = ctx.getRows(getWeight(), r0, r1);
  if (!codes)
    return codes.takeError();
  auto scaleRows = ctx.getRows(getScaleInv(), s0, s1);
  if (!scaleRows)
    return scaleRows.takeError();
  std::vector<float> scales(size_t(scaleRows->numElements()));
  num::convertElements(scaleRows->bytes(), scaleRows->dtype, scales.data(),
                       DType::F32, scales.size());

  int64_t n = (r1 - r0) * (batched ? rows * cols : cols);
  std::vector<float> vals(static_cast<size_t>(n));
  if (batched) {
    int64_t scaleStride = llvm::divideCeil(rows, block[0]) *
                          llvm::divideCeil(cols, block[1]);
    for (int64_t b = 0; b < r1 - r0; ++b)
      num::dequantizeBlockFp8E4M3(codes->bytes() + b * rows * cols,
                                  scales.data() + b * scaleStride, 0, rows,
                                  cols, block[0], block[1],
                                  vals.data() + b * rows * cols);
  } else {
    num::dequantizeBlockFp8E4M3(codes->bytes(), scales.data(), r0, r1, cols,
                                block[0], block[1], vals.data());
  }
  RowBuffer out = RowBuffer::allocate(getType(), r1 - r0);
  num::convertElements(vals.data(), DType::F32, out.data.data(), out.dtype,
                       size_t(n));
  results.push_back(std::move(out));
  return llvm::Error::success();
}
