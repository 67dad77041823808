//===- Starcoder2.cpp - Starcoder2ForCausalLM as MLC lays it out *- C++ -*-===//
//
// mlc-llm python/mlc_llm/model/starcoder2/{starcoder2_model,
// starcoder2_loader}.py: q/k/v fused into `wqkv_pack`, a plain (non-gated)
// MLP `c_fc` / `c_proj`, LayerNorms with biases, biases on the linears when
// `use_bias`, and `lm_head` always built from the embedding tensor.
//
//===----------------------------------------------------------------------===//

#include "ArchitectureBuilders.h"

using namespace qopt::models;
using build::layer;

static llvm::Expected<ModelDef> buildStarcoder2(const ModelConfig &cfg,
                                                int64_t tp) {
  const char *arch = "starcoder2";
  llvm::Expected<build::TransformerDims> d = build::readDecoderConfig(
      cfg, arch, tp,
      {"vocab_size", "hidden_size", "num_hidden_layers", "num_attention_heads",
       "num_key_value_heads", "hidden_act", "norm_epsilon", "intermediate_size",
       "use_bias", "use_cache", "bos_token_id", "eos_token_id"},
      /*needsRope=*/true);
  if (!d)
    return d.takeError();
  bool bias = cfg.getBool("use_bias", false);
  int64_t h = d->hidden, ffn = d->intermediate;

  ModelDef m = build::startModel(arch, {"no-quant", "group-quant", "ft-quant"});
  m.shardDivisors = d->shardDivisors();
  // lm_head is inserted first: both read model.embed_tokens.weight, and MLC
  // emits lm_head.weight right before model.embed_tokens.weight.
  build::addParam(m, "lm_head.weight", {d->vocab, h}, ParamKind::FinalFC,
                  MapExpr::src("model.embed_tokens.weight"));
  build::addEmbedTokens(m, *d, /*symbolicVocab=*/false);
  build::AttentionOptions attention;
  attention.fusedName = "wqkv_pack";
  attention.qkvBias = attention.outBias = bias;
  for (int64_t i = 0; i < d->layers; ++i) {
    build::addFusedAttention(m, *d, i, attention);
    build::addCopy(m, layer(i, "mlp.c_fc.weight"), {ffn, h}, ParamKind::Linear,
                   ShardStrategy{0, {}});
    if (bias)
      build::addCopy(m, layer(i, "mlp.c_fc.bias"), {ffn}, ParamKind::Bias,
                     ShardStrategy{0, {}});
    build::addCopy(m, layer(i, "mlp.c_proj.weight"), {h, ffn},
                   ParamKind::Linear, ShardStrategy{1, {}});
    if (bias) // MLC declares c_proj.bias with dim 0.
      build::addCopy(m, layer(i, "mlp.c_proj.bias"), {h}, ParamKind::Bias,
                     ShardStrategy{0, {}});
    for (const char *n : {"input_layernorm", "post_attention_layernorm"}) {
      build::addCopy(m, layer(i, std::string(n) + ".weight"), {h},
                     ParamKind::Norm);
      build::addCopy(m, layer(i, std::string(n) + ".bias"), {h},
                     ParamKind::Bias);
    }
  }
  build::addCopy(m, "model.norm.weight", {h}, ParamKind::Norm);
  build::addCopy(m, "model.norm.bias", {h}, ParamKind::Bias);
  return m;
}

Architecture qopt::models::makeStarcoder2Architecture() {
  return {
      "starcoder2", {"Starcoder2ForCausalLM"}, {"starcoder2"}, buildStarcoder2};
}
