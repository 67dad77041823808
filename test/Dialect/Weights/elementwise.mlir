// RUN: quant-opt %s | quant-opt | FileCheck %s

// weights.divide_pow2 and weights.exp (RWKV's rescale and rwkv5's
// time_decay) round-trip.
weights.model @rwkv attributes {arch = "rwkv5", config = {}} {
  %w = weights.source "m.safetensors"["w"] offset 0 : tensor<8x4xf16>
  %d = weights.source "m.safetensors"["d"] offset 64 : tensor<2x4xf32>
  %r = weights.divide_pow2 %w exponent 3 : tensor<8x4xf16>
  %e = weights.exp %d : tensor<2x4xf32>
  %n = weights.exp %e negate : tensor<2x4xf32>
  weights.param @w = %r {kind = #weights.kind<linear>} : tensor<8x4xf16>
  weights.param @d = %n {kind = #weights.kind<float32>} : tensor<2x4xf32>
}

// CHECK-LABEL: weights.model @rwkv
// CHECK: %[[W:.+]] = weights.source "m.safetensors"["w"]
// CHECK: %[[D:.+]] = weights.source "m.safetensors"["d"]
// CHECK: %[[R:.+]] = weights.divide_pow2 %[[W]] exponent 3 : tensor<8x4xf16>
// CHECK: %[[E:.+]] = weights.exp %[[D]] : tensor<2x4xf32>
// CHECK: %[[N:.+]] = weights.exp %[[E]] negate : tensor<2x4xf32>
// CHECK: weights.param @w = %[[R]] {kind = #weights.kind<linear>}
// CHECK: weights.param @d = %[[N]] {kind = #weights.kind<float32>}
