// RUN: quant-opt %s -split-input-file -verify-diagnostics
// The verifiers of weights.awq_scales and weights.scale_channels.

weights.model @m attributes {arch = "llama", config = {}} {
  %w = weights.source "m.safetensors"["w"] offset 0 : tensor<8x32xf16>
  %u = weights.source "m.safetensors"["u"] offset 0 : tensor<8x16xf16>
  %im = weights.source "s.safetensors"["im"] offset 0 : tensor<32xf32>
  // expected-error @+1 {{'weights.awq_scales' op weight #1 has 16 input channels, weight #0 32}}
  %s = weights.awq_scales %w, %u imatrix %im grid 20 : (tensor<8x32xf16>, tensor<8x16xf16>), tensor<32xf32> -> tensor<32xf32> with #weights.group<quant_type = !quant.any<u4<0:14>:f16>, group_size = 32, layout = nk, rounding = even>
}

// -----

weights.model @m attributes {arch = "llama", config = {}} {
  %w = weights.source "m.safetensors"["w"] offset 0 : tensor<8x32xf16>
  %u = weights.source "m.safetensors"["u"] offset 0 : tensor<8x32xbf16>
  %im = weights.source "s.safetensors"["im"] offset 0 : tensor<32xf32>
  // expected-error @+1 {{'weights.awq_scales' op weight #1 has element type 'bf16', weight #0 'f16'}}
  %s = weights.awq_scales %w, %u imatrix %im grid 20 : (tensor<8x32xf16>, tensor<8x32xbf16>), tensor<32xf32> -> tensor<32xf32> with #weights.group<quant_type = !quant.any<u4<0:14>:f16>, group_size = 32, layout = nk, rounding = even>
}

// -----

weights.model @m attributes {arch = "llama", config = {}} {
  %w = weights.source "m.safetensors"["w"] offset 0 : tensor<8x32xi32>
  %im = weights.source "s.safetensors"["im"] offset 0 : tensor<32xf32>
  // expected-error @+1 {{'weights.awq_scales' op weight #0 must be a 2-D f16, bf16 or f32 tensor, got 'tensor<8x32xi32>'}}
  %s = weights.awq_scales %w imatrix %im grid 20 : (tensor<8x32xi32>), tensor<32xf32> -> tensor<32xf32> with #weights.group<quant_type = !quant.any<u4<0:14>:f16>, group_size = 32, layout = nk, rounding = even>
}

// -----

weights.model @m attributes {arch = "llama", config = {}} {
  %w = weights.source "m.safetensors"["w"] offset 0 : tensor<8x32xf16>
  %im = weights.source "s.safetensors"["im"] offset 0 : tensor<16xf32>
  // expected-error @+1 {{'weights.awq_scales' op imatrix must be 'tensor<32xf32>', got 'tensor<16xf32>'}}
  %s = weights.awq_scales %w imatrix %im grid 20 : (tensor<8x32xf16>), tensor<16xf32> -> tensor<32xf32> with #weights.group<quant_type = !quant.any<u4<0:14>:f16>, group_size = 32, layout = nk, rounding = even>
}

// -----

weights.model @m attributes {arch = "llama", config = {}} {
  %w = weights.source "m.safetensors"["w"] offset 0 : tensor<8x32xf16>
  %im = weights.source "s.safetensors"["im"] offset 0 : tensor<32xf32>
  %h = weights.source "s.safetensors"["h"] offset 0 : tensor<32x16xf32>
  // expected-error @+1 {{'weights.awq_scales' op hessian must be 'tensor<32x32xf32>', got 'tensor<32x16xf32>'}}
  %s = weights.awq_scales %w imatrix %im hessian %h grid 20 : (tensor<8x32xf16>), tensor<32xf32>, tensor<32x16xf32> -> tensor<32xf32> with #weights.group<quant_type = !quant.any<u4<0:14>:f16>, group_size = 32, layout = nk, rounding = even>
}

// -----

weights.model @m attributes {arch = "llama", config = {}} {
  %w = weights.source "m.safetensors"["w"] offset 0 : tensor<8x32xf16>
  %im = weights.source "s.safetensors"["im"] offset 0 : tensor<32xf32>
  // expected-error @+1 {{'weights.awq_scales' op result must be 'tensor<32xf32>', got 'tensor<32xf16>'}}
  %s = weights.awq_scales %w imatrix %im grid 20 : (tensor<8x32xf16>), tensor<32xf32> -> tensor<32xf16> with #weights.group<quant_type = !quant.any<u4<0:14>:f16>, group_size = 32, layout = nk, rounding = even>
}

