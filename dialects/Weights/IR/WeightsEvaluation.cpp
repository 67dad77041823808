//===- WeightsEvaluation.cpp - Evaluation context, sources, shards -*- C++ -*-===//
//
// The evaluation context, and the evaluation of the ops that read or move
// rows: weights.source (checkpoint rows, mapped in place when aligned),
// weights.shard (MLC's ShardSingleDim) and weights.quantize (through its
// scheme). The mapping ops are in MappingEvaluation.cpp, the schemes in
// SchemeEvaluation.cpp (docs/design.md, "Evaluation").
//
//===----------------------------------------------------------------------===//

#include "dialects/Weights/IR/WeightsOps.h"
#include "qopt/Numerics/Convert.h"

#include "mlir/IR/Builders.h"

#include <chrono>
#include <cstring>

using namespace mlir;
using namespace mlir::qopt::weights;
namespace num = ::qopt::numerics;
using num::DType;

//===----------------------------------------------------------------------===//
// Element types
//===----------------------------------------------------------------------===//

Type mlir::qopt::weights::toMlirType(MLIRContext *ctx, DType t) {
  Builder b(ctx);
  auto ui = [&](unsigned w) {
    return IntegerType::get(ctx, w, IntegerType::Unsigned);
  };
  switch (t) {
  case DType::Bool:
    return b.getI1Type();
  case DType::U8:
    return ui(8);
  case DType::I8:
    return b.getIntegerType(8);
  case DType::I16:
    return b.getIntegerType(16);
  case DType::U16:
    return ui(16);
  case DType::I32:
    return b.getIntegerType(32);
  case DType::U32:
    return ui(32);
  case DType::I64:
    return b.getIntegerType(64);
  case DType::U64:
    return ui(64);
  case DType::F16:
    return b.getF16Type();
  case DType::BF16:
    return b.getBF16Type();
  case DType::F32:
    return b.getF32Type();
  case DType::F64:
    return b.getF64Type();
  case DType::F8E4M3FN:
    return Float8E4M3FNType::get(ctx);
  case DType::F8E5M2:
    return Float8E5M2Type::get(ctx);
  }
  return {};
}

std::optional<DType> mlir::qopt::weights::fromMlirType(Type t) {
  if (t.isF16())
    return DType::F16;
  if (t.isBF16())
    return DType::BF16;
  if (t.isF32())
    return DType::F32;
  if (t.isF64())
    return DType::F64;
  if (isa<Float8E4M3FNType>(t))
    return DType::F8E4M3FN;
  if (isa<Float8E5M2Type>(t))
    return DType::F8E5M2;
  auto i = dyn_cast<IntegerType>(t);
  if (!i)
    return std::nullopt;
  bool u = i.isUnsigned();
  switch (i.getWidth()) {
  case 1:
    return DType::Bool;
  case 8:
    return u ? DType::U8 : DType::I8;
  case 16:
    return u ? DType::U16 : DType::I16;
  case 32:
    return u ? DType::U32 : DType::I32;
  case 64:
    return u ? DType::U64 : DType::I64;
  default:
    return std::nullopt;
  }
}

//===----------------------------------------------------------------------===//
// RowBuffer
//===----------------------------------------------------------------------===//

int64_t mlir::qopt::weights::getRowCount(RankedTensorType type) {
  return type.getRank() == 0 ? 1 : type.getDimSize(0);
}

RowBuffer RowBuffer::allocate(DType dtype, ArrayRef<int64_t> shape) {
  RowBuffer b;
  b.dtype = dtype;
  b.shape.assign(shape.begin(), shape.end());
  if (b.shape.empty())
    b.shape.push_back(1);
  b.data.resize(size_t(b.numElements()) * num::dtypeSize(dtype));
  return b;
}

RowBuffer RowBuffer::allocate(RankedTensorType type, int64_t rows) {
  SmallVector<int64_t> shape(type.getShape());
  if (shape.empty())
    shape.push_back(1);
  shape[0] = rows;
  // Verified ops only have element types a tensor cache can hold.
  return allocate(fromMlirType(type.getElementType()).value_or(DType::U8),
                  shape);
}

uint8_t *RowBuffer::mutableBytes() {
  if (mapped) {
    data.assign(mapped->data(), mapped->data() + mapped->size());
    mapped.reset();
  }
  return data.data();
}

int64_t RowBuffer::numElements() const {
  int64_t n = 1;
  for (int64_t d : shape)
    n *= d;
  return n;
}

size_t RowBuffer::rowBytes() const {
  int64_t rows = numRows();
  return rows ? byteSize() / size_t(rows) : 0;
}

