//===- WeightsOps.td - Weights dialect ops -----------------*- tablegen -*-===//

#ifndef QOPT_WEIGHTS_OPS
#define QOPT_WEIGHTS_OPS

include "mlir/IR/OpBase.td"
include "mlir/IR/SymbolInterfaces.td"
include "mlir/IR/CommonAttrConstraints.td"
include "mlir/IR/CommonTypeConstraints.td"
include "mlir/IR/RegionKindInterface.td"
include "mlir/Interfaces/SideEffectInterfaces.td"
include "dialects/Weights/IR/WeightsBase.td"
include "dialects/Weights/IR/WeightsEnums.td"
include "dialects/Weights/IR/WeightsAttrs.td"
include "dialects/Weights/IR/WeightsInterfaces.td"

class Weights_EvaluableOp<string mnemonic, list<string> overrides = [],
                          list<Trait> traits = []>
    : Weights_Op<mnemonic, !listconcat([Pure,
        DeclareOpInterfaceMethods<Weights_EvaluableOpInterface, overrides>],
        traits)>;

//===----------------------------------------------------------------------===//
// Container
//===----------------------------------------------------------------------===//

def Weights_ModelOp : Weights_Op<"model", [
    IsolatedFromAbove, NoTerminator, SingleBlock, Symbol, SymbolTable]> {
  let summary = "The parameters of one model";
  let description = [{
    Holds the checkpoint tensors, the mapping and quantization steps and the
    output parameters of one model. `arch` names the architecture (`llama`,
    ...), `config` carries the fields of its `config.json`, `quantization`
    the mode once a quantize pass ran, and `source_params` the number of
    source parameters that `mlc_llm convert_weight` counts as "Total
    parameters", and `source_index` the index JSON of a sharded checkpoint.
    The order of `weights.param` ops is the emission order; each is a
    symbol of the model, so a record name can appear only once.

    `checkpoint_root` is the directory the `file` of every `weights.source`
    (and `source_index`) is relative to, held once here as IREE holds a
    parameter scope: moving the checkpoint means changing this one string,
    or giving `qopt-serialize-tensor-cache{checkpoint-root=...}`.
    `qopt-map-parameters` records what later passes need from the model
    definition: `shard_divisors` (quantities the tensor-parallel shard count
    must divide), `preshard_refusal` (why MLC's presharding of the model
    cannot work, if it cannot) and `quantization_kinds` (the kinds of modes
    the model accepts); no later pass reads `config` again.

    `calibration_file` names the calibration statistics file (our STATS, or
    a llama.cpp importance matrix) that the model's `weights.calibration`
    ops read, held once here like `checkpoint_root`; an absolute path or
    one relative to the working directory, replaced at serialization by
    `qopt-serialize-tensor-cache{calibration-file=...}` (docs/calibration.md).

    ```mlir
    weights.model @llama attributes {arch = "llama", checkpoint_root = "/ckpt/llama", config = {hidden_size = 128 : i64}} {
      %0 = weights.source "model.safetensors"["model.norm.weight"] offset 852992 : tensor<128xbf16>
      weights.param @model.norm.weight = %0 {kind = #weights.kind<norm>} : tensor<128xbf16>
    }
    ```
  }];
  let arguments = (ins
    SymbolNameAttr:$sym_name,
    StrAttr:$arch,
    DictionaryAttr:$config,
    OptionalAttr<StrAttr>:$quantization,
    OptionalAttr<I64Attr>:$source_params,
    OptionalAttr<StrAttr>:$source_index,
    OptionalAttr<StrAttr>:$checkpoint_root,
    OptionalAttr<TypedArrayAttrBase<Weights_ShardDivisorAttr,
                                    "shard divisors">>:$shard_divisors,
    OptionalAttr<StrArrayAttr>:$quantization_kinds,
    OptionalAttr<StrAttr>:$preshard_refusal,
    OptionalAttr<StrAttr>:$calibration_file
  );
  let regions = (region SizedRegion<1>:$body);
  let assemblyFormat = "$sym_name attr-dict-with-keyword $body";
  let extraClassDeclaration = [{
    /// The model's `weights.param` ops in emission order.
    auto getParams() { return getBody().front().getOps<ParamOp>(); }
    /// The path of a checkpoint file named relative to `checkpoint_root`
    /// (or to `root` when it is not empty: an embedder's substitute).
    /// Absolute names are returned as they are.
    std::string resolveCheckpointPath(::llvm::StringRef file,
                                      ::llvm::StringRef root = {});
    /// The calibration statistics file: `override` when it is not empty,
    /// else `calibration_file` (empty when neither is set).
    std::string resolveCalibrationPath(::llvm::StringRef override = {});
  }];
  let skipDefaultBuilders = 1;
  let builders = [
    OpBuilder<(ins "::llvm::StringRef":$name, "::llvm::StringRef":$arch,
                   "::mlir::DictionaryAttr":$config)>
  ];
}

