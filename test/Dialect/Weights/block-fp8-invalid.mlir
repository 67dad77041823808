// RUN: quant-opt %s -split-input-file -verify-diagnostics
// The verifier of weights.dequantize_block_fp8.

weights.model @m attributes {arch = "qwen3", config = {}} {
  %w = weights.source "m.safetensors"["w"] offset 0 : tensor<96x64xf8E4M3FN>
  %s = weights.source "m.safetensors"["w_scale_inv"] offset 0 : tensor<3x1xf32>
  // expected-error @+1 {{'weights.dequantize_block_fp8' op block size must be two positive integers}}
  %d = weights.dequantize_block_fp8 %w, %s block [32] : tensor<96x64xf8E4M3FN>, tensor<3x1xf32> -> tensor<96x64xbf16>
}

// -----

weights.model @m attributes {arch = "qwen3", config = {}} {
  %w = weights.source "m.safetensors"["w"] offset 0 : tensor<96x64xf8E4M3FN>
  %s = weights.source "m.safetensors"["w_scale_inv"] offset 0 : tensor<3x1xf32>
  // expected-error @+1 {{'weights.dequantize_block_fp8' op block size must be two positive integers}}
  %d = weights.dequantize_block_fp8 %w, %s block [32, 0] : tensor<96x64xf8E4M3FN>, tensor<3x1xf32> -> tensor<96x64xbf16>
}

// -----

weights.model @m attributes {arch = "qwen3", config = {}} {
  %w = weights.source "m.safetensors"["w"] offset 0 : tensor<96x64xf8E5M2>
  %s = weights.source "m.safetensors"["w_scale_inv"] offset 0 : tensor<3x1xf32>
  // expected-error @+1 {{'weights.dequantize_block_fp8' op weight must be a 2-D or 3-D f8E4M3FN tensor, got 'tensor<96x64xf8E5M2>'}}
  %d = weights.dequantize_block_fp8 %w, %s block [32, 64] : tensor<96x64xf8E5M2>, tensor<3x1xf32> -> tensor<96x64xbf16>
}

// -----

weights.model @m attributes {arch = "qwen3", config = {}} {
  %w = weights.source "m.safetensors"["w"] offset 0 : tensor<96xf8E4M3FN>
  %s = weights.source "m.safetensors"["w_scale_inv"] offset 0 : tensor<3xf32>
  // expected-error @+1 {{'weights.dequantize_block_fp8' op weight must be a 2-D or 3-D f8E4M3FN tensor, got 'tensor<96xf8E4M3FN>'}}
  %d = weights.dequantize_block_fp8 %w, %s block [32, 64] : tensor<96xf8E4M3FN>, tensor<3xf32> -> tensor<96xbf16>
}

// -----

weights.model @m attributes {arch = "qwen3", config = {}} {
  %w = weights.source "m.safetensors"["w"] offset 0 : tensor<96x64xf8E4M3FN>
  %s = weights.source "m.safetensors"["w_scale_inv"] offset 0 : tensor<3x1xf16>
  // expected-error @+1 {{'weights.dequantize_block_fp8' op scale_inv must be f32 or bf16, got 'f16'}}
  %d = weights.dequantize_block_fp8 %w, %s block [32, 64] : tensor<96x64xf8E4M3FN>, tensor<3x1xf16> -> tensor<96x64xbf16>
}

// -----

// A partial block counts: 100 rows in blocks of 32 need 4 scale rows.
weights.model @m attributes {arch = "qwen3", config = {}} {
  %w = weights.source "m.safetensors"["w"] offset 0 : tensor<100x64xf8E4M3FN>
  %s = weights.source "m.safetensors"["w_scale_inv"] offset 0 : tensor<3x1xf32>
  // expected-error @+1 {{'weights.dequantize_block_fp8' op scale_inv 'tensor<3x1xf32>' does not match weight 'tensor<100x64xf8E4M3FN>' with blocks of 32x64: expected shape 'tensor<4x1xf32>'}}
  %d = weights.dequantize_block_fp8 %w, %s block [32, 64] : tensor<100x64xf8E4M3FN>, tensor<3x1xf32> -> tensor<100x64xbf16>
}

// -----

// Stacked experts: one grid of scales per leading index.
weights.model @m attributes {arch = "qwen3", config = {}} {
  %w = weights.source "m.safetensors"["w"] offset 0 : tensor<4x96x64xf8E4M3FN>
  %s = weights.source "m.safetensors"["w_scale_inv"] offset 0 : tensor<3x1xf32>
  // expected-error @+1 {{'weights.dequantize_block_fp8' op scale_inv 'tensor<3x1xf32>' does not match weight 'tensor<4x96x64xf8E4M3FN>' with blocks of 32x64: expected shape 'tensor<4x3x1xf32>'}}
  %d = weights.dequantize_block_fp8 %w, %s block [32, 64] : tensor<4x96x64xf8E4M3FN>, tensor<3x1xf32> -> tensor<4x96x64xbf16>
}

// -----

