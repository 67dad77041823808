// Hand-written IR (see serialize-hand-written.test): shapes of IR the
// importers never produce. @DIR@ is replaced by the test's directory.
weights.model @m attributes {arch = "llama", config = {}} {
  %a = weights.source "@DIR@/a.bin"["a"] offset 0 : tensor<4x6xbf16>
  %b = weights.source "@DIR@/b.bin"["b"] offset 0 : tensor<2x6xf16>
  %c = weights.source "@DIR@/c.bin"["c"] offset 0 : tensor<3x6xf16>

  %a0 = weights.shard %a dim 0 shard 0 of 2 : tensor<4x6xbf16> to tensor<2x6xbf16>
  %a1 = weights.shard %a dim 0 shard 1 of 2 : tensor<4x6xbf16> to tensor<2x6xbf16>
  %cs = weights.cast %a1 : tensor<2x6xbf16> to tensor<2x6xf16>
  weights.param @cast_of_shard = %cs : tensor<2x6xf16>

  %bc = weights.concat %b, %c axis 0 : (tensor<2x6xf16>, tensor<3x6xf16>) -> tensor<5x6xf16>
  %t = weights.transpose %bc : tensor<5x6xf16> to tensor<6x5xf16>
  weights.param @transpose_of_concat = %t : tensor<6x5xf16>

  %c0 = weights.cast %a0 : tensor<2x6xbf16> to tensor<2x6xf16>
  %c1 = weights.cast %a1 : tensor<2x6xbf16> to tensor<2x6xf16>
  %st = weights.stack %c0, %c1 : (tensor<2x6xf16>, tensor<2x6xf16>) -> tensor<2x2x6xf16>
  weights.param @stack_of_casts = %st : tensor<2x2x6xf16>

  %bb = weights.concat %b, %b axis 1 : (tensor<2x6xf16>, tensor<2x6xf16>) -> tensor<2x12xf16>
  %sh = weights.shard %bb dim 1 segments [2, 4] shard 1 of 2 : tensor<2x12xf16> to tensor<2x6xf16>
  %ac = weights.add_constant %sh, 1.0 : tensor<2x6xf16>
  weights.param @add_of_shard = %ac : tensor<2x6xf16>

  %q:2 = weights.quantize %cs : tensor<2x6xf16> -> tensor<2x1xui32>, tensor<2x1xf16>
      with #weights.group<quant_type = !quant.any<u4<0:14>:f16>, group_size = 8, layout = nk, rounding = even>
  weights.param @q.q_weight = %q#0 : tensor<2x1xui32>
  weights.param @q.q_scale = %q#1 : tensor<2x1xf16>
  %qs = weights.shard %q#0 dim 0 shard 1 of 2 : tensor<2x1xui32> to tensor<1x1xui32>
  weights.param @q_weight_shard_1 = %qs : tensor<1x1xui32>
  %qc = weights.cast %q#1 : tensor<2x1xf16> to tensor<2x1xbf16>
  weights.param @cast_of_scale = %qc : tensor<2x1xbf16>

  %one = weights.concat %c axis 0 : (tensor<3x6xf16>) -> tensor<3x6xf16>
  weights.param @concat_of_one = %one : tensor<3x6xf16>
  %tt = weights.transpose %t : tensor<6x5xf16> to tensor<5x6xf16>
  weights.param @transpose_of_transpose = %tt : tensor<5x6xf16>
  %ss = weights.shard %a1 dim 1 shard 0 of 3 : tensor<2x6xbf16> to tensor<2x2xbf16>
  weights.param @shard_of_shard = %ss : tensor<2x2xbf16>
  %ia = weights.concat %a0, %a1 axis 1 : (tensor<2x6xbf16>, tensor<2x6xbf16>) -> tensor<2x12xbf16>
  %ic = weights.cast %ia : tensor<2x12xbf16> to tensor<2x12xf16>
  weights.param @interleaved_cast = %ic : tensor<2x12xf16>

  // LoRA merges over values no importer feeds them: a cast of a shard with
  // a bf16 lora_b that is a shard of a shard, and (fan_in_fan_out) a
  // transpose with a column shard as lora_b.
  %ml = weights.merge_lora %cs, %b, %ss scale 0.5 : tensor<2x6xf16>, tensor<2x6xf16>, tensor<2x2xbf16>
  weights.param @merge_of_shard = %ml : tensor<2x6xf16>
  %bs = weights.shard %bc dim 1 shard 0 of 3 : tensor<5x6xf16> to tensor<5x2xf16>
  %mf = weights.merge_lora %t, %b, %bs scale 0.25 fan_in_fan_out : tensor<6x5xf16>, tensor<2x6xf16>, tensor<5x2xf16>
  weights.param @merge_transposed = %mf : tensor<6x5xf16>
}