//===----------------------------------------------------------------------===//
// Errors and the context
//===----------------------------------------------------------------------===//

char EvaluationError::ID = 0;

llvm::Error mlir::qopt::weights::makeEvaluationError(Operation *op,
                                                     const llvm::Twine &msg) {
  return llvm::make_error<EvaluationError>(op->getLoc(), msg.str());
}

/// Rows [r0, r1) of `full` (all rows of a value), copied.
static RowBuffer sliceRows(RowBuffer full, int64_t r0, int64_t r1) {
  if (r0 == 0 && r1 == full.numRows())
    return full;
  size_t rowBytes = full.rowBytes();
  RowBuffer out;
  out.dtype = full.dtype;
  out.shape = full.shape;
  out.shape[0] = r1 - r0;
  out.data.assign(full.bytes() + size_t(r0) * rowBytes,
                  full.bytes() + size_t(r1) * rowBytes);
  return out;
}

llvm::Expected<RowBuffer> EvaluationContext::getRows(Value value, int64_t r0,
                                                     int64_t r1) {
  Operation *def = value.getDefiningOp();
  auto op = dyn_cast_or_null<EvaluableOpInterface>(def);
  if (!op) {
    if (!def)
      return llvm::make_error<EvaluationError>(
          value.getLoc(), "cannot evaluate a block argument");
    return makeEvaluationError(def, "cannot evaluate a value defined by " +
                                        def->getName().getStringRef());
  }
  unsigned index = cast<OpResult>(value).getResultNumber();
  SmallVector<RowBuffer, 3> results;
  bool whole = !op.isRowLocal();
  // Time spent in this op alone (its operands' getRows excluded).
  auto started = std::chrono::steady_clock::now();
  uint64_t outerChild = times.childNs;
  times.childNs = 0;
  llvm::Error err = op.evaluateRows(*this, whole ? 0 : r0,
                                    whole ? op.getRowCount() : r1, results);
  uint64_t total = uint64_t(std::chrono::duration_cast<std::chrono::nanoseconds>(
                                std::chrono::steady_clock::now() - started)
                                .count());
  (isa<SourceOp>(def) ? times.readNs : times.otherNs) +=
      total - std::min(total, times.childNs);
  times.childNs = outerChild + total;
  if (err)
    return std::move(err);
  if (whole)
    return sliceRows(std::move(results[index]), r0, r1);
  return std::move(results[index]);
}

llvm::Expected<RowBuffer> EvaluationContext::getAllRows(Value value) {
  return getRows(value, 0,
                 getRowCount(cast<RankedTensorType>(value.getType())));
}

llvm::Expected<RowBuffer> EvaluationContext::getSubRows(Value value, int64_t r,
                                                        int64_t s0,
                                                        int64_t s1) {
  auto op = value.getDefiningOp<EvaluableOpInterface>();
  if (!op || !op.isSubRowLocal()) {
    // The whole row r, then its sub-rows (copied).
    auto row = getRows(value, r, r + 1);
    if (!row)
      return row.takeError();
    RowBuffer whole = std::move(*row);
    whole.shape.erase(whole.shape.begin());
    if (whole.shape.empty())
      whole.shape.push_back(1);
    return sliceRows(std::move(whole), s0, s1);
  }
  SmallVector<RowBuffer, 3> results;
  auto started = std::chrono::steady_clock::now();
  uint64_t outerChild = times.childNs;
  times.childNs = 0;
  llvm::Error err = op.evaluateSubRows(*this, r, s0, s1, results);
  uint64_t total = uint64_t(std::chrono::duration_cast<std::chrono::nanoseconds>(
                                std::chrono::steady_clock::now() - started)
                                .count());
  times.otherNs += total - std::min(total, times.childNs);
  times.childNs = outerChild + total;
  if (err)
    return std::move(err);
  return std::move(results[cast<OpResult>(value).getResultNumber()]);
}

void EvaluationContext::addError(const float *w, const float *wq, size_t n) {
  double s = 0, e = 0;
  for (size_t i = 0; i < n; ++i) {
    double d = double(w[i]) - double(wq[i]);
    s += double(w[i]) * double(w[i]);
    e += d * d;
  }
  signal += s;
  noise += e;
  measured = true;
}

std::tuple<bool, double, double> EvaluationContext::takeError() {
  std::tuple<bool, double, double> r{measured, signal, noise};
  signal = noise = 0;
  measured = false;
  return r;
}

