// RUN: quant-opt %s -split-input-file -verify-diagnostics | FileCheck %s
// The q4f16_ft scheme (#weights.ft): its outputs and its errors.

// CHECK-LABEL: weights.model @ok
// CHECK: weights.quantize %{{.*}} : tensor<64x64xf16> -> tensor<64x32xi8>, tensor<1x64xf16> with #weights.ft<sm = 80>
weights.model @ok attributes {arch = "llama", config = {}} {
  %w = weights.source "m.safetensors"["w"] offset 0 : tensor<64x64xf16>
  %a, %b = weights.quantize %w : tensor<64x64xf16> -> tensor<64x32xi8>, tensor<1x64xf16> with #weights.ft<sm = 80>
}

// -----

weights.model @m attributes {arch = "llama", config = {}} {
  %w = weights.source "m.safetensors"["w"] offset 0 : tensor<64x64xf16>
  // expected-error @+1 {{FasterTransformer's weight preprocessing supports sm 70..89, got sm 90}}
  %a, %b = weights.quantize %w : tensor<64x64xf16> -> tensor<64x32xi8>, tensor<1x64xf16> with #weights.ft<sm = 90>
}

// -----

weights.model @m attributes {arch = "llama", config = {}} {
  %w = weights.source "m.safetensors"["w"] offset 0 : tensor<64x96xf16>
  // expected-error @+1 {{'weights.quantize' op in_features 96 is not a multiple of 64 (FasterTransformer's int4 transpose)}}
  %a, %b = weights.quantize %w : tensor<64x96xf16> -> tensor<96x32xi8>, tensor<1x64xf16> with #weights.ft<sm = 80>
}

// -----

weights.model @m attributes {arch = "llama", config = {}} {
  %w = weights.source "m.safetensors"["w"] offset 0 : tensor<60x64xf16>
  // expected-error @+1 {{'weights.quantize' op out_features 60 is not a multiple of 8}}
  %a, %b = weights.quantize %w : tensor<60x64xf16> -> tensor<64x30xi8>, tensor<1x60xf16> with #weights.ft<sm = 70>
}

// -----

weights.model @m attributes {arch = "llama", config = {}} {
  %w = weights.source "m.safetensors"["w"] offset 0 : tensor<64x64xbf16>
  // expected-error @+1 {{'weights.quantize' op input element type bf16 does not match the scheme's expressed type f16}}
  %a, %b = weights.quantize %w : tensor<64x64xbf16> -> tensor<64x32xi8>, tensor<1x64xf16> with #weights.ft<sm = 80>
}
