//===- WeightsAttrs.td - Weights dialect attributes --------*- tablegen -*-===//

#ifndef QOPT_WEIGHTS_ATTRS
#define QOPT_WEIGHTS_ATTRS

include "mlir/IR/AttrTypeBase.td"
include "mlir/IR/BuiltinAttributeInterfaces.td"
include "dialects/Weights/IR/WeightsBase.td"
include "dialects/Weights/IR/WeightsEnums.td"
include "dialects/Weights/IR/WeightsInterfaces.td"

def Weights_GroupQuantAttr : Weights_Attr<"GroupQuant", "group",
    [DeclareAttrInterfaceMethods<Weights_QuantSchemeAttrInterface,
        ["acceptsCalibration", "quantizeRowsCalibrated", "quantizesFused",
         "quantizeRowsFused"]>]> {
  let summary = "Symmetric group quantization packed into uint32 words (MLC q3/q4 modes)";
  let description = [{
    Each run of `group_size` elements along the last axis shares one scale
    `max|w| / max_int` in the expressed type (with `optimize_scales`, the
    scale that minimizes the group's reconstruction error; same format). Values are stored offset by
    `max_int` (`quant_type`'s storage range is `[0, 2*max_int]`) and packed
    LSB-first, `32 / bits` per uint32 word; a group takes
    `group_size / (32 / bits)` words. `layout = kn` transposes both outputs.

    ```mlir
    #weights.group<quant_type = !quant.any<u4<0:14>:f16>, group_size = 32,
                   layout = nk, rounding = even>
    ```
  }];
  let parameters = (ins
    "::mlir::quant::AnyQuantizedType":$quant_type,
    "int64_t":$group_size,
    "::mlir::qopt::weights::Layout":$layout,
    "::mlir::qopt::weights::Rounding":$rounding,
    DefaultValuedParameter<"bool", "false">:$optimize_scales
  );
  let assemblyFormat = "`<` struct(params) `>`";
  let genVerifyDecl = 1;
  let extraClassDeclaration = [{
    /// Bits of one quantized element.
    unsigned getBits() const { return getQuantType().getStorageTypeIntegralWidth(); }
    /// Largest magnitude of the signed value: 2^(bits-1) - 1.
    int64_t getMaxInt() const { return (int64_t(1) << (getBits() - 1)) - 1; }
    int64_t getElemsPerWord() const { return 32 / getBits(); }
    int64_t getWordsPerGroup() const { return getGroupSize() / getElemsPerWord(); }
  }];
}

def Weights_PerTensorQuantAttr : Weights_Attr<"PerTensorQuant", "per_tensor",
    [DeclareAttrInterfaceMethods<Weights_QuantSchemeAttrInterface>]> {
  let summary = "Per-tensor float8 quantization (MLC e4m3/e5m2 modes)";
  let description = [{
    The weight is cast to `storage_type` (one byte per element). With
    `use_scale`, it is first divided by one float32 scale
    `max(max|w| / max_finite, 1 / (max_finite * 512))`, written as
    `q_scale : tensor<1xf32>`. `calibration_placeholder` adds the
    `q_calibration_scale : tensor<1xf32>` record.

    ```mlir
    #weights.per_tensor<storage_type = f8E4M3FN, model_type = f16,
                        use_scale = true, calibration_placeholder = false>
    ```
  }];
  let parameters = (ins
    "::mlir::Type":$storage_type,
    "::mlir::Type":$model_type,
    "bool":$use_scale,
    "bool":$calibration_placeholder
  );
  let assemblyFormat = "`<` struct(params) `>`";
  let genVerifyDecl = 1;
}

def Weights_FtQuantAttr : Weights_Attr<"FtQuant", "ft",
    [DeclareAttrInterfaceMethods<Weights_QuantSchemeAttrInterface>]> {
  let summary = "MLC's FasterTransformer int4 weight layout (q4f16_ft)";
  let description = [{
    Per output channel symmetric int4 of a float16 linear weight `[N, K]`:
    `q_scale : tensor<1xNxf16>` = `max|w| / 7` of each channel, and
    `q_weight : tensor<KxN/2xi8>`, the codes packed two per byte along N
    and laid out by FasterTransformer's weight preprocessing for CUDA
    architecture `sm` (row permutation, int4 transpose, column interleave,
    unsigned bias and register nibble order; sm 75..89 give the same
    bytes, sm 70..74 only the last two steps). docs/quantization.md
    ("q4f16_ft") gives the details.

    ```mlir
    #weights.ft<sm = 80>
    ```
  }];
  let parameters = (ins "int64_t":$sm);
  let assemblyFormat = "`<` struct(params) `>`";
  let genVerifyDecl = 1;
}

def Weights_MnnQuantAttr : Weights_Attr<"MnnQuant", "mnn",
    [DeclareAttrInterfaceMethods<Weights_QuantSchemeAttrInterface,
        ["acceptsCalibration", "quantizeRowsCalibrated"]>]> {
  let summary = "MNN-style block-wise weight quantization (2..8 bits, HQQ)";
  let description = [{
    MNNConvert's weight quantization: per output row, blocks of `block`
    input features (0 = the whole row) share a scale; signed storage in
    `quant_type` means symmetric (`w = code * scale`), unsigned means
    asymmetric (`w = code * scale + min`, the zero point as a float), with
    `hqq` optimizing the zero points. Codes are bit-packed per row
    (docs/mnn-format.md); scales and mins are stored in the expressed type.
    Outputs: `q_weight : ui8 [.., packed bytes]`, `q_scale [.., blocks]`
    and, asymmetric, `q_zero [.., blocks]`.

    ```mlir
    #weights.mnn<quant_type = !quant.any<u4:f16>, block = 64, hqq = true>
    ```
  }];
  let parameters = (ins
    "::mlir::quant::AnyQuantizedType":$quant_type,
    "int64_t":$block,
    "bool":$hqq
  );
  let assemblyFormat = "`<` struct(params) `>`";
  let genVerifyDecl = 1;
  let extraClassDeclaration = [{
    unsigned getBits() const { return getQuantType().getStorageTypeIntegralWidth(); }
    bool isAsymmetric() const { return !getQuantType().isSigned(); }
  }];
}

def Weights_GptqAttr : Weights_Attr<"Gptq", "gptq"> {
  let summary = "GPTQ error compensation settings of a weights.quantize";
  let description = [{
    `damp` is added to the Hessian's diagonal as a fraction of its mean
    (GPTQ's percdamp); `block_size` columns are compensated at once before
    their accumulated error reaches the later columns (GPTQ's lazy batch);
    `act_order` processes the columns by descending Hessian diagonal, with
    every group's scale taken from the original weights first ("static
    groups"), so the group layout of the format stays as it is.

    ```mlir
    #weights.gptq<damp = 1.000000e-02 : f64, block_size = 128, act_order = false>
    ```
  }];
  let parameters = (ins "::mlir::FloatAttr":$damp, "int64_t":$block_size,
                        "bool":$act_order);
  let assemblyFormat = "`<` struct(params) `>`";
  let genVerifyDecl = 1;
}

def Weights_ShardStrategyAttr : Weights_Attr<"ShardStrategy", "shard"> {
  let summary = "How a parameter splits into tensor-parallel shards (MLC's ShardSingleDim)";
  let description = [{
    Set on a `weights.param` by `qopt-map-parameters` from the
    architecture's definition, and inherited by the records quantization
    makes of it. `dim` is the split dimension of the unquantized weight;
    `segments` are the full lengths of its consecutive segments (e.g. the
    q, k and v rows of a fused projection), each split evenly so that shard
    `i` takes block `i` of every segment. Without `segments` the dimension
    is split evenly. `qopt-preshard` reads it; nothing parses names.

    `block` (default 1) is set on the block scales the block-scale modes
    keep (`<weight>_scale_inv`): the tensor holds one entry per `block`
    elements of the weight's dimension `dim`, and `segments` are the
    weight's (at least one, the whole dimension when the weight has none).
    A shard then takes `segment / count / block` entries of each segment,
    which needs every shard's part of every segment to be whole blocks.

    ```mlir
    #weights.shard<dim = 0, segments = [128, 64, 64]>
    #weights.shard<dim = 1>
    #weights.shard<dim = 1, segments = [96], block = 32>
    ```
  }];
  let parameters = (ins "int64_t":$dim,
                        OptionalArrayRefParameter<"int64_t">:$segments,
                        DefaultValuedParameter<"int64_t", "1">:$block);
  let assemblyFormat = [{
    `<` `dim` `=` $dim (`,` `segments` `=` `[` $segments^ `]`
    (`,` `block` `=` $block^)?)? `>`
  }];
  let builders = [
    AttrBuilder<(ins "int64_t":$dim, "::llvm::ArrayRef<int64_t>":$segments), [{
      return $_get($_ctxt, dim, segments, 1);
    }]>
  ];
  let genVerifyDecl = 1;
}

def Weights_ShardDivisorAttr : Weights_Attr<"ShardDivisor", "divisor"> {
  let summary = "A model quantity the tensor-parallel shard count must divide";
  let description = [{
    Set on a `weights.model` (`shard_divisors`, in the definition's order)
    by `qopt-map-parameters`: the config field and its value, e.g. the head
    counts, whose per-shard share must be whole. `qopt-preshard` checks
    them in order without re-reading the config.

    ```mlir
    #weights.divisor<"num_key_value_heads" = 2>
    ```
  }];
  let parameters = (ins StringRefParameter<"config field">:$field,
                        "int64_t":$value);
  let assemblyFormat = "`<` $field `=` $value `>`";
}

#endif // QOPT_WEIGHTS_ATTRS
