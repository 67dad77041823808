//===- MappingEvaluation.cpp - Evaluation of the mapping ops -----*- C++ -*-===//
//
// EvaluableOpInterface of weights.concat, weights.stack, weights.cast,
// weights.transpose, weights.add_constant, weights.divide_pow2, weights.exp
// and weights.dequantize_awq: the
// steps of MLC's loaders (docs/design.md, "Evaluation").
//
//===----------------------------------------------------------------------===//

#include "dialects/Weights/IR/WeightsOps.h"
#include "qopt/Kernels/Cuda.h"
#include "qopt/Numerics/Awq.h"
#include "qopt/Numerics/Convert.h"
#include "qopt/Numerics/Float.h"
#include "qopt/Numerics/NumpyElementwise.h"

#include <cstring>

using namespace mlir;
using namespace mlir::qopt::weights;
namespace num = ::qopt::numerics;
namespace kern = ::qopt::kernels;
using num::DType;

/// The cuts of the value `v` is defined by, if it is evaluable.
static void operandRowCuts(Value v, SmallVectorImpl<int64_t> &cuts) {
  if (auto op = v.getDefiningOp<EvaluableOpInterface>())
    op.getRowCuts(cuts);
}

//===----------------------------------------------------------------------===//
// ConcatOp
//===----------------------------------------------------------------------===//

bool ConcatOp::forwardsNonFinite() { return true; }

bool ConcatOp::isRowLocal() { return true; }

void ConcatOp::getRowCuts(SmallVectorImpl<int64_t> &cuts) {
  if (getAxis() != 0)
    return;
  int64_t base = 0;
  for (Value in : getInputs()) {
    if (base > 0)
      cuts.push_back(base);
    base += cast<RankedTensorType>(in.getType()).getDimSize(0);
  }
}

void ConcatOp::getRowReads(int64_t r0, int64_t r1, RowReads &reads) {
  if (getAxis() != 0) {
    // Columns side by side: the same rows of every input.
    for (Value in : getInputs())
      reads.operandRows.push_back({in, r0, r1});
    return;
  }
  int64_t base = 0;
  for (Value in : getInputs()) {
    int64_t n = cast<RankedTensorType>(in.getType()).getDimSize(0);
    int64_t lo = std::max(r0, base), hi = std::min(r1, base + n);
    if (lo < hi)
      reads.operandRows.push_back({in, lo - base, hi - base});
    base += n;
  }
}

llvm::Error ConcatOp::evaluateRows(EvaluationContext &ctx, int64_t r0,
                                   int64_t r1,
                                   SmallVectorImpl<RowBuffer> &results) {
  auto outType = cast<RankedTensorType>(getType());
  int64_t axis = getAxis();
  if (axis == 0) {
    // Rows of one input (chunks end at the inputs' boundaries): those rows
    // as they are, without a copy.
    int64_t base = 0;
    for (Value in : getInputs()) {
      int64_t n = cast<RankedTensorType>(in.getType()).getDimSize(0);
      if (r0 >= base && r1 <= base + n) {
        auto b = ctx.getRows(in, r0 - base, r1 - base);
        if (!b)
          return b.takeError();
        results.push_back(std::move(*b));
        return llvm::Error::success();
      }
      base += n;
    }
  }
  RowBuffer out = RowBuffer::allocate(outType, r1 - r0);
  if (axis == 0) {
    // Rows come from consecutive inputs.
    int64_t base = 0;
    size_t off = 0;
    for (Value in : getInputs()) {
      int64_t n = cast<RankedTensorType>(in.getType()).getDimSize(0);
      int64_t lo = std::max(r0, base), hi = std::min(r1, base + n);
      if (lo < hi) {
        auto b = ctx.getRows(in, lo - base, hi - base);
        if (!b)
          return b.takeError();
        std::memcpy(out.data.data() + off, b->bytes(), b->byteSize());
        off += b->byteSize();
      }
      base += n;
    }
    results.push_back(std::move(out));
    return llvm::Error::success();
  }
  // Interleave: each outer index takes one block from every input.
  int64_t outer = r1 - r0;
  for (int64_t d = 1; d < axis; ++d)
    outer *= outType.getDimSize(d);
  SmallVector<RowBuffer> parts;
  SmallVector<size_t> blocks;
  for (Value in : getInputs()) {
    auto b = ctx.getRows(in, r0, r1);
    if (!b)
      return b.takeError();
    blocks.push_back(outer ? b->byteSize() / size_t(outer) : 0);
    parts.push_back(std::move(*b));
  }
  size_t off = 0;
  for (int64_t o = 0; o < outer; ++o)
    for (size_t i = 0; i < parts.size(); ++i) {
      std::memcpy(out.data.data() + off, parts[i].bytes() + o * blocks[i],
                  blocks[i]);
      off += blocks[i];
    }
  results.push_back(std::move(out));
  return llvm::Error::success();
}

