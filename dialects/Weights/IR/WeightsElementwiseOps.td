//===- WeightsElementwiseOps.td - numpy elementwise steps -*- tablegen -*-===//
//
// Elementwise mapping steps that MLC's loaders compute with numpy (RWKV's
// per-layer rescale and time_decay; docs/architectures.md). Included by
// WeightsOps.td, after the op base classes they use.
//
//===----------------------------------------------------------------------===//

#ifndef QOPT_WEIGHTS_ELEMENTWISE_OPS
#define QOPT_WEIGHTS_ELEMENTWISE_OPS

def Weights_DividePow2Op : Weights_EvaluableOp<"divide_pow2", ["getRowCuts"],
    [AllTypesMatch<["input", "result"]>]> {
  let summary = "Divides every element by 2^exponent, rounded in the tensor's type";
  let description = [{
    numpy's `x / 2**exponent` on an f16, bf16 or f32 tensor: each element
    is divided in float32 and rounded once to the tensor's type (round to
    nearest even; results below the smallest normal become subnormals or
    zero as that rounding gives). MLC's RWKV loaders divide layer `i`'s
    `attention.output.weight` and `feed_forward.value.weight` by
    `2**(i // rescale_every)` after converting them to the model dtype, so
    `qopt-quantize-weights` converts this op's input, not its result, to
    the model dtype. `exponent` is in [0, 15] (2^15 is the largest power of
    two numpy's float16 holds).

    ```mlir
    %1 = weights.divide_pow2 %0 exponent 2 : tensor<64x64xf16>
    ```
  }];
  let arguments = (ins AnyStaticShapeTensor:$input, I64Attr:$exponent);
  let results = (outs AnyStaticShapeTensor:$result);
  let assemblyFormat = "$input `exponent` $exponent attr-dict `:` type($input)";
  let hasVerifier = 1;
}

def Weights_ExpOp : Weights_EvaluableOp<"exp", ["getRowCuts"],
    [AllTypesMatch<["input", "result"]>]> {
  let summary = "numpy's float32 exp of every element (or of its negation)";
  let description = [{
    `np.exp(x)` of a float32 tensor (`np.exp(-x)` with `negate`) as numpy
    computes it on x86-64 (its AVX2/AVX512F loop, which is not always the
    correctly rounded exp; `lib/Numerics/NumpyElementwise.cpp`). MLC's rwkv5
    loader stores `time_decay` as `np.exp(-np.exp(x.astype("float32")))`:

    ```mlir
    %1 = weights.exp %0 : tensor<4x16xf32>
    %2 = weights.exp %1 negate : tensor<4x16xf32>
    ```
  }];
  let arguments = (ins AnyStaticShapeTensor:$input, UnitAttr:$negate);
  let results = (outs AnyStaticShapeTensor:$result);
  let assemblyFormat = "$input (`negate` $negate^)? attr-dict `:` type($input)";
  let hasVerifier = 1;
}

#endif // QOPT_WEIGHTS_ELEMENTWISE_OPS
