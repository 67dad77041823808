//===- WeightsBlockFp8Ops.td - FP8 block-scale checkpoints -*- tablegen -*-===//
//
// The ops of checkpoints quantized to float8 e4m3fn in blocks
// (DeepSeek-V3, Qwen3-FP8, Ministral 3; docs/source-formats.md). Included by
// WeightsOps.td, after the op base classes it uses.
//
//===----------------------------------------------------------------------===//

#ifndef QOPT_WEIGHTS_BLOCK_FP8_OPS
#define QOPT_WEIGHTS_BLOCK_FP8_OPS

def Weights_DequantizeBlockFp8Op : Weights_EvaluableOp<"dequantize_block_fp8"> {
  let summary = "Dequantizes a float8 weight stored with block scales";
  let description = [{
    A weight of a checkpoint quantized to `f8E4M3FN` in blocks of
    `block_size = [rows, cols]` over its last two dimensions, with one
    `scale_inv` (`f32` or `bf16`) per block: `scale_inv` has the weight's
    leading dimensions and `ceil(R / rows) x ceil(C / cols)` for its last
    two. Each element is `float32(code) * float32(scale_inv)` of its block,
    computed in float32 and rounded once (to nearest even) to the result's
    type (`f32`, `bf16` or `f16`), as DeepSeek-V3's `weight_dequant` does.
    The block-scale modes (`fp8_e4m3fn_bf16_block_scale`) keep the two
    operands instead.

    ```mlir
    %w = weights.dequantize_block_fp8 %codes, %s block [128, 128] : tensor<384x256xf8E4M3FN>, tensor<3x2xf32> -> tensor<384x256xbf16>
    ```
  }];
  let arguments = (ins AnyStaticShapeTensor:$weight,
                       AnyStaticShapeTensor:$scale_inv,
                       DenseI64ArrayAttr:$block_size);
  let results = (outs AnyStaticShapeTensor:$result);
  let assemblyFormat = [{
    $weight `,` $scale_inv `block` $block_size attr-dict `:` type($weight) `,`
    type($scale_inv) `->` type($result)
  }];
  let hasVerifier = 1;
}

def Weights_StaticActivationScaleOp : Weights_EvaluableOp<"static_activation_scale"> {
  let summary = "A linear's static activation scale, from its source projections'";
  let description = [{
    The `activation_scale` of a linear kept in float8 blocks with static
    activation (`fp8_e4m3fn_bf16_block_scale_static_activation`), made from
    the `activation_scale` tensors of the checkpoint projections it fuses,
    as mlc_llm's ministral3 loader makes it: every source after the first
    must be `np.allclose` to the first (numpy's broadcasting; `|x - first|
    <= 1e-8 + 1e-5 |first|` elementwise in numpy's types,
    lib/Numerics/NumpyIsClose.cpp; NaN is never close), or the evaluation
    fails with "Activation scales for `target` must be identical between
    concatenated sources.", located at the first source that is not. The
    first source is then converted to the result's element type and given
    the result's shape [n]: kept when it has it, broadcast when it is 0-d
    or [1], each element repeated n / m times when it is [m] with m
    dividing n. Any other shape is invalid (mlc_llm: "Unexpected activation
    scale shape"). With one source this is the loader's `astype` and
    reshaping alone (o_proj, down_proj).

    ```mlir
    %a = weights.static_activation_scale %q, %k, %v target "model.layers.0.self_attn.qkv_proj.weight_activation_scale" : tensor<f32>, tensor<f32>, tensor<1xf32> -> tensor<2xf32>
    ```
  }];
  let arguments = (ins Variadic<AnyStaticShapeTensor>:$sources,
                       StrAttr:$target);
  let results = (outs AnyStaticShapeTensor:$result);
  let assemblyFormat = [{
    $sources `target` $target attr-dict `:` type($sources) `->` type($result)
  }];
  let extraClassDeclaration = [{
    /// Whether a first source of shape `from` gives a result of shape [n]
    /// (as described above).
    static bool canShape(::llvm::ArrayRef<int64_t> from, int64_t n);
    /// numpy's broadcast shape of `a` and `b`; nullopt when they do not
    /// broadcast together.
    static std::optional<::llvm::SmallVector<int64_t>>
    broadcastShape(::llvm::ArrayRef<int64_t> a, ::llvm::ArrayRef<int64_t> b);
  }];
  let hasVerifier = 1;
}

#endif // QOPT_WEIGHTS_BLOCK_FP8_OPS
