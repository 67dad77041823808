//===- FoldAwqScales.cpp - AWQ's channel scales folded into weights -*- C++ -*-===//
//
// Activation-aware weight scaling (docs/calibration.md, "AWQ"): per decoder
// layer, each group of linears sharing an input gets a weights.awq_scales op
// (the scales, searched from the linears and the calibration statistics of
// their input, weights.calibration entries of the model's calibration_file) and weights.scale_channels ops that multiply the linears'
// columns by the scales and divide what computes their input (a norm's
// weight and bias, or rows of the previous linear) by them. Only stored
// values change; the model computes the same function.
//
//===----------------------------------------------------------------------===//

#include "dialects/Weights/Transforms/Passes.h"
#include "dialects/Weights/Transforms/Utils.h"
#include "qopt/Loaders/Calibration.h"
#include "qopt/Models/DecoderLayout.h"
#include "qopt/Models/QuantizationModes.h"

#include "mlir/IR/Builders.h"
#include "mlir/IR/SymbolTable.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/Path.h"

namespace mlir::qopt::weights {
#define GEN_PASS_DEF_FOLDAWQSCALES
#include "dialects/Weights/Transforms/Passes.h.inc"
} // namespace mlir::qopt::weights

using namespace mlir;
using namespace mlir::qopt::weights;
namespace models = ::qopt::models;
namespace loaders = ::qopt::loaders;
namespace num = ::qopt::numerics;
namespace weights = ::mlir::qopt::weights;

/// "[256, 256]".
static std::string describe(ArrayRef<int64_t> shape) {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); ++i)
    s += (i ? ", " : "") + std::to_string(shape[i]);
  return s + "]";
}

/// Moves the definition of `v` (and of its operands, first) before `point`
/// when it comes after it: the model's block is an SSA region.
static void hoistBefore(Value v, Operation *point) {
  Operation *def = v.getDefiningOp();
  if (!def || def->getBlock() != point->getBlock() ||
      def->isBeforeInBlock(point))
    return;
  for (Value operand : def->getOperands())
    hoistBefore(operand, point);
  def->moveBefore(point);
}

Value mlir::qopt::weights::rescaleForFoldedScales(OpBuilder &b, Location loc,
                                                 Value weight, Value stats) {
  while (auto cast = weight.getDefiningOp<CastOp>())
    weight = cast.getInput();
  auto scaled = weight.getDefiningOp<ScaleChannelsOp>();
  // The row divisions (v -> o, up -> down) sit on top of the columns'.
  while (scaled && scaled.getDim() == 0 && scaled.getDivide())
    scaled = scaled.getInput().getDefiningOp<ScaleChannelsOp>();
  if (!scaled || scaled.getDim() != 1 || scaled.getDivide() ||
      scaled.getOffset() != 0 ||
      cast<RankedTensorType>(scaled.getType()).getRank() != 2)
    return stats;
  auto type = cast<RankedTensorType>(stats.getType());
  if (type.getRank() != 1 && type.getRank() != 2)
    return stats;
  Value s = scaled.getScales();
  auto divide = [&](Value v, int64_t dim) -> Value {
    return ScaleChannelsOp::create(b, loc, type, v, s, b.getI64IntegerAttr(dim),
                                   b.getI64IntegerAttr(0), b.getUnitAttr());
  };
  // Importance [K]: / s_k twice; Hessian [K, K]: rows and columns by s.
  return type.getRank() == 1 ? divide(divide(stats, 0), 0)
                             : divide(divide(stats, 0), 1);
}

