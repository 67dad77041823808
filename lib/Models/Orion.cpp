//===- Orion.cpp - OrionForCausalLM as MLC lays it out ---------*- C++ -*-===//
//
// mlc-llm python/mlc_llm/model/orion/{orion_model,orion_loader}.py
// (make_standard_hf_loader): Llama's fused `qkv_proj` / `gate_up_proj`, but
// LayerNorms with weight and bias, a symbolic vocabulary for both
// `embed_tokens` and `lm_head` (always a parameter), `rotary_emb.inv_freq`
// unused.
//
//===----------------------------------------------------------------------===//

#include "ArchitectureBuilders.h"

using namespace qopt::models;

static llvm::Expected<ModelDef> buildOrion(const ModelConfig &cfg, int64_t tp) {
  const char *arch = "orion";
  if (llvm::Error e = cfg.require({"hidden_size", "intermediate_size",
                                   "num_attention_heads", "num_hidden_layers",
                                   "rms_norm_eps", "vocab_size"},
                                  arch))
    return std::move(e);
  if (llvm::Error e = build::requireContextWindow(cfg, arch))
    return std::move(e);
  llvm::Expected<build::TransformerDims> d = build::readDims(cfg, arch, tp);
  if (!d)
    return d.takeError();

  ModelDef m = build::startModel(arch, {"no-quant", "group-quant"});
  build::addEmbedTokens(m, *d, /*symbolicVocab=*/true);
  for (int64_t i = 0; i < d->layers; ++i) {
    build::addFusedAttention(m, *d, i);
    build::addGatedMLP(m, *d, i);
    build::addLayerNormWithBias(m, *d, i, "input_layernorm");
    build::addLayerNormWithBias(m, *d, i, "post_attention_layernorm");
  }
  build::addCopy(m, "model.norm.weight", {d->hidden}, ParamKind::Norm);
  build::addCopy(m, "model.norm.bias", {d->hidden}, ParamKind::Bias);
  build::addCopy(m, "lm_head.weight", {-1, d->hidden}, ParamKind::FinalFC);
  build::addUnusedPerLayer(m, d->layers, "self_attn.rotary_emb.inv_freq");
  return m;
}

Architecture qopt::models::makeOrionArchitecture() {
  return {"orion", {"OrionForCausalLM"}, {"orion"}, buildOrion};
}
