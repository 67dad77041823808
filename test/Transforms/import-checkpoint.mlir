// RUN: quant-opt %s --pass-pipeline="builtin.module(qopt-import-checkpoint{source=%inputs/llama-bf16-st})" | FileCheck %s
// RUN: quant-opt %s --pass-pipeline="builtin.module(qopt-import-checkpoint{source=%inputs/llama-bf16-st})" --mlir-print-debuginfo | FileCheck %s --check-prefix=LOC

// Headers only: one weights.source per tensor, in name order, with the
// absolute byte offset (8 + 2184-byte header + data_offsets[0]). Files are
// named relative to the checkpoint root held once on the model.
// CHECK: weights.model @llama attributes {arch = "llama", checkpoint_root = "{{.*}}llama-bf16-st", config = {
// CHECK-SAME: hidden_size = 128 : i64
// CHECK-SAME: vocab_size = 512 : i64
// CHECK: weights.source "model.safetensors"["lm_head.weight"] offset 2192 : tensor<512x128xbf16>
// CHECK-NEXT: weights.source "model.safetensors"["model.embed_tokens.weight"] offset 133264 : tensor<512x128xbf16>
// CHECK-NEXT: weights.source "model.safetensors"["model.layers.0.input_layernorm.weight"] offset 264336 : tensor<128xbf16>
// CHECK-COUNT-17: weights.source
// CHECK-NEXT: weights.source "model.safetensors"["model.norm.weight"] offset 855184 : tensor<128xbf16>
// CHECK-NEXT: }

// Locations name the tensor and the checkpoint file.
// LOC-DAG: #[[CFG:loc[0-9]+]] = loc("{{.*}}config.json":0:0)
// LOC-DAG: #[[FILE:loc[0-9]+]] = loc("{{.*}}model.safetensors":0:0)
// LOC-DAG: = loc("lm_head.weight"(#[[FILE]]))
