// RUN: quant-opt %s -split-input-file -verify-diagnostics

weights.model @m attributes {arch = "llama", config = {}} {
  // expected-error @+1 {{'weights.source' op offset must be non-negative, got -4}}
  %0 = weights.source "m.safetensors"["w"] offset -4 : tensor<4x4xf16>
}

// -----

weights.model @m attributes {arch = "llama", config = {}} {
  // expected-error @+1 {{'weights.source' op has 1 strides for a rank-2 tensor}}
  %0 = weights.source "m.bin"["w"] offset 0 strides [1] : tensor<4x4xf16>
}

// -----

weights.model @m attributes {arch = "llama", config = {}} {
  %a = weights.source "m.safetensors"["a"] offset 0 : tensor<4x8xf16>
  %b = weights.source "m.safetensors"["b"] offset 64 : tensor<4x4xf16>
  // expected-error @+1 {{'weights.concat' op input #1 has shape [4, 4], incompatible with [4, 8] outside axis 0}}
  %c = weights.concat %a, %b axis 0 : (tensor<4x8xf16>, tensor<4x4xf16>) -> tensor<8x8xf16>
}

// -----

weights.model @m attributes {arch = "llama", config = {}} {
  %a = weights.source "m.safetensors"["a"] offset 0 : tensor<4x8xf16>
  // expected-error @+1 {{'weights.concat' op result type 'tensor<9x8xf16>' does not match the concatenation [8, 8] of 'f16'}}
  %c = weights.concat %a, %a axis 0 : (tensor<4x8xf16>, tensor<4x8xf16>) -> tensor<9x8xf16>
}

// -----

weights.model @m attributes {arch = "llama", config = {}} {
  %a = weights.source "m.safetensors"["a"] offset 0 : tensor<4x8xf16>
  // expected-error @+1 {{'weights.concat' op axis 2 is out of range for rank 2}}
  %c = weights.concat %a, %a axis 2 : (tensor<4x8xf16>, tensor<4x8xf16>) -> tensor<8x8xf16>
}

// -----

weights.model @m attributes {arch = "llama", config = {}} {
  %a = weights.source "m.safetensors"["a"] offset 0 : tensor<4x8xf16>
  // expected-error @+1 {{'weights.cast' op cannot change the shape [4, 8] to [8, 4]}}
  %c = weights.cast %a : tensor<4x8xf16> to tensor<8x4xf32>
}

// -----

weights.model @m attributes {arch = "llama", config = {}} {
  %a = weights.source "m.safetensors"["a"] offset 0 : tensor<4x8xi32>
  // expected-error @+1 {{'weights.cast' op casts between float types or same-width integers only, got 'i32' to 'f16'}}
  %c = weights.cast %a : tensor<4x8xi32> to tensor<4x8xf16>
}

// -----

weights.model @m attributes {arch = "llama", config = {}} {
  %a = weights.source "m.safetensors"["a"] offset 0 : tensor<4x8x2xf16>
  // expected-error @+1 {{'weights.transpose' op needs a 2-D tensor, got rank 3}}
  %c = weights.transpose %a : tensor<4x8x2xf16> to tensor<8x4x2xf16>
}

// -----

weights.model @m attributes {arch = "llama", config = {}} {
  %a = weights.source "m.safetensors"["a"] offset 0 : tensor<4x64xbf16>
  // expected-error @+1 {{'weights.quantize' op input element type bf16 does not match the scheme's expressed type f16}}
  %w, %s = weights.quantize %a : tensor<4x64xbf16> -> tensor<4x8xui32>, tensor<4x2xf16> with #weights.group<quant_type = !quant.any<u4<0:14>:f16>, group_size = 32, layout = nk, rounding = even>
}

// -----

weights.model @m attributes {arch = "llama", config = {}} {
  %a = weights.source "m.safetensors"["a"] offset 0 : tensor<4x64xf16>
  // expected-error @+1 {{'weights.quantize' op result #0 (q_weight) must be 'tensor<4x8xui32>', got 'tensor<4x16xui32>'}}
  %w, %s = weights.quantize %a : tensor<4x64xf16> -> tensor<4x16xui32>, tensor<4x2xf16> with #weights.group<quant_type = !quant.any<u4<0:14>:f16>, group_size = 32, layout = nk, rounding = even>
}

// -----

weights.model @m attributes {arch = "llama", config = {}} {
  %a = weights.source "m.safetensors"["a"] offset 0 : tensor<4x64xf16>
  // expected-error @+1 {{'weights.quantize' op scheme produces 2 tensors, op has 1 results}}
  %w = weights.quantize %a : tensor<4x64xf16> -> tensor<4x8xui32> with #weights.group<quant_type = !quant.any<u4<0:14>:f16>, group_size = 32, layout = nk, rounding = even>
}

// -----

weights.model @m attributes {arch = "llama", config = {}} {
  %a = weights.source "m.safetensors"["a"] offset 0 : tensor<2x4x64xf16>
  // expected-error @+1 {{'weights.quantize' op the kn layout needs a 2-D weight, got rank 3}}
  %w, %s = weights.quantize %a : tensor<2x4x64xf16> -> tensor<2x8x4xui32>, tensor<2x2x4xf16> with #weights.group<quant_type = !quant.any<u4<0:14>:f16>, group_size = 32, layout = kn, rounding = even>
}

// -----

// expected-error @+1 {{group size 36 must be a positive multiple of 8 (elements per uint32 word)}}
#bad = #weights.group<quant_type = !quant.any<u4<0:14>:f16>, group_size = 36, layout = nk, rounding = even>

// -----

