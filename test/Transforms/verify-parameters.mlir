// RUN: quant-opt %s -split-input-file -verify-diagnostics \
// RUN:   --pass-pipeline="builtin.module(qopt-verify-parameters)"

// Without `graph`, the parameters are checked against the model's own
// weights.expect ops: the definition as qopt-map-parameters wrote it and
// qopt-quantize-weights rewrote it (expectations.mlir shows them being
// made). The config is not read.

// A 1-layer llama (hidden 64, 2 heads of 32, 1 kv head, ffn 96, vocab 8)
// quantized with q4f16_1 expects 15 records; each case breaks one.
// expected-error @+1 {{parameter 'model.layers.0.mlp.down_proj.q_scale' of the model graph has no source tensor}}
weights.model @llama attributes {arch = "llama", quantization = "q4f16_1", config = {}} {
  weights.expect "model.embed_tokens.q_weight" : tensor<?x8xui32>
  weights.expect "model.embed_tokens.q_scale" : tensor<?x2xf16>
  weights.expect "model.layers.0.self_attn.qkv_proj.q_weight" : tensor<128x8xui32>
  weights.expect "model.layers.0.self_attn.qkv_proj.q_scale" : tensor<128x2xf16>
  weights.expect "model.layers.0.self_attn.o_proj.q_weight" : tensor<64x8xui32>
  weights.expect "model.layers.0.self_attn.o_proj.q_scale" : tensor<64x2xf16>
  weights.expect "model.layers.0.mlp.gate_up_proj.q_weight" : tensor<192x8xui32>
  weights.expect "model.layers.0.mlp.gate_up_proj.q_scale" : tensor<192x2xf16>
  weights.expect "model.layers.0.mlp.down_proj.q_weight" : tensor<64x12xui32>
  // expected-note @+1 {{expected here}}
  weights.expect "model.layers.0.mlp.down_proj.q_scale" : tensor<64x3xf16>
  weights.expect "model.layers.0.input_layernorm.weight" : tensor<64xf16>
  weights.expect "model.layers.0.post_attention_layernorm.weight" : tensor<64xf16>
  weights.expect "model.norm.weight" : tensor<64xf16>
  weights.expect "lm_head.q_weight" : tensor<8x8xui32>
  weights.expect "lm_head.q_scale" : tensor<8x2xf16>
  %e = weights.source "m.safetensors"["e"] offset 0 : tensor<8x8xui32>
  %es = weights.source "m.safetensors"["es"] offset 0 : tensor<8x2xf16>
  %qkv = weights.source "m.safetensors"["qkv"] offset 0 : tensor<128x8xui32>
  %qkvs = weights.source "m.safetensors"["qkvs"] offset 0 : tensor<128x2xf16>
  %o = weights.source "m.safetensors"["o"] offset 0 : tensor<64x8xui32>
  %os = weights.source "m.safetensors"["os"] offset 0 : tensor<64x2xf16>
  %gu = weights.source "m.safetensors"["gu"] offset 0 : tensor<192x8xui32>
  %gus = weights.source "m.safetensors"["gus"] offset 0 : tensor<192x2xf16>
  %d = weights.source "m.safetensors"["d"] offset 0 : tensor<64x12xui32>
  %n = weights.source "m.safetensors"["n"] offset 0 : tensor<64xf16>
  %h = weights.source "m.safetensors"["h"] offset 0 : tensor<8x8xui32>
  weights.param @model.embed_tokens.q_weight = %e : tensor<8x8xui32>
  weights.param @model.embed_tokens.q_scale = %es : tensor<8x2xf16>
  weights.param @model.layers.0.self_attn.qkv_proj.q_weight = %qkv : tensor<128x8xui32>
  weights.param @model.layers.0.self_attn.qkv_proj.q_scale = %qkvs : tensor<128x2xf16>
  weights.param @model.layers.0.self_attn.o_proj.q_weight = %o : tensor<64x8xui32>
  weights.param @model.layers.0.self_attn.o_proj.q_scale = %os : tensor<64x2xf16>
  weights.param @model.layers.0.mlp.gate_up_proj.q_weight = %gu : tensor<192x8xui32>
  weights.param @model.layers.0.mlp.gate_up_proj.q_scale = %gus : tensor<192x2xf16>
  weights.param @model.layers.0.mlp.down_proj.q_weight = %d : tensor<64x12xui32>
  weights.param @model.layers.0.input_layernorm.weight = %n : tensor<64xf16>
  weights.param @model.layers.0.post_attention_layernorm.weight = %n : tensor<64xf16>
  weights.param @model.norm.weight = %n : tensor<64xf16>
  weights.param @lm_head.q_weight = %h : tensor<8x8xui32>
  weights.param @lm_head.q_scale = %es : tensor<8x2xf16>
}

