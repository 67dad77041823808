// qopt-lower-to-quant-types{materialize-scales=1} on the small Llama
// (test/Inputs/llama-bf16-st: 9 MNN weights, K = 128 and 256). The exact
// types are checked here by hand; every scale, and the type of every view,
// against the independent reference test/reference/mnn_reference.py
// (--views), which recomputes MNN's float16 scales from the checkpoint.
//
// RUN: rm -rf %t && mkdir -p %t
// RUN: quant-opt %s --pass-pipeline="builtin.module(qopt-import-checkpoint{config=%inputs/llama-bf16-st}, qopt-map-parameters, qopt-quantize-weights{mode=mnn_w4_b32}, qopt-lower-to-quant-types{materialize-scales=1})" -o %t/sym.mlir
// RUN: FileCheck %s --check-prefix=SYM < %t/sym.mlir
// RUN: %python %reference/mnn_reference.py %inputs/llama-bf16-st --views %t/sym.mlir --bits 4 --block 32 | FileCheck %s --check-prefix=REF
// RUN: quant-opt %s --pass-pipeline="builtin.module(qopt-import-checkpoint{config=%inputs/llama-bf16-st}, qopt-map-parameters, qopt-quantize-weights{mode=mnn_w8}, qopt-lower-to-quant-types{materialize-scales=1})" -o %t/cw.mlir
// RUN: FileCheck %s --check-prefix=CW < %t/cw.mlir
// RUN: %python %reference/mnn_reference.py %inputs/llama-bf16-st --views %t/cw.mlir --bits 8 | FileCheck %s --check-prefix=REF
// HQQ keeps MNN's scales: the reference's RTN scales apply; the mins stay
// in q_zero (the offset operand).
// RUN: quant-opt %s --pass-pipeline="builtin.module(qopt-import-checkpoint{config=%inputs/llama-bf16-st}, qopt-map-parameters, qopt-quantize-weights{mode=mnn_w4_asym_b64_hqq}, qopt-lower-to-quant-types{materialize-scales=1})" -o %t/asym.mlir
// RUN: FileCheck %s --check-prefix=ASYM < %t/asym.mlir
// RUN: %python %reference/mnn_reference.py %inputs/llama-bf16-st --views %t/asym.mlir --bits 4 --asymmetric --block 64 | FileCheck %s --check-prefix=REF
// The printed types parse back (upstream verifiers included).
// RUN: quant-opt %t/sym.mlir | quant-opt | FileCheck %s --check-prefix=SYM
// RUN: quant-opt %t/asym.mlir | quant-opt | FileCheck %s --check-prefix=ASYM
// At block 32 the module holds 11264 scales (per layer: qkv 256 x 4, o
// 128 x 4, gate_up 512 x 4, down 128 x 8; lm_head 512 x 4): a cap below
// that is an error.
// RUN: not quant-opt %s --pass-pipeline="builtin.module(qopt-import-checkpoint{config=%inputs/llama-bf16-st}, qopt-map-parameters, qopt-quantize-weights{mode=mnn_w4_b32}, qopt-lower-to-quant-types{materialize-scales=1 max-scales=1000})" 2>&1 | FileCheck %s --check-prefix=CAP

// SYM: weights.quant_view "model.layers.0.mlp.down_proj.weight" = {{.+}} -> tensor<128x256x!quant.uniform<i4<-7:7>:f16:{0:1, 1:32}, {{[{][{]}}
// SYM: weights.quant_view "model.layers.0.self_attn.qkv_proj.weight" = %{{.+}}#0, %{{.+}}#1 : tensor<256x64xui8>, tensor<256x4xf16> -> tensor<256x128x!quant.uniform<i4<-7:7>:f16:{0:1, 1:32}, {{[{][{]}}{{[0-9.eE+-]+}}, {{[0-9.eE+-]+}}, {{[0-9.eE+-]+}}, {{[0-9.eE+-]+}}}, {
// CW:  weights.quant_view "model.layers.0.mlp.down_proj.weight" = %{{.+}}#0, %{{.+}}#1 : tensor<128x256xui8>, tensor<128x1xf16> -> tensor<128x256x!quant.uniform<i8<-127:127>:f16:0, {{[{]}}{{[0-9.eE+-]+}},{{[0-9.eE+-]+}},
// ASYM: weights.quant_view "model.layers.0.mlp.down_proj.weight" = %{{.+}}#0, %{{.+}}#1 offset %{{.+}}#2 : tensor<128x128xui8>, tensor<128x4xf16>, tensor<128x4xf16> -> tensor<128x256x!quant.uniform<u4:f16:{0:1, 1:64}, {{[{][{]}}
// REF: ok: 9 views match the reference scales
// CAP: error: materializing the scales of '{{.+}}' would put {{[0-9]+}} scales into the IR, more than max-scales = 1000
