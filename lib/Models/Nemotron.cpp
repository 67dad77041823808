//===- Nemotron.cpp - NemotronForCausalLM as MLC lays it out ---*- C++ -*-===//
//
// mlc-llm python/mlc_llm/model/nemotron/{nemotron_model,nemotron_loader}.py
// (make_standard_hf_loader without gate/up fusion): fused `qkv_proj`, a
// plain MLP `up_proj` [I, H] / `down_proj` [H, I] (biases with mlp_bias),
// LayerNorm1P weights and biases copied as stored (the + 1 happens at run
// time), a symbolic vocabulary, `lm_head` unless tie_word_embeddings,
// `rotary_emb.inv_freq` unused.
//
//===----------------------------------------------------------------------===//

#include "ArchitectureBuilders.h"

using namespace qopt::models;
using build::layer;

static llvm::Expected<ModelDef> buildNemotron(const ModelConfig &cfg,
                                              int64_t tp) {
  const char *arch = "nemotron";
  if (llvm::Error e = cfg.require(
          {"vocab_size", "max_position_embeddings", "hidden_size",
           "intermediate_size", "num_hidden_layers", "num_attention_heads",
           "num_key_value_heads"},
          arch))
    return std::move(e);
  if (llvm::Error e = build::refusePresharding(
          cfg, arch, tp,
          "its mlp.up_proj [intermediate, hidden] carries ShardSingleDim(1), "
          "which needs hidden x shards columns in the checkpoint"))
    return std::move(e);
  llvm::Expected<build::TransformerDims> d = build::readDims(cfg, arch, tp);
  if (!d)
    return d.takeError();
  if (d->headDim * d->heads != d->hidden)
    return build::configError(
        cfg, "head_dim x num_attention_heads must equal hidden_size (" +
                 llvm::Twine(arch) + ")");
  bool bias = cfg.getBool("mlp_bias", false);
  int64_t h = d->hidden, ffn = d->intermediate;

  ModelDef m = build::startModel(
      arch, {"no-quant", "group-quant", "ft-quant", "awq", "per-tensor-quant"});
  build::addEmbedTokens(m, *d, /*symbolicVocab=*/true);
  for (int64_t i = 0; i < d->layers; ++i) {
    build::addFusedAttention(m, *d, i);
    build::addCopy(m, layer(i, "mlp.up_proj.weight"), {ffn, h},
                   ParamKind::Linear, ShardStrategy{1, {}});
    if (bias)
      build::addCopy(m, layer(i, "mlp.up_proj.bias"), {ffn}, ParamKind::Bias);
    build::addCopy(m, layer(i, "mlp.down_proj.weight"), {h, ffn},
                   ParamKind::Linear, ShardStrategy{1, {}});
    if (bias)
      build::addCopy(m, layer(i, "mlp.down_proj.bias"), {h}, ParamKind::Bias);
    build::addLayerNormWithBias(m, *d, i, "input_layernorm");
    build::addLayerNormWithBias(m, *d, i, "post_attention_layernorm");
  }
  build::addCopy(m, "model.norm.weight", {h}, ParamKind::Norm);
  build::addCopy(m, "model.norm.bias", {h}, ParamKind::Bias);
  if (!cfg.getBool("tie_word_embeddings", false))
    build::addCopy(m, "lm_head.weight", {-1, h}, ParamKind::FinalFC);
  build::addUnusedPerLayer(m, d->layers, "self_attn.rotary_emb.inv_freq");
  return m;
}

Architecture qopt::models::makeNemotronArchitecture() {
  return {"nemotron", {"NemotronForCausalLM"}, {"nemotron"}, buildNemotron};
}