//===----------------------------------------------------------------------===//
// StackOp
//===----------------------------------------------------------------------===//

bool StackOp::forwardsNonFinite() { return true; }

bool StackOp::isRowLocal() { return true; }

llvm::Error StackOp::evaluateRows(EvaluationContext &ctx, int64_t r0,
                                  int64_t r1,
                                  SmallVectorImpl<RowBuffer> &results) {
  if (r1 == r0 + 1 &&
      cast<RankedTensorType>(getInputs()[r0].getType()).getRank() > 0) {
    // One row is all of one input, as it is (no copy).
    auto b = ctx.getAllRows(getInputs()[r0]);
    if (!b)
      return b.takeError();
    b->shape.insert(b->shape.begin(), 1);
    results.push_back(std::move(*b));
    return llvm::Error::success();
  }
  // Row r is all of input r.
  RowBuffer out = RowBuffer::allocate(getType(), r1 - r0);
  size_t off = 0;
  for (int64_t r = r0; r < r1; ++r) {
    auto b = ctx.getAllRows(getInputs()[r]);
    if (!b)
      return b.takeError();
    std::memcpy(out.data.data() + off, b->bytes(), b->byteSize());
    off += b->byteSize();
  }
  results.push_back(std::move(out));
  return llvm::Error::success();
}

// The sub-rows of row r are the rows of input r.
bool StackOp::isSubRowLocal() { return true; }

void StackOp::getSubRowCuts(int64_t r, SmallVectorImpl<int64_t> &cuts) {
  operandRowCuts(getInputs()[r], cuts);
}

llvm::Error StackOp::evaluateSubRows(EvaluationContext &ctx, int64_t r,
                                     int64_t s0, int64_t s1,
                                     SmallVectorImpl<RowBuffer> &results) {
  auto b = ctx.getRows(getInputs()[r], s0, s1);
  if (!b)
    return b.takeError();
  results.push_back(std::move(*b));
  return llvm::Error::success();
}

//===----------------------------------------------------------------------===//
// CastOp
//===----------------------------------------------------------------------===//

/// Between float types a cast rounds to nearest: NaN and infinities stay,
/// a value beyond the result type becomes an infinity.
bool CastOp::forwardsNonFinite() {
  auto isFloat16To32 = [](Type t) {
    return t.isF16() || t.isBF16() || t.isF32();
  };
  return isFloat16To32(getInput().getType().getElementType()) &&
         isFloat16To32(getType().getElementType());
}

bool CastOp::isRowLocal() { return true; }

void CastOp::getRowCuts(SmallVectorImpl<int64_t> &cuts) {
  operandRowCuts(getInput(), cuts);
}

