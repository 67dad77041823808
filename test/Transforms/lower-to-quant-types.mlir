// RUN: quant-opt %s --pass-pipeline="builtin.module(qopt-quantize-weights{mode=mnn_w4_b32},qopt-lower-to-quant-types)" | FileCheck %s --check-prefix=SYM
// RUN: quant-opt %s --pass-pipeline="builtin.module(qopt-quantize-weights{mode=mnn_w3_asym_b32_hqq},qopt-lower-to-quant-types)" | FileCheck %s --check-prefix=ASYM
// RUN: quant-opt %s --pass-pipeline="builtin.module(qopt-quantize-weights{mode=mnn_w8},qopt-lower-to-quant-types,qopt-lower-to-quant-types)" | FileCheck %s --check-prefix=CW
// RUN: quant-opt %s --pass-pipeline="builtin.module(qopt-quantize-weights{mode=q4f16_1},qopt-lower-to-quant-types)" | FileCheck %s --check-prefix=GROUP
// Round trip of the printed views.
// RUN: quant-opt %s --pass-pipeline="builtin.module(qopt-quantize-weights{mode=mnn_w3_asym_b32_hqq},qopt-lower-to-quant-types)" | quant-opt | FileCheck %s --check-prefix=ASYM

// qopt-lower-to-quant-types without materialize-scales reads nothing (the
// checkpoint file here does not exist): each MNN weight gets a view typed
// !quant.any with the storage range of its codes, the scales (and mins)
// referenced as operands. A linear [96, 64] (K = 64: 2 blocks of 32), the
// final fc [8, 64], an embedding (MNN keeps it float16) and a norm.
weights.model @llama attributes {arch = "llama", config = {}} {
  %w = weights.source "missing.safetensors"["w"] offset 0 : tensor<96x64xbf16>
  %e = weights.source "missing.safetensors"["e"] offset 0 : tensor<8x64xbf16>
  %n = weights.source "missing.safetensors"["n"] offset 0 : tensor<64xbf16>
  weights.param @lm_head.weight = %e {kind = #weights.kind<final_fc>} : tensor<8x64xbf16>
  weights.param @model.embed_tokens.weight = %e {kind = #weights.kind<embedding>} : tensor<8x64xbf16>
  weights.param @model.layers.0.mlp.down_proj.weight = %w {kind = #weights.kind<linear>} : tensor<96x64xbf16>
  weights.param @model.norm.weight = %n {kind = #weights.kind<norm>} : tensor<64xbf16>
}

// Symmetric 4 bits: q = u - 8 in [-7, 7], 64 * 4 / 8 = 32 bytes per row.
// SYM:      %[[Q:.+]]:2 = weights.quantize %{{.+}} : tensor<8x64xf16> -> tensor<8x32xui8>, tensor<8x2xf16> with #weights.mnn
// SYM-NEXT: %{{.+}} = weights.quant_view "lm_head.weight" = %[[Q]]#0, %[[Q]]#1 : tensor<8x32xui8>, tensor<8x2xf16> -> tensor<8x64x!quant.any<i4<-7:7>:f16>>
// SYM:      %[[L:.+]]:2 = weights.quantize %{{.+}} : tensor<96x64xf16> -> tensor<96x32xui8>, tensor<96x2xf16>
// SYM-NEXT: weights.quant_view "model.layers.0.mlp.down_proj.weight" = %[[L]]#0, %[[L]]#1 : tensor<96x32xui8>, tensor<96x2xf16> -> tensor<96x64x!quant.any<i4<-7:7>:f16>>
// SYM-NOT:  weights.quant_view

// Asymmetric 3 bits (+ HQQ): unsigned codes in [0, 7] (the default range,
// printed u3), 64 * 3 / 8 = 24 bytes, the mins as the offset.
// ASYM:      %[[Q:.+]]:3 = weights.quantize %{{.+}} : tensor<8x64xf16> -> tensor<8x24xui8>, tensor<8x2xf16>, tensor<8x2xf16> with #weights.mnn
// ASYM-NEXT: weights.quant_view "lm_head.weight" = %[[Q]]#0, %[[Q]]#1 offset %[[Q]]#2 : tensor<8x24xui8>, tensor<8x2xf16>, tensor<8x2xf16> -> tensor<8x64x!quant.any<u3:f16>>

// Channel-wise 8 bits: one scale per row; a second run adds nothing.
// CW:     weights.quant_view "lm_head.weight" = %{{.+}}#0, %{{.+}}#1 : tensor<8x64xui8>, tensor<8x1xf16> -> tensor<8x64x!quant.any<i8<-127:127>:f16>>
// CW:     weights.quant_view "model.layers.0.mlp.down_proj.weight" = %{{.+}}#0, %{{.+}}#1 : tensor<96x64xui8>, tensor<96x1xf16> -> tensor<96x64x!quant.any<i8<-127:127>:f16>>
// CW-NOT: weights.quant_view

// MLC group modes are left alone.
// GROUP-NOT: weights.quant_view
