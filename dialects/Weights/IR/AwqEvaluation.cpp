//===- AwqEvaluation.cpp - AWQ scales and channel scaling -------*- C++ -*-===//
//
// Verification and EvaluableOpInterface of weights.awq_scales (AWQ's grid
// search, through lib/Numerics and the mode's own quantization scheme) and
// weights.scale_channels (folding the scales into the tensors).
// docs/calibration.md, "AWQ".
//
//===----------------------------------------------------------------------===//

#include "dialects/Weights/IR/WeightsOps.h"
#include "qopt/Numerics/AwqSearch.h"
#include "qopt/Numerics/Convert.h"

#include <algorithm>
#include <cstring>
#include <limits>

using namespace mlir;
using namespace mlir::qopt::weights;
namespace num = ::qopt::numerics;
using num::DType;

static bool isScalableFloat(Type t) {
  return t.isF16() || t.isBF16() || t.isF32();
}

/// tensor<dims x f32>.
static RankedTensorType f32Tensor(MLIRContext *ctx, ArrayRef<int64_t> dims) {
  return RankedTensorType::get(dims, Float32Type::get(ctx));
}

//===----------------------------------------------------------------------===//
// AwqScalesOp
//===----------------------------------------------------------------------===//

LogicalResult AwqScalesOp::verify() {
  if (getWeights().empty())
    return emitOpError("needs at least one weight");
  auto first = cast<RankedTensorType>(getWeights().front().getType());
  if (first.getRank() != 2)
    return emitOpError("weight #0 must be 2-D, got ") << first;
  int64_t k = first.getDimSize(1);
  for (auto [i, w] : llvm::enumerate(getWeights())) {
    auto t = cast<RankedTensorType>(w.getType());
    if (t.getRank() != 2 || !isScalableFloat(t.getElementType()))
      return emitOpError("weight #")
             << i << " must be a 2-D f16, bf16 or f32 tensor, got " << t;
    if (t.getElementType() != first.getElementType())
      return emitOpError("weight #") << i << " has element type "
                                     << t.getElementType() << ", weight #0 "
                                     << first.getElementType();
    if (t.getDimSize(1) != k)
      return emitOpError("weight #") << i << " has " << t.getDimSize(1)
                                     << " input channels, weight #0 " << k;
  }
  MLIRContext *ctx = getContext();
  if (getImatrix().getType() != f32Tensor(ctx, {k}))
    return emitOpError("imatrix must be ")
           << f32Tensor(ctx, {k}) << ", got " << getImatrix().getType();
  if (Value h = getHessian(); h && h.getType() != f32Tensor(ctx, {k, k}))
    return emitOpError("hessian must be ")
           << f32Tensor(ctx, {k, k}) << ", got " << h.getType();
  if (getType() != f32Tensor(ctx, {k}))
    return emitOpError("result must be ")
           << f32Tensor(ctx, {k}) << ", got " << getType();
  if (getGrid() < 1)
    return emitOpError("grid must be at least 1, got ") << getGrid();
  if (std::optional<int64_t> rows = getRows(); rows && *rows < 1)
    return emitOpError("rows must be at least 1, got ") << *rows;
  QuantSchemeAttrInterface scheme = getScheme();
  for (auto [i, w] : llvm::enumerate(getWeights())) {
    SmallVector<QuantOutput> outs;
    std::string err;
    auto t = cast<RankedTensorType>(w.getType());
    if (failed(scheme.inferOutputs(t.clone(scheme.getExpressedType()), outs,
                                   err)))
      return emitOpError("scheme cannot quantize weight #")
             << i << ": " << err;
  }
  return success();
}

bool AwqScalesOp::isRowLocal() { return false; }

/// All of `v` as float32.
static llvm::Expected<std::vector<float>> getFloats(EvaluationContext &ctx,
                                                    Value v) {
  auto rows = ctx.getAllRows(v);
  if (!rows)
    return rows.takeError();
  std::vector<float> out(size_t(rows->numElements()));
  // Verified: f16, bf16 or f32.
  num::convertElements(rows->bytes(), rows->dtype, out.data(), DType::F32,
                       out.size());
  return out;
}

