// RUN: quant-opt %s --pass-pipeline="builtin.module(qopt-quantize-weights{mode=q4f16_1})" | FileCheck %s --check-prefix=Q4F16_1
// RUN: quant-opt %s --pass-pipeline="builtin.module(qopt-quantize-weights{mode=q4f16_0})" | FileCheck %s --check-prefix=Q4F16_0
// RUN: quant-opt %s --pass-pipeline="builtin.module(qopt-quantize-weights{mode=q3f16_1 rounding=away})" | FileCheck %s --check-prefix=Q3F16_1
// RUN: quant-opt %s --pass-pipeline="builtin.module(qopt-quantize-weights{mode=q4bf16_1})" | FileCheck %s --check-prefix=Q4BF16_1
// RUN: quant-opt %s --pass-pipeline="builtin.module(qopt-quantize-weights{mode=q4f32_1})" | FileCheck %s --check-prefix=Q4F32_1
// RUN: quant-opt %s --pass-pipeline="builtin.module(qopt-quantize-weights{mode=q4f16_2})" | FileCheck %s --check-prefix=Q4F16_2
// RUN: quant-opt %s --pass-pipeline="builtin.module(qopt-quantize-weights{mode=q0f16})" | FileCheck %s --check-prefix=Q0F16
// RUN: quant-opt %s --pass-pipeline="builtin.module(qopt-quantize-weights{mode=e4m3_e4m3_f16})" | FileCheck %s --check-prefix=E4M3
// RUN: quant-opt %s --pass-pipeline="builtin.module(qopt-quantize-weights{mode=e4m3_e4m3_f16_max_calibrate})" | FileCheck %s --check-prefix=E4M3MAX
// RUN: quant-opt %s --pass-pipeline="builtin.module(qopt-quantize-weights{mode=e5m2_e5m2_f16})" | FileCheck %s --check-prefix=E5M2
// RUN: quant-opt %s --pass-pipeline="builtin.module(qopt-quantize-weights{mode=q3f16_0})" | FileCheck %s --check-prefix=Q3F16_0
// RUN: quant-opt %s --pass-pipeline="builtin.module(qopt-quantize-weights{mode=q4bf16_0})" | FileCheck %s --check-prefix=Q4BF16_0
// RUN: quant-opt %s --pass-pipeline="builtin.module(qopt-quantize-weights{mode=q0bf16})" | FileCheck %s --check-prefix=Q0BF16
// RUN: quant-opt %s --pass-pipeline="builtin.module(qopt-quantize-weights{mode=q0f32})" | FileCheck %s --check-prefix=Q0F32
// RUN: not quant-opt %s --pass-pipeline="builtin.module(qopt-quantize-weights{mode=q8f16_1})" 2>&1 | FileCheck %s --check-prefix=UNKNOWN