/// `in` converted to the element type of `op`'s result (same shape).
static llvm::Error castRows(CastOp op, EvaluationContext &ctx, RowBuffer in,
                            SmallVectorImpl<RowBuffer> &results) {
  DType to = *fromMlirType(op.getType().getElementType());
  if (!num::isFloat(in.dtype) && !num::isFloat(to)) {
    // Same-width integers: the bits stay (verified).
    in.dtype = to;
    results.push_back(std::move(in));
    return llvm::Error::success();
  }
  RowBuffer out = RowBuffer::allocate(to, in.shape);
  size_t n = size_t(out.numElements());
  if (ctx.getOptions().cuda && kern::isCudaConversionSupported(in.dtype, to)) {
    if (llvm::Error e = kern::convertElementsCuda(in.bytes(), in.dtype,
                                                  out.data.data(), to, n))
      return makeEvaluationError(op, llvm::toString(std::move(e)));
  } else if (!num::convertElements(in.bytes(), in.dtype, out.data.data(), to,
                                   n)) {
    return makeEvaluationError(op, "cannot cast " +
                                       llvm::Twine(num::tvmName(in.dtype)) +
                                       " to " + num::tvmName(to));
  }
  results.push_back(std::move(out));
  return llvm::Error::success();
}

llvm::Error CastOp::evaluateRows(EvaluationContext &ctx, int64_t r0,
                                 int64_t r1,
                                 SmallVectorImpl<RowBuffer> &results) {
  auto in = ctx.getRows(getInput(), r0, r1);
  if (!in)
    return in.takeError();
  return castRows(*this, ctx, std::move(*in), results);
}

bool CastOp::isSubRowLocal() { return true; }

void CastOp::getSubRowCuts(int64_t r, SmallVectorImpl<int64_t> &cuts) {
  if (auto in = getInput().getDefiningOp<EvaluableOpInterface>())
    in.getSubRowCuts(r, cuts);
}

llvm::Error CastOp::evaluateSubRows(EvaluationContext &ctx, int64_t r,
                                    int64_t s0, int64_t s1,
                                    SmallVectorImpl<RowBuffer> &results) {
  auto in = ctx.getSubRows(getInput(), r, s0, s1);
  if (!in)
    return in.takeError();
  return castRows(*this, ctx, std::move(*in), results);
}

//===----------------------------------------------------------------------===//
// TransposeOp
//===----------------------------------------------------------------------===//

bool TransposeOp::forwardsNonFinite() { return true; }

bool TransposeOp::isRowLocal() { return false; }

llvm::Error TransposeOp::evaluateRows(EvaluationContext &ctx, int64_t r0,
                                      int64_t r1,
                                      SmallVectorImpl<RowBuffer> &results) {
  auto inType = cast<RankedTensorType>(getInput().getType());
  auto in = ctx.getAllRows(getInput());
  if (!in)
    return in.takeError();
  size_t es = num::dtypeSize(in->dtype);
  RowBuffer full = RowBuffer::allocate(getType(), inType.getDimSize(1));
  num::transpose2D(in->bytes(), inType.getDimSize(0), inType.getDimSize(1), es,
                   full.data.data());
  if (r0 == 0 && r1 == inType.getDimSize(1)) {
    results.push_back(std::move(full));
    return llvm::Error::success();
  }
  size_t rowBytes = size_t(inType.getDimSize(0)) * es;
  RowBuffer out = RowBuffer::allocate(getType(), r1 - r0);
  std::memcpy(out.data.data(), full.data.data() + r0 * rowBytes,
              size_t(r1 - r0) * rowBytes);
  results.push_back(std::move(out));
  return llvm::Error::success();
}

//===----------------------------------------------------------------------===//
// AddConstantOp
//===----------------------------------------------------------------------===//

bool AddConstantOp::isRowLocal() { return true; }

void AddConstantOp::getRowCuts(SmallVectorImpl<int64_t> &cuts) {
  operandRowCuts(getInput(), cuts);
}

