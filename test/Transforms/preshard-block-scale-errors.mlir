// RUN: quant-opt %s -split-input-file -verify-diagnostics \
// RUN:   --pass-pipeline="builtin.module(qopt-preshard{num-shards=2})"

// Block scales (#weights.shard `block`): each shard's part of each of the
// weight's segments must be whole blocks. c_attn's [64, 32, 32] rows give
// [32, 16, 16] a shard, not whole blocks of 32.
weights.model @qwen3 attributes {arch = "qwen3", quantization = "fp8_e4m3fn_bf16_block_scale", config = {}} {
  %s = weights.source "m.safetensors"["s"] offset 0 : tensor<4x2xf32>
  // expected-error @+1 {{cannot pre-shard parameter 'c_attn.weight_scale_inv' into 2 shards: its weight's segments per shard [32, 16, 16] of dimension 0 are not whole blocks of 32, so its block scales cannot be split with them}}
  weights.param @c_attn.weight_scale_inv = %s {kind = #weights.kind<linear>, role = #weights.role<scale>, shard = #weights.shard<dim = 0, segments = [64, 32, 32], block = 32>} : tensor<4x2xf32>
}

// -----

// One segment: 48 of 96 columns a shard, in blocks of 64 (the two scale
// columns would split, each shard getting a block it holds only part of).
weights.model @qwen3 attributes {arch = "qwen3", quantization = "fp8_e4m3fn_bf16_block_scale", config = {}} {
  %s = weights.source "m.safetensors"["s"] offset 0 : tensor<4x2xf32>
  // expected-error @+1 {{cannot pre-shard parameter 'down_proj.weight_scale_inv' into 2 shards: a shard's 48 of its weight's 96 along dimension 1 are not whole blocks of 64, so its block scales cannot be split with them}}
  weights.param @down_proj.weight_scale_inv = %s {kind = #weights.kind<linear>, role = #weights.role<scale>, shard = #weights.shard<dim = 1, segments = [96], block = 64>} : tensor<4x2xf32>
}

// -----

// A segment the shard count does not divide.
weights.model @qwen3 attributes {arch = "qwen3", quantization = "fp8_e4m3fn_bf16_block_scale", config = {}} {
  %s = weights.source "m.safetensors"["s"] offset 0 : tensor<3x2xf32>
  // expected-error @+1 {{cannot pre-shard parameter 'w.weight_scale_inv': its weight's segments [45] of dimension 0 are not divisible by 2}}
  weights.param @w.weight_scale_inv = %s {kind = #weights.kind<linear>, role = #weights.role<scale>, shard = #weights.shard<dim = 0, segments = [45], block = 16>} : tensor<3x2xf32>
}

// -----

// Whole blocks, but the scales do not have them: 2 x [1, 1] rows do not
// cover 3.
weights.model @qwen3 attributes {arch = "qwen3", quantization = "fp8_e4m3fn_bf16_block_scale", config = {}} {
  %s = weights.source "m.safetensors"["s"] offset 0 : tensor<3x2xf32>
  // expected-error @+1 {{cannot pre-shard parameter 'w.weight_scale_inv': segments [1, 1] x 2 shards do not cover dimension 0 of size 3}}
  weights.param @w.weight_scale_inv = %s {kind = #weights.kind<linear>, role = #weights.role<scale>, shard = #weights.shard<dim = 0, segments = [32, 32], block = 16>} : tensor<3x2xf32>
}

// -----

// The static-activation mode is refused before any parameter.
// expected-error @+1 {{mode 'fp8_e4m3fn_bf16_block_scale_static_activation' cannot be pre-sharded: MLC shards each linear's activation_scale (one per block of input features) with the weight's strategy, which cannot split it (o_proj and down_proj shard dimension 1 of a 1-D tensor); convert with fp8_e4m3fn_bf16_block_scale or without --tensor-parallel-shards}}
weights.model @qwen3 attributes {arch = "qwen3", quantization = "fp8_e4m3fn_bf16_block_scale_static_activation", config = {}} {
  %s = weights.source "m.safetensors"["s"] offset 0 : tensor<4x2xf32>
  weights.param @w.weight_scale_inv = %s {kind = #weights.kind<linear>, role = #weights.role<scale>, shard = #weights.shard<dim = 0, segments = [64], block = 16>} : tensor<4x2xf32>
}
