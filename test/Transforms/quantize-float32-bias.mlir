// RUN: quant-opt %s --pass-pipeline="builtin.module(qopt-quantize-weights{mode=q4f16_1})" | FileCheck %s --check-prefix=Q4
// RUN: quant-opt %s --pass-pipeline="builtin.module(qopt-quantize-weights{mode=q0bf16})" | FileCheck %s --check-prefix=BF16

// A float32_bias (gpt_neox's MLP biases, declared with out_dtype float32)
// is cast to float32 and never quantized, whatever the mode's model dtype;
// an ordinary bias takes the model dtype.
weights.model @neox attributes {arch = "gpt_neox", config = {}} {
  %b = weights.source "m.safetensors"["b"] offset 0 : tensor<64xbf16>
  %c = weights.source "m.safetensors"["c"] offset 128 : tensor<64xf32>
  weights.param @fc.bias = %b {kind = #weights.kind<float32_bias>} : tensor<64xbf16>
  weights.param @proj.bias = %c {kind = #weights.kind<float32_bias>} : tensor<64xf32>
  weights.param @dense.bias = %b {kind = #weights.kind<bias>} : tensor<64xbf16>
}

// Q4: %[[F:.+]] = weights.cast %{{.+}} : tensor<64xbf16> to tensor<64xf32>
// Q4-NEXT: weights.param @fc.bias = %[[F]] {kind = #weights.kind<float32_bias>} : tensor<64xf32>
// Q4-NEXT: weights.param @proj.bias = %{{.+}} {kind = #weights.kind<float32_bias>} : tensor<64xf32>
// Q4-NEXT: %[[D:.+]] = weights.cast %{{.+}} : tensor<64xbf16> to tensor<64xf16>
// Q4-NEXT: weights.param @dense.bias = %[[D]] {kind = #weights.kind<bias>} : tensor<64xf16>

// BF16: weights.cast %{{.+}} : tensor<64xbf16> to tensor<64xf32>
// BF16: weights.param @proj.bias = %{{.+}} {kind = #weights.kind<float32_bias>} : tensor<64xf32>
// BF16-NOT: weights.cast
// BF16: weights.param @dense.bias = %{{.+}} {kind = #weights.kind<bias>} : tensor<64xbf16>
