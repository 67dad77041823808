// Serialization errors are located at the op that cannot be evaluated and
// name the parameter being written. @FILE@ stands for this file (a real
// file shorter than the tensor read from it).
// RUN: rm -rf %t && mkdir -p %t
// RUN: sed 's|@FILE@|%s|g' %s > %t/in.mlir
// RUN: quant-opt %t/in.mlir -split-input-file -verify-diagnostics -allow-unregistered-dialect --pass-pipeline="builtin.module(qopt-serialize-tensor-cache{output-dir=%t/out})"
// RUN: not ls %t/out/tensor-cache.json

weights.model @m attributes {arch = "llama", config = {}} {
  // expected-error @+1 {{parameter 'w': reading tensor 'x': /nonexistent/qopt-test/w.bin: cannot open: No such file or directory}}
  %0 = weights.source "/nonexistent/qopt-test/w.bin"["x"] offset 0 : tensor<2x2xf16>
  %1 = weights.shard %0 dim 1 shard 1 of 2 : tensor<2x2xf16> to tensor<2x1xf16>
  %2 = weights.cast %1 : tensor<2x1xf16> to tensor<2x1xbf16>
  weights.param "w" = %2 : tensor<2x1xbf16>
}

// -----

weights.model @m attributes {arch = "llama", config = {}} {
  %0 = weights.source "@FILE@"["head"] offset 0 : tensor<2x4xf16>
  // expected-error @+1 {{parameter 'stacked': reading tensor 'tail': @FILE@: unexpected end of file reading 16 bytes at offset 1000000000}}
  %1 = weights.source "@FILE@"["tail"] offset 1000000000 : tensor<2x4xf16>
  %2 = weights.transpose %1 : tensor<2x4xf16> to tensor<4x2xf16>
  %3 = weights.transpose %2 : tensor<4x2xf16> to tensor<2x4xf16>
  %4 = weights.stack %0, %3 : (tensor<2x4xf16>, tensor<2x4xf16>) -> tensor<2x2x4xf16>
  weights.param "stacked" = %4 : tensor<2x2x4xf16>
}

// -----

// An op without EvaluableOpInterface: refused before anything is read.
weights.model @m attributes {arch = "llama", config = {}} {
  %0 = weights.source "@FILE@"["a"] offset 0 : tensor<2x4xf16>
  weights.param "a" = %0 : tensor<2x4xf16>
  // expected-error @+1 {{parameter 'b': cannot evaluate a value defined by test.opaque}}
  %1 = "test.opaque"() : () -> tensor<2x4xf16>
  %2 = weights.concat %0, %1 axis 0 : (tensor<2x4xf16>, tensor<2x4xf16>) -> tensor<4x4xf16>
  weights.param "b" = %2 : tensor<4x4xf16>
}
