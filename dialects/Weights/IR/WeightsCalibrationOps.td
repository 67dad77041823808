//===- WeightsCalibrationOps.td - Calibration ops ----------*- tablegen -*-===//
//
// The ops that bring calibration statistics into the weights IR: the
// statistics of a STATS file or llama.cpp imatrix, and AWQ's scales and
// their fold (docs/calibration.md). Included by WeightsOps.td, after the
// op base classes it uses.
//
//===----------------------------------------------------------------------===//

#ifndef QOPT_WEIGHTS_CALIBRATION_OPS
#define QOPT_WEIGHTS_CALIBRATION_OPS
//===----------------------------------------------------------------------===//
// Calibration statistics
//===----------------------------------------------------------------------===//

def Weights_CalibrationOp : Weights_EvaluableOp<"calibration"> {
  let summary = "Statistics of a linear layer's input, from the calibration file";
  let description = [{
    Names one entry of the enclosing model's `calibration_file`, as the file
    names it (our STATS: the MLC weight name; a llama.cpp importance
    matrix: the ggml tensor name), and which statistic of it:
    `importance`, the mean of x^2 per input channel (`tensor<K x f32>`,
    `tensor<E x K x f32>` for stacked experts), or `hessian`, the mean of
    x x^T (`tensor<K x K x f32>`, `tensor<E x K x K x f32>`). Like
    `weights.source`, it references the values: they are read when the
    op is evaluated. `weights.quantize` takes them as operands.

    ```mlir
    %i = weights.calibration "blk.0.attn_q.weight" importance : tensor<128xf32>
    %h = weights.calibration "model.layers.0.mlp.down_proj.weight" hessian : tensor<256x256xf32>
    ```
  }];
  let arguments = (ins StrAttr:$entry, Weights_Statistic:$statistic);
  let results = (outs AnyStaticShapeTensor:$result);
  let assemblyFormat = "$entry $statistic attr-dict `:` type($result)";
  let hasVerifier = 1;
}

//===----------------------------------------------------------------------===//
// Activation-aware scaling (AWQ, docs/calibration.md)
//===----------------------------------------------------------------------===//

def Weights_AwqScalesOp : Weights_EvaluableOp<"awq_scales", [],
    [AttrSizedOperandSegments]> {
  let summary = "AWQ's per-input-channel scales of linears sharing an input";
  let description = [{
    The scales `s [K]` (float32) that AWQ's grid search picks for the
    linears `weights` (each `[N_i, K]`, sharing one input of K channels),
    from the calibration statistics of that input: `imatrix [K]` (mean of
    x_k^2) and, optionally, `hessian [K, K]` (mean of x x^T). For alpha =
    i / `grid` (i = 0 .. grid-1), s = sqrt(imatrix)^alpha normalized by
    sqrt(max(s) min(s)); each candidate's weights `W diag(s)` are rounded to
    their type, cast to the scheme's expressed type and quantized and
    dequantized by `scheme` (the mode's own quantizer), and the output error
    of `Q(W s) / s - W` is measured with the Hessian, or its diagonal, the
    importance matrix. The first smallest error wins (alpha = 0, s = 1, is
    plain rounding), computed once per evaluation however many consumers
    ask (qopt/Numerics/AwqSearch.h). With `rows N`, the error is measured
    on N rows of each weight spread evenly over it (every row of a weight
    of at most N rows, and of a scheme that does not quantize rows alone);
    without, on every row.

    ```mlir
    %s = weights.awq_scales %qkv imatrix %im grid 20 rows 192 : (tensor<512x256xf16>), tensor<256xf32> -> tensor<256xf32>
        with #weights.group<quant_type = !quant.any<u4<0:14>:f16>, group_size = 32, layout = nk, rounding = even>
    ```
  }];
  let arguments = (ins Variadic<AnyStaticShapeTensor>:$weights,
                       AnyStaticShapeTensor:$imatrix,
                       Optional<AnyStaticShapeTensor>:$hessian,
                       I64Attr:$grid,
                       Weights_QuantSchemeAttrInterface:$scheme,
                       OptionalAttr<I64Attr>:$rows);
  let results = (outs AnyStaticShapeTensor:$result);
  let assemblyFormat = [{
    $weights `imatrix` $imatrix (`hessian` $hessian^)? `grid` $grid
    (`rows` $rows^)?
    attr-dict `:` `(` type($weights) `)` `,` type($imatrix) (`,` type($hessian)^)?
    `->` type($result) `with` $scheme
  }];
  let hasVerifier = 1;
}

def Weights_ScaleChannelsOp : Weights_EvaluableOp<"scale_channels",
    ["getRowCuts", "readsOperandRows"], [AllTypesMatch<["input", "result"]>]> {
  let summary = "Multiplies or divides channels of a tensor by scales";
  let description = [{
    Channels `offset .. offset + K` of dimension `dim` of `input` are
    multiplied by `scales [K]` (float32), or divided with `divide`; the
    other channels stay. Each value is one float32 operation rounded once to
    the tensor's type. AWQ folds its scales with it: a linear's columns
    times s, the norm feeding it (or the rows of the linear before it) by s.
    The scales are read whole (their rows are not the input's), so a
    row-local input keeps the result row-local: chunks of a folded weight
    hold their own rows, not the weight.

    ```mlir
    %w = weights.scale_channels %qkv, %s dim 1 : tensor<512x256xf16>, tensor<256xf32>
    %n = weights.scale_channels %norm, %s dim 0 divide : tensor<256xf16>, tensor<256xf32>
    %v = weights.scale_channels %qkv, %so dim 0 offset 384 divide : tensor<512x256xf16>, tensor<128xf32>
    ```
  }];
  let arguments = (ins AnyStaticShapeTensor:$input, AnyStaticShapeTensor:$scales,
                       I64Attr:$dim, DefaultValuedAttr<I64Attr, "0">:$offset,
                       UnitAttr:$divide);
  let results = (outs AnyStaticShapeTensor:$result);
  let assemblyFormat = [{
    $input `,` $scales `dim` $dim (`offset` $offset^)? (`divide` $divide^)?
    attr-dict `:` type($input) `,` type($scales)
  }];
  let hasVerifier = 1;
}

#endif // QOPT_WEIGHTS_CALIBRATION_OPS
