//===- OLMo.cpp - OLMo and OLMo2 as MLC lays them out ----------*- C++ -*-===//
//
// mlc-llm python/mlc_llm/model/olmo/{olmo_model,olmo_loader}.py and
// olmo2/{olmo2_model,olmo2_loader}.py (both make_standard_hf_loader: q/k/v
// fused into `qkv_proj`, gate/up into `gate_up_proj`, the rest copied,
// `rotary_emb.inv_freq` unused). OLMo's LayerNorms have no weights at all;
// OLMo2 normalises after attention and MLP (`post_attention_layernorm`,
// `post_feedforward_layernorm`) and has q_norm [nq d] / k_norm [nkv d].
// `lm_head` unless tie_word_embeddings; the vocabulary size is concrete.
//
//===----------------------------------------------------------------------===//

#include "ArchitectureBuilders.h"

using namespace qopt::models;
using build::layer;

static llvm::Expected<ModelDef> buildOLMoFamily(const ModelConfig &cfg,
                                                int64_t tp, bool olmo2) {
  const char *arch = olmo2 ? "olmo2" : "olmo";
  if (llvm::Error e = cfg.require({"vocab_size", "hidden_size",
                                   "num_attention_heads", "intermediate_size",
                                   "num_hidden_layers"},
                                  arch))
    return std::move(e);
  if (llvm::Error e = build::requireContextWindow(cfg, arch))
    return std::move(e);
  if (olmo2)
    if (llvm::Error e = build::refusePresharding(
            cfg, arch, tp,
            "its q_norm [heads/shards x head_dim] and k_norm carry no shard "
            "strategy, so the full HF tensors do not fit them"))
      return std::move(e);
  llvm::Expected<build::TransformerDims> d = build::readDims(cfg, arch, tp);
  if (!d)
    return d.takeError();

  ModelDef m = build::startModel(
      arch, olmo2 ? std::initializer_list<const char *>{"no-quant",
                                                        "group-quant",
                                                        "ft-quant",
                                                        "per-tensor-quant"}
                  : std::initializer_list<const char *>{
                        "no-quant", "group-quant", "ft-quant", "awq",
                        "per-tensor-quant"});
  build::addEmbedTokens(m, *d, /*symbolicVocab=*/false);
  for (int64_t i = 0; i < d->layers; ++i) {
    build::addFusedAttention(m, *d, i);
    build::addGatedMLP(m, *d, i);
    if (!olmo2)
      continue;
    build::addCopy(m, layer(i, "self_attn.q_norm.weight"),
                   {d->heads * d->headDim}, ParamKind::Norm);
    build::addCopy(m, layer(i, "self_attn.k_norm.weight"),
                   {d->kvHeads * d->headDim}, ParamKind::Norm);
    build::addLayerNorms(m, *d, i,
                         {"post_attention_layernorm",
                          "post_feedforward_layernorm"});
  }
  bool tied = cfg.getBool("tie_word_embeddings", false);
  if (olmo2)
    build::addFinalNormAndHead(m, *d, tied);
  else if (!tied)
    build::addCopy(m, "lm_head.weight", {d->vocab, d->hidden},
                   ParamKind::FinalFC);
  build::addUnusedPerLayer(m, d->layers, "self_attn.rotary_emb.inv_freq");
  return m;
}

Architecture qopt::models::makeOLMoArchitecture() {
  return {"olmo",
          {"OlmoForCausalLM"},
          {"olmo"},
          [](const ModelConfig &cfg, int64_t tp) {
            return buildOLMoFamily(cfg, tp, /*olmo2=*/false);
          }};
}

Architecture qopt::models::makeOLMo2Architecture() {
  return {"olmo2",
          {"Olmo2ForCausalLM"},
          {"olmo2"},
          [](const ModelConfig &cfg, int64_t tp) {
            return buildOLMoFamily(cfg, tp, /*olmo2=*/true);
          }};
}