// expected-error @+1 {{storage must be unsigned with range [0, 14] (offset by 7)}}
#bad = #weights.group<quant_type = !quant.any<i4<-8:7>:f16>, group_size = 32, layout = nk, rounding = even>

// -----

// expected-error @+1 {{per-tensor float8 modes need model type f16, got 'bf16'}}
#bad = #weights.per_tensor<storage_type = f8E4M3FN, model_type = bf16, use_scale = true, calibration_placeholder = false>

// -----

weights.model @m attributes {arch = "llama", config = {}} {
  %a = weights.source "m.safetensors"["a"] offset 0 : tensor<4xf16>
  // expected-error @+1 {{'weights.param' op needs a non-empty name}}
  weights.param "" = %a : tensor<4xf16>
}

// -----

weights.model @m attributes {arch = "llama", config = {}} {
  %a = weights.source "m.safetensors"["a"] offset 0 : tensor<96x4xf16>
  // expected-error @+1 {{'weights.shard' op segments of 40 per shard times 2 shards do not cover dimension 0 of size 96}}
  %s = weights.shard %a dim 0 segments [20, 20] shard 0 of 2 : tensor<96x4xf16> to tensor<40x4xf16>
}

// -----

weights.model @m attributes {arch = "llama", config = {}} {
  %a = weights.source "m.safetensors"["a"] offset 0 : tensor<96x4xf16>
  // expected-error @+1 {{'weights.shard' op shard 2 of 2 is invalid}}
  %s = weights.shard %a dim 0 shard 2 of 2 : tensor<96x4xf16> to tensor<48x4xf16>
}

// -----

// weights.quant_view: symmetric codes are typed i<b><-T:T> (no offset).
weights.model @m attributes {arch = "llama", config = {}} {
  %c = weights.source "m.safetensors"["c"] offset 0 : tensor<8x32xui8>
  %s = weights.source "m.safetensors"["s"] offset 0 : tensor<8x2xf16>
  // expected-error @+1 {{'weights.quant_view' op storage must be i4<-7:7> for symmetric (no offset) blocks}}
  %v = weights.quant_view "w" = %c, %s : tensor<8x32xui8>, tensor<8x2xf16> -> tensor<8x64x!quant.any<i4:f16>>
}

// -----

weights.model @m attributes {arch = "llama", config = {}} {
  %c = weights.source "m.safetensors"["c"] offset 0 : tensor<8x32xui8>
  %s = weights.source "m.safetensors"["s"] offset 0 : tensor<8x2xf16>
  // expected-error @+1 {{'weights.quant_view' op codes must hold ceil(64 * 3 / 8) = 24 bytes per row, got 32}}
  %v = weights.quant_view "w" = %c, %s offset %s : tensor<8x32xui8>, tensor<8x2xf16>, tensor<8x2xf16> -> tensor<8x64x!quant.any<u3:f16>>
}

// -----

weights.model @m attributes {arch = "llama", config = {}} {
  %c = weights.source "m.safetensors"["c"] offset 0 : tensor<2x4xui8>
  %s = weights.source "m.safetensors"["s"] offset 0 : tensor<2x2xf16>
  // expected-error @+1 {{'weights.quant_view' op sub-channel block sizes must be [1, 4], got [1, 2]}}
  %v = weights.quant_view "w" = %c, %s : tensor<2x4xui8>, tensor<2x2xf16> -> tensor<2x8x!quant.uniform<i4<-7:7>:f16:{0:1, 1:2}, {{1.0, 2.0, 3.0, 4.0}, {1.0, 2.0, 3.0, 4.0}}>>
}

// -----

weights.model @m attributes {arch = "llama", config = {}} {
  %c = weights.source "m.safetensors"["c"] offset 0 : tensor<2x4xui8>
  %s = weights.source "m.safetensors"["s"] offset 0 : tensor<2x2xf16>
  // expected-error @+1 {{'weights.quant_view' op a per-axis type is for channel-wise 2-D weights (axis 0, one block per row)}}
  %v = weights.quant_view "w" = %c, %s : tensor<2x4xui8>, tensor<2x2xf16> -> tensor<2x8x!quant.uniform<i4<-7:7>:f16:0, {1.0, 2.0}>>
}

// -----

weights.model @m attributes {arch = "llama", config = {}} {
  %c = weights.source "m.safetensors"["c"] offset 0 : tensor<2x4xui8>
  %s = weights.source "m.safetensors"["s"] offset 0 : tensor<2x1xf16>
  // expected-error @+1 {{'weights.quant_view' op zero points must be 0}}
  %v = weights.quant_view "w" = %c, %s : tensor<2x4xui8>, tensor<2x1xf16> -> tensor<2x8x!quant.uniform<i4<-7:7>:f16:0, {1.0:1, 2.0}>>
}

// -----

// A cast the evaluation cannot perform is refused by the verifier
// (lib/Numerics/Convert.h: float8 only widens).
weights.model @m attributes {arch = "llama", config = {}} {
  %a = weights.source "m.safetensors"["a"] offset 0 : tensor<4x8xf16>
  // expected-error @+1 {{'weights.cast' op cannot cast 'f16' to 'f8E4M3FN'}}
  %c = weights.cast %a : tensor<4x8xf16> to tensor<4x8xf8E4M3FN>
}

// -----

weights.model @m attributes {arch = "llama", config = {}} {
  %a = weights.source "m.safetensors"["a"] offset 0 : tensor<4xi32>
  // expected-error @+1 {{'weights.add_constant' op adds to f16, bf16 or f32 tensors, got 'i32'}}
  %c = weights.add_constant %a, 1.0 : tensor<4xi32>
}
