// RUN: quant-opt %s -split-input-file -verify-diagnostics

weights.model @m attributes {arch = "llama", config = {}} {
  // expected-error @+1 {{'weights.calibration' op needs an enclosing weights.model with a calibration_file}}
  %i = weights.calibration "w" importance : tensor<64xf32>
}

// -----

weights.model @m attributes {arch = "llama", calibration_file = "s", config = {}} {
  // expected-error @+1 {{'weights.calibration' op statistics are f32, got 'f16'}}
  %i = weights.calibration "w" importance : tensor<64xf16>
}

// -----

weights.model @m attributes {arch = "llama", calibration_file = "s", config = {}} {
  // expected-error @+1 {{'weights.calibration' op a hessian is [K, K] or [E, K, K], got 'tensor<64x32xf32>'}}
  %h = weights.calibration "w" hessian : tensor<64x32xf32>
}

// -----

weights.model @m attributes {arch = "llama", calibration_file = "s", config = {}} {
  // expected-error @+1 {{'weights.calibration' op an importance is [K] or [E, K], got 'tensor<2x3x4xf32>'}}
  %i = weights.calibration "w" importance : tensor<2x3x4xf32>
}

// -----

weights.model @m attributes {arch = "llama", calibration_file = "s", config = {}} {
  %w = weights.source "m.safetensors"["w"] offset 0 : tensor<4x64xf16>
  %i = weights.calibration "w" importance : tensor<32xf32>
  // expected-error @+1 {{'weights.quantize' op importance must be 'tensor<64xf32>' for a weight of type 'tensor<4x64xf16>', got 'tensor<32xf32>'}}
  %a, %b = weights.quantize %w importance(%i : tensor<32xf32>) : tensor<4x64xf16> -> tensor<4x8xui32>, tensor<4x2xf16> with #weights.group<quant_type = !quant.any<u4<0:14>:f16>, group_size = 32, layout = nk, rounding = even>
}

// -----

weights.model @m attributes {arch = "llama", calibration_file = "s", config = {}} {
  %w = weights.source "m.safetensors"["w"] offset 0 : tensor<2x4x64xf16>
  %i = weights.calibration "w" importance : tensor<64xf32>
  // expected-error @+1 {{'weights.quantize' op importance must be 'tensor<2x64xf32>' for a weight of type 'tensor<2x4x64xf16>', got 'tensor<64xf32>'}}
  %a, %b = weights.quantize %w importance(%i : tensor<64xf32>) : tensor<2x4x64xf16> -> tensor<2x4x8xui32>, tensor<2x4x2xf16> with #weights.group<quant_type = !quant.any<u4<0:14>:f16>, group_size = 32, layout = nk, rounding = even>
}

// -----

weights.model @m attributes {arch = "llama", calibration_file = "s", config = {}} {
  %w = weights.source "m.safetensors"["w"] offset 0 : tensor<4x64xf16>
  %h = weights.calibration "w" hessian : tensor<64x64xf32>
  // expected-error @+1 {{'weights.quantize' op a hessian operand needs the gptq attribute}}
  %a, %b = weights.quantize %w hessian(%h : tensor<64x64xf32>) : tensor<4x64xf16> -> tensor<4x8xui32>, tensor<4x2xf16> with #weights.group<quant_type = !quant.any<u4<0:14>:f16>, group_size = 32, layout = nk, rounding = even>
}

// -----

weights.model @m attributes {arch = "llama", calibration_file = "s", config = {}} {
  %w = weights.source "m.safetensors"["w"] offset 0 : tensor<4x64xf16>
  // expected-error @+1 {{'weights.quantize' op the gptq attribute needs a hessian operand}}
  %a, %b = weights.quantize %w {gptq = #weights.gptq<damp = 0.01, block_size = 128, act_order = false>} : tensor<4x64xf16> -> tensor<4x8xui32>, tensor<4x2xf16> with #weights.group<quant_type = !quant.any<u4<0:14>:f16>, group_size = 32, layout = nk, rounding = even>
}

// -----

weights.model @m attributes {arch = "llama", calibration_file = "s", config = {}} {
  %w = weights.source "m.safetensors"["w"] offset 0 : tensor<4x64xf16>
  %h = weights.calibration "w" hessian : tensor<64x64xf32>
  // expected-error @+1 {{gptq block_size must be positive, got 0}}
  %a, %b = weights.quantize %w hessian(%h : tensor<64x64xf32>) {gptq = #weights.gptq<damp = 0.01, block_size = 0, act_order = false>} : tensor<4x64xf16> -> tensor<4x8xui32>, tensor<4x2xf16> with #weights.group<quant_type = !quant.any<u4<0:14>:f16>, group_size = 32, layout = nk, rounding = even>
}

// -----

weights.model @m attributes {arch = "llama", calibration_file = "s", config = {}} {
  %w = weights.source "m.safetensors"["w"] offset 0 : tensor<4x64xf16>
  %i = weights.calibration "w" importance : tensor<64xf32>
  // expected-error @+1 {{'weights.quantize' op HQQ modes take no calibration statistics (HQQ optimizes its own objective)}}
  %a, %b, %c = weights.quantize %w importance(%i : tensor<64xf32>) : tensor<4x64xf16> -> tensor<4x32xui8>, tensor<4x1xf16>, tensor<4x1xf16> with #weights.mnn<quant_type = !quant.any<u4:f16>, block = 0, hqq = true>
}

// -----

weights.model @m attributes {arch = "llama", calibration_file = "s", config = {}} {
  %w = weights.source "m.safetensors"["w"] offset 0 : tensor<4x64xf16>
  %i = weights.calibration "w" importance : tensor<64xf32>
  // expected-error @+1 {{'weights.quantize' op scheme takes no calibration statistics}}
  %a, %b = weights.quantize %w importance(%i : tensor<64xf32>) : tensor<4x64xf16> -> tensor<4x64xf8E4M3FN>, tensor<1xf32> with #weights.per_tensor<storage_type = f8E4M3FN, model_type = f16, use_scale = true, calibration_placeholder = false>
}