void mlir::qopt::weights::getSameRowReads(Operation *op, int64_t r0,
                                          int64_t r1, RowReads &reads) {
  auto evaluable = dyn_cast<EvaluableOpInterface>(op);
  if (r1 <= r0 || !evaluable || op->getNumResults() == 0 ||
      op->getNumOperands() == 0 || !evaluable.isRowLocal())
    return;
  auto in = dyn_cast<RankedTensorType>(op->getOperand(0).getType());
  auto out = dyn_cast<RankedTensorType>(op->getResult(0).getType());
  if (in && out && in.getRank() > 0 && in.getRank() == out.getRank() &&
      in.getDimSize(0) == out.getDimSize(0))
    reads.operandRows.push_back({op->getOperand(0), r0, r1});
}

bool mlir::qopt::weights::isRowLocalChain(Value value) {
  auto op = value.getDefiningOp<EvaluableOpInterface>();
  if (!op)
    return true; // reported by checkEvaluable
  if (!op.isRowLocal())
    return false;
  for (OpOperand &operand : op->getOpOperands())
    if (op.readsOperandRows(operand.getOperandNumber()) &&
        !isRowLocalChain(operand.get()))
      return false;
  return true;
}

bool mlir::qopt::weights::isSubRowLocalChain(Value value) {
  auto op = value.getDefiningOp<EvaluableOpInterface>();
  if (!op || !op.isSubRowLocal())
    return false;
  int64_t rank = cast<RankedTensorType>(value.getType()).getRank();
  for (OpOperand &operand : op->getOpOperands()) {
    if (!op.readsOperandRows(operand.getOperandNumber()))
      continue;
    // An operand of the result's rank is read by sub-rows, one of a lower
    // rank (a stacked input) by its own rows.
    Value in = operand.get();
    bool ok = cast<RankedTensorType>(in.getType()).getRank() == rank
                  ? isSubRowLocalChain(in)
                  : isRowLocalChain(in);
    if (!ok)
      return false;
  }
  return true;
}

llvm::Error mlir::qopt::weights::checkEvaluable(Value value, Operation *user) {
  Operation *def = value.getDefiningOp();
  if (!def)
    return makeEvaluationError(user, "cannot evaluate a block argument");
  if (!isa<EvaluableOpInterface>(def))
    return makeEvaluationError(def, "cannot evaluate a value defined by " +
                                        def->getName().getStringRef());
  for (Value operand : def->getOperands())
    if (llvm::Error e = checkEvaluable(operand, def))
      return e;
  return llvm::Error::success();
}

//===----------------------------------------------------------------------===//
// SourceOp
//===----------------------------------------------------------------------===//

bool SourceOp::isRowLocal() { return true; }

/// Its rows are the file's values.
bool SourceOp::forwardsNonFinite() { return true; }

void SourceOp::getRowReads(int64_t r0, int64_t r1, RowReads &reads) {
  // Strided sources read scattered bytes: no hint.
  auto type = cast<RankedTensorType>(getType());
  std::optional<num::DType> dt = fromMlirType(type.getElementType());
  if (r1 <= r0 || getStrides() || !dt || type.getRank() == 0 ||
      type.getDimSize(0) <= 0)
    return;
  uint64_t rowBytes = uint64_t(type.getNumElements()) /
                      uint64_t(type.getDimSize(0)) * num::dtypeSize(*dt);
  auto model = (*this)->getParentOfType<ModelOp>();
  std::string path =
      model ? model.resolveCheckpointPath(getFile(), reads.checkpointRoot)
            : getFile().str();
  reads.fileBytes.push_back({std::move(path),
                             uint64_t(getOffset()) + uint64_t(r0) * rowBytes,
                             uint64_t(r1 - r0) * rowBytes});
}

/// EvaluationOptions::checkSourceRows, located at the source op.
static llvm::Error checkSourceRows(EvaluationContext &ctx, SourceOp op,
                                   int64_t r0, RowBuffer &rows) {
  const auto &check = ctx.getOptions().checkSourceRows;
  if (!check)
    return llvm::Error::success();
  // Left to the consumer (EvaluationContext::DeferredSourceChecks).
  const auto &follows = ctx.getOptions().sourceCheckFollowsFromFinite;
  if (std::optional<DType> to = ctx.getSourceChecksDeferredTo())
    if (follows && follows(op, *to))
      return llvm::Error::success();
  if (llvm::Error err = check(op, r0, rows))
    return makeEvaluationError(op, llvm::toString(std::move(err)));
  return llvm::Error::success();
}

