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
      module.emitError("unknown quantization mode '")
          << mode.getValue() << "'; valid modes: "
          << models::quantizationModeList();
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
    if (model.getQuantization())
      return model.emitError("model is already quantized with '")
             << *model.getQuantization() << "'";
    if (const models::Architecture *arch =
            models::findArchitecture(model.getArch())) {
      auto def = arch->build(getModelConfig(model), 1);
      if (def && llvm::find(def->quantizationKinds, m.kindName().str()) ==
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
      Value v = p.getValue();
      auto type = cast<RankedTensorType>(v.getType());
      if (isa<FloatType>(type.getElementType()) &&
          type.getElementType() != modelType)
        v = CastOp::create(b, v.getLoc(), type.clone(modelType), v);
      ParamKind kind = p.getKind().value_or(ParamKind::Other);
      Attribute scheme = buildScheme(ctx, m, kind, r);
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
};
} // namespace