// A linear [96, 72] (K = 72: 3 groups of 32, 2 groups of 40), an embedding
// [8, 72], the final fc and a norm.
weights.model @llama attributes {arch = "llama", config = {}} {
  %w = weights.source "m.safetensors"["w"] offset 0 : tensor<96x72xbf16>
  %e = weights.source "m.safetensors"["e"] offset 0 : tensor<8x72xbf16>
  %n = weights.source "m.safetensors"["n"] offset 0 : tensor<72xbf16>
  weights.param @lm_head.weight = %e {kind = #weights.kind<final_fc>} : tensor<8x72xbf16>
  weights.param @model.embed_tokens.weight = %e {kind = #weights.kind<embedding>} : tensor<8x72xbf16>
  weights.param @model.layers.0.mlp.down_proj.weight = %w {kind = #weights.kind<linear>} : tensor<96x72xbf16>
  weights.param @model.norm.weight = %n {kind = #weights.kind<norm>} : tensor<72xbf16>
}

// Q4F16_1: weights.model @llama attributes {arch = "llama", config = {}, quantization = "q4f16_1"}
// Q4F16_1: %[[C:.+]] = weights.cast %{{.+}} : tensor<8x72xbf16> to tensor<8x72xf16>
// Q4F16_1-NEXT: %[[Q:.+]]:2 = weights.quantize %[[C]] : tensor<8x72xf16> -> tensor<8x12xui32>, tensor<8x3xf16> with #weights.group<quant_type = !quant.any<u4<0:14>:f16>, group_size = 32, layout = nk, rounding = even>
// Q4F16_1-NEXT: weights.param @lm_head.q_weight = %[[Q]]#0 {kind = #weights.kind<final_fc>, quantized_from = "lm_head.weight", role = #weights.role<quantized_weight>} : tensor<8x12xui32>
// Q4F16_1-NEXT: weights.param @lm_head.q_scale = %[[Q]]#1 {kind = #weights.kind<final_fc>, quantized_from = "lm_head.weight", role = #weights.role<scale>} : tensor<8x3xf16>
// Q4F16_1: weights.param @model.embed_tokens.q_weight
// Q4F16_1: weights.quantize %{{.+}} : tensor<96x72xf16> -> tensor<96x12xui32>, tensor<96x3xf16>
// Q4F16_1: %[[N:.+]] = weights.cast %{{.+}} : tensor<72xbf16> to tensor<72xf16>
// Q4F16_1-NEXT: weights.param @model.norm.weight = %[[N]] {kind = #weights.kind<norm>} : tensor<72xf16>

// KN layout: outputs transposed, except for the embedding.
// Q4F16_0: weights.quantize %{{.+}} : tensor<8x72xf16> -> tensor<12x8xui32>, tensor<3x8xf16> with #weights.group<{{.*}}layout = kn
// Q4F16_0: weights.quantize %{{.+}} : tensor<8x72xf16> -> tensor<8x12xui32>, tensor<8x3xf16> with #weights.group<{{.*}}layout = nk
// Q4F16_0: weights.quantize %{{.+}} : tensor<96x72xf16> -> tensor<12x96xui32>, tensor<3x96xf16> with #weights.group<{{.*}}layout = kn

// 3-bit: 10 per word, groups of 40: ceil(72 / 40) = 2 groups of 4 words.
// Q3F16_1: weights.quantize %{{.+}} : tensor<96x72xf16> -> tensor<96x8xui32>, tensor<96x2xf16> with #weights.group<quant_type = !quant.any<u3<0:6>:f16>, group_size = 40, layout = nk, rounding = away>

// Q4BF16_1-NOT: weights.cast
// Q4BF16_1: weights.quantize %{{.+}} : tensor<96x72xbf16> -> tensor<96x12xui32>, tensor<96x3xbf16> with #weights.group<quant_type = !quant.any<u4<0:14>:bf16>

// Q4F32_1: weights.quantize %{{.+}} : tensor<96x72xf32> -> tensor<96x12xui32>, tensor<96x3xf32>
// Q4F32_1: weights.param @model.norm.weight = %{{.+}} : tensor<72xf32>

// q4f16_2 keeps the embedding and the final fc in f16.
// Q4F16_2: weights.param @lm_head.weight = %{{.+}} {kind = #weights.kind<final_fc>} : tensor<8x72xf16>
// Q4F16_2: weights.param @model.embed_tokens.weight = %{{.+}} {kind = #weights.kind<embedding>} : tensor<8x72xf16>
// Q4F16_2: weights.param @model.layers.0.mlp.down_proj.q_weight

// Q0F16-NOT: weights.quantize
// Q0F16: weights.param @model.layers.0.mlp.down_proj.weight = %{{.+}} {kind = #weights.kind<linear>} : tensor<96x72xf16>

// E4M3: weights.param @lm_head.weight = %{{.+}} : tensor<8x72xf16>
// E4M3: weights.quantize %{{.+}} : tensor<96x72xf16> -> tensor<96x72xf8E4M3FN>, tensor<1xf32>, tensor<1xf32> with #weights.per_tensor<storage_type = f8E4M3FN, model_type = f16, use_scale = true, calibration_placeholder = true>
// E4M3-NEXT: weights.param @model.layers.0.mlp.down_proj.q_weight
// E4M3-NEXT: weights.param @model.layers.0.mlp.down_proj.q_scale
// E4M3-NEXT: weights.param @model.layers.0.mlp.down_proj.q_calibration_scale
// E4M3MAX: -> tensor<96x72xf8E4M3FN>, tensor<1xf32> with #weights.per_tensor<storage_type = f8E4M3FN, model_type = f16, use_scale = true, calibration_placeholder = false>
// E5M2: -> tensor<96x72xf8E5M2> with #weights.per_tensor<storage_type = f8E5M2, model_type = f16, use_scale = false, calibration_placeholder = false>

// q3f16_0: 3-bit, groups of 40 (ceil(72 / 40) = 2 groups of 4 words = 8
// words), max_int 3 (range [0, 6]), KN for the linear and the final fc,
// NK for the embedding.
// Q3F16_0: weights.model @llama attributes {arch = "llama", config = {}, quantization = "q3f16_0"}
// Q3F16_0: %[[C:.+]] = weights.cast %{{.+}} : tensor<8x72xbf16> to tensor<8x72xf16>
// Q3F16_0-NEXT: %[[Q:.+]]:2 = weights.quantize %[[C]] : tensor<8x72xf16> -> tensor<8x8xui32>, tensor<2x8xf16> with #weights.group<quant_type = !quant.any<u3<0:6>:f16>, group_size = 40, layout = kn, rounding = even>
// Q3F16_0-NEXT: weights.param @lm_head.q_weight = %[[Q]]#0 {kind = #weights.kind<final_fc>, quantized_from = "lm_head.weight", role = #weights.role<quantized_weight>} : tensor<8x8xui32>
// Q3F16_0-NEXT: weights.param @lm_head.q_scale = %[[Q]]#1 {kind = #weights.kind<final_fc>, quantized_from = "lm_head.weight", role = #weights.role<scale>} : tensor<2x8xf16>
// Q3F16_0: %[[QE:.+]]:2 = weights.quantize %{{.+}} : tensor<8x72xf16> -> tensor<8x8xui32>, tensor<8x2xf16> with #weights.group<quant_type = !quant.any<u3<0:6>:f16>, group_size = 40, layout = nk, rounding = even>
// Q3F16_0-NEXT: weights.param @model.embed_tokens.q_weight = %[[QE]]#0 {kind = #weights.kind<embedding>, quantized_from = "model.embed_tokens.weight", role = #weights.role<quantized_weight>} : tensor<8x8xui32>
// Q3F16_0-NEXT: weights.param @model.embed_tokens.q_scale = %[[QE]]#1 {kind = #weights.kind<embedding>, quantized_from = "model.embed_tokens.weight", role = #weights.role<scale>} : tensor<8x2xf16>
// Q3F16_0: %[[QL:.+]]:2 = weights.quantize %{{.+}} : tensor<96x72xf16> -> tensor<8x96xui32>, tensor<2x96xf16> with #weights.group<quant_type = !quant.any<u3<0:6>:f16>, group_size = 40, layout = kn, rounding = even>
// Q3F16_0-NEXT: weights.param @model.layers.0.mlp.down_proj.q_weight = %[[QL]]#0 {kind = #weights.kind<linear>, quantized_from = "model.layers.0.mlp.down_proj.weight", role = #weights.role<quantized_weight>} : tensor<8x96xui32>
// Q3F16_0-NEXT: weights.param @model.layers.0.mlp.down_proj.q_scale = %[[QL]]#1 {kind = #weights.kind<linear>, quantized_from = "model.layers.0.mlp.down_proj.weight", role = #weights.role<scale>} : tensor<2x96xf16>
// Q3F16_0: %[[N3:.+]] = weights.cast %{{.+}} : tensor<72xbf16> to tensor<72xf16>
// Q3F16_0-NEXT: weights.param @model.norm.weight = %[[N3]] {kind = #weights.kind<norm>} : tensor<72xf16>

// q4bf16_0: the model dtype is the source's bf16 (no cast), scales in bf16;
// ceil(72 / 32) = 3 groups of 4 words = 12 words; KN except for the
// embedding.
// Q4BF16_0-NOT: weights.cast
// Q4BF16_0: weights.model @llama attributes {arch = "llama", config = {}, quantization = "q4bf16_0"}
// Q4BF16_0: %[[Q:.+]]:2 = weights.quantize %{{.+}} : tensor<8x72xbf16> -> tensor<12x8xui32>, tensor<3x8xbf16> with #weights.group<quant_type = !quant.any<u4<0:14>:bf16>, group_size = 32, layout = kn, rounding = even>
// Q4BF16_0-NEXT: weights.param @lm_head.q_weight = %[[Q]]#0 {kind = #weights.kind<final_fc>, quantized_from = "lm_head.weight", role = #weights.role<quantized_weight>} : tensor<12x8xui32>
// Q4BF16_0-NEXT: weights.param @lm_head.q_scale = %[[Q]]#1 {kind = #weights.kind<final_fc>, quantized_from = "lm_head.weight", role = #weights.role<scale>} : tensor<3x8xbf16>
// Q4BF16_0-NEXT: %[[QE:.+]]:2 = weights.quantize %{{.+}} : tensor<8x72xbf16> -> tensor<8x12xui32>, tensor<8x3xbf16> with #weights.group<quant_type = !quant.any<u4<0:14>:bf16>, group_size = 32, layout = nk, rounding = even>
// Q4BF16_0-NEXT: weights.param @model.embed_tokens.q_weight = %[[QE]]#0 {kind = #weights.kind<embedding>, quantized_from = "model.embed_tokens.weight", role = #weights.role<quantized_weight>} : tensor<8x12xui32>
// Q4BF16_0-NEXT: weights.param @model.embed_tokens.q_scale = %[[QE]]#1 {kind = #weights.kind<embedding>, quantized_from = "model.embed_tokens.weight", role = #weights.role<scale>} : tensor<8x3xbf16>
// Q4BF16_0-NEXT: %[[QL:.+]]:2 = weights.quantize %{{.+}} : tensor<96x72xbf16> -> tensor<12x96xui32>, tensor<3x96xbf16> with #weights.group<quant_type = !quant.any<u4<0:14>:bf16>, group_size = 32, layout = kn, rounding = even>
// Q4BF16_0-NEXT: weights.param @model.layers.0.mlp.down_proj.q_weight = %[[QL]]#0 {kind = #weights.kind<linear>, quantized_from = "model.layers.0.mlp.down_proj.weight", role = #weights.role<quantized_weight>} : tensor<12x96xui32>
// Q4BF16_0-NEXT: weights.param @model.layers.0.mlp.down_proj.q_scale = %[[QL]]#1 {kind = #weights.kind<linear>, quantized_from = "model.layers.0.mlp.down_proj.weight", role = #weights.role<scale>} : tensor<3x96xbf16>
// Q4BF16_0-NEXT: weights.param @model.norm.weight = %{{.+}} {kind = #weights.kind<norm>} : tensor<72xbf16>

// q0bf16: nothing quantized and the source is already bf16: the IR is
// unchanged but for the mode.
// Q0BF16-NOT: weights.quantize
// Q0BF16-NOT: weights.cast
// Q0BF16: weights.model @llama attributes {arch = "llama", config = {}, quantization = "q0bf16"}
// Q0BF16-NEXT: %[[W:.+]] = weights.source "m.safetensors"["w"] offset 0 : tensor<96x72xbf16>
// Q0BF16-NEXT: %[[E:.+]] = weights.source "m.safetensors"["e"] offset 0 : tensor<8x72xbf16>
// Q0BF16-NEXT: %[[N:.+]] = weights.source "m.safetensors"["n"] offset 0 : tensor<72xbf16>
// Q0BF16-NEXT: weights.param @lm_head.weight = %[[E]] {kind = #weights.kind<final_fc>} : tensor<8x72xbf16>
// Q0BF16-NEXT: weights.param @model.embed_tokens.weight = %[[E]] {kind = #weights.kind<embedding>} : tensor<8x72xbf16>
// Q0BF16-NEXT: weights.param @model.layers.0.mlp.down_proj.weight = %[[W]] {kind = #weights.kind<linear>} : tensor<96x72xbf16>
// Q0BF16-NEXT: weights.param @model.norm.weight = %[[N]] {kind = #weights.kind<norm>} : tensor<72xbf16>
// Q0BF16-NEXT: }

// q0f32: nothing quantized, every parameter cast to f32.
// Q0F32-NOT: weights.quantize
// Q0F32: weights.model @llama attributes {arch = "llama", config = {}, quantization = "q0f32"}
// Q0F32: %[[C0:.+]] = weights.cast %{{.+}} : tensor<8x72xbf16> to tensor<8x72xf32>
// Q0F32-NEXT: weights.param @lm_head.weight = %[[C0]] {kind = #weights.kind<final_fc>} : tensor<8x72xf32>
// Q0F32: %[[C1:.+]] = weights.cast %{{.+}} : tensor<8x72xbf16> to tensor<8x72xf32>
// Q0F32-NEXT: weights.param @model.embed_tokens.weight = %[[C1]] {kind = #weights.kind<embedding>} : tensor<8x72xf32>
// Q0F32: %[[C2:.+]] = weights.cast %{{.+}} : tensor<96x72xbf16> to tensor<96x72xf32>
// Q0F32-NEXT: weights.param @model.layers.0.mlp.down_proj.weight = %[[C2]] {kind = #weights.kind<linear>} : tensor<96x72xf32>
// Q0F32: %[[C3:.+]] = weights.cast %{{.+}} : tensor<72xbf16> to tensor<72xf32>
// Q0F32-NEXT: weights.param @model.norm.weight = %[[C3]] {kind = #weights.kind<norm>} : tensor<72xf32>
// Q0F32-NOT: weights.quantize

// UNKNOWN: error: unknown quantization mode 'q8f16_1'; valid modes: q0f16, q0bf16, q0f32, q3f16_0, q3f16_1, q4f16_0, q4f16_1, q4bf16_0, q4bf16_1, q4f32_1, q4f16_2, q4f16_autoawq, e5m2_e5m2_f16, e4m3_e4m3_f16, e4m3_e4m3_f16_max_calibrate