llvm::Error SourceOp::evaluateRows(EvaluationContext &ctx, int64_t r0,
                                   int64_t r1,
                                   SmallVectorImpl<RowBuffer> &results) {
  auto type = cast<RankedTensorType>(getType());
  ::qopt::loaders::TensorInfo t;
  t.name = getKey().str();
  t.dtype = *fromMlirType(type.getElementType());
  t.shape.assign(type.getShape().begin(), type.getShape().end());
  // Files are named relative to the model's checkpoint root.
  if (auto model = (*this)->getParentOfType<ModelOp>())
    t.file = model.resolveCheckpointPath(getFile(),
                                         ctx.getOptions().checkpointRoot);
  else
    t.file = getFile().str();
  t.offset = uint64_t(getOffset());
  size_t es = num::dtypeSize(t.dtype);
  if (auto strides = getStrides()) {
    t.strides.assign(strides->begin(), strides->end());
    uint64_t extent = 1;
    for (size_t d = 0; d < t.shape.size(); ++d)
      if (t.shape[d] > 0)
        extent += uint64_t(t.shape[d] - 1) * uint64_t(t.strides[d]);
    t.storageBytes = extent * es;
  } else {
    t.storageBytes = uint64_t(type.getNumElements()) * es;
  }
  RowBuffer out;
  out.dtype = t.dtype;
  out.shape.assign(t.shape.begin(), t.shape.end());
  if (out.shape.empty())
    out.shape.push_back(1);
  out.shape[0] = r1 - r0;
  if (type.getRank() != 0)
    // Mapped rows are used in place only when their elements are aligned
    // (a checkpoint may place a tensor at any byte offset).
    if (auto mapped = ctx.getReader().mapRows(t, r0, r1);
        mapped && reinterpret_cast<uintptr_t>(mapped->data()) % es == 0) {
      out.mapped = std::move(mapped);
      if (llvm::Error err = checkSourceRows(ctx, *this, r0, out))
        return err;
      results.push_back(std::move(out));
      return llvm::Error::success();
    }
  out.data.resize(size_t(out.numElements()) * es);
  llvm::Error err = type.getRank() == 0
                        ? ctx.getReader().read(t, out.data.data())
                        : ctx.getReader().readRows(t, r0, r1, out.data.data());
  if (err)
    return makeEvaluationError(*this, "reading tensor '" + t.name + "': " +
                                          llvm::toString(std::move(err)));
  if (llvm::Error err = checkSourceRows(ctx, *this, r0, out))
    return err;
  results.push_back(std::move(out));
  return llvm::Error::success();
}

//===----------------------------------------------------------------------===//
// ShardOp
//===----------------------------------------------------------------------===//

bool ShardOp::isRowLocal() { return true; }

/// A shard of rows reads only its rows; one of columns reads whole rows and
/// drops the other shards' values.
bool ShardOp::forwardsNonFinite() { return getDim() == 0; }

Value ShardOp::getSelectedValue() { return getInput(); }

llvm::Error ShardOp::selectRows(
    const RowBuffer &rows, int64_t r0,
    function_ref<llvm::Error(int64_t, const uint8_t *, size_t)> emit) {
  // MLC's ShardSingleDim: shard i holds block i of every segment.
  int64_t dim = getDim(), count = getCount(), idx = getIndex();
  SmallVector<int64_t> segs = getSegmentLengths();
  size_t es = num::dtypeSize(rows.dtype);
  int64_t n = rows.shape[0];
  if (dim == 0) {
    // Full row r lies in segment j at block (r - off_j) / seg_j.
    size_t rowBytes = rows.rowBytes();
    int64_t off = 0, local = 0;
    for (int64_t seg : segs) {
      int64_t lo = std::max(r0, off + idx * seg);
      int64_t hi = std::min(r0 + n, off + (idx + 1) * seg);
      if (lo < hi)
        if (llvm::Error e = emit(local + (lo - off - idx * seg),
                                 rows.bytes() + (lo - r0) * rowBytes,
                                 size_t(hi - lo) * rowBytes))
          return e;
      off += seg * count;
      local += seg;
    }
    return llvm::Error::success();
  }
  int64_t outer = n, inner = 1;
  for (int64_t d = 1; d < dim; ++d)
    outer *= rows.shape[d];
  for (size_t d = dim + 1; d < rows.shape.size(); ++d)
    inner *= rows.shape[d];
  int64_t full = rows.shape[dim], per = 0;
  for (int64_t seg : segs)
    per += seg;
  UninitVector<uint8_t> part(size_t(outer * per * inner) * es);
  uint8_t *dst = part.data();
  for (int64_t o = 0; o < outer; ++o) {
    int64_t off = 0;
    for (int64_t seg : segs) {
      size_t bytes = size_t(seg * inner) * es;
      std::memcpy(dst,
                  rows.bytes() +
                      (size_t(o * full + off + idx * seg) * inner) * es,
                  bytes);
      dst += bytes;
      off += seg * count;
    }
  }
  return emit(r0, part.data(), part.size());
}

