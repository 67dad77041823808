// Hand-written GGUF-style IR (see serialize-gguf-ops.test); @DIR@ is the
// test's directory.
weights.model @m attributes {arch = "llama", config = {}} {
  %raw = weights.source "@DIR@/q8.bin"["w"] offset 0 : tensor<4x68xui8>
  %w = weights.dequantize_ggml %raw encoding "Q8_0" : tensor<4x68xui8> to tensor<4x64xf32>
  %w16 = weights.cast %w : tensor<4x64xf32> to tensor<4x64xf16>
  weights.param "decoded" = %w16 : tensor<4x64xf16>
  %u = weights.unpermute_heads %w heads 1 : tensor<4x64xf32>
  %u16 = weights.cast %u : tensor<4x64xf32> to tensor<4x64xf16>
  weights.param "unpermuted" = %u16 : tensor<4x64xf16>
  %s = weights.shard %u dim 0 segments [1, 1] shard 0 of 2 : tensor<4x64xf32> to tensor<2x64xf32>
  %s16 = weights.cast %s : tensor<2x64xf32> to tensor<2x64xf16>
  weights.param "shard_rows" = %s16 : tensor<2x64xf16>
  %raw1 = weights.source "@DIR@/q8.bin"["v"] offset 272 : tensor<68xui8>
  %v = weights.dequantize_ggml %raw1 encoding "Q8_0" : tensor<68xui8> to tensor<64xf32>
  %v16 = weights.cast %v : tensor<64xf32> to tensor<64xf16>
  weights.param "one_dim" = %v16 : tensor<64xf16>
  %p = weights.source "@DIR@/p16.bin"["p"] offset 0 : tensor<8x3xf16>
  %pu = weights.unpermute_heads %p heads 2 : tensor<8x3xf16>
  weights.param "plain_unpermuted" = %pu : tensor<8x3xf16>
  %ph = weights.shard %pu dim 0 shard 1 of 2 : tensor<8x3xf16> to tensor<4x3xf16>
  weights.param "plain_head_1" = %ph : tensor<4x3xf16>
}
