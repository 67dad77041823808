//===- Utils.h - Helpers shared by the weights passes -------*- C++ -*-===//

#ifndef QOPT_DIALECTS_WEIGHTS_TRANSFORMS_UTILS_H
#define QOPT_DIALECTS_WEIGHTS_TRANSFORMS_UTILS_H

#include "dialects/Weights/IR/WeightsOps.h"
#include "qopt/Models/ModelDef.h"
#include "qopt/Models/QuantizationModes.h"
#include "qopt/Numerics/DType.h"

#include <nlohmann/json.hpp>
#include <array>
#include <optional>

namespace mlir::qopt::weights {

// toMlirType / fromMlirType: dialects/Weights/IR/WeightsEvaluation.h.

/// config.json <-> the `config` attribute of weights.model.
DictionaryAttr jsonToAttr(MLIRContext *ctx, const nlohmann::json &obj);
nlohmann::json attrToJson(Attribute attr);

/// The path a location names (FileLineColLoc inside Name/Fused locs), or "".
std::string locationFile(Location loc);

/// The model config of a weights.model, with its config.json path. Only
/// qopt-map-parameters reads it: it records what later passes need as
/// attributes (docs/design.md, "Facts on the IR").
::qopt::models::ModelConfig getModelConfig(ModelOp model);

/// `quantization_config.weight_block_size` of an FP8 block-quantized
/// checkpoint (`quant_method` "fp8"); nullopt for any other checkpoint;
/// failure (diagnosed) for an FP8 config quant-opt cannot read.
FailureOr<std::optional<std::array<int64_t, 2>>> getFp8BlockSize(ModelOp model);

/// The view of a weight's block scales (`scaleCols` per row of blocks)
/// matching a strided view (`offset`, `viewShape`, `viewStrides`, in
/// elements) of the block-quantized 2-D weight of `cols` columns: each view
/// dimension walks the elements of one block row or column (one scale per
/// block; one of the last two) or whole blocks at a time (a leading one),
/// and the view starts at a block. `block` is the view's block size over
/// its last two dimensions. nullopt, with `why`, otherwise.
struct BlockScaleView {
  int64_t offset = 0;
  SmallVector<int64_t> shape, strides;
  std::array<int64_t, 2> block{};
};
std::optional<BlockScaleView>
getBlockScaleView(int64_t cols, int64_t scaleCols,
                  std::array<int64_t, 2> blockSize, int64_t offset,
                  ArrayRef<int64_t> viewShape, ArrayRef<int64_t> viewStrides,
                  std::string &why);

/// The block-scale modes (KeepBlockFp8.cpp): keeps the checkpoint's float8
/// blocks of every weight built by weights.dequantize_block_fp8, casts the
/// rest to bfloat16 and rewrites the model's expectations.
LogicalResult keepBlockFp8(ModelOp model,
                           const ::qopt::models::QuantizationMode &mode);

/// MLC's names: `<base>.weight` quantized becomes `<base>.<suffix>`.
std::string quantizedName(StringRef paramName, StringRef suffix);

/// The models a pass works on: `op` itself when it is a weights.model (the
/// pass nested as `weights.model(...)`), else the weights.model ops directly
/// inside it (run on `builtin.module`).
SmallVector<ModelOp> getModels(Operation *op);

/// The kind a mode treats a parameter of `kind` as: NoQuantLinear /
/// NoQuantEmbedding (a module MLC marks `no_quantization`) are Linear /
/// Embedding for a mode that ignores the mark (q4f16_ft) and Other for the
/// rest; Float32OutLinear / Float32OutMoEGate stay themselves for q4f16_ft
/// and are Linear / MoEGate for the rest; every other kind is itself.
ParamKind quantizedKind(const ::qopt::models::QuantizationMode &mode,
                        ParamKind kind);
/// What MLC's FT mutator (q4f16_ft) makes of a parameter, in its rule order
/// (docs/quantization.md, "q4f16_ft"): the FT layout, the q4f16_1 group
/// fallback (embeddings; final fc, float32-output or out_features % 8 != 0
/// Linears, MoE gates included), or nothing (MoE gates left, the rest).
enum class FtPlan { FT, GroupFallback, Keep };
/// `kind` as quantizedKind gives it for q4f16_ft; `shape` the weight's.
FtPlan ftPlan(ParamKind kind, ArrayRef<int64_t> shape);
/// Whether a mode quantizes a parameter of this kind (docs/quantization.md);
/// `shape` (the weight's) matters to q4f16_ft only.
bool modeQuantizes(const ::qopt::models::QuantizationMode &mode, ParamKind kind,
                   ArrayRef<int64_t> shape = {});
/// The scheme attribute a mode applies to a parameter of this kind.
/// Null for modes that do not quantize it. `rounding` applies to group modes.
/// `shape` (the weight's) picks FT-quant's layout or its group fallback.
Attribute buildScheme(MLIRContext *ctx, const ::qopt::models::QuantizationMode &mode,
                      ParamKind kind, Rounding rounding,
                      bool optimizeScales = false,
                      ArrayRef<int64_t> shape = {});
ParamKind toParamKind(::qopt::models::ParamKind k);

/// The checkpoint file ("<file>[:line:col]") and tensor an importer's
/// location names: NameLoc(tensor, FileLineColLoc(file)), possibly inside
/// the NameLoc of the parameter built from it (the innermost name is the
/// tensor's); of a FusedLoc, its first. Used by `quant-opt convert` and the
/// C API to report diagnostics the same way.
void describeCheckpointLocation(Location loc, std::string &file,
                                std::string &tensor);

/// The statistics of a weight's input after qopt-fold-awq-scales: when
/// `weight` (looking through casts) has its columns multiplied by scales s
/// (`weights.scale_channels ... dim 1`, no divide), its input is x / s, so
/// the importance becomes imatrix / s^2 and the Hessian H / (s s^T): built
/// from `stats` with weights.scale_channels divisions. Otherwise `stats`.
/// (FoldAwqScales.cpp; docs/calibration.md, "AWQ".)
Value rescaleForFoldedScales(OpBuilder &b, Location loc, Value weight,
                             Value stats);

} // namespace mlir::qopt::weights

#endif // QOPT_DIALECTS_WEIGHTS_TRANSFORMS_UTILS_H