llvm::Error AddConstantOp::evaluateRows(EvaluationContext &ctx, int64_t r0,
                                        int64_t r1,
                                        SmallVectorImpl<RowBuffer> &results) {
  auto in = ctx.getRows(getInput(), r0, r1);
  if (!in)
    return in.takeError();
  // One float addition, rounded once to the tensor's type.
  size_t n = size_t(in->numElements());
  float c = float(getValue().convertToDouble());
  if (in->dtype == DType::F32) {
    auto *p = reinterpret_cast<float *>(in->mutableBytes());
    for (size_t i = 0; i < n; ++i)
      p[i] += c;
  } else {
    auto *p = reinterpret_cast<uint16_t *>(in->mutableBytes());
    if (in->dtype == DType::BF16)
      for (size_t i = 0; i < n; ++i)
        p[i] = num::floatToBFloat16(num::bfloat16ToFloat(p[i]) + c);
    else
      for (size_t i = 0; i < n; ++i)
        p[i] = num::floatToHalf(num::halfToFloat(p[i]) + c);
  }
  results.push_back(std::move(*in));
  return llvm::Error::success();
}

//===----------------------------------------------------------------------===//
// DividePow2Op, ExpOp
//===----------------------------------------------------------------------===//

bool DividePow2Op::isRowLocal() { return true; }

void DividePow2Op::getRowCuts(SmallVectorImpl<int64_t> &cuts) {
  operandRowCuts(getInput(), cuts);
}

llvm::Error DividePow2Op::evaluateRows(EvaluationContext &ctx, int64_t r0,
                                       int64_t r1,
                                       SmallVectorImpl<RowBuffer> &results) {
  auto in = ctx.getRows(getInput(), r0, r1);
  if (!in)
    return in.takeError();
  if (!num::divideByPowerOfTwo(in->mutableBytes(), in->dtype,
                               size_t(in->numElements()), int(getExponent())))
    return llvm::createStringError("cannot divide these elements by 2^" +
                                   std::to_string(getExponent()));
  results.push_back(std::move(*in));
  return llvm::Error::success();
}

bool ExpOp::isRowLocal() { return true; }

void ExpOp::getRowCuts(SmallVectorImpl<int64_t> &cuts) {
  operandRowCuts(getInput(), cuts);
}

llvm::Error ExpOp::evaluateRows(EvaluationContext &ctx, int64_t r0, int64_t r1,
                                SmallVectorImpl<RowBuffer> &results) {
  auto in = ctx.getRows(getInput(), r0, r1);
  if (!in)
    return in.takeError();
  if (in->dtype != DType::F32)
    return llvm::createStringError("numpy's float32 exp needs float32 rows");
  auto *p = reinterpret_cast<float *>(in->mutableBytes());
  num::numpyExpF32Rows(p, p, size_t(in->numElements()), getNegate());
  results.push_back(std::move(*in));
  return llvm::Error::success();
}

//===----------------------------------------------------------------------===//
// DequantizeAwqOp
//===----------------------------------------------------------------------===//

bool DequantizeAwqOp::isRowLocal() { return false; }

llvm::Error DequantizeAwqOp::evaluateRows(EvaluationContext &ctx, int64_t r0,
                                          int64_t r1,
                                          SmallVectorImpl<RowBuffer> &results) {
  SmallVector<RowBuffer, 3> ins;
  for (Value in : getOperands()) {
    auto b = ctx.getAllRows(in);
    if (!b)
      return b.takeError();
    ins.push_back(std::move(*b));
  }
  RowBuffer out = RowBuffer::allocate(getType(), r1 - r0);
  auto qwType = cast<RankedTensorType>(getQweight().getType());
  num::awqDequantizeGemm(
      reinterpret_cast<const uint32_t *>(ins[0].bytes()),
      reinterpret_cast<const uint32_t *>(ins[1].bytes()),
      reinterpret_cast<const uint16_t *>(ins[2].bytes()),
      qwType.getDimSize(0), qwType.getDimSize(1) * 8, getGroupSize(), r0, r1,
      reinterpret_cast<uint16_t *>(out.data.data()));
  results.push_back(std::move(out));
  return llvm::Error::success();
}