//===----------------------------------------------------------------------===//
// Checkpoint tensors
//===----------------------------------------------------------------------===//

def Weights_SourceOp : Weights_EvaluableOp<"source", ["getRowReads",
    "forwardsNonFinite"]> {
  let summary = "A tensor stored in a checkpoint file";
  let description = [{
    Names a tensor of a checkpoint: the file (relative to the enclosing
    model's `checkpoint_root`; an absolute path when the model has none),
    the key it is stored under and the absolute byte offset of its first
    element in that file (an inline property: unlike an integer attribute
    it is not uniqued in the context, which for a checkpoint of 18,867
    tensors saves 1.4 MB). The result type gives its
    shape and dtype. `strides` (in elements) describe a non-contiguous view
    (PyTorch storages); absent means row-major contiguous. The bytes are
    read only when the tensor cache is serialized.

    GGUF block-quantized tensors are sources of their raw bytes
    (`tensor<rows x bytes x ui8>`) decoded by `weights.dequantize_ggml`.

    `range_type`, set by `qopt-select-part` when records outside the IR
    read the tensor too: the narrowest float type a cast on the way to one
    of them gives its values, which the serialize pass's range check then
    counts as if that cast were still in the IR (docs/reliability.md).

    ```mlir
    %0 = weights.source "model.safetensors"["lm_head.weight"] offset 2192 : tensor<512x128xbf16>
    %1 = weights.source "llama.gguf"["model.layers.0.mlp.up_proj.weight"] offset 4096 : tensor<256x136xui8>
    ```
  }];
  let arguments = (ins
    StrAttr:$file,
    StrAttr:$key,
    I64Prop:$offset,
    OptionalAttr<DenseI64ArrayAttr>:$strides,
    OptionalAttr<TypeAttrOf<AnyFloat>>:$range_type
  );
  let results = (outs AnyStaticShapeTensor:$result);
  let assemblyFormat = [{
    $file `[` $key `]` `offset` $offset (`strides` $strides^)?
    attr-dict `:` type($result)
  }];
  let builders = [
    // An importer's source: no range_type.
    OpBuilder<(ins "::mlir::Type":$result, "::mlir::StringAttr":$file,
                   "::mlir::StringAttr":$key, "int64_t":$offset,
                   "::mlir::DenseI64ArrayAttr":$strides), [{
      build($_builder, $_state, result, file, key, offset, strides,
            ::mlir::TypeAttr());
    }]>
  ];
  let hasVerifier = 1;
}

//===----------------------------------------------------------------------===//
// Mapping steps
//===----------------------------------------------------------------------===//

def Weights_ConcatOp : Weights_EvaluableOp<"concat", ["getRowCuts", "getRowReads",
    "forwardsNonFinite"]> {
  let summary = "Concatenates tensors along an axis";
  let description = [{
    Fuses source tensors, e.g. q/k/v projections into one `qkv_proj`:

    ```mlir
    %qkv = weights.concat %q, %k, %v axis 0 : (tensor<128x128xbf16>, tensor<64x128xbf16>, tensor<64x128xbf16>) -> tensor<256x128xbf16>
    ```
  }];
  let arguments = (ins Variadic<AnyStaticShapeTensor>:$inputs, I64Attr:$axis);
  let results = (outs AnyStaticShapeTensor:$result);
  let assemblyFormat = [{
    $inputs `axis` $axis attr-dict `:` functional-type($inputs, $result)
  }];
  let hasVerifier = 1;
  let hasFolder = 1;
}

def Weights_StackOp : Weights_EvaluableOp<"stack", ["isSubRowLocal",
    "getSubRowCuts", "evaluateSubRows", "forwardsNonFinite"]> {
  let summary = "Stacks equally shaped tensors on a new leading axis";
  let description = [{
    Builds MoE expert tensors `[E, ...]` from per-expert weights.

    ```mlir
    %e = weights.stack %a, %b : (tensor<8x4xf16>, tensor<8x4xf16>) -> tensor<2x8x4xf16>
    ```
  }];
  let arguments = (ins Variadic<AnyStaticShapeTensor>:$inputs);
  let results = (outs AnyStaticShapeTensor:$result);
  let assemblyFormat = "$inputs attr-dict `:` functional-type($inputs, $result)";
  let hasVerifier = 1;
}

def Weights_CastOp : Weights_EvaluableOp<"cast", ["getRowCuts",
    "isSubRowLocal", "getSubRowCuts", "evaluateSubRows", "forwardsNonFinite"]> {
  let summary = "Converts a tensor to another float type (or reinterprets integers)";
  let description = [{
    numpy `astype` semantics: widen exactly, round once to nearest even.
    Between integers of the same width it reinterprets the bits (AutoAWQ's
    int32 storage written as uint32).

    ```mlir
    %1 = weights.cast %0 : tensor<256x128xbf16> to tensor<256x128xf16>
    ```
  }];
  let arguments = (ins AnyStaticShapeTensor:$input);
  let results = (outs AnyStaticShapeTensor:$result);
  let assemblyFormat = "$input attr-dict `:` type($input) `to` type($result)";
  let hasVerifier = 1;
  let hasFolder = 1;
}

def Weights_TransposeOp : Weights_EvaluableOp<"transpose", ["forwardsNonFinite"]> {
  let summary = "Transposes a 2-D tensor";
  let description = [{
    ```mlir
    %1 = weights.transpose %0 : tensor<4x8xf16> to tensor<8x4xf16>
    ```
  }];
  let arguments = (ins AnyStaticShapeTensor:$input);
  let results = (outs AnyStaticShapeTensor:$result);
  let assemblyFormat = "$input attr-dict `:` type($input) `to` type($result)";
  let hasVerifier = 1;
  let hasFolder = 1;
}

def Weights_AddConstantOp : Weights_EvaluableOp<"add_constant", ["getRowCuts"],
    [AllTypesMatch<["input", "result"]>]> {
  let summary = "Adds a constant to every element, rounded in the tensor's type";
  let description = [{
    Gemma stores RMSNorm weights as `w + 1`:

    ```mlir
    %1 = weights.add_constant %0, 1.0 : tensor<128xbf16>
    ```
  }];
  let arguments = (ins AnyStaticShapeTensor:$input, F64Attr:$value);
  let results = (outs AnyStaticShapeTensor:$result);
  let assemblyFormat = "$input `,` $value attr-dict `:` type($input)";
  let hasVerifier = 1;
}

def Weights_DequantizeAwqOp : Weights_EvaluableOp<"dequantize_awq"> {
  let summary = "Dequantizes an AutoAWQ GEMM linear to its HF weight";
  let description = [{
    `qweight [K, N/8]` and `qzeros [K/G, N/8]` (4-bit values packed along the
    output axis in AutoAWQ's order) and `scales [K/G, N]` give the weight
    `W[n, k] = (q - z) * s` in HF orientation `[N, K]`, rounded to fp16.
    `weights.quantize ... q4f16_autoawq` keeps the three tensors instead.

    ```mlir
    %w = weights.dequantize_awq %qw, %qz, %s group 128 : tensor<256x16xi32>, tensor<2x16xi32>, tensor<2x128xf16> -> tensor<128x256xf16>
    ```
  }];
  let arguments = (ins AnyStaticShapeTensor:$qweight, AnyStaticShapeTensor:$qzeros,
                       AnyStaticShapeTensor:$scales, I64Attr:$group_size);
  let results = (outs AnyStaticShapeTensor:$result);
  let assemblyFormat = [{
    $qweight `,` $qzeros `,` $scales `group` $group_size attr-dict `:`
    type($qweight) `,` type($qzeros) `,` type($scales) `->` type($result)
  }];
  let hasVerifier = 1;
}

def Weights_MergeLoraOp : Weights_EvaluableOp<"merge_lora", [],
    [AllTypesMatch<["base", "result"]>]> {
  let summary = "Merges a LoRA adapter into a linear weight";
  let description = [{
    `W' = W + scale * B @ A` for a base weight `W [out, in]`, `lora_a`
    `A [r, in]` and `lora_b` `B [out, r]` (PEFT's `lora_A.weight` and
    `lora_B.weight`); with `fan_in_fan_out` the base is stored `[in, out]`
    (GPT-2's Conv1D) and `W' = W + scale * (B @ A)^T`. Each element is
    computed in float32 from the sum of products (taken in float64, in
    order of the rank index) and rounded once to the base's type.
    `scale` is `lora_alpha / r` (`lora_alpha / sqrt(r)` with rsLoRA).

    ```mlir
    %m = weights.merge_lora %w, %a, %b scale 2.0 : tensor<64x32xf16>, tensor<4x32xf32>, tensor<64x4xf32>
    ```
  }];
  let arguments = (ins AnyStaticShapeTensor:$base, AnyStaticShapeTensor:$lora_a,
                       AnyStaticShapeTensor:$lora_b, F64Attr:$scale,
                       UnitAttr:$fan_in_fan_out);
  let results = (outs AnyStaticShapeTensor:$result);
  let assemblyFormat = [{
    $base `,` $lora_a `,` $lora_b `scale` $scale (`fan_in_fan_out` $fan_in_fan_out^)?
    attr-dict `:` type($base) `,` type($lora_a) `,` type($lora_b)
  }];
  let builders = [
    OpBuilder<(ins "::mlir::Value":$base, "::mlir::Value":$lora_a,
                   "::mlir::Value":$lora_b, "double":$scale,
                   "bool":$fan_in_fan_out), [{
      build($_builder, $_state, base.getType(), base, lora_a, lora_b,
            $_builder.getF64FloatAttr(scale),
            fan_in_fan_out ? $_builder.getUnitAttr() : ::mlir::UnitAttr());
    }]>
  ];
  let hasVerifier = 1;
}

//===----------------------------------------------------------------------===//
// GGUF (llama.cpp) storage
//===----------------------------------------------------------------------===//

def Weights_DequantizeGgmlOp : Weights_EvaluableOp<"dequantize_ggml"> {
  let summary = "Decodes ggml blocks (llama.cpp's quantized storage) to f32";
  let description = [{
    `input` holds the raw bytes of a GGUF tensor stored in the ggml block
    type `encoding` (`Q4_0`, `Q4_1`, `Q5_0`, `Q5_1`, `Q8_0`, `Q8_1`,
    `Q2_K` ... `Q8_K`): each row of the result, `k` values, is
    `k / block size` blocks of the type's size in bytes. The values are
    decoded exactly as llama.cpp's `dequantize_row_*` does
    (docs/gguf.md).

    ```mlir
    %w = weights.dequantize_ggml %raw encoding "Q8_0" : tensor<256x136xui8> to tensor<256x128xf32>
    ```
  }];
  let arguments = (ins AnyStaticShapeTensor:$input, StrAttr:$encoding);
  let results = (outs AnyStaticShapeTensor:$result);
  let assemblyFormat = [{
    $input `encoding` $encoding attr-dict `:` type($input) `to` type($result)
  }];
  let hasVerifier = 1;
}

def Weights_UnpermuteHeadsOp : Weights_EvaluableOp<"unpermute_heads", ["getRowReads"],
    [AllTypesMatch<["input", "result"]>]> {
  let summary = "Undoes llama.cpp's rotary row permutation of q/k projections";
  let description = [{
    llama.cpp's converter reorders the rows of each of the `heads` heads
    (head dimension `hd`) of a q or k projection; result row
    `h*hd + j*hd/2 + i` is input row `h*hd + 2*i + j` (docs/gguf.md).

    ```mlir
    %q = weights.unpermute_heads %w heads 4 : tensor<128x128xf32>
    ```
  }];
  let arguments = (ins AnyStaticShapeTensor:$input, I64Attr:$heads);
  let results = (outs AnyStaticShapeTensor:$result);
  let assemblyFormat = "$input `heads` $heads attr-dict `:` type($input)";
  let hasVerifier = 1;
}

//===----------------------------------------------------------------------===//
// Quantization
//===----------------------------------------------------------------------===//

def Weights_QuantizeOp : Weights_EvaluableOp<"quantize", ["getRowCount", "getRowCuts",
                                                    "readsOperandRows",
                                                    "isSubRowLocal",
                                                    "getSubRowCuts",
                                                    "evaluateSubRows"],
    [AttrSizedOperandSegments]> {
  let summary = "Quantizes a weight under a quantization scheme";
  let description = [{
    Produces the tensors that replace the weight in the tensor cache, in
    emission order (for group quantization: packed storage, then scales).

    Calibration-aware quantization (docs/calibration.md) adds statistics
    of the layer's input as operands, `weights.calibration` values:
    `importance` ([K], or [E, K] for a stacked-experts weight [E, N, K])
    weights each element's error in the scale search, and `hessian`
    ([K, K] or [E, K, K]) with the `gptq` attribute compensates each
    column's rounding error on the columns not yet quantized (GPTQ). The
    scheme receives them through QuantSchemeAttrInterface; the output
    format does not change.

    ```mlir
    %qw, %qs = weights.quantize %w : tensor<256x128xf16> -> tensor<256x16xui32>, tensor<256x4xf16>
        with #weights.group<quant_type = !quant.any<u4<0:14>:f16>, group_size = 32, layout = nk, rounding = even>
    %gw, %gs = weights.quantize %w importance(%i : tensor<128xf32>) hessian(%h : tensor<128x128xf32>)
        {gptq = #weights.gptq<damp = 1.000000e-02 : f64, block_size = 128, act_order = false>}
        : tensor<256x128xf16> -> tensor<256x16xui32>, tensor<256x4xf16>
        with #weights.group<quant_type = !quant.any<u4<0:14>:f16>, group_size = 32, layout = nk, rounding = even>
    ```
  }];
  let arguments = (ins AnyStaticShapeTensor:$input,
                       Optional<AnyStaticShapeTensor>:$importance,
                       Optional<AnyStaticShapeTensor>:$hessian,
                       Weights_QuantSchemeAttrInterface:$scheme,
                       OptionalAttr<Weights_GptqAttr>:$gptq);
  let results = (outs Variadic<AnyStaticShapeTensor>:$results);
  let assemblyFormat = [{
    $input (`importance` `(` $importance^ `:` type($importance) `)`)?
    (`hessian` `(` $hessian^ `:` type($hessian) `)`)? attr-dict `:`
    type($input) `->` type($results) `with` $scheme
  }];
  let hasVerifier = 1;
  let extraClassDeclaration = [{
    /// The checks of the calibration operands and `gptq` (CalibrationOps.cpp).
    ::llvm::LogicalResult verifyCalibration();
    /// Quantizes `input` (rows [r0, r1) of the weight) through the scheme,
    /// with the calibration statistics when the op has them.
    ::llvm::Error quantizeInput(EvaluationContext &ctx, int64_t r0, int64_t r1,
                                const RowBuffer &input,
                                ::llvm::SmallVectorImpl<RowBuffer> &results);
    /// quantizeInput, then the error of the rows when it is measured.
    ::llvm::Error quantizeAndMeasure(EvaluationContext &ctx, int64_t r0,
                                     int64_t r1, const RowBuffer &input,
                                     ::llvm::SmallVectorImpl<RowBuffer> &results);
    /// Rows [r0, r1) of the results from the input rows `fetch` gives (the
    /// rows of evaluateRows, or the sub-rows of evaluateSubRows): through
    /// the scheme's fused quantization where it applies (reading a cast's
    /// input, the source range checks left to the kernel; docs/simd.md),
    /// else quantizeAndMeasure (WeightsEvaluation.cpp).
    ::llvm::Error evaluateFromInput(EvaluationContext &ctx, int64_t r0,
        int64_t r1,
        ::llvm::function_ref<::llvm::Expected<RowBuffer>(::mlir::Value)> fetch,
        ::llvm::SmallVectorImpl<RowBuffer> &results);
  }];
  let builders = [
    // Plain quantization: no statistics.
    OpBuilder<(ins "::mlir::TypeRange":$results, "::mlir::Value":$input,
                   "::mlir::qopt::weights::QuantSchemeAttrInterface":$scheme), [{
      build($_builder, $_state, results, input, ::mlir::Value(),
            ::mlir::Value(), scheme, GptqAttr());
    }]>
  ];
}

def Weights_QuantViewOp : Weights_Op<"quant_view"> {
  let summary = "An MNN-quantized weight as a tensor of the upstream quant dialect";
  let description = [{
    Views the outputs of an MNN-style `weights.quantize` (packed codes,
    scales, and for asymmetric blocks the mins) as one tensor of the
    weight's shape whose element type is an upstream `quant` type, so that
    other compilers can consume it. Written by `qopt-lower-to-quant-types`
    (docs/mnn-format.md section 9). The storage values are the unpacked
    codes `u`, re-centred to `q = u - 2^(b-1)` when the storage is signed
    (symmetric); every zero point is 0. The element type is either
    `!quant.any<..>` (the scales are the `scale` operand, by reference) or,
    with the scales materialized, `!quant.uniform` per-axis (channel-wise
    2-D weight: axis 0) or sub-channel (block sizes 1 on every leading axis
    and `k / blocks` on the last), holding exactly the `scale` operand's
    values. Asymmetric blocks add their min, `offset`, after dequantization:
    `w = dequantize(q) + offset[block]`; the upstream types only allow
    integer zero points, and MNN's mins are not multiples of the scale.

    ```mlir
    %v = weights.quant_view "lm_head.weight" = %q#0, %q#1
        : tensor<2x4xui8>, tensor<2x1xf16>
        -> tensor<2x8x!quant.uniform<i4<-7:7>:f16:0, {2.5e-01, 1.25e-01}>>
    %a = weights.quant_view "o_proj.weight" = %p#0, %p#1 offset %p#2
        : tensor<2x4xui8>, tensor<2x2xf16>, tensor<2x2xf16>
        -> tensor<2x8x!quant.uniform<u4:f16:{0:1, 1:4}, {{1.0, 2.0}, {3.0, 4.0}}>>
    ```
  }];
  let arguments = (ins StrAttr:$name, AnyStaticShapeTensor:$codes,
                       AnyStaticShapeTensor:$scale,
                       Optional<AnyStaticShapeTensor>:$offset);
  let results = (outs AnyStaticShapeTensor:$result);
  let assemblyFormat = [{
    $name `=` $codes `,` $scale (`offset` $offset^)? attr-dict `:`
    type($codes) `,` type($scale) (`,` type($offset)^)? `->` type($result)
  }];
  let hasVerifier = 1;
}

//===----------------------------------------------------------------------===//
// Tensor-parallel presharding
//===----------------------------------------------------------------------===//

def Weights_ShardOp : Weights_EvaluableOp<"shard", ["forwardsNonFinite"],
    [DeclareOpInterfaceMethods<Weights_RowSelectionOpInterface>]> {
  let summary = "One tensor-parallel shard of a tensor (MLC's ShardSingleDim)";
  let description = [{
    Shard `index` of `count` along `dim`. `segments` are the per-shard
    lengths of consecutive segments (e.g. q, k, v rows of a fused qkv
    projection); the full tensor holds each segment `count` times back to
    back, and shard `i` takes the `i`-th block of every segment. Without
    `segments` the dimension is split evenly.

    ```mlir
    %s1 = weights.shard %qkv dim 0 segments [64, 32, 32] shard 1 of 2 : tensor<256x16xui32> to tensor<128x16xui32>
    ```
  }];
  let arguments = (ins AnyStaticShapeTensor:$input, I64Attr:$dim,
                       OptionalAttr<DenseI64ArrayAttr>:$segments,
                       I64Attr:$index, I64Attr:$count);
  let results = (outs AnyStaticShapeTensor:$result);
  let assemblyFormat = [{
    $input `dim` $dim (`segments` $segments^)? `shard` $index `of` $count attr-dict
    `:` type($input) `to` type($result)
  }];
  let hasVerifier = 1;
  let hasFolder = 1;
  let extraClassDeclaration = [{
    /// The per-shard segment lengths (one segment when none are given).
    ::llvm::SmallVector<int64_t> getSegmentLengths();
  }];
}

//===----------------------------------------------------------------------===//
// Output parameters
//===----------------------------------------------------------------------===//

def Weights_ParamOp : Weights_Op<"param", [Symbol, HasParent<"ModelOp">]> {
  let summary = "A named record of the tensor cache";
  let description = [{
    Names one tensor the compiled model loads; the name is a symbol of the
    enclosing `weights.model`, so it is unique. The order of params is the
    order of records in `tensor-cache.json`. The passes that know them set
    the facts later passes read (docs/design.md, "Facts on the IR"):

    - `kind` (qopt-map-parameters): which module owns the parameter;
      decides quantization.
    - `shard` (qopt-map-parameters): its tensor-parallel shard strategy,
      from the architecture's definition; kept by every record made of it.
    - `role` (qopt-quantize-weights): which of a quantized parameter's
      tensors the record holds (absent: the parameter's own tensor).
    - `quantized_from` (qopt-quantize-weights): the name of the parameter
      the record was quantized from (that parameter is gone from the IR).

    ```mlir
    weights.param @model.norm.weight = %0 {kind = #weights.kind<norm>} : tensor<128xf16>
    weights.param @model.layers.0.mlp.down_proj.q_scale = %q#1 {kind = #weights.kind<linear>, quantized_from = "model.layers.0.mlp.down_proj.weight", role = #weights.role<scale>, shard = #weights.shard<dim = 1>} : tensor<128x8xf16>
    ```
  }];
  let arguments = (ins SymbolNameAttr:$sym_name, AnyStaticShapeTensor:$value,
                       OptionalAttr<Weights_ParamKindAttr>:$kind,
                       OptionalAttr<Weights_ParamRoleAttr>:$role,
                       OptionalAttr<StrAttr>:$quantized_from,
                       OptionalAttr<Weights_ShardStrategyAttr>:$shard);
  let assemblyFormat = "$sym_name `=` $value attr-dict `:` type($value)";
  let hasVerifier = 1;
  let builders = [
    // A parameter's own tensor: no role, origin or shard strategy yet.
    OpBuilder<(ins "::mlir::StringAttr":$name, "::mlir::Value":$value,
                   "::mlir::qopt::weights::ParamKindAttr":$kind), [{
      build($_builder, $_state, name, value, kind, ParamRoleAttr(),
            ::mlir::StringAttr(), ShardStrategyAttr());
    }]>
  ];
  let extraClassDeclaration = [{
    /// The role, `weight` when none is set.
    ParamRole getEffectiveRole() {
      return getRole().value_or(ParamRole::Weight);
    }
    /// The name of the parameter this record holds (a tensor of): its
    /// `quantized_from`, else its own name.
    ::llvm::StringRef getOriginName() {
      if (auto from = getQuantizedFrom())
        return *from;
      return getSymName();
    }
  }];
}

def Weights_ExternalParamOp : Weights_Op<"external_param",
    [Symbol, HasParent<"ModelOp">]> {
  let summary = "A record of the tensor cache that another part writes";
  let description = [{
    Keeps the place, name, shape and dtype of a record whose definition is
    not in the IR: `qopt-select-part` leaves one for every record of the
    other parts, so that the IR of one part still plans the whole tensor
    cache's shards (the layout depends on every record's size, in order),
    and `qopt-serialize-tensor-cache{part=I/N}` writes the records that
    have a definition at the places the whole cache gives them. The record
    must lie in a shard another part writes.

    ```mlir
    weights.external_param @model.layers.1.mlp.down_proj.q_weight : tensor<128x32xui32>
    ```
  }];
  let arguments = (ins SymbolNameAttr:$sym_name,
                       TypeAttrOf<AnyStaticShapeTensor>:$type);
  let assemblyFormat = "$sym_name attr-dict `:` $type";
}

//===----------------------------------------------------------------------===//
// Parameters that could not be built
//===----------------------------------------------------------------------===//

def Weights_MissingOp : Weights_Op<"missing", [HasParent<"ModelOp">]> {
  let summary = "A parameter not built because source tensors are missing";
  let description = [{
    Left by `qopt-map-parameters{defer-missing=true}` in place of the
    parameter: its name and the source tensors the checkpoint lacks.
    `qopt-verify-parameters` reports each with the other problems;
    `qopt-serialize-tensor-cache` refuses a model that has one.

    ```mlir
    weights.missing "model.layers.0.self_attn.qkv_proj.weight" needs ["model.layers.0.self_attn.v_proj.weight"]
    ```
  }];
  let arguments = (ins StrAttr:$param,
                       ConfinedAttr<StrArrayAttr, [ArrayMinCount<1>]>:$tensors);
  let assemblyFormat = "$param `needs` $tensors attr-dict";
}

//===----------------------------------------------------------------------===//
// Expected parameters of a compiled model
//===----------------------------------------------------------------------===//

def Weights_ExpectOp : Weights_Op<"expect"> {
  let summary = "A parameter the compiled model expects";
  let description = [{
    Declares one parameter of the model graph: name, shape and dtype. A
    dimension of `?` matches any size (symbolic, e.g. the vocabulary).
    Listed in the MLIR file given to `qopt-verify-parameters{graph=...}`
    (`quant-opt convert --graph`), which collects every `weights.expect` in
    it; the op's location is where the verify pass's notes point.

    Inside a `weights.model`, the expects are the model's own definition:
    `qopt-map-parameters` writes one per parameter of the architecture
    (with its `kind`), `qopt-quantize-weights` replaces each by what the
    mode makes of it (in the model dtype, or the scheme's tensors with
    their `quantized_from`), and `qopt-verify-parameters` without `graph`
    checks the parameters against them. Before quantization their element
    type is not checked.

    ```mlir
    weights.expect "model.embed_tokens.q_weight" : tensor<?x16xui32>
    weights.expect "model.norm.weight" {kind = #weights.kind<norm>} : tensor<128xf16>
    ```
  }];
  let arguments = (ins StrAttr:$name, TypeAttrOf<AnyRankedTensor>:$type,
                       OptionalAttr<Weights_ParamKindAttr>:$kind,
                       OptionalAttr<StrAttr>:$quantized_from);
  let assemblyFormat = "$name attr-dict `:` $type";
  let extraClassDeclaration = [{
    /// The name of the parameter the expected record is (a tensor of).
    ::llvm::StringRef getOriginName() {
      if (auto from = getQuantizedFrom())
        return *from;
      return getName();
    }
  }];
}


include "dialects/Weights/IR/WeightsCalibrationOps.td"
include "dialects/Weights/IR/WeightsBlockFp8Ops.td"
include "dialects/Weights/IR/WeightsElementwiseOps.td"

#endif // QOPT_WEIGHTS_OPS