// -----

// q0f16: shapes and dtypes (the model dtype once quantized), and records
// the definition does not have.
weights.model @llama attributes {arch = "llama", quantization = "q0f16", config = {}} {
  weights.expect "model.embed_tokens.weight" : tensor<?x64xf16>
  weights.expect "model.layers.0.self_attn.qkv_proj.weight" : tensor<128x64xf16>
  weights.expect "model.layers.0.self_attn.o_proj.weight" : tensor<64x64xf16>
  // expected-note @+1 {{expected here}}
  weights.expect "model.layers.0.mlp.gate_up_proj.weight" : tensor<192x64xf16>
  weights.expect "model.layers.0.mlp.down_proj.weight" : tensor<64x96xf16>
  // expected-note @+1 {{expected here}}
  weights.expect "model.layers.0.input_layernorm.weight" : tensor<64xf16>
  weights.expect "model.layers.0.post_attention_layernorm.weight" : tensor<64xf16>
  weights.expect "model.norm.weight" : tensor<64xf16>
  %e = weights.source "m.safetensors"["e"] offset 0 : tensor<8x64xf16>
  %qkv = weights.source "m.safetensors"["qkv"] offset 0 : tensor<128x64xf16>
  %o = weights.source "m.safetensors"["o"] offset 0 : tensor<64x64xf16>
  %d = weights.source "m.safetensors"["d"] offset 0 : tensor<64x96xf16>
  %n = weights.source "m.safetensors"["n"] offset 0 : tensor<64xf16>
  %n32 = weights.source "m.safetensors"["n32"] offset 0 : tensor<64xf32>
  weights.param @model.embed_tokens.weight = %e : tensor<8x64xf16>
  weights.param @model.layers.0.self_attn.qkv_proj.weight = %qkv : tensor<128x64xf16>
  weights.param @model.layers.0.self_attn.o_proj.weight = %o : tensor<64x64xf16>
  // expected-error @+1 {{parameter 'model.layers.0.mlp.gate_up_proj.weight' has shape [64, 96], the model graph expects [192, 64]}}
  weights.param @model.layers.0.mlp.gate_up_proj.weight = %d : tensor<64x96xf16>
  weights.param @model.layers.0.mlp.down_proj.weight = %d : tensor<64x96xf16>
  // expected-error @+1 {{parameter 'model.layers.0.input_layernorm.weight' has dtype 'f32', the model graph expects 'f16'}}
  weights.param @model.layers.0.input_layernorm.weight = %n32 : tensor<64xf32>
  weights.param @model.layers.0.post_attention_layernorm.weight = %n : tensor<64xf16>
  weights.param @model.norm.weight = %n : tensor<64xf16>
  // Tied embeddings: the model has no lm_head.
  // expected-error @+1 {{parameter 'lm_head.weight' is not a parameter of the model graph}}
  weights.param @lm_head.weight = %e : tensor<8x64xf16>
}

// -----

// Before quantization the element type is not checked (the checkpoint's
// dtype stays until the quantize pass casts).
weights.model @llama attributes {arch = "llama", config = {}} {
  weights.expect "model.norm.weight" : tensor<64xf16>
  %n = weights.source "m.safetensors"["n"] offset 0 : tensor<64xbf16>
  weights.param @model.norm.weight = %n : tensor<64xbf16>
}

// -----

// Nothing to check against: neither the definition nor a graph.
// expected-error @+1 {{the model declares no expected parameters (weights.expect); run qopt-map-parameters first, or give 'graph'}}
weights.model @llama attributes {arch = "llama", config = {}} {
  %n = weights.source "m.safetensors"["n"] offset 0 : tensor<64xf16>
  weights.param @model.norm.weight = %n : tensor<64xf16>
}
