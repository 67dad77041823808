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
#include "qopt/Numerics/NumpyIsClose.h"

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

//===----------------------------------------------------------------------===//
// StaticActivationScaleOp
//===----------------------------------------------------------------------===//

static std::string shapeText(ArrayRef<int64_t> shape) {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); ++i)
    s += (i ? ", " : "") + std::to_string(shape[i]);
  return s + "]";
}

bool StaticActivationScaleOp::canShape(ArrayRef<int64_t> from, int64_t n) {
  if (from.size() == 1 && from[0] == n)
    return true;
  if (from.empty() || (from.size() == 1 && from[0] == 1))
    return true;
  return from.size() == 1 && from[0] > 1 && n % from[0] == 0;
}

std::optional<SmallVector<int64_t>>
StaticActivationScaleOp::broadcastShape(ArrayRef<int64_t> a,
                                        ArrayRef<int64_t> b) {
  size_t rank = std::max(a.size(), b.size());
  SmallVector<int64_t> out(rank);
  for (size_t i = 0; i < rank; ++i) {
    // Aligned from the last dimension, a missing one counting as 1.
    int64_t x = i < rank - a.size() ? 1 : a[i - (rank - a.size())];
    int64_t y = i < rank - b.size() ? 1 : b[i - (rank - b.size())];
    if (x != y && x != 1 && y != 1)
      return std::nullopt;
    out[i] = x == 1 ? y : x;
  }
  return out;
}

static bool isNumpyFloat(Type t) {
  return t.isF16() || t.isBF16() || t.isF32() || t.isF64();
}

LogicalResult StaticActivationScaleOp::verify() {
  if (getSources().empty())
    return emitOpError("needs at least one source");
  auto first = cast<RankedTensorType>(getSources().front().getType());
  for (auto [i, v] : llvm::enumerate(getSources())) {
    auto t = cast<RankedTensorType>(v.getType());
    if (!isNumpyFloat(t.getElementType()))
      return emitOpError("source ")
             << i << " must be f16, bf16, f32 or f64, got "
             << t.getElementType();
    if (!broadcastShape(t.getShape(), first.getShape()))
      return emitOpError("source ")
             << i << " of shape " << shapeText(t.getShape())
             << " does not broadcast with the first, of shape "
             << shapeText(first.getShape());
  }
  auto out = cast<RankedTensorType>(getResult().getType());
  Type e = out.getElementType();
  if (out.getRank() != 1 || !(e.isF16() || e.isBF16() || e.isF32()))
    return emitOpError("result must be a 1-D f32, bf16 or f16 tensor, got ")
           << out;
  if (!canShape(first.getShape(), out.getDimSize(0)))
    return emitOpError("first source of shape ")
           << shapeText(first.getShape()) << " cannot give the result "
           << shapeText(out.getShape())
           << ": it must have that shape, be 0-d or [1], or be [m] with m "
              "dividing "
           << out.getDimSize(0);
  return success();
}

bool StaticActivationScaleOp::isRowLocal() { return false; }

llvm::Error StaticActivationScaleOp::evaluateRows(
    EvaluationContext &ctx, int64_t r0, int64_t r1,
    SmallVectorImpl<RowBuffer> &results) {
  (void)r0;
  (void)r1;
  // Every source whole, widened to double (exact for numpy's float types).
  struct Read {
    DType type;
    SmallVector<int64_t> shape;
    std::vector<double> values;
  };
  SmallVector<Read> reads;
  for (Value v : getSources()) {
    auto t = cast<RankedTensorType>(v.getType());
    auto rows = ctx.getRows(v, 0, ::mlir::qopt::weights::getRowCount(t));
    if (!rows)
      return rows.takeError();
    Read r{rows->dtype, SmallVector<int64_t>(t.getShape()), {}};
    r.values.resize(size_t(rows->numElements()));
    if (!num::convertElements(rows->bytes(), rows->dtype, r.values.data(),
                              DType::F64, r.values.size()))
      return makeEvaluationError(*this, "cannot read the activation scales' "
                                        "element type");
    reads.push_back(std::move(r));
  }
  // np.allclose(source, first) for every later source.
  const Read &first = reads.front();
  for (size_t i = 1; i < reads.size(); ++i) {
    const Read &r = reads[i];
    SmallVector<int64_t> shape =
        *broadcastShape(r.shape, first.shape); // checked by the verifier
    int64_t n = 1;
    for (int64_t d : shape)
      n *= d;
    // The element of `x` at the flat index `k` of the broadcast shape.
    auto at = [&](const Read &x, int64_t k) {
      int64_t offset = 0, stride = 1;
      size_t skip = shape.size() - x.shape.size();
      for (size_t d = shape.size(); d-- > 0;) {
        int64_t idx = k % shape[d];
        k /= shape[d];
        if (d < skip)
          continue;
        int64_t len = x.shape[d - skip];
        if (len != 1)
          offset += idx * stride;
        stride *= len;
      }
      return x.values[size_t(offset)];
    };
    for (int64_t k = 0; k < n; ++k)
      if (!num::numpyIsClose(at(r, k), r.type, at(first, k), first.type))
        return llvm::make_error<EvaluationError>(
            getSources()[i].getLoc(),
            ("Activation scales for " + getTarget() +
             " must be identical between concatenated sources.")
                .str());
  }
  // first.astype(dtype), then full / broadcast_to / repeat to [n].
  auto out = cast<RankedTensorType>(getResult().getType());
  int64_t n = out.getDimSize(0);
  int64_t m = int64_t(first.values.size());
  std::vector<double> vals(static_cast<size_t>(n));
  for (int64_t k = 0; k < n; ++k)
    vals[size_t(k)] = first.values[size_t(m == n ? k : k / (n / m))];
  RowBuffer buf = RowBuffer::allocate(out, n);
  if (!num::convertElements(vals.data(), DType::F64, buf.data.data(), buf.dtype,
                            size_t(n)))
    return makeEvaluationError(*this, "cannot convert the activation scales");
  results.push_back(std::move(buf));
  return llvm::Error::success();
}
