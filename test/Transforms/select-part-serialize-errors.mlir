// qopt-serialize-tensor-cache on IR with weights.external_param (records of
// other parts, as qopt-select-part leaves them) serializes only a part that
// does not write them. With shards of at most 20 bytes, @b (32 bytes) goes
// out of band into shard 0, part 1 of 2, and @a (16 bytes) is shard 1, part
// 2 of 2.
// RUN: rm -rf %t && mkdir -p %t
// RUN: quant-opt %s -verify-diagnostics --pass-pipeline="builtin.module(qopt-serialize-tensor-cache{output-dir=%t/o shard-cap-bytes=20})"
// RUN: not ls %t/o
// RUN: not quant-opt %s --pass-pipeline="builtin.module(qopt-serialize-tensor-cache{output-dir=%t/o2 part=1/2 shard-cap-bytes=20})" 2>&1 | FileCheck %s --check-prefix=PART2
// PART2: error: 'weights.external_param' op record 'b' has no definition, but part 1 of 2 writes its shard
// RUN: not ls %t/o2
// The dry run plans every record, defined or not.
// RUN: quant-opt %s --pass-pipeline="builtin.module(qopt-serialize-tensor-cache{dry-run=1 shard-cap-bytes=20})" -o /dev/null | FileCheck %s --check-prefix=PLAN
// PLAN: params_shard_1.bin @0  a  [2, 4] float16  16 bytes
// PLAN-NEXT: params_shard_0.bin @0  b  [4, 4] float16  32 bytes

weights.model @m attributes {arch = "llama", config = {}, source_params = 8 : i64} {
  %0 = weights.source "/nonexistent/qopt-test/a.bin"["a"] offset 0 : tensor<2x4xf16>
  weights.param @a = %0 : tensor<2x4xf16>
  // expected-error @+1 {{'weights.external_param' op record 'b' has no definition: only a part that does not write it can be serialized (part=I/N)}}
  weights.external_param @b : tensor<4x4xf16>
}
