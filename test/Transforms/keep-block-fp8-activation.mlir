// RUN: quant-opt %s -split-input-file --pass-pipeline="builtin.module(qopt-quantize-weights{mode=fp8_e4m3fn_bf16_block_scale_static_activation})" -verify-diagnostics | FileCheck %s

// ministral3 with static activation: each linear's activation_scale comes
// from the `activation_scale` of the checkpoint projections its codes are
// made of (q, k, v for qkv_proj; o_proj's own), through
// weights.static_activation_scale, float32 [ceil(K / 32)] = [2].
// CHECK-LABEL: weights.model @ok
weights.model @ok attributes {arch = "ministral3", config = {quantization_config = {quant_method = "fp8", fmt = "e4m3", activation_scheme = "static", weight_block_size = [16, 32]}}} {
  %q = weights.source "m.safetensors"["l.q_proj.weight"] offset 0 : tensor<32x64xf8E4M3FN>
  %qs = weights.source "m.safetensors"["l.q_proj.weight_scale_inv"] offset 2048 : tensor<2x2xf32>
  %qa = weights.source "m.safetensors"["l.q_proj.activation_scale"] offset 2064 : tensor<f32>
  %k = weights.source "m.safetensors"["l.k_proj.weight"] offset 2068 : tensor<32x64xf8E4M3FN>
  %ks = weights.source "m.safetensors"["l.k_proj.weight_scale_inv"] offset 4116 : tensor<2x2xf32>
  %ka = weights.source "m.safetensors"["l.k_proj.activation_scale"] offset 4132 : tensor<1xbf16>
  %o = weights.source "m.safetensors"["l.o_proj.weight"] offset 4134 : tensor<64x64xf8E4M3FN>
  %os = weights.source "m.safetensors"["l.o_proj.weight_scale_inv"] offset 8230 : tensor<4x2xf32>
  %oa = weights.source "m.safetensors"["l.o_proj.activation_scale"] offset 8262 : tensor<2xf32>
  %dq = weights.dequantize_block_fp8 %q, %qs block [16, 32] : tensor<32x64xf8E4M3FN>, tensor<2x2xf32> -> tensor<32x64xbf16>
  %dk = weights.dequantize_block_fp8 %k, %ks block [16, 32] : tensor<32x64xf8E4M3FN>, tensor<2x2xf32> -> tensor<32x64xbf16>
  %qk = weights.concat %dq, %dk axis 0 : (tensor<32x64xbf16>, tensor<32x64xbf16>) -> tensor<64x64xbf16>
  %do = weights.dequantize_block_fp8 %o, %os block [16, 32] : tensor<64x64xf8E4M3FN>, tensor<4x2xf32> -> tensor<64x64xbf16>
  weights.param @qkv_proj.weight = %qk {kind = #weights.kind<linear>} : tensor<64x64xbf16>
  weights.param @o_proj.weight = %do {kind = #weights.kind<linear>} : tensor<64x64xbf16>
}
// CHECK: %[[QA:.+]] = weights.source "m.safetensors"["l.q_proj.activation_scale"]
// CHECK: %[[KA:.+]] = weights.source "m.safetensors"["l.k_proj.activation_scale"]
// CHECK: %[[OA:.+]] = weights.source "m.safetensors"["l.o_proj.activation_scale"]
// CHECK: %[[A:.+]] = weights.static_activation_scale %[[QA]], %[[KA]] target "qkv_proj.weight_activation_scale" : tensor<f32>, tensor<1xbf16> -> tensor<2xf32>
// CHECK: weights.param @qkv_proj.weight = %{{.+}} : tensor<64x64xf8E4M3FN>
// CHECK-NEXT: weights.param @qkv_proj.weight_scale_inv = %{{.+}} : tensor<4x2xf32>
// CHECK-NEXT: %[[B:.+]] = weights.static_activation_scale %[[OA]] target "o_proj.weight_activation_scale" : tensor<2xf32> -> tensor<2xf32>
// CHECK-NEXT: weights.param @qkv_proj.activation_scale = %[[A]] {kind = #weights.kind<other>} : tensor<2xf32>
// CHECK-NEXT: weights.param @o_proj.weight = %{{.+}} : tensor<64x64xf8E4M3FN>
// CHECK-NEXT: weights.param @o_proj.weight_scale_inv = %{{.+}} : tensor<4x2xf32>
// CHECK-NEXT: weights.param @o_proj.activation_scale = %[[B]] {kind = #weights.kind<other>} : tensor<2xf32>

// -----

weights.model @missing attributes {arch = "ministral3", config = {quantization_config = {quant_method = "fp8", fmt = "e4m3", activation_scheme = "static", weight_block_size = [16, 32]}}} {
  %o = weights.source "m.safetensors"["l.o_proj.weight"] offset 0 : tensor<64x64xf8E4M3FN>
  %os = weights.source "m.safetensors"["l.o_proj.weight_scale_inv"] offset 4096 : tensor<4x2xf32>
  %do = weights.dequantize_block_fp8 %o, %os block [16, 32] : tensor<64x64xf8E4M3FN>, tensor<4x2xf32> -> tensor<64x64xbf16>
  // expected-error @+1 {{parameter 'o_proj.activation_scale' needs source tensor 'l.o_proj.activation_scale', which is not in the checkpoint (mode 'fp8_e4m3fn_bf16_block_scale_static_activation': mlc_llm's loader reads each projection's own static activation scale)}}
  weights.param @o_proj.weight = %do {kind = #weights.kind<linear>} : tensor<64x64xbf16>
}

// -----

weights.model @shape attributes {arch = "ministral3", config = {quantization_config = {quant_method = "fp8", fmt = "e4m3", activation_scheme = "static", weight_block_size = [16, 32]}}} {
  %o = weights.source "m.safetensors"["l.o_proj.weight"] offset 0 : tensor<64x128xf8E4M3FN>
  %os = weights.source "m.safetensors"["l.o_proj.weight_scale_inv"] offset 8192 : tensor<4x4xf32>
  // expected-error @+1 {{parameter 'o_proj.activation_scale': mode 'fp8_e4m3fn_bf16_block_scale_static_activation' cannot give it the source's activation scale (mlc_llm: "Unexpected activation scale shape (3,) for o_proj.activation_scale, expected (4,)"): a scale of that shape neither matches nor broadcasts nor tiles its 4 input blocks}}
  %oa = weights.source "m.safetensors"["l.o_proj.activation_scale"] offset 8256 : tensor<3xf32>
  %do = weights.dequantize_block_fp8 %o, %os block [16, 32] : tensor<64x128xf8E4M3FN>, tensor<4x4xf32> -> tensor<64x128xbf16>
  weights.param @o_proj.weight = %do {kind = #weights.kind<linear>} : tensor<64x128xbf16>
}

// -----

weights.model @broadcast attributes {arch = "ministral3", config = {quantization_config = {quant_method = "fp8", fmt = "e4m3", activation_scheme = "static", weight_block_size = [16, 32]}}} {
  %q = weights.source "m.safetensors"["l.q_proj.weight"] offset 0 : tensor<32x128xf8E4M3FN>
  %qs = weights.source "m.safetensors"["l.q_proj.weight_scale_inv"] offset 4096 : tensor<2x4xf32>
  %qa = weights.source "m.safetensors"["l.q_proj.activation_scale"] offset 4128 : tensor<4xf32>
  %k = weights.source "m.safetensors"["l.k_proj.weight"] offset 4144 : tensor<32x128xf8E4M3FN>
  %ks = weights.source "m.safetensors"["l.k_proj.weight_scale_inv"] offset 8240 : tensor<2x4xf32>
  // expected-error @+1 {{source tensor 'l.k_proj.activation_scale' of shape [2] does not broadcast with 'l.q_proj.activation_scale' of shape [4] (mlc_llm's np.allclose: "operands could not be broadcast together")}}
  %ka = weights.source "m.safetensors"["l.k_proj.activation_scale"] offset 8272 : tensor<2xf32>
  %dq = weights.dequantize_block_fp8 %q, %qs block [16, 32] : tensor<32x128xf8E4M3FN>, tensor<2x4xf32> -> tensor<32x128xbf16>
  %dk = weights.dequantize_block_fp8 %k, %ks block [16, 32] : tensor<32x128xf8E4M3FN>, tensor<2x4xf32> -> tensor<32x128xbf16>
  %qk = weights.concat %dq, %dk axis 0 : (tensor<32x128xbf16>, tensor<32x128xbf16>) -> tensor<64x128xbf16>
  weights.param @qkv_proj.weight = %qk {kind = #weights.kind<linear>} : tensor<64x128xbf16>
}

// -----

weights.model @dtype attributes {arch = "ministral3", config = {quantization_config = {quant_method = "fp8", fmt = "e4m3", activation_scheme = "static", weight_block_size = [16, 32]}}} {
  %o = weights.source "m.safetensors"["l.o_proj.weight"] offset 0 : tensor<64x64xf8E4M3FN>
  %os = weights.source "m.safetensors"["l.o_proj.weight_scale_inv"] offset 4096 : tensor<4x2xf32>
  // expected-error @+1 {{source tensor 'l.o_proj.activation_scale' is 'f8E4M3FN'; static activation scales must be f16, bf16, f32 or f64}}
  %oa = weights.source "m.safetensors"["l.o_proj.activation_scale"] offset 4128 : tensor<2xf8E4M3FN>
  %do = weights.dequantize_block_fp8 %o, %os block [16, 32] : tensor<64x64xf8E4M3FN>, tensor<4x2xf32> -> tensor<64x64xbf16>
  weights.param @o_proj.weight = %do {kind = #weights.kind<linear>} : tensor<64x64xbf16>
}
