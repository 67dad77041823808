// RUN: quant-opt %s -split-input-file -verify-diagnostics --pass-pipeline="builtin.module(qopt-lower-to-quant-types{materialize-scales=1 max-scales=100})"

// The upstream per-axis / sub-channel types embed every scale, so the pass
// caps how many it materializes (here 100); the check comes before any read
// (the checkpoint does not exist). 96 rows x 2 blocks = 192 scales.
weights.model @llama attributes {arch = "llama", config = {}} {
  %w = weights.source "missing.safetensors"["w"] offset 0 : tensor<96x64xf16>
  // expected-error @+1 {{materializing the scales of 'model.layers.0.mlp.down_proj.weight' would put 192 scales into the IR, more than max-scales = 100; raise max-scales, or leave materialize-scales off to keep the scales in the q_scale records}}
  %q:2 = weights.quantize %w : tensor<96x64xf16> -> tensor<96x32xui8>, tensor<96x2xf16> with #weights.mnn<quant_type = !quant.any<i4:f16>, block = 32, hqq = false>
  weights.param @model.layers.0.mlp.down_proj.q_weight = %q#0 {quantized_from = "model.layers.0.mlp.down_proj.weight", role = #weights.role<quantized_weight>} : tensor<96x32xui8>
  weights.param @model.layers.0.mlp.down_proj.q_scale = %q#1 {quantized_from = "model.layers.0.mlp.down_proj.weight", role = #weights.role<scale>} : tensor<96x2xf16>
}

// -----

// The cap is on the whole module, checked before anything is read:
// 64 + 64 scales > 100 fails at the second weight.
weights.model @llama attributes {arch = "llama", config = {}} {
  %w = weights.source "missing.safetensors"["w"] offset 0 : tensor<64x64xf16>
  %a:2 = weights.quantize %w : tensor<64x64xf16> -> tensor<64x32xui8>, tensor<64x1xf16> with #weights.mnn<quant_type = !quant.any<i4:f16>, block = 0, hqq = false>
  weights.param @a.q_weight = %a#0 {quantized_from = "a.weight", role = #weights.role<quantized_weight>} : tensor<64x32xui8>
  weights.param @a.q_scale = %a#1 {quantized_from = "a.weight", role = #weights.role<scale>} : tensor<64x1xf16>
  // expected-error @+1 {{materializing the scales of 'b.weight' would put 128 scales into the IR, more than max-scales = 100}}
  %b:3 = weights.quantize %w : tensor<64x64xf16> -> tensor<64x32xui8>, tensor<64x1xf16>, tensor<64x1xf16> with #weights.mnn<quant_type = !quant.any<u4:f16>, block = 0, hqq = true>
  weights.param @b.q_weight = %b#0 {quantized_from = "b.weight", role = #weights.role<quantized_weight>} : tensor<64x32xui8>
  weights.param @b.q_scale = %b#1 {quantized_from = "b.weight", role = #weights.role<scale>} : tensor<64x1xf16>
  weights.param @b.q_zero = %b#2 {quantized_from = "b.weight", role = #weights.role<zero>} : tensor<64x1xf16>
}

// -----

// Within the cap the weights are read: a missing checkpoint is an error
// naming the weight.
weights.model @llama attributes {arch = "llama", config = {}} {
  %w = weights.source "missing.safetensors"["w"] offset 0 : tensor<8x64xf16>
  // expected-error @+1 {{cannot materialize the scales of 'c.weight': }}
  %q:2 = weights.quantize %w : tensor<8x64xf16> -> tensor<8x32xui8>, tensor<8x1xf16> with #weights.mnn<quant_type = !quant.any<i4:f16>, block = 0, hqq = false>
  weights.param @c.q_weight = %q#0 {quantized_from = "c.weight", role = #weights.role<quantized_weight>} : tensor<8x32xui8>
  weights.param @c.q_scale = %q#1 {quantized_from = "c.weight", role = #weights.role<scale>} : tensor<8x1xf16>
}
