// RUN: quant-opt %s -split-input-file -verify-diagnostics

weights.model @m attributes {arch = "llama", config = {}} {
  %w = weights.source "m"["w"] offset 0 : tensor<64x32xf16>
  %a = weights.source "a"["a"] offset 0 : tensor<4x32xf32>
  %b = weights.source "a"["b"] offset 0 : tensor<64x8xf32>
  // expected-error @+1 {{'weights.merge_lora' op lora_a has rank 4 (its rows) but lora_b has 8 columns}}
  %m = weights.merge_lora %w, %a, %b scale 2.0 : tensor<64x32xf16>, tensor<4x32xf32>, tensor<64x8xf32>
}

// -----

weights.model @m attributes {arch = "llama", config = {}} {
  %w = weights.source "m"["w"] offset 0 : tensor<64x32xf16>
  %a = weights.source "a"["a"] offset 0 : tensor<4x31xf32>
  %b = weights.source "a"["b"] offset 0 : tensor<64x4xf32>
  // expected-error @+1 {{'weights.merge_lora' op lora_b @ lora_a is 64x31 but the base weight is 64x32}}
  %m = weights.merge_lora %w, %a, %b scale 2.0 : tensor<64x32xf16>, tensor<4x31xf32>, tensor<64x4xf32>
}

// -----

weights.model @m attributes {arch = "llama", config = {}} {
  %w = weights.source "m"["w"] offset 0 : tensor<64x32xf16>
  %a = weights.source "a"["a"] offset 0 : tensor<4x32xf32>
  %b = weights.source "a"["b"] offset 0 : tensor<64x4xf32>
  // expected-error @+1 {{'weights.merge_lora' op lora_b @ lora_a is 64x32 (stored transposed: fan_in_fan_out) but the base weight is 64x32}}
  %m = weights.merge_lora %w, %a, %b scale 2.0 fan_in_fan_out : tensor<64x32xf16>, tensor<4x32xf32>, tensor<64x4xf32>
}

// -----

weights.model @m attributes {arch = "llama", config = {}} {
  %w = weights.source "m"["w"] offset 0 : tensor<64xf16>
  %a = weights.source "a"["a"] offset 0 : tensor<4x32xf32>
  %b = weights.source "a"["b"] offset 0 : tensor<64x4xf32>
  // expected-error @+1 {{'weights.merge_lora' op expects a 2-D base weight and 2-D lora_a and lora_b, all f16, bf16 or f32}}
  %m = weights.merge_lora %w, %a, %b scale 2.0 : tensor<64xf16>, tensor<4x32xf32>, tensor<64x4xf32>
}

// -----

weights.model @m attributes {arch = "llama", config = {}} {
  %w = weights.source "m"["w"] offset 0 : tensor<64x32xi32>
  %a = weights.source "a"["a"] offset 0 : tensor<4x32xf32>
  %b = weights.source "a"["b"] offset 0 : tensor<64x4xf32>
  // expected-error @+1 {{'weights.merge_lora' op expects a 2-D base weight and 2-D lora_a and lora_b, all f16, bf16 or f32}}
  %m = weights.merge_lora %w, %a, %b scale 2.0 : tensor<64x32xi32>, tensor<4x32xf32>, tensor<64x4xf32>
}

// -----

weights.model @m attributes {arch = "llama", config = {}} {
  %w = weights.source "m"["w"] offset 0 : tensor<64x32xf16>
  %a = weights.source "a"["a"] offset 0 : tensor<0x32xf32>
  %b = weights.source "a"["b"] offset 0 : tensor<64x0xf32>
  // expected-error @+1 {{'weights.merge_lora' op lora_a has rank 0}}
  %m = weights.merge_lora %w, %a, %b scale 2.0 : tensor<64x32xf16>, tensor<0x32xf32>, tensor<64x0xf32>
}
