//===- Utils.cpp - Helpers shared by the weights passes -----*- C++ -*-===//

#include "dialects/Weights/Transforms/Utils.h"

#include "mlir/IR/Builders.h"
#include "mlir/IR/Location.h"
#include "llvm/ADT/TypeSwitch.h"

using namespace mlir;
using namespace mlir::qopt::weights;
using ::qopt::numerics::DType;
namespace models = ::qopt::models;

static Attribute jsonValueToAttr(MLIRContext *ctx, const nlohmann::json &v) {
  Builder b(ctx);
  if (v.is_boolean())
    return b.getBoolAttr(v.get<bool>());
  if (v.is_number_integer())
    return b.getI64IntegerAttr(v.get<int64_t>());
  if (v.is_number_float())
    return b.getF64FloatAttr(v.get<double>());
  if (v.is_string())
    return b.getStringAttr(v.get<std::string>());
  if (v.is_array()) {
    SmallVector<Attribute> elems;
    for (const nlohmann::json &e : v)
      if (Attribute a = jsonValueToAttr(ctx, e))
        elems.push_back(a);
    return b.getArrayAttr(elems);
  }
  if (v.is_object())
    return jsonToAttr(ctx, v);
  return {}; // null: treated as absent, as MLC does for optional fields
}

DictionaryAttr mlir::qopt::weights::jsonToAttr(MLIRContext *ctx,
                                               const nlohmann::json &obj) {
  SmallVector<NamedAttribute> attrs;
  for (auto it = obj.begin(); it != obj.end(); ++it)
    if (Attribute a = jsonValueToAttr(ctx, it.value()))
      attrs.push_back(NamedAttribute(StringAttr::get(ctx, it.key()), a));
  return DictionaryAttr::get(ctx, attrs);
}

nlohmann::json mlir::qopt::weights::attrToJson(Attribute attr) {
  if (auto d = dyn_cast<DictionaryAttr>(attr)) {
    nlohmann::json obj = nlohmann::json::object();
    for (NamedAttribute na : d)
      obj[na.getName().str()] = attrToJson(na.getValue());
    return obj;
  }
  if (auto a = dyn_cast<ArrayAttr>(attr)) {
    nlohmann::json arr = nlohmann::json::array();
    for (Attribute e : a)
      arr.push_back(attrToJson(e));
    return arr;
  }
  if (auto b = dyn_cast<BoolAttr>(attr))
    return b.getValue();
  if (auto i = dyn_cast<IntegerAttr>(attr))
    return i.getValue().getSExtValue();
  if (auto f = dyn_cast<FloatAttr>(attr))
    return f.getValueAsDouble();
  if (auto s = dyn_cast<StringAttr>(attr))
    return s.str();
  return nullptr;
}

std::string mlir::qopt::weights::locationFile(Location loc) {
  std::string file;
  loc->walk([&](Location l) {
    if (auto f = dyn_cast<FileLineColLoc>(l)) {
      file = f.getFilename().str();
      return WalkResult::interrupt();
    }
    return WalkResult::advance();
  });
  return file;
}

models::ModelConfig mlir::qopt::weights::getModelConfig(ModelOp model) {
  std::string path = locationFile(model.getLoc());
  if (path.empty())
    path = "config.json";
  return models::ModelConfig(attrToJson(model.getConfig()), path);
}

std::string mlir::qopt::weights::quantizedName(StringRef paramName,
                                               StringRef suffix) {
  StringRef base = paramName;
  base.consume_back(".weight");
  return (base + "." + suffix).str();
}

SmallVector<ModelOp> mlir::qopt::weights::getModels(Operation *op) {
  if (auto model = dyn_cast<ModelOp>(op))
    return {model};
  SmallVector<ModelOp> models;
  for (Region &region : op->getRegions())
    for (Block &block : region)
      for (auto model : block.getOps<ModelOp>())
        models.push_back(model);
  return models;
}

ParamKind mlir::qopt::weights::toParamKind(models::ParamKind k) {
  switch (k) {
  case models::ParamKind::Linear:
    return ParamKind::Linear;
  case models::ParamKind::FinalFC:
    return ParamKind::FinalFC;
  case models::ParamKind::Embedding:
    return ParamKind::Embedding;
  case models::ParamKind::MoEGate:
    return ParamKind::MoEGate;
  case models::ParamKind::Experts:
    return ParamKind::Experts;
  case models::ParamKind::Norm:
    return ParamKind::Norm;
  case models::ParamKind::Bias:
    return ParamKind::Bias;
  case models::ParamKind::Other:
    return ParamKind::Other;
  case models::ParamKind::Float32Bias:
    return ParamKind::Float32Bias;
  case models::ParamKind::Float32:
    return ParamKind::Float32;
  case models::ParamKind::NoQuantLinear:
    return ParamKind::NoQuantLinear;
  case models::ParamKind::NoQuantEmbedding:
    return ParamKind::NoQuantEmbedding;
  case models::ParamKind::Float32OutLinear:
    return ParamKind::Float32OutLinear;
  case models::ParamKind::Float32OutMoEGate:
    return ParamKind::Float32OutMoEGate;
  }
  return ParamKind::Other;
}

