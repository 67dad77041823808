//===- LowerToQuantTypes.cpp - MNN weights as quant types ----*- C++ -*-===//
//
// qopt-lower-to-quant-types: a weights.quant_view per MNN-style
// weights.quantize, typed with the upstream quant dialect: !quant.any (the
// scales by reference, the default) or, with materialize-scales, per-axis /
// sub-channel !quant.uniform holding the stored scales (docs/mnn-format.md
// section 9).
//
//===----------------------------------------------------------------------===//

#include "qopt/Loaders/TensorReader.h"
#include "qopt/Numerics/Convert.h"
#include "dialects/Weights/Transforms/Passes.h"

#include "mlir/IR/Builders.h"
#include "mlir/IR/BuiltinOps.h"

namespace mlir::qopt::weights {
#define GEN_PASS_DEF_LOWERTOQUANTTYPES
#include "dialects/Weights/Transforms/Passes.h.inc"
} // namespace mlir::qopt::weights

using namespace mlir;
using namespace mlir::qopt::weights;

/// The name of the weight a quantize op replaces: its `q_weight` record's
/// name with `q_weight` -> `weight`, or "" when no record uses it directly.
static std::string weightName(QuantizeOp op) {
  for (Operation *user : op.getResult(0).getUsers())
    if (auto p = dyn_cast<ParamOp>(user)) {
      StringRef name = p.getName();
      if (name.consume_back("q_weight"))
        return (name + "weight").str();
      return name.str();
    }
  return "";
}

/// The storage of the view: signed [-T, T] (symmetric) or unsigned
/// [0, 2^b - 1] (asymmetric), expressed in the scales' type.
static quant::AnyQuantizedType viewStorage(MnnQuantAttr m) {
  MLIRContext *ctx = m.getContext();
  unsigned bits = m.getBits();
  bool asym = m.isAsymmetric();
  int64_t lo = asym ? 0 : -((int64_t(1) << (bits - 1)) - 1);
  int64_t hi = asym ? (int64_t(1) << bits) - 1 : (int64_t(1) << (bits - 1)) - 1;
  return quant::AnyQuantizedType::get(
      asym ? 0 : quant::QuantizationFlags::Signed, IntegerType::get(ctx, bits),
      m.getExpressedType(), lo, hi);
}

/// The scales `op` writes to its `q_scale` record, row-major, as the
/// runtime reads them back: the whole weight evaluated in memory (small
/// models only; the pass caps its use).
static llvm::Expected<std::vector<double>> evaluateScales(QuantizeOp op) {
  ::qopt::loaders::TensorReader reader;
  EvaluationContext ctx(reader, {});
  auto scales = ctx.getAllRows(op.getResult(1));
  if (!scales)
    return llvm::createStringError(llvm::inconvertibleErrorCode(),
                                   llvm::toString(scales.takeError()));
  size_t n = size_t(scales->numElements());
  std::vector<float> f(n);
  ::qopt::numerics::convertElements(scales->bytes(), scales->dtype, f.data(),
                                    ::qopt::numerics::DType::F32, n);
  return std::vector<double>(f.begin(), f.end());
}

