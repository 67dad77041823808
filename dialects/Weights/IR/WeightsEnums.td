//===- WeightsEnums.td - Weights dialect enums -------------*- tablegen -*-===//

#ifndef QOPT_WEIGHTS_ENUMS
#define QOPT_WEIGHTS_ENUMS

include "mlir/IR/EnumAttr.td"
include "dialects/Weights/IR/WeightsBase.td"

/// What kind of module owns a parameter; decides whether and how a mode
/// quantizes it (docs/quantization.md).
def Weights_ParamKind : I32EnumAttr<"ParamKind", "the module kind owning a parameter", [
    I32EnumAttrCase<"Linear", 0, "linear">,
    I32EnumAttrCase<"FinalFC", 1, "final_fc">,
    I32EnumAttrCase<"Embedding", 2, "embedding">,
    I32EnumAttrCase<"MoEGate", 3, "moe_gate">,
    I32EnumAttrCase<"Experts", 4, "experts">,
    I32EnumAttrCase<"Norm", 5, "norm">,
    I32EnumAttrCase<"Bias", 6, "bias">,
    I32EnumAttrCase<"Other", 7, "other">,
    // The bias of a Linear that MLC declares with `out_dtype` float32
    // (gpt_neox's MLP): Module.to leaves it in float32 whatever the mode's
    // model dtype, and it is never quantized.
    I32EnumAttrCase<"Float32Bias", 8, "float32_bias">,
    // A parameter that MLC's model converts to float32 itself, whatever the
    // mode's model dtype (RWKV's time_decay, time_faaaa and ln_x, after
    // Module.to): float32 in every mode, never quantized.
    I32EnumAttrCase<"Float32", 9, "float32">,
    // The weight of an nn.Linear / nn.Embedding inside a module MLC marks
    // `no_quantization` (the CLIP vision tower of phi3_v). q4f16_ft, whose
    // FT mutator does not look at the mark, quantizes it as a `linear` /
    // `embedding` (QuantizationMode::ignoresNoQuantization); every other mode
    // keeps it in the model dtype like `other` (MLC's group and block-scale
    // mutators return a marked module untouched; its per-tensor and AWQ
    // mutators lack the check too, but no model with a marked module
    // accepts those kinds).
    I32EnumAttrCase<"NoQuantLinear", 10, "no_quant_linear">,
    I32EnumAttrCase<"NoQuantEmbedding", 11, "no_quant_embedding">,
    // The weight of an nn.Linear that MLC declares with `out_dtype` float32
    // (gpt_neox's MLP; deepseek_v2's router, as a `..._moe_gate` when it
    // has <= 256 outputs): a `linear` / `moe_gate` for every mode but
    // q4f16_ft, whose FT mutator sends any float32-output Linear to its
    // group-quantization fallback before it looks for MoE gates.
    I32EnumAttrCase<"Float32OutLinear", 12, "float32_out_linear">,
    I32EnumAttrCase<"Float32OutMoEGate", 13, "float32_out_moe_gate">
  ]> {
  let cppNamespace = "::mlir::qopt::weights";
  let genSpecializedAttr = 0;
}
def Weights_ParamKindAttr : EnumAttr<Weights_Dialect, Weights_ParamKind, "kind"> {
  let assemblyFormat = "`<` $value `>`";
}

/// What one record holds of the parameter it belongs to: the parameter's
/// own tensor, or one of the tensors a quantization scheme replaced it with.
/// Set by the pass that creates the record (docs/design.md, "Facts on the
/// IR").
def Weights_ParamRole : I32EnumAttr<"ParamRole", "what a record holds of its parameter", [
    I32EnumAttrCase<"Weight", 0, "weight">,
    I32EnumAttrCase<"QuantizedWeight", 1, "quantized_weight">,
    I32EnumAttrCase<"Scale", 2, "scale">,
    I32EnumAttrCase<"Zero", 3, "zero">,
    I32EnumAttrCase<"CalibrationScale", 4, "calibration_scale">
  ]> {
  let cppNamespace = "::mlir::qopt::weights";
  let genSpecializedAttr = 0;
}
def Weights_ParamRoleAttr : EnumAttr<Weights_Dialect, Weights_ParamRole, "role"> {
  let assemblyFormat = "`<` $value `>`";
}

/// Layout of a quantized linear weight: NK keeps [out, in]; KN transposes.
def Weights_Layout : I32EnumAttr<"Layout", "quantized weight layout", [
    I32EnumAttrCase<"NK", 0, "nk">,
    I32EnumAttrCase<"KN", 1, "kn">
  ]> {
  let cppNamespace = "::mlir::qopt::weights";
  let genSpecializedAttr = 0;
}
def Weights_LayoutAttr : EnumAttr<Weights_Dialect, Weights_Layout, "layout"> {
  let assemblyFormat = "`<` $value `>`";
}

/// How `round` breaks ties in group quantization (TVM changed it in 2026).
def Weights_Rounding : I32EnumAttr<"Rounding", "tie-breaking of the round step", [
    I32EnumAttrCase<"NearestEven", 0, "even">,
    I32EnumAttrCase<"NearestAway", 1, "away">
  ]> {
  let cppNamespace = "::mlir::qopt::weights";
  let genSpecializedAttr = 0;
}
def Weights_RoundingAttr : EnumAttr<Weights_Dialect, Weights_Rounding, "rounding"> {
  let assemblyFormat = "`<` $value `>`";
}

/// Which statistic of a layer input a weights.calibration op reads.
def Weights_Statistic : I32EnumAttr<"Statistic", "a calibration statistic", [
    I32EnumAttrCase<"Importance", 0, "importance">,
    I32EnumAttrCase<"Hessian", 1, "hessian">
  ]> {
  let cppNamespace = "::mlir::qopt::weights";
}

#endif // QOPT_WEIGHTS_ENUMS