weights.model @m attributes {arch = "qwen3", config = {}} {
  %w = weights.source "m.safetensors"["w"] offset 0 : tensor<96x64xf8E4M3FN>
  %s = weights.source "m.safetensors"["w_scale_inv"] offset 0 : tensor<3x1xf32>
  // expected-error @+1 {{'weights.dequantize_block_fp8' op result must have the weight's shape and be f32, bf16 or f16, got 'tensor<96x64xf8E4M3FN>'}}
  %d = weights.dequantize_block_fp8 %w, %s block [32, 64] : tensor<96x64xf8E4M3FN>, tensor<3x1xf32> -> tensor<96x64xf8E4M3FN>
}

// -----

weights.model @m attributes {arch = "qwen3", config = {}} {
  %w = weights.source "m.safetensors"["w"] offset 0 : tensor<96x64xf8E4M3FN>
  %s = weights.source "m.safetensors"["w_scale_inv"] offset 0 : tensor<3x1xf32>
  // expected-error @+1 {{'weights.dequantize_block_fp8' op result must have the weight's shape and be f32, bf16 or f16, got 'tensor<64x96xbf16>'}}
  %d = weights.dequantize_block_fp8 %w, %s block [32, 64] : tensor<96x64xf8E4M3FN>, tensor<3x1xf32> -> tensor<64x96xbf16>
}

// -----

// The shard strategy of block scales (#weights.shard's `block`).
weights.model @m attributes {arch = "qwen3", config = {}} {
  %s = weights.source "m.safetensors"["w_scale_inv"] offset 0 : tensor<3x1xf32>
  // expected-error @+1 {{shard block must be positive, got 0}}
  weights.param @w.weight_scale_inv = %s {shard = #weights.shard<dim = 0, segments = [96], block = 0>} : tensor<3x1xf32>
}

// -----

// Without the weight's segments a shard's share cannot be checked for whole
// blocks: `block` is only written after them (the verifier's rule for
// built attributes: unittests/Transforms/ShardStrategyTest.cpp).
weights.model @m attributes {arch = "qwen3", config = {}} {
  %s = weights.source "m.safetensors"["w_scale_inv"] offset 0 : tensor<3x1xf32>
  // expected-error @+1 {{expected 'segments'}}
  weights.param @w.weight_scale_inv = %s {shard = #weights.shard<dim = 0, block = 32>} : tensor<3x1xf32>
}

// -----
// weights.static_activation_scale (ministral3's activation scales).

weights.model @m attributes {arch = "ministral3", config = {}} {
  %q = weights.source "m.safetensors"["q.activation_scale"] offset 0 : tensor<4xf32>
  %k = weights.source "m.safetensors"["k.activation_scale"] offset 16 : tensor<2xf32>
  // expected-error @+1 {{'weights.static_activation_scale' op source 1 of shape [2] does not broadcast with the first, of shape [4]}}
  %a = weights.static_activation_scale %q, %k target "qkv_proj.weight_activation_scale" : tensor<4xf32>, tensor<2xf32> -> tensor<4xf32>
}

// -----

weights.model @m attributes {arch = "ministral3", config = {}} {
  %q = weights.source "m.safetensors"["q.activation_scale"] offset 0 : tensor<3xf32>
  // expected-error @+1 {{'weights.static_activation_scale' op first source of shape [3] cannot give the result [4]: it must have that shape, be 0-d or [1], or be [m] with m dividing 4}}
  %a = weights.static_activation_scale %q target "o_proj.weight_activation_scale" : tensor<3xf32> -> tensor<4xf32>
}

// -----

weights.model @m attributes {arch = "ministral3", config = {}} {
  %q = weights.source "m.safetensors"["q.activation_scale"] offset 0 : tensor<1x1xf32>
  // expected-error @+1 {{'weights.static_activation_scale' op first source of shape [1, 1] cannot give the result [2]: it must have that shape, be 0-d or [1], or be [m] with m dividing 2}}
  %a = weights.static_activation_scale %q target "o_proj.weight_activation_scale" : tensor<1x1xf32> -> tensor<2xf32>
}

// -----

weights.model @m attributes {arch = "ministral3", config = {}} {
  %q = weights.source "m.safetensors"["q.activation_scale"] offset 0 : tensor<2xf8E4M3FN>
  // expected-error @+1 {{'weights.static_activation_scale' op source 0 must be f16, bf16, f32 or f64, got 'f8E4M3FN'}}
  %a = weights.static_activation_scale %q target "o_proj.weight_activation_scale" : tensor<2xf8E4M3FN> -> tensor<2xf32>
}

// -----

weights.model @m attributes {arch = "ministral3", config = {}} {
  %q = weights.source "m.safetensors"["q.activation_scale"] offset 0 : tensor<2xf32>
  // expected-error @+1 {{'weights.static_activation_scale' op result must be a 1-D f32, bf16 or f16 tensor, got 'tensor<1x2xf32>'}}
  %a = weights.static_activation_scale %q target "o_proj.weight_activation_scale" : tensor<2xf32> -> tensor<1x2xf32>
}

// -----

weights.model @m attributes {arch = "ministral3", config = {}} {
  // expected-error @+1 {{'weights.static_activation_scale' op needs at least one source}}
  %a = "weights.static_activation_scale"() {target = "o_proj.weight_activation_scale"} : () -> tensor<2xf32>
}
