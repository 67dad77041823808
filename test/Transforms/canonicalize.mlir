// Folders of the weights ops under upstream -canonicalize, and the upstream
// -cse and -symbol-dce that quant-opt registers. Every fold keeps the bytes:
// a cast folds away only when its first step is exact.
// RUN: quant-opt %s -split-input-file -canonicalize | FileCheck %s
// RUN: quant-opt %s -split-input-file -cse | FileCheck %s --check-prefix=CSE
// RUN: quant-opt %s -split-input-file -symbol-dce | FileCheck %s --check-prefix=DCE

// CHECK-LABEL: weights.model @casts
weights.model @casts attributes {arch = "llama", config = {}} {
  // CHECK-NEXT: %[[A:.+]] = weights.source "m.safetensors"["a"] offset 0 : tensor<4x8xf16>
  // CHECK-NEXT: %[[W:.+]] = weights.source "m.safetensors"["w"] offset 64 : tensor<4x8xf32>
  // CHECK-NEXT: %[[I:.+]] = weights.source "m.safetensors"["i"] offset 192 : tensor<4x8xi32>
  %a = weights.source "m.safetensors"["a"] offset 0 : tensor<4x8xf16>
  %w = weights.source "m.safetensors"["w"] offset 64 : tensor<4x8xf32>
  %i = weights.source "m.safetensors"["i"] offset 192 : tensor<4x8xi32>
  // CHECK-NEXT: weights.param "same" = %[[A]] : tensor<4x8xf16>
  %0 = weights.cast %a : tensor<4x8xf16> to tensor<4x8xf16>
  weights.param "same" = %0 : tensor<4x8xf16>
  // f16 -> f32 -> f16 is exact.
  // CHECK-NEXT: weights.param "round_trip" = %[[A]] : tensor<4x8xf16>
  %1 = weights.cast %a : tensor<4x8xf16> to tensor<4x8xf32>
  %2 = weights.cast %1 : tensor<4x8xf32> to tensor<4x8xf16>
  weights.param "round_trip" = %2 : tensor<4x8xf16>
  // f16 -> f32 -> bf16 rounds once, as f16 -> bf16 does.
  // CHECK-NEXT: %[[B:.+]] = weights.cast %[[A]] : tensor<4x8xf16> to tensor<4x8xbf16>
  // CHECK-NEXT: weights.param "one_rounding" = %[[B]] : tensor<4x8xbf16>
  %3 = weights.cast %1 : tensor<4x8xf32> to tensor<4x8xbf16>
  weights.param "one_rounding" = %3 : tensor<4x8xbf16>
  // f32 -> f16 -> f32 rounds: both casts stay.
  // CHECK-NEXT: %[[N1:.+]] = weights.cast %[[W]] : tensor<4x8xf32> to tensor<4x8xf16>
  // CHECK-NEXT: %[[N2:.+]] = weights.cast %[[N1]] : tensor<4x8xf16> to tensor<4x8xf32>
  // CHECK-NEXT: weights.param "narrowing" = %[[N2]] : tensor<4x8xf32>
  %4 = weights.cast %w : tensor<4x8xf32> to tensor<4x8xf16>
  %5 = weights.cast %4 : tensor<4x8xf16> to tensor<4x8xf32>
  weights.param "narrowing" = %5 : tensor<4x8xf32>
  // Integer reinterpretations compose.
  // CHECK-NEXT: weights.param "ints" = %[[I]] : tensor<4x8xi32>
  %6 = weights.cast %i : tensor<4x8xi32> to tensor<4x8xui32>
  %7 = weights.cast %6 : tensor<4x8xui32> to tensor<4x8xi32>
  weights.param "ints" = %7 : tensor<4x8xi32>
  // CHECK-NEXT: }
}

// -----

// CHECK-LABEL: weights.model @moves
weights.model @moves attributes {arch = "llama", config = {}} {
  // CHECK-NEXT: %[[A:.+]] = weights.source "m.safetensors"["a"] offset 0 : tensor<4x8xf16>
  %a = weights.source "m.safetensors"["a"] offset 0 : tensor<4x8xf16>
  // CHECK-NEXT: weights.param "concat_of_one" = %[[A]] : tensor<4x8xf16>
  %0 = weights.concat %a axis 1 : (tensor<4x8xf16>) -> tensor<4x8xf16>
  weights.param "concat_of_one" = %0 : tensor<4x8xf16>
  // CHECK-NEXT: weights.param "transpose_twice" = %[[A]] : tensor<4x8xf16>
  %1 = weights.transpose %a : tensor<4x8xf16> to tensor<8x4xf16>
  %2 = weights.transpose %1 : tensor<8x4xf16> to tensor<4x8xf16>
  weights.param "transpose_twice" = %2 : tensor<4x8xf16>
  // CHECK-NEXT: weights.param "one_shard" = %[[A]] : tensor<4x8xf16>
  %3 = weights.shard %a dim 0 shard 0 of 1 : tensor<4x8xf16> to tensor<4x8xf16>
  weights.param "one_shard" = %3 : tensor<4x8xf16>
  // A real shard stays.
  // CHECK-NEXT: %[[S:.+]] = weights.shard %[[A]] dim 0 shard 1 of 2
  // CHECK-NEXT: weights.param "shard" = %[[S]] : tensor<2x8xf16>
  %4 = weights.shard %a dim 0 shard 1 of 2 : tensor<4x8xf16> to tensor<2x8xf16>
  weights.param "shard" = %4 : tensor<2x8xf16>
  // CHECK-NEXT: }
}

// -----

// Identical sources and casts are one value after -cse.
// CSE-LABEL: weights.model @cse
weights.model @cse attributes {arch = "llama", config = {}} {
  // CSE-NEXT: %[[A:.+]] = weights.source "m.safetensors"["a"] offset 0 : tensor<4x8xf16>
  // CSE-NEXT: %[[C:.+]] = weights.cast %[[A]] : tensor<4x8xf16> to tensor<4x8xbf16>
  // CSE-NEXT: weights.param "x" = %[[C]] : tensor<4x8xbf16>
  // CSE-NEXT: weights.param "y" = %[[C]] : tensor<4x8xbf16>
  %a = weights.source "m.safetensors"["a"] offset 0 : tensor<4x8xf16>
  %b = weights.source "m.safetensors"["a"] offset 0 : tensor<4x8xf16>
  %0 = weights.cast %a : tensor<4x8xf16> to tensor<4x8xbf16>
  %1 = weights.cast %b : tensor<4x8xf16> to tensor<4x8xbf16>
  weights.param "x" = %0 : tensor<4x8xbf16>
  weights.param "y" = %1 : tensor<4x8xbf16>
}

// -----

// A private model no one references is removed by -symbol-dce.
// DCE-NOT: @unused
// DCE: weights.model @kept
weights.model @unused attributes {sym_visibility = "private", arch = "llama", config = {}} {
}
weights.model @kept attributes {arch = "llama", config = {}} {
}
