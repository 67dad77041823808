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
#include "llvm/ADT/StringMap.h"

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
    Operation *module = getOperation();
    const models::QuantizationMode *m = models::findQuantizationMode(mode);
    if (!m) {
      module->emitError("unknown quantization mode '" + mode.getValue() + "'")
          << "; valid modes:  "
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
      module->emitError("unknown rounding '")
          << rounding.getValue() << "'; valid: even, away";
      return signalPassFailure();
    }
    for (ModelOp model : getModels(module))
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
    // The kinds of modes the model accepts, as qopt-map-parameters
    // recorded them from the definition. MNN-style modes are ours: every
    // architecture takes them.
    if (ArrayAttr kinds = model.getQuantizationKindsAttr();
        kinds && m.kind != models::QuantizationMode::Kind::MNN) {
      auto accepts = [&](StringRef kind) {
        return llvm::any_of(kinds.getAsValueRange<StringAttr>(),
                            [&](StringRef k) { return k == kind; });
      };
      if (!accepts(m.kindName())) {
        InFlightDiagnostic d = model.emitError("model type '")
                               << model.getArch() << "' cannot take mode '"
                               << m.name << "' (" << m.kindName()
                               << "); valid modes for it: ";
        bool first = true;
        for (const models::QuantizationMode &q : models::quantizationModes())
          if (accepts(q.kindName())) {
            d << (first ? "" : ", ") << q.name;
            first = false;
          }
        return d;
      }
    }

    if (m.kind == models::QuantizationMode::Kind::BlockScale)
      return keepBlockFp8(model, m);

    MLIRContext *ctx = &getContext();
    Type modelType = toMlirType(ctx, m.modelDType);
    llvm::StringMap<int64_t> groups = awqGroups(model);
    SmallVector<ParamOp> params(model.getParams());
    for (ParamOp p : params) {
      OpBuilder b(p);
      if (m.kind == models::QuantizationMode::Kind::AWQ &&
          quantizedKind(m, p.getKind().value_or(ParamKind::Other)) ==
              ParamKind::Linear) {
        if (failed(keepAwqTensors(p)))
          return failure();
        continue;
      }
      Value v = p.getValue();
      auto type = cast<RankedTensorType>(v.getType());
      ParamKind kind = p.getKind().value_or(ParamKind::Other);
      Type target = elementTypeFor(kind, modelType);
      if (isa<FloatType>(type.getElementType()) &&
          type.getElementType() != target)
        v = castToModelType(b, v, type.clone(target));
      Attribute scheme = buildScheme(ctx, m, kind, r, optimizeScales,
                                     type.getShape());
      if (!scheme || !isa<FloatType>(type.getElementType())) {
        p.getValueMutable().assign(v);
        continue;
      }
      if (kind == ParamKind::Experts && m.kn)
        return p.emitError("parameter '")
               << p.getName() << "': mode '" << m.name
               << "' (kn layout) cannot quantize MoE experts";
      auto iface = cast<QuantSchemeAttrInterface>(scheme);
      SmallVector<QuantOutput> outs;
      std::string err;
      if (failed(iface.inferOutputs(cast<RankedTensorType>(v.getType()), outs,
                                    err)))
        return p.emitError("parameter '") << p.getName() << "': " << err;
      SmallVector<Type> types;
      for (QuantOutput &o : outs)
        types.push_back(o.type);
      auto q = QuantizeOp::create(b, p.getLoc(), types, v, iface);
      for (auto [i, o] : llvm::enumerate(outs))
        createOutput(b, p, o.suffix, o.role, q.getResult(i));
      p.erase();
    }
    if (failed(rewriteExpectations(model, m, r, groups)))
      return failure();
    model.setQuantizationAttr(StringAttr::get(ctx, m.name));
    return success();
  }

  /// The element type a parameter of `kind` has under a mode of model
  /// dtype `modelType`: that, but float32 for a Float32Bias or Float32.
  static Type elementTypeFor(ParamKind kind, Type modelType) {
    if (kind == ParamKind::Float32Bias || kind == ParamKind::Float32)
      return Float32Type::get(modelType.getContext());
    return modelType;
  }

  /// `v` converted to `type` (the model dtype) where MLC's `astype` is:
  /// after the mapping steps, but before a weights.divide_pow2 (RWKV's
  /// `x.astype(dtype) / 2**t`), which then divides in the model dtype.
  static Value castToModelType(OpBuilder &b, Value v, RankedTensorType type) {
    auto div = v.getDefiningOp<DividePow2Op>();
    if (!div || !v.hasOneUse())
      return CastOp::create(b, v.getLoc(), type, v);
    OpBuilder at(div);
    Value in = div.getInput();
    if (cast<RankedTensorType>(in.getType()) != type)
      in = CastOp::create(at, in.getLoc(), type, in);
    div.getInputMutable().assign(in);
    div.getResult().setType(type);
    return div.getResult();
  }

  /// The record `<base>.<suffix>` holding one tensor a scheme made of `p`:
  /// the weight's kind and shard strategy, the record's role and origin.
  static void createOutput(OpBuilder &b, ParamOp p, StringRef suffix,
                           ParamRole role, Value value) {
    std::string name = quantizedName(p.getName(), suffix);
    ParamOp::create(b, NameLoc::get(b.getStringAttr(name), p.getLoc()),
                    b.getStringAttr(name), value, p.getKindAttr(),
                    ParamRoleAttr::get(b.getContext(), role),
                    p.getSymNameAttr(), p.getShardAttr());
  }

  /// The model's own expectations (weights.expect ops qopt-map-parameters
  /// wrote from the definition) become what the mode makes of each
  /// parameter, as the parameters did: the model dtype, or the scheme's
  /// tensors.
  LogicalResult rewriteExpectations(ModelOp model,
                                    const models::QuantizationMode &m,
                                    Rounding r,
                                    const llvm::StringMap<int64_t> &groups) {
    MLIRContext *ctx = &getContext();
    Type modelType = toMlirType(ctx, m.modelDType);
    SmallVector<ExpectOp> expects(model.getBody().front().getOps<ExpectOp>());
    for (ExpectOp e : expects) {
      OpBuilder b(e);
      auto type = cast<RankedTensorType>(e.getType());
      ParamKind kind = e.getKind().value_or(ParamKind::Other);
      auto expect = [&](StringRef name, RankedTensorType t, StringAttr from) {
        ExpectOp::create(b, e.getLoc(), b.getStringAttr(name),
                         TypeAttr::get(t), e.getKindAttr(), from);
      };
      if (m.kind == models::QuantizationMode::Kind::AWQ &&
          quantizedKind(m, kind) == ParamKind::Linear && type.getRank() == 2) {
        // AutoAWQ GEMM tensors: qweight [K, N/8], qzeros [K/G, N/8],
        // scales [K/G, N], with the group of the parameter's
        // dequantize_awq (whole columns when it was not built).
        int64_t n = type.getDimSize(0), k = type.getDimSize(1);
        auto it = groups.find(e.getName());
        int64_t g = it != groups.end() ? it->second : k;
        Type u32 = IntegerType::get(ctx, 32, IntegerType::Unsigned);
        StringAttr from = e.getNameAttr();
        expect(quantizedName(e.getName(), "qweight"),
               RankedTensorType::get({k, n / 8}, u32), from);
        expect(quantizedName(e.getName(), "qzeros"),
               RankedTensorType::get({k / g, n / 8}, u32), from);
        expect(quantizedName(e.getName(), "scales"),
               RankedTensorType::get({k / g, n}, Float16Type::get(ctx)), from);
        e.erase();
        continue;
      }
      Attribute scheme =
          buildScheme(ctx, m, kind, r, optimizeScales, type.getShape());
      if (!scheme) {
        e.setType(type.clone(elementTypeFor(kind, modelType)));
        continue;
      }
      SmallVector<QuantOutput> outs;
      std::string err;
      if (failed(cast<QuantSchemeAttrInterface>(scheme).inferOutputs(
              type.clone(modelType), outs, err)))
        return model.emitError("parameter '") << e.getName() << "': " << err;
      for (QuantOutput &o : outs)
        expect(quantizedName(e.getName(), o.suffix), o.type, e.getNameAttr());
      e.erase();
    }
    return success();
  }

  /// The group size of each parameter built by dequantize_awq (AutoAWQ
  /// checkpoints), by name.
  static llvm::StringMap<int64_t> awqGroups(ModelOp model) {
    llvm::StringMap<int64_t> groups;
    for (ParamOp p : model.getParams()) {
      Value v = p.getValue();
      if (auto c = v.getDefiningOp<ConcatOp>(); c && !c.getInputs().empty())
        v = c.getInputs().front();
      if (auto dq = v.getDefiningOp<DequantizeAwqOp>())
        groups[p.getSymName()] = dq.getGroupSize();
    }
    return groups;
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
    auto emit = [&](StringRef suffix, ParamRole role, unsigned operand,
                    bool reinterpret) {
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
      createOutput(b, p, suffix, role, out);
    };
    emit("qweight", ParamRole::QuantizedWeight, 0, true);
    emit("qzeros", ParamRole::Zero, 1, true);
    emit("scales", ParamRole::Scale, 2, false);
    p.erase();
    return success();
  }
};
} // namespace
