//===- QuantizeWeights.cpp - Apply an MLC quantization mode ----*- C++ -*-===//
//
// Casts every parameter to the mode's model dtype and replaces each weight
// the mode quantizes with weights.quantize and the parameters it yields
// (`<name>.q_weight`, `<name>.q_scale`, ...), at the weight's position.
//
//===----------------------------------------------------------------------===//

#include "dialects/Weights/Transforms/Passes.h"
#include "dialects/Weights/Transforms/Utils.h"

#include "mlir/IR/Builders.h"
#include "mlir/IR/BuiltinOps.h"

namespace mlir::qopt::weights {
#define GEN_PASS_DEF_QUANTIZEWEIGHTS
#include "dialects/Weights/Transforms/Passes.h.inc"
} // namespace mlir::qopt::weights

using namespace mlir;
using namespace mlir::qopt::weights;
namespace models = ::qopt::models;

namespace {
struct QuantizeWeightsPass
    : public ::mlir::qopt::weights::impl::QuantizeWeightsBase<QuantizeWeightsPass> {
  using Base::Base;

  void runOnOperation() override {
    ModuleOp module = getOperation();
    const models::QuantizationMode *m = models::findQuantizationMode(mode);
    if (!m) {
      std::string why = models::unsupportedModeReason(mode);
      module.emitError(why.empty()
                           ? "unknown quantization mode '" + mode.getValue() + "'"
                           : why)
          << "; valid modes: "
          << models::quantizationModeList()
          << ", mnn_w<bits>[_asym][_b<block>][_hqq]";
      return signalPassFailure();
    }
    Rounding r;
    if (rounding.getValue() == "even") {
      r = Rounding::NearestEven;
    } else if (rounding.getValue() == "away") {
      r = Rounding::NearestAway;
    } else {
      module.emitError("unknown rounding '")
          << rounding.getValue() << "'; valid: even, away";
      return signalPassFailure();
    }
    for (ModelOp model : module.getOps<ModelOp>())
      if (failed(quantizeModel(model, *m, r)))
        return signalPassFailure();
  }

  LogicalResult quantizeModel(ModelOp model, const models::QuantizationMode &m,
                              Rounding r) {
    if (optimizeScales && m.kind != models::QuantizationMode::Kind::GroupQuant)
      return model.emitError("optimize-scales applies to group modes "
                             "(q3f16_*, q4f16_*, ...), not '")
             << m.name << "'";
    if (model.getQuantization())
      return model.emitError("model is already quantized with '")
             << *model.getQuantization() << "'";
    if (const models::Architecture *arch =
            models::findArchitecture(model.getArch())) {
      auto def = arch->build(getModelConfig(model), 1);
      // MNN-style modes are ours: every architecture takes them.
      if (def && m.kind != models::QuantizationMode::Kind::MNN &&
          llvm::find(def->quantizationKinds, m.kindName().str()) ==
              def->quantizationKinds.end()) {
        InFlightDiagnostic d = model.emitError("model type '")
                               << model.getArch() << "' cannot take mode '"
                               << m.name << "' (" << m.kindName()
                               << "); valid modes for it: ";
        bool first = true;
        for (const models::QuantizationMode &q : models::quantizationModes())
          if (llvm::is_contained(def->quantizationKinds, q.kindName().str())) {
            d << (first ? "" : ", ") << q.name;
            first = false;
          }
        return d;
      }
      if (!def)
        llvm::consumeError(def.takeError());
    }

    MLIRContext *ctx = &getContext();
    Type modelType = toMlirType(ctx, m.modelDType);
    SmallVector<ParamOp> params(model.getParams());
    for (ParamOp p : params) {
      OpBuilder b(p);
      if (m.kind == models::QuantizationMode::Kind::AWQ &&
          p.getKind() == ParamKind::Linear) {
        if (failed(keepAwqTensors(p)))
          return failure();
        continue;
      }
      Value v = p.getValue();
      auto type = cast<RankedTensorType>(v.getType());
      if (isa<FloatType>(type.getElementType()) &&
          type.getElementType() != modelType)
        v = CastOp::create(b, v.getLoc(), type.clone(modelType), v);
      ParamKind kind = p.getKind().value_or(ParamKind::Other);
      Attribute scheme = buildScheme(ctx, m, kind, r, optimizeScales);
      if (!scheme || !isa<FloatType>(type.getElementType())) {
        p.getValueMutable().assign(v);
        continue;
      }
      if (kind == ParamKind::Experts && m.kn)
        return p.emitError("parameter '")
               << p.getName() << "': mode '" << m.name
               << "' (kn layout) cannot quantize MoE experts";
      auto iface = cast<QuantSchemeAttrInterface>(scheme);
      SmallVector<std::pair<std::string, RankedTensorType>> outs;
      std::string err;
      if (failed(iface.inferOutputs(cast<RankedTensorType>(v.getType()), outs,
                                    err)))
        return p.emitError("parameter '") << p.getName() << "': " << err;
      SmallVector<Type> types;
      for (auto &o : outs)
        types.push_back(o.second);
      auto q = QuantizeOp::create(b, p.getLoc(), types, v, iface);
      for (auto [i, o] : llvm::enumerate(outs)) {
        std::string name = quantizedName(p.getName(), o.first);
        ParamOp::create(b, NameLoc::get(b.getStringAttr(name), p.getLoc()),
                        b.getStringAttr(name), q.getResult(i), p.getKindAttr());
      }
      p.erase();
    }
    model.setQuantizationAttr(StringAttr::get(ctx, m.name));
    return success();
  }

  /// q4f16_autoawq: MLC keeps AutoAWQ's tensors. `W = dequantize_awq(...)`
  /// becomes `<name>.qweight/.qzeros/.scales`; fused weights (concat on the
  /// output rows of W) concatenate the AWQ tensors on their output axis 1.
  LogicalResult keepAwqTensors(ParamOp p) {
    SmallVector<DequantizeAwqOp> parts;
    Value v = p.getValue();
    if (auto dq = v.getDefiningOp<DequantizeAwqOp>()) {
      parts.push_back(dq);
    } else if (auto c = v.getDefiningOp<ConcatOp>(); c && c.getAxis() == 0) {
      for (Value in : c.getInputs())
        if (auto dq = in.getDefiningOp<DequantizeAwqOp>())
          parts.push_back(dq);
      if (parts.size() != c.getInputs().size())
        parts.clear();
    }
    if (parts.empty())
      return p.emitError("parameter '")
             << p.getName()
             << "': mode 'q4f16_autoawq' needs an AutoAWQ checkpoint "
                "(qweight/qzeros/scales), but this weight is not AWQ-quantized";
    OpBuilder b(p);
    Type u32 = b.getIntegerType(32, /*isSigned=*/false);
    auto emit = [&](StringRef suffix, unsigned operand, bool reinterpret) {
      SmallVector<Value> ins;
      for (DequantizeAwqOp dq : parts)
        ins.push_back(dq->getOperand(operand));
      Value out = ins.front();
      auto first = cast<RankedTensorType>(out.getType());
      if (ins.size() > 1) {
        SmallVector<int64_t> shape(first.getShape());
        shape[1] = 0;
        for (Value in : ins)
          shape[1] += cast<RankedTensorType>(in.getType()).getDimSize(1);
        out = ConcatOp::create(b, p.getLoc(), first.clone(shape), ins,
                               b.getI64IntegerAttr(1));
      }
      auto type = cast<RankedTensorType>(out.getType());
      if (reinterpret && type.getElementType() != u32)
        out = CastOp::create(b, p.getLoc(), type.clone(u32), out);
      std::string name = quantizedName(p.getName(), suffix);
      ParamOp::create(b, NameLoc::get(b.getStringAttr(name), p.getLoc()),
                      b.getStringAttr(name), out, p.getKindAttr());
    };
    emit("qweight", 0, true);
    emit("qzeros", 1, true);
    emit("scales", 2, false);
    p.erase();
    return success();
  }
};
} // namespace