namespace {
/// quantDequant of AwqSearch.h for one thread: the scaled weight as the IR
/// stores it (rounded to the weight's type by weights.scale_channels, cast
/// to the scheme's type), quantized and dequantized by the scheme, with
/// buffers kept across its calls.
class QuantDequant {
public:
  QuantDequant(QuantSchemeAttrInterface scheme, DType stored,
               EvaluationContext &ctx)
      : scheme(scheme), stored(stored),
        expressedType(scheme.getExpressedType()),
        expressed(*fromMlirType(expressedType)), ctx(ctx) {}

  std::string operator()(const float *w, int64_t rows, int64_t k,
                         float *deq) {
    size_t n = size_t(rows * k);
    if (in.dtype != expressed || ArrayRef<int64_t>(in.shape) !=
                                     ArrayRef<int64_t>({rows, k}))
      in = RowBuffer::allocate(expressed, {rows, k});
    if (stored == expressed) {
      num::convertElements(w, DType::F32, in.data.data(), expressed, n);
    } else {
      narrow.resize(n * num::dtypeSize(stored));
      num::convertElements(w, DType::F32, narrow.data(), stored, n);
      num::convertElements(narrow.data(), stored, in.data.data(), expressed,
                           n);
    }
    outs.clear();
    auto type = RankedTensorType::get({rows, k}, expressedType);
    if (llvm::Error e = scheme.quantizeRows(ctx, type, in, outs))
      return llvm::toString(std::move(e));
    if (llvm::Error e = scheme.dequantizeRows(outs, in, deq))
      return llvm::toString(std::move(e));
    return "";
  }

private:
  QuantSchemeAttrInterface scheme;
  DType stored;
  Type expressedType;
  DType expressed;
  EvaluationContext &ctx;
  std::vector<uint8_t> narrow;
  RowBuffer in;
  SmallVector<RowBuffer> outs;
};
} // namespace

