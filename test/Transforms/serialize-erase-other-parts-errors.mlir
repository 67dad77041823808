// Erasing the other parts' IR (erase-other-parts) comes after every
// parameter is checked: part 1 of 2 still refuses another part's parameter
// that cannot be evaluated, located as without the option. With shards of
// at most 20 bytes, @a (16 bytes) is shard 0, part 1; @b (32 bytes) is
// shard 1, part 2.
// RUN: rm -rf %t && mkdir -p %t
// RUN: quant-opt %s -verify-diagnostics -allow-unregistered-dialect --pass-pipeline="builtin.module(qopt-serialize-tensor-cache{output-dir=%t/p1 part=1/2 shard-cap-bytes=20 erase-other-parts=1})"
// RUN: quant-opt %s -verify-diagnostics -allow-unregistered-dialect --pass-pipeline="builtin.module(qopt-serialize-tensor-cache{output-dir=%t/p2 part=2/2 shard-cap-bytes=20 erase-other-parts=1})"
// RUN: not ls %t/p1/.quant-opt-parts %t/p2/.quant-opt-parts

weights.model @m attributes {arch = "llama", config = {}} {
  %0 = weights.source "/nonexistent/qopt-test/a.bin"["a"] offset 0 : tensor<2x4xf16>
  weights.param @a = %0 : tensor<2x4xf16>
  // expected-error @+1 {{parameter 'b': cannot evaluate a value defined by test.opaque}}
  %1 = "test.opaque"() : () -> tensor<2x4xf16>
  %2 = weights.concat %0, %1 axis 0 : (tensor<2x4xf16>, tensor<2x4xf16>) -> tensor<4x4xf16>
  weights.param @b = %2 : tensor<4x4xf16>
}
