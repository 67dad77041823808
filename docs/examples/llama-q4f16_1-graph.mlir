// The parameters a compiled Llama expects, as an ML compiler exporting the
// model hands them over: arguments of its entry function named by
// `weights.name`. `?` marks a symbolic dimension (the vocabulary size).
// This one is for test/Inputs/llama-bf16-st with q4f16_1 (hidden 128,
// 2 layers, 4 heads of 32, 2 kv heads, ffn 256).
//
//   quant-opt convert test/Inputs/llama-bf16-st --quantization q4f16_1 -o out \
//       --graph docs/examples/llama-q4f16_1-graph.mlir
func.func @prefill(%input_ids: tensor<1x?xi32>,
                    %p0: tensor<?x4xf16> {weights.name = "lm_head.q_scale"},
                    %p1: tensor<?x16xui32> {weights.name = "lm_head.q_weight"},
                    %p2: tensor<?x4xf16> {weights.name = "model.embed_tokens.q_scale"},
                    %p3: tensor<?x16xui32> {weights.name = "model.embed_tokens.q_weight"},
                    %p4: tensor<128xf16> {weights.name = "model.layers.0.input_layernorm.weight"},
                    %p5: tensor<128x8xf16> {weights.name = "model.layers.0.mlp.down_proj.q_scale"},
                    %p6: tensor<128x32xui32> {weights.name = "model.layers.0.mlp.down_proj.q_weight"},
                    %p7: tensor<512x4xf16> {weights.name = "model.layers.0.mlp.gate_up_proj.q_scale"},
                    %p8: tensor<512x16xui32> {weights.name = "model.layers.0.mlp.gate_up_proj.q_weight"},
                    %p9: tensor<128xf16> {weights.name = "model.layers.0.post_attention_layernorm.weight"},
                    %p10: tensor<128x4xf16> {weights.name = "model.layers.0.self_attn.o_proj.q_scale"},
                    %p11: tensor<128x16xui32> {weights.name = "model.layers.0.self_attn.o_proj.q_weight"},
                    %p12: tensor<256x4xf16> {weights.name = "model.layers.0.self_attn.qkv_proj.q_scale"},
                    %p13: tensor<256x16xui32> {weights.name = "model.layers.0.self_attn.qkv_proj.q_weight"},
                    %p14: tensor<128xf16> {weights.name = "model.layers.1.input_layernorm.weight"},
                    %p15: tensor<128x8xf16> {weights.name = "model.layers.1.mlp.down_proj.q_scale"},
                    %p16: tensor<128x32xui32> {weights.name = "model.layers.1.mlp.down_proj.q_weight"},
                    %p17: tensor<512x4xf16> {weights.name = "model.layers.1.mlp.gate_up_proj.q_scale"},
                    %p18: tensor<512x16xui32> {weights.name = "model.layers.1.mlp.gate_up_proj.q_weight"},
                    %p19: tensor<128xf16> {weights.name = "model.layers.1.post_attention_layernorm.weight"},
                    %p20: tensor<128x4xf16> {weights.name = "model.layers.1.self_attn.o_proj.q_scale"},
                    %p21: tensor<128x16xui32> {weights.name = "model.layers.1.self_attn.o_proj.q_weight"},
                    %p22: tensor<256x4xf16> {weights.name = "model.layers.1.self_attn.qkv_proj.q_scale"},
                    %p23: tensor<256x16xui32> {weights.name = "model.layers.1.self_attn.qkv_proj.q_weight"},
                    %p24: tensor<128xf16> {weights.name = "model.norm.weight"}) {
  // (the model body is the compiler's; only the signature matters here)
  return
}
