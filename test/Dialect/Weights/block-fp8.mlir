// RUN: quant-opt %s | quant-opt | FileCheck %s
// weights.dequantize_block_fp8 round-trips, 2-D and stacked, f32 or bf16
// scales, any float result.

// CHECK-LABEL: weights.model @m
weights.model @m attributes {arch = "qwen3", config = {}} {
  %w = weights.source "m.safetensors"["w"] offset 0 : tensor<100x64xf8E4M3FN>
  %s = weights.source "m.safetensors"["w_scale_inv"] offset 6400 : tensor<4x1xf32>
  // CHECK: %[[D:.+]] = weights.dequantize_block_fp8 %{{.+}}, %{{.+}} block [32, 64] : tensor<100x64xf8E4M3FN>, tensor<4x1xf32> -> tensor<100x64xbf16>
  %d = weights.dequantize_block_fp8 %w, %s block [32, 64] : tensor<100x64xf8E4M3FN>, tensor<4x1xf32> -> tensor<100x64xbf16>
  %e = weights.source "m.safetensors"["e"] offset 6416 : tensor<2x64x64xf8E4M3FN>
  %t = weights.source "m.safetensors"["e_scale_inv"] offset 14608 : tensor<2x2x2xbf16>
  // CHECK: weights.dequantize_block_fp8 %{{.+}}, %{{.+}} block [32, 32] : tensor<2x64x64xf8E4M3FN>, tensor<2x2x2xbf16> -> tensor<2x64x64xf32>
  %f = weights.dequantize_block_fp8 %e, %t block [32, 32] : tensor<2x64x64xf8E4M3FN>, tensor<2x2x2xbf16> -> tensor<2x64x64xf32>
  // CHECK: weights.param @w = %[[D]]
  weights.param @w = %d : tensor<100x64xbf16>
  weights.param @e = %f : tensor<2x64x64xf32>
}