llvm::Error ShardOp::evaluateRows(EvaluationContext &ctx, int64_t r0,
                                  int64_t r1,
                                  SmallVectorImpl<RowBuffer> &results) {
  RowBuffer out = RowBuffer::allocate(getType(), r1 - r0);
  size_t outRowBytes = out.rowBytes();
  auto copy = [&](int64_t row, const uint8_t *bytes, size_t size) {
    std::memcpy(out.data.data() + size_t(row - r0) * outRowBytes, bytes, size);
    return llvm::Error::success();
  };
  if (getDim() != 0) {
    // Rows of the shard are the same rows of the input, narrowed.
    auto in = ctx.getRows(getInput(), r0, r1);
    if (!in)
      return in.takeError();
    if (llvm::Error e = selectRows(*in, r0, copy))
      return e;
    results.push_back(std::move(out));
    return llvm::Error::success();
  }
  // Shard row s of segment j is input row off_j + index * seg_j + s - local_j.
  int64_t off = 0, local = 0, count = getCount(), idx = getIndex();
  for (int64_t seg : getSegmentLengths()) {
    int64_t lo = std::max(r0, local), hi = std::min(r1, local + seg);
    if (lo < hi) {
      int64_t in0 = off + idx * seg + (lo - local);
      auto in = ctx.getRows(getInput(), in0, in0 + (hi - lo));
      if (!in)
        return in.takeError();
      if (llvm::Error e = copy(lo, in->bytes(), in->byteSize()))
        return e;
    }
    off += seg * count;
    local += seg;
  }
  results.push_back(std::move(out));
  return llvm::Error::success();
}

//===----------------------------------------------------------------------===//
// QuantizeOp
//===----------------------------------------------------------------------===//

int64_t QuantizeOp::getRowCount() {
  return mlir::qopt::weights::getRowCount(getInput().getType());
}

bool QuantizeOp::isRowLocal() { return getScheme().isRowLocal(); }

void QuantizeOp::getRowCuts(SmallVectorImpl<int64_t> &cuts) {
  if (auto in = getInput().getDefiningOp<EvaluableOpInterface>())
    in.getRowCuts(cuts);
}

llvm::Error QuantizeOp::evaluateRows(EvaluationContext &ctx, int64_t r0,
                                     int64_t r1,
                                     SmallVectorImpl<RowBuffer> &results) {
  return evaluateFromInput(
      ctx, r0, r1, [&](Value v) { return ctx.getRows(v, r0, r1); }, results);
}

/// Without calibration statistics a row-local scheme quantizes each row of
/// the weight alone (the statistics are per expert).
bool QuantizeOp::isSubRowLocal() {
  return getScheme().isRowLocal() && !getImportance() && !getHessian();
}

void QuantizeOp::getSubRowCuts(int64_t r, SmallVectorImpl<int64_t> &cuts) {
  if (auto in = getInput().getDefiningOp<EvaluableOpInterface>())
    in.getSubRowCuts(r, cuts);
}

llvm::Error QuantizeOp::evaluateSubRows(EvaluationContext &ctx, int64_t r,
                                        int64_t s0, int64_t s1,
                                        SmallVectorImpl<RowBuffer> &results) {
  return evaluateFromInput(
      ctx, r, r + 1, [&](Value v) { return ctx.getSubRows(v, r, s0, s1); },
      results);
}

llvm::Error QuantizeOp::quantizeAndMeasure(EvaluationContext &ctx, int64_t r0,
                                           int64_t r1, const RowBuffer &in,
                                           SmallVectorImpl<RowBuffer> &results) {
  QuantSchemeAttrInterface scheme = getScheme();
  if (llvm::Error e = quantizeInput(ctx, r0, r1, in, results))
    return e;
  if (!ctx.getOptions().measureError)
    return llvm::Error::success();
  size_t n = size_t(in.numElements());
  UninitVector<float> w(n), wq(n);
  num::convertElements(in.bytes(), in.dtype, w.data(), DType::F32, n);
  if (llvm::Error e = scheme.dequantizeRows(results, in, wq.data()))
    return makeEvaluationError(*this, llvm::toString(std::move(e)));
  ctx.addError(w.data(), wq.data(), n);
  return llvm::Error::success();
}
