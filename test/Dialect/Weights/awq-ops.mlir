// RUN: quant-opt %s | quant-opt | FileCheck %s
// weights.awq_scales and weights.scale_channels print as they parse.

// CHECK-LABEL: weights.model @m
weights.model @m attributes {arch = "llama", config = {}} {
  %w = weights.source "m.safetensors"["w"] offset 0 : tensor<8x32xf16>
  %u = weights.source "m.safetensors"["u"] offset 512 : tensor<4x32xf16>
  %n = weights.source "m.safetensors"["n"] offset 768 : tensor<32xf16>
  %im = weights.source "s.safetensors"["im"] offset 0 : tensor<32xf32>
  %h = weights.source "s.safetensors"["h"] offset 128 : tensor<32x32xf32>
  // CHECK: %[[S:.+]] = weights.awq_scales %{{.+}}, %{{.+}} imatrix %{{.+}} hessian %{{.+}} grid 20 : (tensor<8x32xf16>, tensor<4x32xf16>), tensor<32xf32>, tensor<32x32xf32> -> tensor<32xf32> with #weights.group<quant_type = !quant.any<u4<0:14>:f16>, group_size = 32, layout = nk, rounding = even>
  %s = weights.awq_scales %w, %u imatrix %im hessian %h grid 20 : (tensor<8x32xf16>, tensor<4x32xf16>), tensor<32xf32>, tensor<32x32xf32> -> tensor<32xf32>
      with #weights.group<quant_type = !quant.any<u4<0:14>:f16>, group_size = 32, layout = nk, rounding = even>
  // CHECK: weights.awq_scales %{{.+}} imatrix %{{.+}} grid 4 : (tensor<8x32xf16>), tensor<32xf32> -> tensor<32xf32> with #weights.mnn
  %t = weights.awq_scales %w imatrix %im grid 4 : (tensor<8x32xf16>), tensor<32xf32> -> tensor<32xf32>
      with #weights.mnn<quant_type = !quant.any<u4:f16>, block = 32, hqq = false>
  // CHECK: weights.awq_scales %{{.+}} imatrix %{{.+}} grid 20 rows 4 : (tensor<8x32xf16>), tensor<32xf32> -> tensor<32xf32> with #weights.group
  %r = weights.awq_scales %w imatrix %im grid 20 rows 4 : (tensor<8x32xf16>), tensor<32xf32> -> tensor<32xf32>
      with #weights.group<quant_type = !quant.any<u4<0:14>:f16>, group_size = 32, layout = nk, rounding = even>
  // CHECK: weights.scale_channels %{{.+}}, %[[S]] dim 1 : tensor<8x32xf16>, tensor<32xf32>
  %a = weights.scale_channels %w, %s dim 1 : tensor<8x32xf16>, tensor<32xf32>
  // CHECK: weights.scale_channels %{{.+}}, %[[S]] dim 0 divide : tensor<32xf16>, tensor<32xf32>
  %b = weights.scale_channels %n, %s dim 0 divide : tensor<32xf16>, tensor<32xf32>
  // CHECK: weights.scale_channels %{{.+}}, %{{.+}} dim 0 offset 4 divide : tensor<8x32xf16>, tensor<4xf32>
  %q = weights.source "s.safetensors"["q"] offset 4224 : tensor<4xf32>
  %c = weights.scale_channels %w, %q dim 0 offset 4 divide : tensor<8x32xf16>, tensor<4xf32>
}