ParamKind
mlir::qopt::weights::quantizedKind(const models::QuantizationMode &mode,
                                   ParamKind kind) {
  bool ft = mode.kind == models::QuantizationMode::Kind::FTQuant;
  if (kind == ParamKind::NoQuantLinear)
    return mode.ignoresNoQuantization ? ParamKind::Linear : ParamKind::Other;
  if (kind == ParamKind::NoQuantEmbedding)
    return mode.ignoresNoQuantization ? ParamKind::Embedding
                                      : ParamKind::Other;
  // Only the FT mutator looks at a Linear's out_dtype.
  if (kind == ParamKind::Float32OutLinear && !ft)
    return ParamKind::Linear;
  if (kind == ParamKind::Float32OutMoEGate && !ft)
    return ParamKind::MoEGate;
  return kind;
}

FtPlan mlir::qopt::weights::ftPlan(ParamKind kind, ArrayRef<int64_t> shape) {
  switch (kind) {
  case ParamKind::Embedding:
  case ParamKind::FinalFC:
  case ParamKind::Float32OutLinear:
  case ParamKind::Float32OutMoEGate:
    return FtPlan::GroupFallback;
  case ParamKind::Linear:
  case ParamKind::MoEGate:
    // The fallback's shape test comes before the MoE-gate test: a router
    // whose output count is not a multiple of 8 is group-quantized.
    if (shape.size() != 2 || shape[0] % 8 != 0)
      return FtPlan::GroupFallback;
    return kind == ParamKind::MoEGate ? FtPlan::Keep : FtPlan::FT;
  default:
    return FtPlan::Keep;
  }
}

bool mlir::qopt::weights::modeQuantizes(const models::QuantizationMode &mode,
                                        ParamKind kind,
                                        ArrayRef<int64_t> shape) {
  using Kind = models::QuantizationMode::Kind;
  kind = quantizedKind(mode, kind);
  switch (mode.kind) {
  case Kind::NoQuant:
  case Kind::AWQ:
  case Kind::BlockScale: // keeps the checkpoint's blocks (QuantizeWeights)
    return false;
  case Kind::MNN:
    // MNN quantizes matmul weights; embeddings stay in the model dtype.
    return kind == ParamKind::Linear || kind == ParamKind::FinalFC ||
           kind == ParamKind::Experts;
  case Kind::FTQuant:
    // MLC's FT mutator visits nn.Linear and nn.Embedding only: experts
    // stay in the model dtype, and so do MoE gates it does not send to its
    // group fallback.
    return ftPlan(kind, shape) != FtPlan::Keep;
  case Kind::GroupQuant:
  case Kind::PerTensorQuant:
    switch (kind) {
    case ParamKind::Linear:
    case ParamKind::Experts:
      return true;
    case ParamKind::FinalFC:
      return mode.quantizeFinalFC;
    case ParamKind::Embedding:
      return mode.quantizeEmbedding;
    default:
      return false;
    }
  }
  return false;
}

Attribute mlir::qopt::weights::buildScheme(MLIRContext *ctx,
                                           const models::QuantizationMode &mode,
                                           ParamKind kind, Rounding rounding,
                                           bool optimizeScales,
                                           ArrayRef<int64_t> shape) {
  if (!modeQuantizes(mode, kind, shape))
    return {};
  kind = quantizedKind(mode, kind);
  Type modelType = toMlirType(ctx, mode.modelDType);
  using Kind = models::QuantizationMode::Kind;
  if (mode.kind == Kind::FTQuant && ftPlan(kind, shape) == FtPlan::FT)
    return FtQuantAttr::get(ctx, mode.ftSm);
  if (mode.kind == Kind::GroupQuant || mode.kind == Kind::FTQuant) {
    int64_t maxInt = (int64_t(1) << (mode.bits - 1)) - 1;
    auto qt = quant::AnyQuantizedType::get(
        /*flags=*/0, IntegerType::get(ctx, mode.bits), modelType,
        /*storageTypeMin=*/0, /*storageTypeMax=*/2 * maxInt);
    // Embeddings are always quantized row-major (NK), whatever the layout.
    Layout layout = mode.kn && kind != ParamKind::Embedding ? Layout::KN
                                                             : Layout::NK;
    return GroupQuantAttr::get(ctx, qt, mode.groupSize, layout, rounding,
                               optimizeScales);
  }
  if (mode.kind == Kind::MNN) {
    unsigned flags = mode.mnnAsymmetric ? 0 : quant::QuantizationFlags::Signed;
    int64_t lo = mode.mnnAsymmetric ? 0 : -(int64_t(1) << (mode.bits - 1));
    int64_t hi = mode.mnnAsymmetric ? (int64_t(1) << mode.bits) - 1
                                    : (int64_t(1) << (mode.bits - 1)) - 1;
    auto qt = quant::AnyQuantizedType::get(
        flags, IntegerType::get(ctx, mode.bits), modelType, lo, hi);
    return MnnQuantAttr::get(ctx, qt, mode.mnnBlock, mode.mnnHqq);
  }
  return PerTensorQuantAttr::get(ctx, toMlirType(ctx, mode.fp8), modelType,
                                 mode.useScale, mode.calibrationPlaceholder);
}

void mlir::qopt::weights::describeCheckpointLocation(Location loc,
                                                     std::string &file,
                                                     std::string &tensor) {
  if (auto n = dyn_cast<NameLoc>(loc)) {
    tensor = n.getName().str();
    return describeCheckpointLocation(n.getChildLoc(), file, tensor);
  }
  if (auto f = dyn_cast<FileLineColLoc>(loc)) {
    file = f.getFilename().str();
    if (f.getLine() > 0)
      file += ":" + std::to_string(f.getLine()) + ":" +
              std::to_string(f.getColumn());
    return;
  }
  if (auto f = dyn_cast<FusedLoc>(loc); f && !f.getLocations().empty())
    return describeCheckpointLocation(f.getLocations().front(), file, tensor);
}
