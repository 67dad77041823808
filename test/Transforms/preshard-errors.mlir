// RUN: quant-opt %s -split-input-file -verify-diagnostics \
// RUN:   --pass-pipeline="builtin.module(qopt-preshard{num-shards=4})"

// The shard count must divide every quantity the definition listed (here
// 2 kv heads), in its order; the config is not read.
// expected-error @+1 {{tensor-parallel-shards: num_key_value_heads: 2 is not divisible by 4}}
weights.model @llama attributes {arch = "llama", config = {}, shard_divisors = [#weights.divisor<"num_attention_heads" = 4>, #weights.divisor<"num_key_value_heads" = 2>, #weights.divisor<"intermediate_size" = 96>]} {
  %n = weights.source "m.safetensors"["n"] offset 0 : tensor<64xf16>
  weights.param @model.norm.weight = %n {kind = #weights.kind<norm>} : tensor<64xf16>
}

// -----

// Each shard takes a quarter of every segment: 6 rows do not split in 4.
weights.model @m attributes {arch = "llama", config = {}} {
  %w = weights.source "m.safetensors"["w"] offset 0 : tensor<12x8xf16>
  // expected-error @+1 {{cannot pre-shard parameter 'w.weight': segments [6, 6] of dimension 0 are not divisible by 4}}
  weights.param @w.weight = %w {kind = #weights.kind<linear>, shard = #weights.shard<dim = 0, segments = [6, 6]>} : tensor<12x8xf16>
}

// -----

weights.model @m attributes {arch = "llama", config = {}} {
  %w = weights.source "m.safetensors"["w"] offset 0 : tensor<8x8xf16>
  // expected-error @+1 {{parameter 'w.weight' has no dimension 2 to shard}}
  weights.param @w.weight = %w {shard = #weights.shard<dim = 2>} : tensor<8x8xf16>
}

// -----

// A model MLC cannot pre-shard says why (the definition's words, recorded by
// qopt-map-parameters), before any divisor; the message names the config
// file of the model's location (here this file).
// expected-error @+1 {{preshard-errors.mlir: tensor-parallel-shards 4: nemotron cannot be pre-sharded as MLC defines it: its mlp.up_proj [intermediate, hidden] carries ShardSingleDim(1), which needs hidden x shards columns in the checkpoint}}
weights.model @nemotron attributes {arch = "nemotron", config = {}, preshard_refusal = "nemotron cannot be pre-sharded as MLC defines it: its mlp.up_proj [intermediate, hidden] carries ShardSingleDim(1), which needs hidden x shards columns in the checkpoint", shard_divisors = [#weights.divisor<"num_attention_heads" = 3>]} {
  %n = weights.source "m.safetensors"["n"] offset 0 : tensor<64xf16>
  weights.param @model.norm.weight = %n {kind = #weights.kind<norm>} : tensor<64xf16>
}