// -----

weights.model @m attributes {arch = "llama", config = {}} {
  %w = weights.source "m.safetensors"["w"] offset 0 : tensor<8x32xf16>
  %im = weights.source "s.safetensors"["im"] offset 0 : tensor<32xf32>
  // expected-error @+1 {{'weights.awq_scales' op grid must be at least 1, got 0}}
  %s = weights.awq_scales %w imatrix %im grid 0 : (tensor<8x32xf16>), tensor<32xf32> -> tensor<32xf32> with #weights.group<quant_type = !quant.any<u4<0:14>:f16>, group_size = 32, layout = nk, rounding = even>
}

// -----

weights.model @m attributes {arch = "llama", config = {}} {
  %w = weights.source "m.safetensors"["w"] offset 0 : tensor<8x0xf16>
  %im = weights.source "s.safetensors"["im"] offset 0 : tensor<0xf32>
  // expected-error @+1 {{'weights.awq_scales' op scheme cannot quantize weight #0: cannot group-quantize a tensor with an empty last axis}}
  %s = weights.awq_scales %w imatrix %im grid 20 : (tensor<8x0xf16>), tensor<0xf32> -> tensor<0xf32> with #weights.group<quant_type = !quant.any<u4<0:14>:f16>, group_size = 32, layout = nk, rounding = even>
}

// -----

weights.model @m attributes {arch = "llama", config = {}} {
  %w = weights.source "m.safetensors"["w"] offset 0 : tensor<8x32xi8>
  %s = weights.source "s.safetensors"["s"] offset 0 : tensor<32xf32>
  // expected-error @+1 {{'weights.scale_channels' op scales f16, bf16 or f32 tensors, got 'i8'}}
  %x = weights.scale_channels %w, %s dim 1 : tensor<8x32xi8>, tensor<32xf32>
}

// -----

weights.model @m attributes {arch = "llama", config = {}} {
  %w = weights.source "m.safetensors"["w"] offset 0 : tensor<8x32xf16>
  %s = weights.source "s.safetensors"["s"] offset 0 : tensor<32xf16>
  // expected-error @+1 {{'weights.scale_channels' op scales must be a 1-D f32 tensor, got 'tensor<32xf16>'}}
  %x = weights.scale_channels %w, %s dim 1 : tensor<8x32xf16>, tensor<32xf16>
}

// -----

weights.model @m attributes {arch = "llama", config = {}} {
  %w = weights.source "m.safetensors"["w"] offset 0 : tensor<8x32xf16>
  %s = weights.source "s.safetensors"["s"] offset 0 : tensor<32xf32>
  // expected-error @+1 {{'weights.scale_channels' op dim 2 is out of range for rank 2}}
  %x = weights.scale_channels %w, %s dim 2 : tensor<8x32xf16>, tensor<32xf32>
}

// -----

weights.model @m attributes {arch = "llama", config = {}} {
  %w = weights.source "m.safetensors"["w"] offset 0 : tensor<8x32xf16>
  %s = weights.source "s.safetensors"["s"] offset 0 : tensor<4xf32>
  // expected-error @+1 {{'weights.scale_channels' op channels [6, 10) exceed dimension 0 of size 8}}
  %x = weights.scale_channels %w, %s dim 0 offset 6 divide : tensor<8x32xf16>, tensor<4xf32>
}

// -----

weights.model @m attributes {arch = "llama", config = {}} {
  %w = weights.source "m.safetensors"["w"] offset 0 : tensor<8x32xf16>
  %im = weights.source "s.safetensors"["im"] offset 0 : tensor<32xf32>
  // expected-error @+1 {{'weights.awq_scales' op rows must be at least 1, got 0}}
  %s = weights.awq_scales %w imatrix %im grid 20 rows 0 : (tensor<8x32xf16>), tensor<32xf32> -> tensor<32xf32> with #weights.group<quant_type = !quant.any<u4<0:14>:f16>, group_size = 32, layout = nk, rounding = even>
}
