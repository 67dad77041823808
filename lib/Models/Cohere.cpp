//===- Cohere.cpp - CohereForCausalLM as MLC lays it out -------*- C++ -*-===//
//
// mlc-llm python/mlc_llm/model/cohere/{cohere_model,cohere_loader}.py
// (make_standard_hf_loader without gate/up fusion): q/k/v fused into
// `qkv_proj`, the output projection renamed `out_proj` (HF `o_proj`),
// `gate_proj` / `up_proj` / `down_proj` copied, one weight-only LayerNorm
// per layer (`input_layernorm`, the block is parallel), `model.norm`, a
// symbolic vocabulary and tied embeddings (no lm_head).
//
//===----------------------------------------------------------------------===//

#include "ArchitectureBuilders.h"

using namespace qopt::models;
using build::layer;

static llvm::Expected<ModelDef> buildCohere(const ModelConfig &cfg,
                                            int64_t tp) {
  const char *arch = "cohere";
  if (llvm::Error e = cfg.require(
          {"hidden_size", "vocab_size", "num_hidden_layers",
           "num_attention_heads", "num_key_value_heads", "intermediate_size",
           "layer_norm_eps"},
          arch))
    return std::move(e);
  if (llvm::Error e = build::requireContextWindow(cfg, arch))
    return std::move(e);
  if (llvm::Error e = build::refusePresharding(
          cfg, arch, tp,
          "its mlp.gate_proj and mlp.up_proj [intermediate/shards, hidden] "
          "carry ShardSingleDim(0, [i, i]), whose segments add up to twice "
          "their rows (MLC's own assertion fails)"))
    return std::move(e);
  llvm::Expected<build::TransformerDims> d = build::readDims(cfg, arch, tp);
  if (!d)
    return d.takeError();
  int64_t h = d->hidden, ffn = d->intermediate;

  ModelDef m = build::startModel(arch, {"no-quant", "group-quant", "ft-quant"});
  build::addEmbedTokens(m, *d, /*symbolicVocab=*/true);
  for (int64_t i = 0; i < d->layers; ++i) {
    auto hf = [&](llvm::StringRef rest) { return MapExpr::src(layer(i, rest)); };
    build::addParam(m, layer(i, "self_attn.qkv_proj.weight"),
                    {d->qkvRows(), h}, ParamKind::Linear,
                    MapExpr::concat({hf("self_attn.q_proj.weight"),
                                     hf("self_attn.k_proj.weight"),
                                     hf("self_attn.v_proj.weight")}),
                    d->qkvShard());
    build::addParam(m, layer(i, "self_attn.out_proj.weight"),
                    {h, d->heads * d->headDim}, ParamKind::Linear,
                    hf("self_attn.o_proj.weight"), ShardStrategy{1, {}});
    for (const char *n : {"mlp.gate_proj.weight", "mlp.up_proj.weight"})
      build::addCopy(m, layer(i, n), {ffn, h}, ParamKind::Linear,
                     ShardStrategy{0, {ffn / tp, ffn / tp}});
    build::addCopy(m, layer(i, "mlp.down_proj.weight"), {h, ffn},
                   ParamKind::Linear, ShardStrategy{1, {}});
    build::addCopy(m, layer(i, "input_layernorm.weight"), {h},
                   ParamKind::Norm);
  }
  build::addCopy(m, "model.norm.weight", {h}, ParamKind::Norm);
  return m;
}

Architecture qopt::models::makeCohereArchitecture() {
  return {"cohere", {"CohereForCausalLM"}, {"cohere"}, buildCohere};
}