/// AWQ's search over the weights' current values (AwqSearch.h). With a row
/// budget (`rows`) and a scheme that quantizes rows alone, the sampled rows
/// of every weight are read once (the budget times K float32 values per
/// weight) and the grid's candidates are tasks that the threads waiting for
/// the scales share (SharedResults::runTasks): each candidate's loss is its
/// own running sum over the rows in order, so the same bits whichever
/// thread ran it. Without a budget, every row is read a block at a time
/// (about 1 MiB of float32 and its scaled and dequantized copies), on this
/// thread: what the search holds is a block, not the weights (a 1.1B
/// model's fused gate/up alone is 92 MB as float32). The losses are the
/// same sums either way.
static llvm::Error computeAwqScales(AwqScalesOp op, EvaluationContext &ctx,
                                    SharedResults::Results &out) {
  auto first = cast<RankedTensorType>(op.getWeights().front().getType());
  int64_t k = first.getDimSize(1);
  auto imatrix = getFloats(ctx, op.getImatrix());
  if (!imatrix)
    return imatrix.takeError();
  std::vector<float> hessian;
  if (Value h = op.getHessian()) {
    auto f = getFloats(ctx, h);
    if (!f)
      return f.takeError();
    hessian = std::move(*f);
  }
  QuantSchemeAttrInterface scheme = op.getScheme();
  DType stored = *fromMlirType(first.getElementType());
  num::AwqStreamedSearch search;
  if (std::string err = search.start(
          k, imatrix->data(), hessian.empty() ? nullptr : hessian.data(),
          int(op.getGrid()));
      !err.empty())
    return makeEvaluationError(op, "awq: " + err);
  // A scheme that is not row-local is given each weight whole, every row.
  bool rowLocal = scheme.isRowLocal();
  int64_t sample = rowLocal ? op.getRows().value_or(0) : 0;
  int64_t blockRows = sample > 0 ? std::numeric_limits<int64_t>::max()
                      : rowLocal ? std::max<int64_t>(1, (int64_t(1) << 18) / k)
                                 : std::numeric_limits<int64_t>::max();
  std::vector<float> block;
  // Appends rows read from a weight to the block, as float32.
  auto append = [&](const RowBuffer &got) {
    size_t at = block.size();
    block.resize(at + size_t(got.numElements()));
    // Verified: f16, bf16 or f32.
    num::convertElements(got.bytes(), got.dtype, block.data() + at,
                         DType::F32, size_t(got.numElements()));
  };
  QuantDequant quantDequant(scheme, stored, ctx);
  num::AwqQuantDequantFn fn = std::ref(quantDequant);
  int64_t held = 0; // rows in `block` (the sampled search)
  for (Value w : op.getWeights()) {
    int64_t rows = cast<RankedTensorType>(w.getType()).getDimSize(0);
    int64_t count = num::awqSampleCount(rows, sample);
    // Sampled rows i0 .. i1 - 1 per block; consecutive rows in one read.
    for (int64_t i0 = 0; i0 < count; i0 += std::min(blockRows, count - i0)) {
      int64_t i1 = i0 + std::min(blockRows, count - i0);
      if (sample == 0)
        block.clear();
      for (int64_t i = i0; i < i1;) {
        int64_t r0 = num::awqSampledRow(i, rows, sample), j = i + 1;
        while (j < i1 && num::awqSampledRow(j, rows, sample) == r0 + (j - i))
          ++j;
        auto got = ctx.getRows(w, r0, r0 + (j - i));
        if (!got)
          return got.takeError();
        append(*got);
        i = j;
      }
      if (sample > 0) {
        held += i1 - i0;
        continue;
      }
      if (std::string err = search.addRows(block.data(), i1 - i0, fn);
          !err.empty())
        return makeEvaluationError(op, "awq: " + err);
    }
  }
  if (sample > 0) {
    // One task per candidate, over all the sampled rows.
    if (llvm::Error e = ctx.getSharedResults().runTasks(
            op, ctx, size_t(search.numCandidates()),
            [&](EvaluationContext &taskCtx, size_t i) -> llvm::Error {
              QuantDequant qd(scheme, stored, taskCtx);
              // Kept by the thread: no buffer zeroed per candidate.
              thread_local num::AwqStreamedSearch::Scratch scratch;
              // About 1 MiB of rows at a time: the copies stay small.
              int64_t step = std::max<int64_t>(1, (int64_t(1) << 18) / k);
              for (int64_t r0 = 0; r0 < held; r0 += step)
                if (std::string err = search.addCandidateRows(
                        int(i), block.data() + r0 * k,
                        std::min(step, held - r0), std::ref(qd), scratch);
                    !err.empty())
                  return makeEvaluationError(op, "awq: " + err);
              return llvm::Error::success();
            }))
      return e;
  }
  num::AwqSearchResult result = search.finish();
  RowBuffer s = RowBuffer::allocate(DType::F32, {k});
  std::memcpy(s.data.data(), result.scales.data(), size_t(k) * sizeof(float));
  out.push_back(std::move(s));
  return llvm::Error::success();
}

llvm::Error AwqScalesOp::evaluateRows(EvaluationContext &ctx, int64_t r0,
                                      int64_t r1,
                                      SmallVectorImpl<RowBuffer> &results) {
  (void)r0;
  (void)r1; // evaluated whole (not row-local)
  // Threads that ask while another searches take candidates of the search.
  auto shared = ctx.getSharedResults().getOrCompute(
      *this, ctx, [&](SharedResults::Results &out) {
        return computeAwqScales(*this, ctx, out);
      });
  if (!shared)
    return shared.takeError();
  results.push_back((**shared)[0]);
  return llvm::Error::success();
}

//===----------------------------------------------------------------------===//
// ScaleChannelsOp
//===----------------------------------------------------------------------===//

