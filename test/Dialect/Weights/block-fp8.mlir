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

// Block scales' shard strategies round-trip; `block = 1` (the default) is
// not printed.
// CHECK-LABEL: weights.model @shards
weights.model @shards attributes {arch = "qwen3", config = {}} {
  %s = weights.source "m.safetensors"["s"] offset 0 : tensor<8x2xf32>
  // CHECK: shard = #weights.shard<dim = 0, segments = [64, 32, 32], block = 16>
  weights.param @c_attn.weight_scale_inv = %s {shard = #weights.shard<dim = 0, segments = [64, 32, 32], block = 16>} : tensor<8x2xf32>
  // CHECK: shard = #weights.shard<dim = 1, segments = [64]>}
  weights.param @o_proj.weight_scale_inv = %s {shard = #weights.shard<dim = 1, segments = [64], block = 1>} : tensor<8x2xf32>
}

// weights.static_activation_scale: fused sources of shapes that broadcast
// together, a 0-d first source, f16 / bf16 / f32 sources.
// CHECK-LABEL: weights.model @activation
weights.model @activation attributes {arch = "ministral3", config = {}} {
  %q = weights.source "m.safetensors"["q.activation_scale"] offset 0 : tensor<f32>
  %k = weights.source "m.safetensors"["k.activation_scale"] offset 4 : tensor<1xbf16>
  %v = weights.source "m.safetensors"["v.activation_scale"] offset 6 : tensor<2xf16>
  // CHECK: weights.static_activation_scale %{{.+}}, %{{.+}}, %{{.+}} target "qkv_proj.weight_activation_scale" : tensor<f32>, tensor<1xbf16>, tensor<2xf16> -> tensor<4xf32>
  %a = weights.static_activation_scale %q, %k, %v target "qkv_proj.weight_activation_scale" : tensor<f32>, tensor<1xbf16>, tensor<2xf16> -> tensor<4xf32>
  weights.param @qkv_proj.activation_scale = %a : tensor<4xf32>
}
