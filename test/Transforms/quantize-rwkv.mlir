// RUN: quant-opt %s --pass-pipeline="builtin.module(qopt-quantize-weights{mode=q4f16_1})" | FileCheck %s --check-prefix=Q4
// RUN: quant-opt %s --pass-pipeline="builtin.module(qopt-quantize-weights{mode=q0bf16})" | FileCheck %s --check-prefix=BF16
// RUN: quant-opt %s --pass-pipeline="builtin.module(qopt-quantize-weights{mode=q0f32})" | FileCheck %s --check-prefix=F32

// MLC's RWKV loaders divide by 2**t after `x.astype(model dtype)`: the
// quantize pass converts the input of weights.divide_pow2 to the model
// dtype (no cast after it), and the division feeds the quantization. A
// `float32` parameter (time_decay, time_faaaa, ln_x) is float32 and never
// quantized in every mode.
weights.model @rwkv attributes {arch = "rwkv5", config = {}} {
  %w = weights.source "m.safetensors"["w"] offset 0 : tensor<64x64xbf16>
  %r = weights.divide_pow2 %w exponent 2 : tensor<64x64xbf16>
  %v = weights.source "m.safetensors"["v"] offset 8192 : tensor<4x64xbf16>
  %s = weights.divide_pow2 %v exponent 1 : tensor<4x64xbf16>
  %x = weights.source "m.safetensors"["x"] offset 8704 : tensor<64xbf16>
  weights.param @blocks.2.attention.output.weight = %r {kind = #weights.kind<linear>} : tensor<64x64xbf16>
  weights.param @blocks.2.attention.ln_x.weight = %x {kind = #weights.kind<float32>} : tensor<64xbf16>
  weights.param @blocks.2.attention.time_mix_key = %s {kind = #weights.kind<other>} : tensor<4x64xbf16>
}

// Q4: %[[W:.+]] = weights.source "m.safetensors"["w"]
// Q4-NEXT: %[[C:.+]] = weights.cast %[[W]] : tensor<64x64xbf16> to tensor<64x64xf16>
// Q4-NEXT: %[[R:.+]] = weights.divide_pow2 %[[C]] exponent 2 : tensor<64x64xf16>
// Q4: %[[Q:.+]]:2 = weights.quantize %[[R]] : tensor<64x64xf16> ->
// Q4: %[[X:.+]] = weights.cast %{{.+}} : tensor<64xbf16> to tensor<64xf32>
// Q4-NEXT: weights.param @blocks.2.attention.ln_x.weight = %[[X]] {kind = #weights.kind<float32>} : tensor<64xf32>
// Q4: weights.param @blocks.2.attention.time_mix_key = %{{.+}} {kind = #weights.kind<other>} : tensor<4x64xf16>
// Q4-NOT: weights.cast

// The model dtype is the source's: nothing to convert.
// BF16-NOT: weights.cast {{.+}} to tensor<64x64
// BF16: weights.param @blocks.2.attention.output.weight = %{{.+}} : tensor<64x64xbf16>
// BF16: weights.cast %{{.+}} : tensor<64xbf16> to tensor<64xf32>

// F32: weights.cast %{{.+}} : tensor<64x64xbf16> to tensor<64x64xf32>
// F32-NEXT: weights.divide_pow2 %{{.+}} exponent 2 : tensor<64x64xf32>
// F32: weights.param @blocks.2.attention.ln_x.weight = %{{.+}} {kind = #weights.kind<float32>} : tensor<64xf32>
