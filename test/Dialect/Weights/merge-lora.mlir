// RUN: quant-opt %s | quant-opt | FileCheck %s

// CHECK-LABEL: weights.model @m
// CHECK: %[[M:.+]] = weights.merge_lora %{{.+}}, %{{.+}}, %{{.+}} scale 2.000000e+00 : tensor<64x32xf16>, tensor<4x32xf32>, tensor<64x4xf32>
// CHECK: %{{.+}} = weights.merge_lora %{{.+}}, %{{.+}}, %{{.+}} scale 5.000000e-01 fan_in_fan_out : tensor<32x64xbf16>, tensor<4x32xf16>, tensor<64x4xf16>
// CHECK: weights.param @w = %[[M]]
weights.model @m attributes {arch = "llama", config = {}} {
  %w = weights.source "m.safetensors"["w"] offset 0 : tensor<64x32xf16>
  %a = weights.source "adapter_model.safetensors"["a"] offset 0 : tensor<4x32xf32>
  %b = weights.source "adapter_model.safetensors"["b"] offset 512 : tensor<64x4xf32>
  %m = weights.merge_lora %w, %a, %b scale 2.0 : tensor<64x32xf16>, tensor<4x32xf32>, tensor<64x4xf32>
  %t = weights.source "m.safetensors"["t"] offset 4096 : tensor<32x64xbf16>
  %a2 = weights.source "adapter_model.safetensors"["a2"] offset 1536 : tensor<4x32xf16>
  %b2 = weights.source "adapter_model.safetensors"["b2"] offset 1792 : tensor<64x4xf16>
  %m2 = weights.merge_lora %t, %a2, %b2 scale 0.5 fan_in_fan_out : tensor<32x64xbf16>, tensor<4x32xf16>, tensor<64x4xf16>
  weights.param @w = %m : tensor<64x32xf16>
  weights.param @t = %m2 : tensor<32x64xbf16>
}
