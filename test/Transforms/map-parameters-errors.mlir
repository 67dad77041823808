// RUN: quant-opt %s -split-input-file -verify-diagnostics \
// RUN:   --pass-pipeline="builtin.module(qopt-map-parameters)"

// Every missing source tensor is reported, not only the first.
// expected-error @+3 {{parameter 'model.layers.0.self_attn.qkv_proj.weight' needs source tensor 'model.layers.0.self_attn.v_proj.weight', which is not in the checkpoint}}
// expected-error @+2 {{parameter 'model.layers.0.mlp.down_proj.weight' needs source tensor 'model.layers.0.mlp.down_proj.weight', which is not in the checkpoint}}
// expected-error @+1 {{parameter 'model.norm.weight' needs source tensor 'model.norm.weight', which is not in the checkpoint}}
weights.model @llama attributes {arch = "llama", config = {hidden_size = 64 : i64, intermediate_size = 96 : i64, num_attention_heads = 2 : i64, num_key_value_heads = 1 : i64, num_hidden_layers = 1 : i64, rms_norm_eps = 1.0e-6 : f64, vocab_size = 8 : i64, max_position_embeddings = 64 : i64, tie_word_embeddings = true}} {
  %0 = weights.source "m.safetensors"["model.embed_tokens.weight"] offset 0 : tensor<8x64xbf16>
  %1 = weights.source "m.safetensors"["model.layers.0.input_layernorm.weight"] offset 0 : tensor<64xbf16>
  %3 = weights.source "m.safetensors"["model.layers.0.mlp.gate_proj.weight"] offset 0 : tensor<96x64xbf16>
  %4 = weights.source "m.safetensors"["model.layers.0.mlp.up_proj.weight"] offset 0 : tensor<96x64xbf16>
  %5 = weights.source "m.safetensors"["model.layers.0.post_attention_layernorm.weight"] offset 0 : tensor<64xbf16>
  %6 = weights.source "m.safetensors"["model.layers.0.self_attn.k_proj.weight"] offset 0 : tensor<32x64xbf16>
  %7 = weights.source "m.safetensors"["model.layers.0.self_attn.o_proj.weight"] offset 0 : tensor<64x64xbf16>
  %8 = weights.source "m.safetensors"["model.layers.0.self_attn.q_proj.weight"] offset 0 : tensor<64x64xbf16>
}

// -----

// Tensors nothing uses: one warning listing them (inv_freq is expected).
// expected-warning @+1 {{unused source tensors: lm_head.weight, stray.bias}}
weights.model @llama attributes {arch = "llama", config = {hidden_size = 64 : i64, intermediate_size = 96 : i64, num_attention_heads = 2 : i64, num_key_value_heads = 1 : i64, num_hidden_layers = 1 : i64, rms_norm_eps = 1.0e-6 : f64, vocab_size = 8 : i64, max_position_embeddings = 64 : i64, tie_word_embeddings = true}} {
  %0 = weights.source "m.safetensors"["lm_head.weight"] offset 0 : tensor<8x64xbf16>
  %1 = weights.source "m.safetensors"["model.embed_tokens.weight"] offset 0 : tensor<8x64xbf16>
  %2 = weights.source "m.safetensors"["model.layers.0.input_layernorm.weight"] offset 0 : tensor<64xbf16>
  %3 = weights.source "m.safetensors"["model.layers.0.mlp.down_proj.weight"] offset 0 : tensor<64x96xbf16>
  %4 = weights.source "m.safetensors"["model.layers.0.mlp.gate_proj.weight"] offset 0 : tensor<96x64xbf16>
  %5 = weights.source "m.safetensors"["model.layers.0.mlp.up_proj.weight"] offset 0 : tensor<96x64xbf16>
  %6 = weights.source "m.safetensors"["model.layers.0.post_attention_layernorm.weight"] offset 0 : tensor<64xbf16>
  %7 = weights.source "m.safetensors"["model.layers.0.self_attn.k_proj.weight"] offset 0 : tensor<32x64xbf16>
  %8 = weights.source "m.safetensors"["model.layers.0.self_attn.o_proj.weight"] offset 0 : tensor<64x64xbf16>
  %9 = weights.source "m.safetensors"["model.layers.0.self_attn.q_proj.weight"] offset 0 : tensor<64x64xbf16>
  %10 = weights.source "m.safetensors"["model.layers.0.self_attn.rotary_emb.inv_freq"] offset 0 : tensor<16xf32>
  %11 = weights.source "m.safetensors"["model.layers.0.self_attn.v_proj.weight"] offset 0 : tensor<32x64xbf16>
  %12 = weights.source "m.safetensors"["model.norm.weight"] offset 0 : tensor<64xbf16>
  %13 = weights.source "m.safetensors"["stray.bias"] offset 0 : tensor<3xbf16>
}

// -----

// Source tensors that cannot be fused: the error names the parameter and
// shows the shapes, at the source tensors.
weights.model @llama attributes {arch = "llama", config = {hidden_size = 64 : i64, intermediate_size = 96 : i64, num_attention_heads = 2 : i64, num_key_value_heads = 1 : i64, num_hidden_layers = 1 : i64, rms_norm_eps = 1.0e-6 : f64, vocab_size = 8 : i64, max_position_embeddings = 64 : i64, tie_word_embeddings = true}} {
  %0 = weights.source "m.safetensors"["model.embed_tokens.weight"] offset 0 : tensor<8x64xbf16>
  %1 = weights.source "m.safetensors"["model.layers.0.input_layernorm.weight"] offset 0 : tensor<64xbf16>
  %2 = weights.source "m.safetensors"["model.layers.0.mlp.down_proj.weight"] offset 0 : tensor<64x96xbf16>
  // expected-error @+1 {{source tensors of parameter 'model.layers.0.mlp.gate_up_proj.weight' ([96, 64] 'bf16', [96, 60] 'bf16') cannot be concatenated on axis 0}}
  %3 = weights.source "m.safetensors"["model.layers.0.mlp.gate_proj.weight"] offset 0 : tensor<96x64xbf16>
  %4 = weights.source "m.safetensors"["model.layers.0.mlp.up_proj.weight"] offset 0 : tensor<96x60xbf16>
  %5 = weights.source "m.safetensors"["model.layers.0.post_attention_layernorm.weight"] offset 0 : tensor<64xbf16>
  %6 = weights.source "m.safetensors"["model.layers.0.self_attn.k_proj.weight"] offset 0 : tensor<32x64xbf16>
  %7 = weights.source "m.safetensors"["model.layers.0.self_attn.o_proj.weight"] offset 0 : tensor<64x64xbf16>
  %8 = weights.source "m.safetensors"["model.layers.0.self_attn.q_proj.weight"] offset 0 : tensor<64x64xbf16>
  %9 = weights.source "m.safetensors"["model.layers.0.self_attn.v_proj.weight"] offset 0 : tensor<32x64xbf16>
  %10 = weights.source "m.safetensors"["model.norm.weight"] offset 0 : tensor<64xbf16>
}
