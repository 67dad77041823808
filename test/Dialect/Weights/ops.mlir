// RUN: quant-opt %s | quant-opt | FileCheck %s
// RUN: quant-opt %s --mlir-print-op-generic | quant-opt | FileCheck %s

// CHECK-LABEL: weights.model @llama
// CHECK-SAME: arch = "llama"
weights.model @llama attributes {arch = "llama", config = {hidden_size = 64 : i64}} {
  // CHECK: %[[Q:.+]] = weights.source "m.safetensors"["q"] offset 8 : tensor<64x64xbf16>
  %q = weights.source "m.safetensors"["q"] offset 8 : tensor<64x64xbf16>
  %k = weights.source "m.safetensors"["k"] offset 8200 : tensor<32x64xbf16>
  // CHECK: weights.source "m.bin"["t"] offset 64 strides [1, 64] : tensor<64x32xf32>
  %t = weights.source "m.bin"["t"] offset 64 strides [1, 64] : tensor<64x32xf32>
  // CHECK: %[[QK:.+]] = weights.concat %[[Q]], %{{.+}} axis 0 : (tensor<64x64xbf16>, tensor<32x64xbf16>) -> tensor<96x64xbf16>
  %qk = weights.concat %q, %k axis 0 : (tensor<64x64xbf16>, tensor<32x64xbf16>) -> tensor<96x64xbf16>
  // CHECK: %[[C:.+]] = weights.cast %[[QK]] : tensor<96x64xbf16> to tensor<96x64xf16>
  %c = weights.cast %qk : tensor<96x64xbf16> to tensor<96x64xf16>
  // CHECK: weights.quantize %[[C]] : tensor<96x64xf16> -> tensor<96x8xui32>, tensor<96x2xf16> with #weights.group<quant_type = !quant.any<u4<0:14>:f16>, group_size = 32, layout = nk, rounding = even>
  %w, %s = weights.quantize %c : tensor<96x64xf16> -> tensor<96x8xui32>, tensor<96x2xf16> with #weights.group<quant_type = !quant.any<u4<0:14>:f16>, group_size = 32, layout = nk, rounding = even>
  // 3-bit, K = 64 is not a multiple of 40: 2 groups of 4 words; kn transposes.
  // CHECK: weights.quantize %[[C]] : tensor<96x64xf16> -> tensor<8x96xui32>, tensor<2x96xf16> with #weights.group<quant_type = !quant.any<u3<0:6>:f16>, group_size = 40, layout = kn, rounding = away>
  %w3, %s3 = weights.quantize %c : tensor<96x64xf16> -> tensor<8x96xui32>, tensor<2x96xf16> with #weights.group<quant_type = !quant.any<u3<0:6>:f16>, group_size = 40, layout = kn, rounding = away>
  // CHECK: weights.quantize %[[C]] : tensor<96x64xf16> -> tensor<96x64xf8E4M3FN>, tensor<1xf32>, tensor<1xf32> with #weights.per_tensor<storage_type = f8E4M3FN, model_type = f16, use_scale = true, calibration_placeholder = true>
  %f:3 = weights.quantize %c : tensor<96x64xf16> -> tensor<96x64xf8E4M3FN>, tensor<1xf32>, tensor<1xf32> with #weights.per_tensor<storage_type = f8E4M3FN, model_type = f16, use_scale = true, calibration_placeholder = true>
  // CHECK: weights.transpose %{{.+}} : tensor<64x32xf32> to tensor<32x64xf32>
  %tt = weights.transpose %t : tensor<64x32xf32> to tensor<32x64xf32>
  // CHECK: weights.stack %{{.+}}, %{{.+}} : (tensor<32x64xf32>, tensor<32x64xf32>) -> tensor<2x32x64xf32>
  %st = weights.stack %tt, %tt : (tensor<32x64xf32>, tensor<32x64xf32>) -> tensor<2x32x64xf32>
  // CHECK: weights.add_constant %{{.+}}, 1.000000e+00 : tensor<32x64xf32>
  %p1 = weights.add_constant %tt, 1.0 : tensor<32x64xf32>
  // CHECK: weights.param "qk.q_weight" = %{{.+}} {kind = #weights.kind<linear>} : tensor<96x8xui32>
  weights.param "qk.q_weight" = %w {kind = #weights.kind<linear>} : tensor<96x8xui32>
  weights.param "qk.q_scale" = %s {kind = #weights.kind<linear>} : tensor<96x2xf16>
  weights.param "stacked" = %st : tensor<2x32x64xf32>
  weights.param "plus_one" = %p1 {kind = #weights.kind<norm>} : tensor<32x64xf32>
}

// CHECK: weights.expect "model.embed_tokens.q_weight" : tensor<?x16xui32>
weights.expect "model.embed_tokens.q_weight" : tensor<?x16xui32>

// weights.quant_view round-trips with !quant.any, per-axis and sub-channel
// element types.
// CHECK-LABEL: weights.model @views
weights.model @views attributes {arch = "llama", config = {}} {
  %c = weights.source "m.safetensors"["c"] offset 0 : tensor<2x4xui8>
  %s = weights.source "m.safetensors"["s"] offset 0 : tensor<2x2xf16>
  %s1 = weights.source "m.safetensors"["s1"] offset 0 : tensor<2x1xf16>
  // CHECK: weights.quant_view "a" = %{{.+}}, %{{.+}} : tensor<2x4xui8>, tensor<2x2xf16> -> tensor<2x8x!quant.any<i4<-7:7>:f16>>
  %a = weights.quant_view "a" = %c, %s : tensor<2x4xui8>, tensor<2x2xf16> -> tensor<2x8x!quant.any<i4<-7:7>:f16>>
  // CHECK: weights.quant_view "b" = %{{.+}}, %{{.+}} offset %{{.+}} : tensor<2x4xui8>, tensor<2x2xf16>, tensor<2x2xf16> -> tensor<2x8x!quant.uniform<u4:f16:{0:1, 1:4}, {{\{\{}}1.000000e+00, 2.000000e+00}, {3.000000e+00, 4.000000e+00}}>>
  %b = weights.quant_view "b" = %c, %s offset %s : tensor<2x4xui8>, tensor<2x2xf16>, tensor<2x2xf16> -> tensor<2x8x!quant.uniform<u4:f16:{0:1, 1:4}, {{1.0, 2.0}, {3.0, 4.0}}>>
  // CHECK: weights.quant_view "c" = %{{.+}}, %{{.+}} : tensor<2x4xui8>, tensor<2x1xf16> -> tensor<2x8x!quant.uniform<i4<-7:7>:f16:0, {2.500000e-01,1.250000e-01}>>
  %d = weights.quant_view "c" = %c, %s1 : tensor<2x4xui8>, tensor<2x1xf16> -> tensor<2x8x!quant.uniform<i4<-7:7>:f16:0, {0.25, 0.125}>>
}

// The GGUF ops round-trip.
// CHECK-LABEL: weights.model @gguf
weights.model @gguf attributes {arch = "llama", config = {}} {
  // CHECK: %[[R:.+]] = weights.source "m.gguf"["q"] offset 64 : tensor<8x68xui8>
  %r = weights.source "m.gguf"["q"] offset 64 : tensor<8x68xui8>
  // CHECK-NEXT: %[[D:.+]] = weights.dequantize_ggml %[[R]] encoding "Q8_0" : tensor<8x68xui8> to tensor<8x64xf32>
  %d = weights.dequantize_ggml %r encoding "Q8_0" : tensor<8x68xui8> to tensor<8x64xf32>
  // CHECK-NEXT: weights.unpermute_heads %[[D]] heads 2 : tensor<8x64xf32>
  %u = weights.unpermute_heads %d heads 2 : tensor<8x64xf32>
  weights.param "q" = %u : tensor<8x64xf32>
}
