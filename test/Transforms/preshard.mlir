// RUN: quant-opt %s --pass-pipeline="builtin.module(qopt-preshard{num-shards=2})" | FileCheck %s

// One llama layer (hidden 64, 2 heads of 32, 2 kv heads, ffn 96), q4f16_1:
// qkv rows split per q/k/v segment, o_proj / down_proj on the packed K axis,
// norms and embedding whole. Everything the pass needs is on the IR (as
// map-parameters and quantize-weights set it): each record's shard strategy
// (full segment lengths) and role, the model's shard divisors; the config
// is empty.
weights.model @llama attributes {arch = "llama", quantization = "q4f16_1", config = {}, shard_divisors = [#weights.divisor<"num_attention_heads" = 2>, #weights.divisor<"num_key_value_heads" = 2>, #weights.divisor<"intermediate_size" = 96>]} {
  %qkv = weights.source "m.safetensors"["qkv"] offset 0 : tensor<192x64xf16>
  %o = weights.source "m.safetensors"["o"] offset 0 : tensor<64x64xf16>
  %n = weights.source "m.safetensors"["n"] offset 0 : tensor<64xf16>
  %q:2 = weights.quantize %qkv : tensor<192x64xf16> -> tensor<192x8xui32>, tensor<192x2xf16> with #weights.group<quant_type = !quant.any<u4<0:14>:f16>, group_size = 32, layout = nk, rounding = even>
  %p:2 = weights.quantize %o : tensor<64x64xf16> -> tensor<64x8xui32>, tensor<64x2xf16> with #weights.group<quant_type = !quant.any<u4<0:14>:f16>, group_size = 32, layout = nk, rounding = even>
  weights.param @model.layers.0.self_attn.qkv_proj.q_weight = %q#0 {kind = #weights.kind<linear>, shard = #weights.shard<dim = 0, segments = [64, 64, 64]>, quantized_from = "model.layers.0.self_attn.qkv_proj.weight", role = #weights.role<quantized_weight>} : tensor<192x8xui32>
  weights.param @model.layers.0.self_attn.qkv_proj.q_scale = %q#1 {kind = #weights.kind<linear>, shard = #weights.shard<dim = 0, segments = [64, 64, 64]>, quantized_from = "model.layers.0.self_attn.qkv_proj.weight", role = #weights.role<scale>} : tensor<192x2xf16>
  weights.param @model.layers.0.self_attn.o_proj.q_weight = %p#0 {kind = #weights.kind<linear>, shard = #weights.shard<dim = 1>, quantized_from = "model.layers.0.self_attn.o_proj.weight", role = #weights.role<quantized_weight>} : tensor<64x8xui32>
  weights.param @model.layers.0.self_attn.o_proj.q_scale = %p#1 {kind = #weights.kind<linear>, shard = #weights.shard<dim = 1>, quantized_from = "model.layers.0.self_attn.o_proj.weight", role = #weights.role<scale>} : tensor<64x2xf16>
  weights.param @model.layers.0.input_layernorm.weight = %n {kind = #weights.kind<norm>} : tensor<64xf16>
}

// CHECK: %[[S0:.+]] = weights.shard %[[QW:.+]] dim 0 segments [32, 32, 32] shard 0 of 2 : tensor<192x8xui32> to tensor<96x8xui32>
// CHECK-NEXT: weights.param @"model.layers.0.self_attn.qkv_proj.q_weight_shard-0" = %[[S0]] {kind = #weights.kind<linear>, quantized_from = "model.layers.0.self_attn.qkv_proj.weight", role = #weights.role<quantized_weight>} : tensor<96x8xui32>
// CHECK-NEXT: %[[S1:.+]] = weights.shard %[[QW]] dim 0 segments [32, 32, 32] shard 1 of 2 : tensor<192x8xui32> to tensor<96x8xui32>
// CHECK-NEXT: weights.param @"model.layers.0.self_attn.qkv_proj.q_weight_shard-1" = %[[S1]]
// CHECK: weights.shard %{{.+}} dim 0 segments [32, 32, 32] shard 0 of 2 : tensor<192x2xf16> to tensor<96x2xf16>
// CHECK: weights.shard %{{.+}} dim 1 shard 0 of 2 : tensor<64x8xui32> to tensor<64x4xui32>
// CHECK: weights.param @"model.layers.0.self_attn.o_proj.q_weight_shard-1"
// CHECK: weights.shard %{{.+}} dim 1 shard 1 of 2 : tensor<64x2xf16> to tensor<64x1xf16>
// CHECK: weights.param @model.layers.0.input_layernorm.weight = %{{.+}} : tensor<64xf16>