namespace {
struct LowerToQuantTypesPass
    : public ::mlir::qopt::weights::impl::LowerToQuantTypesBase<
          LowerToQuantTypesPass> {
  using Base::Base;

  void runOnOperation() override {
    if (maxScales < 0) {
      getOperation().emitError("max-scales must be non-negative, got ")
          << maxScales.getValue();
      return signalPassFailure();
    }
    SmallVector<QuantizeOp> ops;
    getOperation().walk([&](QuantizeOp op) {
      if (!isa<MnnQuantAttr>(op.getScheme()))
        return;
      // Idempotent: a quantize op that has its view keeps it.
      for (Operation *user : op->getUsers())
        if (isa<QuantViewOp>(user))
          return;
      ops.push_back(op);
    });
    // The cap is checked for every weight before any is read.
    if (materializeScales) {
      int64_t total = 0;
      for (QuantizeOp op : ops) {
        int64_t count =
            cast<RankedTensorType>(op.getResult(1).getType()).getNumElements();
        if (count > maxScales - total) {
          op.emitError("materializing the scales of '")
              << weightName(op) << "' would put " << total + count
              << " scales into the IR, more than max-scales = "
              << maxScales.getValue()
              << "; raise max-scales, or leave materialize-scales off to "
                 "keep the scales in the q_scale records";
          return signalPassFailure();
        }
        total += count;
      }
    }
    for (QuantizeOp op : ops)
      if (failed(lower(op)))
        return signalPassFailure();
  }

  LogicalResult lower(QuantizeOp op) {
    auto m = cast<MnnQuantAttr>(op.getScheme());
    auto in = cast<RankedTensorType>(op.getInput().getType());
    auto scaleType = cast<RankedTensorType>(op.getResult(1).getType());
    std::string name = weightName(op);
    if (in.getRank() < 2)
      return op.emitError("cannot view a quantized tensor of rank ")
             << in.getRank() << " (MNN weights are 2-D or 3-D)";
    quant::AnyQuantizedType storage = viewStorage(m);
    Type element = storage;
    if (materializeScales) {
      auto scales = evaluateScales(op);
      if (!scales)
        return op.emitError("cannot materialize the scales of '")
               << name << "': " << llvm::toString(scales.takeError());
      element = uniformType(op, storage, in, scaleType, *scales);
      if (!element)
        return failure();
    }
    OpBuilder b(op);
    b.setInsertionPointAfter(op);
    Value offset = m.isAsymmetric() ? op.getResult(2) : Value();
    QuantViewOp::create(b, op.getLoc(),
                          RankedTensorType::get(in.getShape(), element),
                          b.getStringAttr(name), op.getResult(0),
                          op.getResult(1), offset);
    return success();
  }

  /// Per-axis (channel-wise 2-D) or sub-channel !quant.uniform with the
  /// given scales and zero point 0. A stored scale of 0 (a block whose
  /// codes are all the zero code, or a scale below the expressed type's
  /// range) becomes 1: the upstream types need a positive scale, and such a
  /// block dequantizes to the same values under any scale.
  Type uniformType(QuantizeOp op, quant::AnyQuantizedType storage,
                   RankedTensorType in, RankedTensorType scaleType,
                   std::vector<double> scales) {
    for (double &s : scales)
      if (!(s > 0.0))
        s = 1.0;
    auto emitError = [&] { return op.emitError(); };
    int64_t rank = in.getRank();
    int64_t blocks = scaleType.getShape().back();
    if (rank == 2 && blocks == 1) {
      SmallVector<int64_t> zeros(scales.size(), 0);
      return quant::UniformQuantizedPerAxisType::getChecked(
          emitError, storage.getFlags(), storage.getStorageType(),
          storage.getExpressedType(), scales, zeros,
          /*quantizedDimension=*/0, storage.getStorageTypeMin(),
          storage.getStorageTypeMax());
    }
    Type expressed = storage.getExpressedType();
    const llvm::fltSemantics &sem =
        cast<FloatType>(expressed).getFloatSemantics();
    SmallVector<APFloat> values;
    values.reserve(scales.size());
    for (double s : scales) {
      APFloat v(s);
      bool lost = false;
      v.convert(sem, APFloat::rmNearestTiesToEven, &lost);
      values.push_back(v);
    }
    auto scaleAttr = DenseElementsAttr::get(
        RankedTensorType::get(scaleType.getShape(), expressed), values);
    APInt zero(storage.getStorageTypeIntegralWidth(), 0);
    auto zeroAttr = DenseElementsAttr::get(
        RankedTensorType::get(scaleType.getShape(), storage.getStorageType()),
        ArrayRef<APInt>(zero));
    SmallVector<int32_t> dims;
    SmallVector<int64_t> sizes;
    for (int64_t d = 0; d < rank; ++d) {
      dims.push_back(int32_t(d));
      sizes.push_back(d + 1 < rank ? 1 : in.getShape().back() / blocks);
    }
    return quant::UniformQuantizedSubChannelType::getChecked(
        emitError, storage.getFlags(), storage.getStorageType(),
        storage.getExpressedType(), scaleAttr, zeroAttr, dims, sizes,
        storage.getStorageTypeMin(), storage.getStorageTypeMax());
  }
};
} // namespace
