// RUN: quant-opt %s --pass-pipeline="builtin.module(qopt-quantize-weights{mode=fp8_e4m3fn_bf16_block_scale},qopt-preshard{num-shards=2})" | FileCheck %s
// RUN: quant-opt %s --pass-pipeline="builtin.module(qopt-quantize-weights{mode=fp8_e4m3fn_bf16_block_scale})" | FileCheck %s --check-prefix=KEEP

// One Qwen3 attention, FP8 blocks of 16 rows x 32 columns: q 64 rows, k and
// v 32 (c_attn [128, 64] in segments [64, 32, 32]), o_proj [64, 64] split
// by columns. The block-scale mode keeps the codes and gives each
// `_scale_inv` its weight's strategy with the block of the split dimension
// (dimension 0: 16, dimension 1: 32; o_proj's one segment spelled out).
// Presharding then takes [32, 16, 16] rows of c_attn a shard and [2, 1, 1]
// of its 8 scale rows, 32 of o_proj's 64 columns and 1 of its 2 scale
// columns.
weights.model @qwen3 attributes {arch = "qwen3", config = {quantization_config = {quant_method = "fp8", fmt = "e4m3", weight_block_size = [16, 32]}}} {
  %q = weights.source "m.safetensors"["q"] offset 0 : tensor<64x64xf8E4M3FN>
  %qs = weights.source "m.safetensors"["q_scale_inv"] offset 4096 : tensor<4x2xf32>
  %k = weights.source "m.safetensors"["k"] offset 4128 : tensor<32x64xf8E4M3FN>
  %ks = weights.source "m.safetensors"["k_scale_inv"] offset 6176 : tensor<2x2xf32>
  %v = weights.source "m.safetensors"["v"] offset 6192 : tensor<32x64xf8E4M3FN>
  %vs = weights.source "m.safetensors"["v_scale_inv"] offset 8240 : tensor<2x2xf32>
  %o = weights.source "m.safetensors"["o"] offset 8256 : tensor<64x64xf8E4M3FN>
  %os = weights.source "m.safetensors"["o_scale_inv"] offset 12352 : tensor<4x2xf32>
  %dq = weights.dequantize_block_fp8 %q, %qs block [16, 32] : tensor<64x64xf8E4M3FN>, tensor<4x2xf32> -> tensor<64x64xbf16>
  %dk = weights.dequantize_block_fp8 %k, %ks block [16, 32] : tensor<32x64xf8E4M3FN>, tensor<2x2xf32> -> tensor<32x64xbf16>
  %dv = weights.dequantize_block_fp8 %v, %vs block [16, 32] : tensor<32x64xf8E4M3FN>, tensor<2x2xf32> -> tensor<32x64xbf16>
  %qkv = weights.concat %dq, %dk, %dv axis 0 : (tensor<64x64xbf16>, tensor<32x64xbf16>, tensor<32x64xbf16>) -> tensor<128x64xbf16>
  %do = weights.dequantize_block_fp8 %o, %os block [16, 32] : tensor<64x64xf8E4M3FN>, tensor<4x2xf32> -> tensor<64x64xbf16>
  weights.param @model.layers.0.self_attn.c_attn.weight = %qkv {kind = #weights.kind<linear>, shard = #weights.shard<dim = 0, segments = [64, 32, 32]>} : tensor<128x64xbf16>
  weights.param @model.layers.0.self_attn.o_proj.weight = %do {kind = #weights.kind<linear>, shard = #weights.shard<dim = 1>} : tensor<64x64xbf16>
}

// KEEP: weights.param @model.layers.0.self_attn.c_attn.weight = %{{.+}} {kind = #weights.kind<linear>, shard = #weights.shard<dim = 0, segments = [64, 32, 32]>} : tensor<128x64xf8E4M3FN>
// KEEP-NEXT: weights.param @model.layers.0.self_attn.c_attn.weight_scale_inv = %{{.+}} {{{.*}}shard = #weights.shard<dim = 0, segments = [64, 32, 32], block = 16>} : tensor<8x2xf32>
// KEEP-NEXT: weights.param @model.layers.0.self_attn.o_proj.weight = %{{.+}} {kind = #weights.kind<linear>, shard = #weights.shard<dim = 1>} : tensor<64x64xf8E4M3FN>
// KEEP-NEXT: weights.param @model.layers.0.self_attn.o_proj.weight_scale_inv = %{{.+}} {{{.*}}shard = #weights.shard<dim = 1, segments = [64], block = 32>} : tensor<4x2xf32>

// CHECK: %[[QKV:.+]] = weights.concat %{{.+}}, %{{.+}}, %{{.+}} axis 0 : (tensor<64x64xf8E4M3FN>, tensor<32x64xf8E4M3FN>, tensor<32x64xf8E4M3FN>) -> tensor<128x64xf8E4M3FN>
// CHECK-NEXT: %[[SCALES:.+]] = weights.concat %{{.+}}, %{{.+}}, %{{.+}} axis 0 : (tensor<4x2xf32>, tensor<2x2xf32>, tensor<2x2xf32>) -> tensor<8x2xf32>
// CHECK-NEXT: %[[C0:.+]] = weights.shard %[[QKV]] dim 0 segments [32, 16, 16] shard 0 of 2 : tensor<128x64xf8E4M3FN> to tensor<64x64xf8E4M3FN>
// CHECK-NEXT: weights.param @"model.layers.0.self_attn.c_attn.weight_shard-0" = %[[C0]] {kind = #weights.kind<linear>} : tensor<64x64xf8E4M3FN>
// CHECK-NEXT: %[[C1:.+]] = weights.shard %[[QKV]] dim 0 segments [32, 16, 16] shard 1 of 2
// CHECK-NEXT: weights.param @"model.layers.0.self_attn.c_attn.weight_shard-1" = %[[C1]]
// CHECK-NEXT: %[[S0:.+]] = weights.shard %[[SCALES]] dim 0 segments [2, 1, 1] shard 0 of 2 : tensor<8x2xf32> to tensor<4x2xf32>
// CHECK-NEXT: weights.param @"model.layers.0.self_attn.c_attn.weight_scale_inv_shard-0" = %[[S0]] {kind = #weights.kind<linear>, quantized_from = "model.layers.0.self_attn.c_attn.weight", role = #weights.role<scale>} : tensor<4x2xf32>
// CHECK-NEXT: weights.shard %[[SCALES]] dim 0 segments [2, 1, 1] shard 1 of 2
// CHECK-NEXT: weights.param @"model.layers.0.self_attn.c_attn.weight_scale_inv_shard-1"
// CHECK-NEXT: weights.shard %{{.+}} dim 1 shard 0 of 2 : tensor<64x64xf8E4M3FN> to tensor<64x32xf8E4M3FN>
// CHECK-NEXT: weights.param @"model.layers.0.self_attn.o_proj.weight_shard-0"
// CHECK-NEXT: weights.shard %{{.+}} dim 1 shard 1 of 2 : tensor<64x64xf8E4M3FN> to tensor<64x32xf8E4M3FN>
// CHECK-NEXT: weights.param @"model.layers.0.self_attn.o_proj.weight_shard-1"
// CHECK-NEXT: weights.shard %{{.+}} dim 1 shard 0 of 2 : tensor<4x2xf32> to tensor<4x1xf32>
// CHECK-NEXT: weights.param @"model.layers.0.self_attn.o_proj.weight_scale_inv_shard-0"
// CHECK-NEXT: weights.shard %{{.+}} dim 1 shard 1 of 2 : tensor<4x2xf32> to tensor<4x1xf32>
// CHECK-NEXT: weights.param @"model.layers.0.self_attn.o_proj.weight_scale_inv_shard-1"
