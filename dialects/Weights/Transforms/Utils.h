//===- Utils.h - Helpers shared by the weights passes -------*- C++ -*-===//

#ifndef QOPT_DIALECTS_WEIGHTS_TRANSFORMS_UTILS_H
#define QOPT_DIALECTS_WEIGHTS_TRANSFORMS_UTILS_H

#include "dialects/Weights/IR/WeightsOps.h"
#include "qopt/Models/ModelDef.h"
#include "qopt/Models/QuantizationModes.h"
#include "qopt/Numerics/DType.h"

#include <nlohmann/json.hpp>
#include <optional>

namespace mlir::qopt::weights {

// toMlirType / fromMlirType: dialects/Weights/IR/WeightsEvaluation.h.

/// config.json <-> the `config` attribute of weights.model.
DictionaryAttr jsonToAttr(MLIRContext *ctx, const nlohmann::json &obj);
nlohmann::json attrToJson(Attribute attr);

/// The path a location names (FileLineColLoc inside Name/Fused locs), or "".
std::string locationFile(Location loc);

/// The model config of a weights.model, with its config.json path.
::qopt::models::ModelConfig getModelConfig(ModelOp model);

/// MLC's names: `<base>.weight` quantized becomes `<base>.<suffix>`.
std::string quantizedName(StringRef paramName, StringRef suffix);
/// Whether `name` is `paramName` or one of the tensors quantizing it
/// (`<base>.q_weight`, `<base>.q_scale`, ..., AWQ's `qweight`/`qzeros`/`scales`).
bool isProducedFrom(StringRef name, StringRef paramName);

/// Discardable attribute of weights.model left by
/// `qopt-map-parameters{defer-missing=true}`: the parameters not built because
/// source tensors are missing, `[["param", "missing tensor", ...], ...]`.
/// `qopt-verify-parameters` reports them; serialization refuses them.
inline constexpr llvm::StringLiteral kMissingSourcesAttrName =
    "weights.missing_sources";
/// One entry of kMissingSourcesAttrName.
struct MissingSources {
  StringRef param;
  SmallVector<StringRef> tensors;
};
/// The entries of kMissingSourcesAttrName (none when absent); an error at the
/// model when the attribute is malformed.
FailureOr<SmallVector<MissingSources>> getMissingSources(ModelOp model);

/// Whether a mode quantizes a parameter of this kind (docs/quantization.md).
bool modeQuantizes(const ::qopt::models::QuantizationMode &mode, ParamKind kind);
/// The scheme attribute a mode applies to a parameter of this kind.
/// Null for modes that do not quantize it. `rounding` applies to group modes.
Attribute buildScheme(MLIRContext *ctx, const ::qopt::models::QuantizationMode &mode,
                      ParamKind kind, Rounding rounding,
                      bool optimizeScales = false);
ParamKind toParamKind(::qopt::models::ParamKind k);

} // namespace mlir::qopt::weights

#endif // QOPT_DIALECTS_WEIGHTS_TRANSFORMS_UTILS_H
