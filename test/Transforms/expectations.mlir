// RUN: quant-opt %s --pass-pipeline="builtin.module(qopt-map-parameters,qopt-quantize-weights{mode=q4f16_1})" | FileCheck %s
// RUN: quant-opt %s --pass-pipeline="builtin.module(qopt-map-parameters,qopt-quantize-weights{mode=q4f16_1},qopt-verify-parameters)" -o /dev/null

// The model's own expectations: qopt-map-parameters writes the
// definition's parameters (map-parameters.mlir), qopt-quantize-weights
// rewrites them as it rewrites the parameters -- the model dtype, or the
// scheme's tensors with the name they were quantized from -- and
// qopt-verify-parameters checks against them without reading the config.
// One tied llama layer (hidden 64, 2 heads of 32, 1 kv head, ffn 96,
// vocab 8): q4f16_1 packs 8 values per word, groups of 32.
weights.model @llama attributes {arch = "llama", config = {hidden_size = 64 : i64, intermediate_size = 96 : i64, num_attention_heads = 2 : i64, num_key_value_heads = 1 : i64, num_hidden_layers = 1 : i64, rms_norm_eps = 1.0e-6 : f64, vocab_size = 8 : i64, max_position_embeddings = 64 : i64, tie_word_embeddings = true}} {
  %0 = weights.source "m.safetensors"["model.embed_tokens.weight"] offset 0 : tensor<8x64xbf16>
  %1 = weights.source "m.safetensors"["model.layers.0.input_layernorm.weight"] offset 0 : tensor<64xbf16>
  %2 = weights.source "m.safetensors"["model.layers.0.mlp.down_proj.weight"] offset 0 : tensor<64x96xbf16>
  %3 = weights.source "m.safetensors"["model.layers.0.mlp.gate_proj.weight"] offset 0 : tensor<96x64xbf16>
  %4 = weights.source "m.safetensors"["model.layers.0.mlp.up_proj.weight"] offset 0 : tensor<96x64xbf16>
  %5 = weights.source "m.safetensors"["model.layers.0.post_attention_layernorm.weight"] offset 0 : tensor<64xbf16>
  %6 = weights.source "m.safetensors"["model.layers.0.self_attn.k_proj.weight"] offset 0 : tensor<32x64xbf16>
  %7 = weights.source "m.safetensors"["model.layers.0.self_attn.o_proj.weight"] offset 0 : tensor<64x64xbf16>
  %8 = weights.source "m.safetensors"["model.layers.0.self_attn.q_proj.weight"] offset 0 : tensor<64x64xbf16>
  %r = weights.source "m.safetensors"["model.layers.0.self_attn.rotary_emb.inv_freq"] offset 0 : tensor<16xf32>
  %9 = weights.source "m.safetensors"["model.layers.0.self_attn.v_proj.weight"] offset 0 : tensor<32x64xbf16>
  %10 = weights.source "m.safetensors"["model.norm.weight"] offset 0 : tensor<64xbf16>
  %11 = weights.source "m.safetensors"["stray.weight"] offset 0 : tensor<3xbf16>
}

// CHECK-LABEL: weights.model @llama
// CHECK-SAME: quantization = "q4f16_1"
// CHECK-NEXT: weights.expect "model.embed_tokens.q_weight" {kind = #weights.kind<embedding>, quantized_from = "model.embed_tokens.weight"} : tensor<?x8xui32>
// CHECK-NEXT: weights.expect "model.embed_tokens.q_scale" {kind = #weights.kind<embedding>, quantized_from = "model.embed_tokens.weight"} : tensor<?x2xf16>
// CHECK-NEXT: weights.expect "model.layers.0.self_attn.qkv_proj.q_weight" {kind = #weights.kind<linear>, quantized_from = "model.layers.0.self_attn.qkv_proj.weight"} : tensor<128x8xui32>
// CHECK-NEXT: weights.expect "model.layers.0.self_attn.qkv_proj.q_scale" {kind = #weights.kind<linear>, quantized_from = "model.layers.0.self_attn.qkv_proj.weight"} : tensor<128x2xf16>
// CHECK-NEXT: weights.expect "model.layers.0.self_attn.o_proj.q_weight" {{.+}} : tensor<64x8xui32>
// CHECK-NEXT: weights.expect "model.layers.0.self_attn.o_proj.q_scale" {{.+}} : tensor<64x2xf16>
// CHECK-NEXT: weights.expect "model.layers.0.mlp.gate_up_proj.q_weight" {{.+}} : tensor<192x8xui32>
// CHECK-NEXT: weights.expect "model.layers.0.mlp.gate_up_proj.q_scale" {{.+}} : tensor<192x2xf16>
// CHECK-NEXT: weights.expect "model.layers.0.mlp.down_proj.q_weight" {{.+}} : tensor<64x12xui32>
// CHECK-NEXT: weights.expect "model.layers.0.mlp.down_proj.q_scale" {{.+}} : tensor<64x3xf16>
// CHECK-NEXT: weights.expect "model.layers.0.input_layernorm.weight" {kind = #weights.kind<norm>} : tensor<64xf16>
// CHECK-NEXT: weights.expect "model.layers.0.post_attention_layernorm.weight" {kind = #weights.kind<norm>} : tensor<64xf16>
// CHECK-NEXT: weights.expect "model.norm.weight" {kind = #weights.kind<norm>} : tensor<64xf16>
// CHECK-NEXT: weights.source
// CHECK: weights.param @model.layers.0.mlp.down_proj.q_scale = %{{.+}}#1 {kind = #weights.kind<linear>, quantized_from = "model.layers.0.mlp.down_proj.weight", role = #weights.role<scale>, shard = #weights.shard<dim = 1>} : tensor<64x3xf16>
