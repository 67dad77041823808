// RUN: quant-opt %s --pass-pipeline="builtin.module(qopt-quantize-weights{mode=q4f16_ft})" | FileCheck %s --check-prefix=FT
// RUN: quant-opt %s --pass-pipeline="builtin.module(qopt-quantize-weights{mode=q4f16_1})" | FileCheck %s --check-prefix=Q4

// q4f16_ft takes MLC's FT rewriter's rules in its order
// (ft_quantization.py, `_Mutator.visit_module`): the group fallback (final
// fc, out_dtype float32, out_features % 8 != 0) before the MoE-gate test.
// So a `moe_gate` with 1 or 6 outputs and a `float32_out_moe_gate` (any
// output count) are group-quantized, a `moe_gate` with 8 outputs stays
// float16, a `float32_out_linear` takes the fallback, not the FT layout.
// q4f16_1 quantizes only the Linears (a float32_out_linear is one); its
// gates stay float16 whatever their shape. The records keep their kind.
weights.model @moe attributes {arch = "qwen2_moe", config = {}} {
  %g8 = weights.source "m.safetensors"["g8"] offset 0 : tensor<8x64xbf16>
  %g1 = weights.source "m.safetensors"["g1"] offset 1024 : tensor<1x64xbf16>
  %g6 = weights.source "m.safetensors"["g6"] offset 1152 : tensor<6x64xbf16>
  %f8 = weights.source "m.safetensors"["f8"] offset 1920 : tensor<8x64xbf16>
  %w = weights.source "m.safetensors"["w"] offset 2944 : tensor<64x64xbf16>
  weights.param @l.mlp.gate.weight = %g8 {kind = #weights.kind<moe_gate>} : tensor<8x64xbf16>
  weights.param @l.mlp.shared_expert_gate.weight = %g1 {kind = #weights.kind<moe_gate>} : tensor<1x64xbf16>
  weights.param @m.mlp.gate.weight = %g6 {kind = #weights.kind<moe_gate>} : tensor<6x64xbf16>
  weights.param @d.mlp.gate.weight = %f8 {kind = #weights.kind<float32_out_moe_gate>} : tensor<8x64xbf16>
  weights.param @n.mlp.dense_4h_to_h.weight = %w {kind = #weights.kind<float32_out_linear>} : tensor<64x64xbf16>
  weights.param @a.dense.weight = %w {kind = #weights.kind<linear>} : tensor<64x64xbf16>
}

// FT: weights.param @l.mlp.gate.weight = %{{.+}} {kind = #weights.kind<moe_gate>} : tensor<8x64xf16>
// FT-NEXT: weights.cast
// FT-NEXT: weights.quantize %{{.+}} : tensor<1x64xf16> -> tensor<1x8xui32>, tensor<1x2xf16> with #weights.group<{{.*}}group_size = 32, layout = nk
// FT-NEXT: weights.param @l.mlp.shared_expert_gate.q_weight = %{{.+}} {kind = #weights.kind<moe_gate>, quantized_from = "l.mlp.shared_expert_gate.weight", role = #weights.role<quantized_weight>} : tensor<1x8xui32>
// FT-NEXT: weights.param @l.mlp.shared_expert_gate.q_scale = %{{.+}} : tensor<1x2xf16>
// FT-NEXT: weights.cast
// FT-NEXT: weights.quantize %{{.+}} : tensor<6x64xf16> -> tensor<6x8xui32>, tensor<6x2xf16> with #weights.group<{{.*}}group_size = 32, layout = nk
// FT-NEXT: weights.param @m.mlp.gate.q_weight
// FT-NEXT: weights.param @m.mlp.gate.q_scale
// FT-NEXT: weights.cast
// FT-NEXT: weights.quantize %{{.+}} : tensor<8x64xf16> -> tensor<8x8xui32>, tensor<8x2xf16> with #weights.group<{{.*}}group_size = 32, layout = nk
// FT-NEXT: weights.param @d.mlp.gate.q_weight = %{{.+}} {kind = #weights.kind<float32_out_moe_gate>
// FT-NEXT: weights.param @d.mlp.gate.q_scale
// FT-NEXT: weights.cast
// FT-NEXT: weights.quantize %{{.+}} : tensor<64x64xf16> -> tensor<64x8xui32>, tensor<64x2xf16> with #weights.group<{{.*}}group_size = 32, layout = nk
// FT-NEXT: weights.param @n.mlp.dense_4h_to_h.q_weight = %{{.+}} {kind = #weights.kind<float32_out_linear>
// FT-NEXT: weights.param @n.mlp.dense_4h_to_h.q_scale
// FT-NEXT: weights.cast
// FT-NEXT: weights.quantize %{{.+}} : tensor<64x64xf16> -> tensor<64x32xi8>, tensor<1x64xf16> with #weights.ft<sm = 80>
// FT-NEXT: weights.param @a.dense.q_weight

// Q4-NOT: weights.quantize %{{.+}} : tensor<{{8x64|1x64|6x64}}xf16>
// Q4: weights.param @l.mlp.gate.weight = %{{.+}} {kind = #weights.kind<moe_gate>} : tensor<8x64xf16>
// Q4: weights.param @l.mlp.shared_expert_gate.weight = %{{.+}} : tensor<1x64xf16>
// Q4: weights.param @m.mlp.gate.weight = %{{.+}} : tensor<6x64xf16>
// Q4: weights.param @d.mlp.gate.weight = %{{.+}} {kind = #weights.kind<float32_out_moe_gate>} : tensor<8x64xf16>
// Q4: weights.quantize %{{.+}} : tensor<64x64xf16> -> tensor<64x8xui32>, tensor<64x2xf16> with #weights.group
// Q4-NEXT: weights.param @n.mlp.dense_4h_to_h.q_weight
// Q4-NEXT: weights.param @n.mlp.dense_4h_to_h.q_scale
// Q4: weights.quantize %{{.+}} : tensor<64x64xf16> -> tensor<64x8xui32>, tensor<64x2xf16> with #weights.group
// Q4-NEXT: weights.param @a.dense.q_weight
