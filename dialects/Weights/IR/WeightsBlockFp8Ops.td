//===- WeightsBlockFp8Ops.td - FP8 block-scale checkpoints -*- tablegen -*-===//
//
// The op that reads checkpoints quantized to float8 e4m3fn in blocks
// (DeepSeek-V3, Qwen3-FP8; docs/source-formats.md). Included by
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

#endif // QOPT_WEIGHTS_BLOCK_FP8_OPS
