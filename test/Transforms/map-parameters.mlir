// RUN: quant-opt %s --pass-pipeline="builtin.module(qopt-map-parameters)" | FileCheck %s

// One llama layer (hidden 64, 2 heads of 32, 1 kv head, ffn 96, vocab 8):
// q/k/v fuse into qkv_proj, gate/up into gate_up_proj; parameters follow
// the file order of their first source tensor (k_proj sorts before q_proj);
// rotary_emb.inv_freq is ignored; the stray tensor is unused.
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
// What later passes need of the definition is recorded once, here: the
// kinds of modes llama takes, what the shard count must divide, and every
// parameter the model expects (the embedding's vocabulary is symbolic).
// CHECK-SAME: quantization_kinds = ["no-quant", "group-quant", "ft-quant", "awq", "per-tensor-quant"]
// CHECK-SAME: shard_divisors = [#weights.divisor<"num_attention_heads" = 2>, #weights.divisor<"num_key_value_heads" = 1>, #weights.divisor<"intermediate_size" = 96>]
// 512 + 64 + 3 * 6144 + 64 + 2 * 2048 + 2 * 4096 + 64 + 3 (stray; inv_freq is not counted)
// CHECK-SAME: source_params = 31427
// CHECK-NEXT: weights.expect "model.embed_tokens.weight" {kind = #weights.kind<embedding>} : tensor<?x64xbf16>
// CHECK-NEXT: weights.expect "model.layers.0.self_attn.qkv_proj.weight" {kind = #weights.kind<linear>} : tensor<128x64xbf16>
// CHECK-NEXT: weights.expect "model.layers.0.self_attn.o_proj.weight" {kind = #weights.kind<linear>} : tensor<64x64xbf16>
// CHECK-NEXT: weights.expect "model.layers.0.mlp.gate_up_proj.weight" {kind = #weights.kind<linear>} : tensor<192x64xbf16>
// CHECK-NEXT: weights.expect "model.layers.0.mlp.down_proj.weight" {kind = #weights.kind<linear>} : tensor<64x96xbf16>
// CHECK-NEXT: weights.expect "model.layers.0.input_layernorm.weight" {kind = #weights.kind<norm>} : tensor<64xbf16>
// CHECK-NEXT: weights.expect "model.layers.0.post_attention_layernorm.weight" {kind = #weights.kind<norm>} : tensor<64xbf16>
// CHECK-NEXT: weights.expect "model.norm.weight" {kind = #weights.kind<norm>} : tensor<64xbf16>
// CHECK-DAG: %[[Q:.+]] = weights.source "m.safetensors"["model.layers.0.self_attn.q_proj.weight"]
// CHECK-DAG: %[[K:.+]] = weights.source "m.safetensors"["model.layers.0.self_attn.k_proj.weight"]
// CHECK-DAG: %[[V:.+]] = weights.source "m.safetensors"["model.layers.0.self_attn.v_proj.weight"]
// CHECK-DAG: %[[G:.+]] = weights.source "m.safetensors"["model.layers.0.mlp.gate_proj.weight"]
// CHECK-DAG: %[[U:.+]] = weights.source "m.safetensors"["model.layers.0.mlp.up_proj.weight"]
// CHECK-NOT: inv_freq
// CHECK-NOT: stray
// CHECK: weights.param @model.embed_tokens.weight = %{{.+}} {kind = #weights.kind<embedding>} : tensor<8x64xbf16>
// CHECK-NEXT: weights.param @model.layers.0.input_layernorm.weight = %{{.+}} {kind = #weights.kind<norm>}
// Shard strategies (full segment lengths): o/down on the input axis, fused
// gate/up and q/k/v by segment.
// CHECK-NEXT: weights.param @model.layers.0.mlp.down_proj.weight = %{{.+}} {kind = #weights.kind<linear>, shard = #weights.shard<dim = 1>}
// CHECK-NEXT: %[[GU:.+]] = weights.concat %[[G]], %[[U]] axis 0 : (tensor<96x64xbf16>, tensor<96x64xbf16>) -> tensor<192x64xbf16>
// CHECK-NEXT: weights.param @model.layers.0.mlp.gate_up_proj.weight = %[[GU]] {kind = #weights.kind<linear>, shard = #weights.shard<dim = 0, segments = [96, 96]>}
// CHECK-NEXT: weights.param @model.layers.0.post_attention_layernorm.weight
// CHECK-NEXT: %[[QKV:.+]] = weights.concat %[[Q]], %[[K]], %[[V]] axis 0 : (tensor<64x64xbf16>, tensor<32x64xbf16>, tensor<32x64xbf16>) -> tensor<128x64xbf16>
// CHECK-NEXT: weights.param @model.layers.0.self_attn.qkv_proj.weight = %[[QKV]] {kind = #weights.kind<linear>, shard = #weights.shard<dim = 0, segments = [64, 32, 32]>}
// CHECK-NEXT: weights.param @model.layers.0.self_attn.o_proj.weight = %{{.+}} {kind = #weights.kind<linear>, shard = #weights.shard<dim = 1>}
// CHECK-NEXT: weights.param @model.norm.weight
// CHECK-NOT: lm_head