namespace {
struct FoldAwqScalesPass
    : public ::mlir::qopt::weights::impl::FoldAwqScalesBase<FoldAwqScalesPass> {
  using Base::Base;

  void runOnOperation() override {
    Operation *module = getOperation();
    const models::QuantizationMode *m = models::findQuantizationMode(mode);
    if (!m) {
      module->emitError("awq: unknown quantization mode '")
          << mode.getValue() << "'";
      return signalPassFailure();
    }
    Rounding r = Rounding::NearestEven;
    if (rounding.getValue() == "away") {
      r = Rounding::NearestAway;
    } else if (rounding.getValue() != "even") {
      module->emitError("awq: unknown rounding '")
          << rounding.getValue() << "'; valid: even, away";
      return signalPassFailure();
    }
    if (m->kind == models::QuantizationMode::Kind::FTQuant) {
      // Its scheme depends on each weight's shape (docs/quantization.md).
      module->emitError("awq: mode '")
          << m->name << "' cannot follow AWQ scale folding";
      return signalPassFailure();
    }
    scheme = buildScheme(&getContext(), *m, ParamKind::Linear, r);
    if (!scheme || !isa<QuantSchemeAttrInterface>(scheme)) {
      module->emitError("awq: mode '")
          << m->name
          << "' does not quantize linear weights: there is no quantizer to "
             "search scales for";
      return signalPassFailure();
    }
    if (rows < 0) {
      module->emitError("awq: rows must be at least 0, got ")
          << rows.getValue();
      return signalPassFailure();
    }
    if (grid < 1) {
      module->emitError("awq: grid must be at least 1, got ")
          << grid.getValue();
      return signalPassFailure();
    }
    if (stats.getValue().empty()) {
      module->emitError("awq: needs a statistics file (stats=FILE)");
      return signalPassFailure();
    }
    auto file = loaders::CalibrationFile::open(stats.getValue());
    if (!file) {
      // The reader's message names the file.
      module->emitError("awq: cannot read statistics: ")
          << llvm::toString(file.takeError());
      return signalPassFailure();
    }
    statsFile = std::move(*file);
    if (statsFile->getFormat() != loaders::CalibrationFormat::Stats) {
      module->emitError("awq: ")
          << stats.getValue()
          << " is a llama.cpp importance matrix; AWQ reads quant-opt's STATS "
             "file (quant-opt calibrate), whose entries name MLC's weights";
      return signalPassFailure();
    }
    for (ModelOp model : getModels(module))
      if (failed(foldModel(model)))
        return signalPassFailure();
  }

  LogicalResult foldModel(ModelOp model) {
    const models::DecoderLayout *layout = models::findDecoderLayout(model.getArch());
    if (!layout)
      return model.emitError("awq: no decoder layout for architecture '")
             << model.getArch()
             << "' (known: " << models::decoderLayoutArchList() << ")";
    if (model.getQuantization())
      return model.emitError("awq: model is already quantized with '")
             << *model.getQuantization()
             << "'; scales are folded before qopt-quantize-weights";
    // The statistics are entries of the model's calibration file, which
    // qopt-attach-calibration (--imatrix, --gptq) may then share.
    if (std::optional<StringRef> own = model.getCalibrationFile();
        own && *own != stats.getValue())
      return model.emitError("awq: model already has calibration statistics (")
             << *own << ")";
    model.setCalibrationFileAttr(
        StringAttr::get(model.getContext(), stats.getValue()));
    SymbolTable symbols(model);
    auto param = [&](int64_t layer, StringRef rest) -> ParamOp {
      if (rest.empty())
        return nullptr;
      return symbols.lookup<ParamOp>(layout->name(layer, rest));
    };
    int64_t skipped = 0;
    ParamOp firstSkipped;
    std::string why;
    for (int64_t i = 0;; ++i) {
      ParamOp attnNorm = param(i, layout->attnNorm);
      ParamOp qkv = param(i, layout->qkv), out = param(i, layout->out);
      ParamOp mlpNorm = param(i, layout->mlpNorm);
      ParamOp gateUp = param(i, layout->gateUp), down = param(i, layout->down);
      if (!attnNorm && !qkv && !out && !mlpNorm && !gateUp && !down)
        break;
      // Every search sees the weights as the checkpoint has them.
      Value qkvW = qkv ? qkv.getValue() : Value();
      Value outW = out ? out.getValue() : Value();
      Value gateUpW = gateUp ? gateUp.getValue() : Value();
      Value downW = down ? down.getValue() : Value();
      // norm -> q/k/v
      if (attnNorm && qkv)
        if (failed(foldGroup(qkv, qkvW, attnNorm, param(i, layout->attnNormBias),
                             /*rowOffset=*/-1)))
          return failure();
      // v rows -> o_proj, head by head: only when each v head feeds one
      // query head (o_proj's input channels are the v rows).
      if (qkv && out) {
        int64_t rows = dim(qkvW, 0), oIn = dim(outW, 1);
        int64_t kv = (rows - oIn) / 2;
        if (kv == oIn && rows == oIn + 2 * kv) {
          if (failed(foldGroup(out, outW, qkv, param(i, layout->qkvBias),
                               oIn + kv)))
            return failure();
        } else {
          if (!skipped++) {
            firstSkipped = out;
            why = "v has " + std::to_string(kv) + " rows, o_proj " +
                  std::to_string(oIn) + " input channels";
            if (kv > 0 && oIn % kv == 0)
              why += " (grouped-query attention: " +
                     std::to_string(oIn / kv) +
                     " query heads share each v head)";
          }
        }
      }
      // norm -> gate/up
      if (mlpNorm && gateUp)
        if (failed(foldGroup(gateUp, gateUpW, mlpNorm,
                             param(i, layout->mlpNormBias), -1)))
          return failure();
      // up rows -> down_proj (down's input is silu(gate) * up).
      if (gateUp && down && dim(gateUpW, 0) == 2 * dim(downW, 1))
        if (failed(foldGroup(down, downW, gateUp, nullptr, dim(downW, 1))))
          return failure();
    }
    if (skipped)
      firstSkipped.emitWarning("awq: o_proj not scaled through v_proj in ")
          << skipped << (skipped == 1 ? " layer: " : " layers: ") << why;
    return success();
  }

  static int64_t dim(Value v, unsigned d) {
    return cast<RankedTensorType>(v.getType()).getDimSize(d);
  }

  /// The weights.calibration op of `statistic` of the statistics entry of
  /// `user` (its MLC weight name), which must have `shape`; fails (at
  /// `user`) when the entry or, unless `optional`, the statistic is missing
  /// or shaped otherwise. Null when an optional statistic is absent.
  FailureOr<Value> statsValue(OpBuilder &b, ParamOp user, weights::Statistic statistic,
                              ArrayRef<int64_t> shape, bool optional) {
    StringRef name = user.getName();
    const loaders::CalibrationEntry *e = statsFile->find(name);
    if (!e)
      return user.emitError("awq: statistics '")
             << stats.getValue() << "' have no entry '" << name << "'";
    bool importance = statistic == weights::Statistic::Importance;
    const std::vector<int64_t> &have =
        importance ? e->importanceShape : e->hessianShape;
    if (have.empty() && optional)
      return Value();
    if (ArrayRef<int64_t>(have) != shape)
      return user.emitError("awq: statistics entry '")
             << name << "' has " << (importance ? "importance " : "hessian ")
             << describe(have) << ", expected " << describe(shape);
    MLIRContext *ctx = b.getContext();
    Location loc = NameLoc::get(StringAttr::get(ctx, name),
                                FileLineColLoc::get(ctx, stats.getValue(), 0, 0));
    auto type = RankedTensorType::get(shape, Float32Type::get(ctx));
    return CalibrationOp::create(b, loc, type, name, statistic).getResult();
  }

  /// Scales the columns of `linear` (whose weight the search sees as
  /// `weight`) and divides `prev` by the scales: all of it (a norm, with
  /// `prevBias`), or its rows from `rowOffset` (a linear, and those rows
  /// of `prevBias`).
  LogicalResult foldGroup(ParamOp linear, Value weight, ParamOp prev,
                          ParamOp prevBias, int64_t rowOffset) {
    Operation *point = linear;
    for (ParamOp p : {prev, prevBias})
      if (p && p->isBeforeInBlock(point))
        point = p;
    hoistBefore(weight, point);
    hoistBefore(linear.getValue(), point);
    hoistBefore(prev.getValue(), point);
    if (prevBias)
      hoistBefore(prevBias.getValue(), point);
    OpBuilder b(point);
    int64_t k = dim(weight, 1);
    auto imatrix = statsValue(b, linear, weights::Statistic::Importance, {k}, false);
    if (failed(imatrix))
      return failure();
    Value hessian;
    if (useHessian) {
      auto h = statsValue(b, linear, weights::Statistic::Hessian, {k, k}, true);
      if (failed(h))
        return failure();
      hessian = *h;
    }
    Location loc = linear.getLoc();
    auto f32 = RankedTensorType::get({k}, b.getF32Type());
    Value s = AwqScalesOp::create(b, loc, f32, ValueRange{weight}, *imatrix,
                                  hessian, b.getI64IntegerAttr(grid),
                                  cast<QuantSchemeAttrInterface>(scheme),
                                  rows > 0 ? b.getI64IntegerAttr(rows)
                                           : IntegerAttr());
    auto scale = [&](ParamOp p, int64_t d, int64_t offset, bool divide) {
      Value v = ScaleChannelsOp::create(
          b, p.getLoc(), p.getValue().getType(), p.getValue(), s,
          b.getI64IntegerAttr(d),
          b.getI64IntegerAttr(offset), divide ? b.getUnitAttr() : UnitAttr());
      p.getValueMutable().assign(v);
    };
    scale(linear, 1, 0, false);
    scale(prev, 0, rowOffset < 0 ? 0 : rowOffset, true);
    if (prevBias)
      scale(prevBias, 0, rowOffset < 0 ? 0 : rowOffset, true);
    return success();
  }

  Attribute scheme;
  std::shared_ptr<const loaders::CalibrationFile> statsFile;
};
} // namespace
