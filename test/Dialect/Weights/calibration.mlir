// RUN: quant-opt %s | quant-opt | FileCheck %s

// CHECK-LABEL: weights.model @m
// CHECK-SAME: calibration_file = "stats.safetensors"
weights.model @m attributes {arch = "llama", calibration_file = "stats.safetensors", config = {}} {
  %w = weights.source "m.safetensors"["w"] offset 0 : tensor<4x64xf16>
  // CHECK: %[[I:.+]] = weights.calibration "model.layers.0.mlp.down_proj.weight" importance : tensor<64xf32>
  %i = weights.calibration "model.layers.0.mlp.down_proj.weight" importance : tensor<64xf32>
  // CHECK: %[[H:.+]] = weights.calibration "model.layers.0.mlp.down_proj.weight" hessian : tensor<64x64xf32>
  %h = weights.calibration "model.layers.0.mlp.down_proj.weight" hessian : tensor<64x64xf32>
  // CHECK: weights.quantize %{{.+}} importance(%[[I]] : tensor<64xf32>) : tensor<4x64xf16> -> tensor<4x8xui32>, tensor<4x2xf16> with #weights.group
  %a, %b = weights.quantize %w importance(%i : tensor<64xf32>) : tensor<4x64xf16> -> tensor<4x8xui32>, tensor<4x2xf16> with #weights.group<quant_type = !quant.any<u4<0:14>:f16>, group_size = 32, layout = nk, rounding = even>
  // CHECK: weights.quantize %{{.+}} importance(%[[I]] : tensor<64xf32>) hessian(%[[H]] : tensor<64x64xf32>) {gptq = #weights.gptq<damp = 1.000000e-02 : f64, block_size = 16, act_order = true>} : tensor<4x64xf16> -> tensor<4x8xui32>, tensor<4x2xf16>
  %c, %d = weights.quantize %w importance(%i : tensor<64xf32>) hessian(%h : tensor<64x64xf32>) {gptq = #weights.gptq<damp = 0.01, block_size = 16, act_order = true>} : tensor<4x64xf16> -> tensor<4x8xui32>, tensor<4x2xf16> with #weights.group<quant_type = !quant.any<u4<0:14>:f16>, group_size = 32, layout = nk, rounding = even>
  // CHECK: weights.quantize %{{.+}} hessian(%[[H]] : tensor<64x64xf32>) {gptq = {{.+}}} : tensor<4x64xf16> -> tensor<4x32xui8>, tensor<4x1xf16> with #weights.mnn
  %e, %f = weights.quantize %w hessian(%h : tensor<64x64xf32>) {gptq = #weights.gptq<damp = 0.1, block_size = 128, act_order = false>} : tensor<4x64xf16> -> tensor<4x32xui8>, tensor<4x1xf16> with #weights.mnn<quant_type = !quant.any<i4:f16>, block = 0, hqq = false>
  weights.param @a = %a : tensor<4x8xui32>
  weights.param @b = %b : tensor<4x2xf16>
  weights.param @c = %c : tensor<4x8xui32>
  weights.param @d = %d : tensor<4x2xf16>
  weights.param @e = %e : tensor<4x32xui8>
  weights.param @f = %f : tensor<4x1xf16>
}
