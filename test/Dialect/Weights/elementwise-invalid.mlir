// RUN: quant-opt %s -split-input-file -verify-diagnostics

weights.model @m attributes {arch = "rwkv5", config = {}} {
  %a = weights.source "m.safetensors"["a"] offset 0 : tensor<4xi16>
  // expected-error @+1 {{'weights.divide_pow2' op divides f16, bf16 or f32 tensors, got 'i16'}}
  %c = weights.divide_pow2 %a exponent 1 : tensor<4xi16>
}

// -----

weights.model @m attributes {arch = "rwkv5", config = {}} {
  %a = weights.source "m.safetensors"["a"] offset 0 : tensor<4xf16>
  // expected-error @+1 {{'weights.divide_pow2' op exponent must be in [0, 15], got 16}}
  %c = weights.divide_pow2 %a exponent 16 : tensor<4xf16>
}

// -----

weights.model @m attributes {arch = "rwkv5", config = {}} {
  %a = weights.source "m.safetensors"["a"] offset 0 : tensor<4xbf16>
  // expected-error @+1 {{'weights.divide_pow2' op exponent must be in [0, 15], got -1}}
  %c = weights.divide_pow2 %a exponent -1 : tensor<4xbf16>
}

// -----

weights.model @m attributes {arch = "rwkv5", config = {}} {
  %a = weights.source "m.safetensors"["a"] offset 0 : tensor<4xf16>
  // expected-error @+1 {{'weights.divide_pow2' op failed to verify that all of {input, result} have same type}}
  %c = "weights.divide_pow2"(%a) {exponent = 1 : i64} : (tensor<4xf16>) -> tensor<4xf32>
}

// -----

weights.model @m attributes {arch = "rwkv5", config = {}} {
  %a = weights.source "m.safetensors"["a"] offset 0 : tensor<4xf16>
  // expected-error @+1 {{'weights.exp' op computes numpy's float32 exp: needs an f32 tensor, got 'f16'}}
  %c = weights.exp %a : tensor<4xf16>
}

// -----

weights.model @m attributes {arch = "rwkv5", config = {}} {
  %a = weights.source "m.safetensors"["a"] offset 0 : tensor<4xf32>
  // expected-error @+1 {{'weights.exp' op failed to verify that all of {input, result} have same type}}
  %c = "weights.exp"(%a) : (tensor<4xf32>) -> tensor<2x2xf32>
}