LogicalResult ScaleChannelsOp::verify() {
  auto in = cast<RankedTensorType>(getInput().getType());
  auto s = cast<RankedTensorType>(getScales().getType());
  if (!isScalableFloat(in.getElementType()))
    return emitOpError("scales f16, bf16 or f32 tensors, got ")
           << in.getElementType();
  if (s.getRank() != 1 || !s.getElementType().isF32())
    return emitOpError("scales must be a 1-D f32 tensor, got ") << s;
  int64_t dim = getDim(), offset = getOffset();
  if (dim < 0 || dim >= in.getRank())
    return emitOpError("dim ") << dim << " is out of range for rank "
                               << in.getRank();
  int64_t size = in.getDimSize(dim);
  if (offset < 0 || offset + s.getDimSize(0) > size)
    return emitOpError("channels [")
           << offset << ", " << offset + s.getDimSize(0)
           << ") exceed dimension " << dim << " of size " << size;
  return success();
}

bool ScaleChannelsOp::isRowLocal() { return true; }

/// Only the input's rows: the scales are read whole (a shared result).
bool ScaleChannelsOp::readsOperandRows(unsigned index) { return index == 0; }

void ScaleChannelsOp::getRowCuts(SmallVectorImpl<int64_t> &cuts) {
  if (auto op = getInput().getDefiningOp<EvaluableOpInterface>())
    op.getRowCuts(cuts);
}

llvm::Error ScaleChannelsOp::evaluateRows(EvaluationContext &ctx, int64_t r0,
                                          int64_t r1,
                                          SmallVectorImpl<RowBuffer> &results) {
  auto in = ctx.getRows(getInput(), r0, r1);
  if (!in)
    return in.takeError();
  auto s = ctx.getAllRows(getScales());
  if (!s)
    return s.takeError();
  const auto *scales = reinterpret_cast<const float *>(s->bytes());
  auto type = cast<RankedTensorType>(getInput().getType());
  int64_t dim = getDim(), offset = getOffset(), count = s->numElements();
  int64_t inner = 1;
  for (int64_t d = dim + 1; d < type.getRank(); ++d)
    inner *= type.getDimSize(d);
  int64_t len = type.getRank() ? type.getDimSize(dim) : 1;
  size_t n = size_t(in->numElements());
  bool divide = getDivide();
  if (inner == 1 && dim != 0 && len > 0) {
    // Channels along the last dimension: the same scales in every row, a
    // row at a time through a float32 row that stays in the cache.
    const float *sc = scales - offset;
    size_t es = num::dtypeSize(in->dtype);
    thread_local std::vector<float> row;
    row.resize(size_t(len));
    RowBuffer out = RowBuffer::allocate(in->dtype, in->shape);
    for (size_t r0 = 0; r0 < n; r0 += size_t(len)) {
      num::convertElements(in->bytes() + r0 * es, in->dtype, row.data(),
                           DType::F32, size_t(len));
      if (divide)
        for (int64_t c = offset; c < offset + count; ++c)
          row[size_t(c)] = row[size_t(c)] / sc[c];
      else
        for (int64_t c = offset; c < offset + count; ++c)
          row[size_t(c)] = row[size_t(c)] * sc[c];
      num::convertElements(row.data(), DType::F32, out.data.data() + r0 * es,
                           in->dtype, size_t(len));
    }
    results.push_back(std::move(out));
    return llvm::Error::success();
  }
  std::vector<float> x(n);
  num::convertElements(in->bytes(), in->dtype, x.data(), DType::F32, n);
  // Runs of `inner` elements share their index c along `dim` (rows are
  // counted from r0; below the first dimension, c wraps at its size).
  int64_t c = dim == 0 ? r0 : 0;
  for (size_t e0 = 0; inner > 0 && e0 < n; e0 += size_t(inner)) {
    if (c >= offset && c < offset + count) {
      float sc = scales[c - offset];
      size_t end = std::min(n, e0 + size_t(inner));
      if (divide)
        for (size_t e = e0; e < end; ++e)
          x[e] = x[e] / sc;
      else
        for (size_t e = e0; e < end; ++e)
          x[e] = x[e] * sc;
    }
    if (++c == len && dim != 0)
      c = 0;
  }
  RowBuffer out = RowBuffer::allocate(in->dtype, in->shape);
  num::convertElements(x.data(), DType::F32, out.data.data(), in->dtype, n);
  results.push_back(std::move(out));
  return llvm::Error::success();
}
