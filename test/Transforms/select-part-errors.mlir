// Errors of qopt-select-part: the serialize pass's (a parameter that cannot
// be evaluated, whichever part writes it) and record ranges outside the
// model. With shards of at most 20 bytes, @b (32 bytes) goes out of band
// into shard 0, part 1 of 2, and @a (16 bytes) is shard 1, part 2 of 2.
// RUN: quant-opt %s -split-input-file -verify-diagnostics -allow-unregistered-dialect --pass-pipeline="builtin.module(qopt-select-part{part=2/2 shard-cap-bytes=20})"
// RUN: not quant-opt %s -split-input-file -allow-unregistered-dialect --pass-pipeline="builtin.module(qopt-select-part{first-record=1 end-record=3})" 2>&1 | FileCheck %s --check-prefix=RANGE
// RANGE: error: records [1, 3) are not a range of the model's 2 records

// Every parameter is checked, whichever part writes it (as the executor
// does), located where it cannot be evaluated.
weights.model @m attributes {arch = "llama", config = {}} {
  %0 = weights.source "/nonexistent/qopt-test/a.bin"["a"] offset 0 : tensor<2x4xf16>
  weights.param @a = %0 : tensor<2x4xf16>
  // expected-error @+1 {{parameter 'b': cannot evaluate a value defined by test.opaque}}
  %1 = "test.opaque"() : () -> tensor<2x4xf16>
  %2 = weights.concat %0, %1 axis 0 : (tensor<2x4xf16>, tensor<2x4xf16>) -> tensor<4x4xf16>
  weights.param @b = %2 : tensor<4x4xf16>
}
