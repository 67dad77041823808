// AWQ on the hand-sized case of awq-tiny.mlir with `rows 1`: the error is
// measured on one row of the two, the middle one of one slice, row
// floor(1 * 2 / 2) = 1, and the search picks another ratio (11/20, not 14/20)
// than on both rows. The case: 2x4 float16 weights, the RMSNorm weight feeding
// them and their importance matrix (test/reference/awq_reference.py writes
// them and computes, independently, the losses of the 20 ratios, the scales
// of the winner and the folded tensors, as bit patterns).
// RUN: rm -rf %t && mkdir -p %t
// RUN: %python %reference/awq_reference.py inputs %t
// RUN: %python %reference/awq_reference.py expect 1 > %t/expected.txt
// RUN: cd %t && quant-opt %s --pass-pipeline="builtin.module(qopt-serialize-tensor-cache{output-dir=%t/out})" -o /dev/null
// RUN: %python %reference/awq_reference.py dump %t/out > %t/got.txt
// RUN: grep -v 'loss\|f32' %t/expected.txt | diff - %t/got.txt
// RUN: FileCheck %s --input-file=%t/expected.txt

// The folded weight and norm match the reference's bits (row 1 alone), so
// the float32 scales do too.
// CHECK: plain loss 0.0124484282
// CHECK: ratio 11/20 loss 2.96121179e-05
// CHECK: scales-f32 0x3ee0a3ca 0x4011de7c 0x3f24722b 0x3fc74356

weights.model @tiny attributes {arch = "llama", config = {}} {
  %w = weights.source "tiny.safetensors"["w"] offset 264 : tensor<2x4xf16>
  %n = weights.source "tiny.safetensors"["norm"] offset 280 : tensor<4xf16>
  %im = weights.source "tiny.safetensors"["imatrix"] offset 288 : tensor<4xf32>
  %s = weights.awq_scales %w imatrix %im grid 20 rows 1 : (tensor<2x4xf16>), tensor<4xf32> -> tensor<4xf32>
      with #weights.group<quant_type = !quant.any<u4<0:14>:f16>, group_size = 8, layout = nk, rounding = even>
  %ws = weights.scale_channels %w, %s dim 1 : tensor<2x4xf16>, tensor<4xf32>
  %ns = weights.scale_channels %n, %s dim 0 divide : tensor<4xf16>, tensor<4xf32>
  weights.param @scales = %s : tensor<4xf32>
  weights.param @w = %ws : tensor<2x4xf16>
  weights.param @norm = %ns : tensor<4xf16>
}
