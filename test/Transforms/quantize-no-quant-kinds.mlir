// RUN: quant-opt %s --pass-pipeline="builtin.module(qopt-quantize-weights{mode=q4f16_1})" | FileCheck %s --check-prefix=Q4
// RUN: quant-opt %s --pass-pipeline="builtin.module(qopt-quantize-weights{mode=q4f16_ft})" | FileCheck %s --check-prefix=FT
// RUN: quant-opt %s --pass-pipeline="builtin.module(qopt-quantize-weights{mode=mnn_w4})" | FileCheck %s --check-prefix=MNN

// The Linear and Embedding of a module MLC marks `no_quantization` (phi3_v's
// CLIP tower): every mode whose quantizer honours the mark keeps them in the
// model dtype, like kind `other`; q4f16_ft, whose FT mutator never looks at
// the mark, quantizes them as a `linear` (FT layout; q4f16_1 fallback when
// out_features % 8 != 0) and an `embedding` (q4f16_1 fallback). The records
// keep the parameter's kind.
weights.model @phi3v attributes {arch = "phi3_v", config = {}} {
  %w = weights.source "m.safetensors"["w"] offset 0 : tensor<64x64xbf16>
  %n = weights.source "m.safetensors"["n"] offset 8192 : tensor<60x64xbf16>
  %e = weights.source "m.safetensors"["e"] offset 15872 : tensor<16x64xbf16>
  weights.param @tower.fc.weight = %w {kind = #weights.kind<no_quant_linear>} : tensor<64x64xbf16>
  weights.param @tower.odd.weight = %n {kind = #weights.kind<no_quant_linear>} : tensor<60x64xbf16>
  weights.param @tower.pos.weight = %e {kind = #weights.kind<no_quant_embedding>} : tensor<16x64xbf16>
  weights.param @proj.weight = %w {kind = #weights.kind<linear>} : tensor<64x64xbf16>
}

// Q4-NOT: weights.quantize %{{.+}} : tensor<{{64x64|60x64|16x64}}xf16>
// Q4: weights.param @tower.fc.weight = %{{.+}} {kind = #weights.kind<no_quant_linear>} : tensor<64x64xf16>
// Q4-NEXT: weights.cast
// Q4-NEXT: weights.param @tower.odd.weight = %{{.+}} {kind = #weights.kind<no_quant_linear>} : tensor<60x64xf16>
// Q4-NEXT: weights.cast
// Q4-NEXT: weights.param @tower.pos.weight = %{{.+}} {kind = #weights.kind<no_quant_embedding>} : tensor<16x64xf16>
// Q4-NEXT: weights.cast
// Q4-NEXT: weights.quantize %{{.+}} : tensor<64x64xf16> -> tensor<64x8xui32>, tensor<64x2xf16> with #weights.group
// Q4-NEXT: weights.param @proj.q_weight

// FT: weights.quantize %{{.+}} : tensor<64x64xf16> -> tensor<64x32xi8>, tensor<1x64xf16> with #weights.ft<sm = 80>
// FT-NEXT: weights.param @tower.fc.q_weight = %{{.+}} {kind = #weights.kind<no_quant_linear>, quantized_from = "tower.fc.weight", role = #weights.role<quantized_weight>} : tensor<64x32xi8>
// FT-NEXT: weights.param @tower.fc.q_scale = %{{.+}} {kind = #weights.kind<no_quant_linear>, quantized_from = "tower.fc.weight", role = #weights.role<scale>} : tensor<1x64xf16>
// FT: weights.quantize %{{.+}} : tensor<60x64xf16> -> tensor<60x8xui32>, tensor<60x2xf16> with #weights.group<{{.*}}group_size = 32, layout = nk
// FT-NEXT: weights.param @tower.odd.q_weight
// FT-NEXT: weights.param @tower.odd.q_scale
// FT: weights.quantize %{{.+}} : tensor<16x64xf16> -> tensor<16x8xui32>, tensor<16x2xf16> with #weights.group<{{.*}}group_size = 32, layout = nk
// FT-NEXT: weights.param @tower.pos.q_weight = %{{.+}} {kind = #weights.kind<no_quant_embedding>, quantized_from = "tower.pos.weight", role = #weights.role<quantized_weight>} : tensor<16x8xui32>
// FT-NEXT: weights.param @tower.pos.q_scale
// FT: weights.quantize %{{.+}} : tensor<64x64xf16> -> tensor<64x32xi8>, tensor<1x64xf16> with #weights.ft<sm = 80>
// FT-NEXT: weights.param @proj.q_weight

// MNN: weights.param @tower.fc.weight = %{{.+}} : tensor<64x64xf16>
// MNN: weights.param @tower.odd.weight = %{{.+}} : tensor<60x64xf16>
// MNN: weights.param @tower.pos.weight = %{{.+}} : tensor<16x64xf16>
// MNN: weights.quantize
// MNN-NEXT: weights.param @proj.q_weight
