//===- Mixtral.cpp - MixtralForCausalLM as MLC lays it out -----*- C++ -*-===//
//
// mlc-llm python/mlc_llm/model/mixtral/{mixtral_model,mixtral_loader}.py:
// Llama's attention, norms, embedding and head; per layer an MoE with the
// router `moe.gate` and the experts stacked into `moe.e1_e3` [E, 2I, H]
// (w1 and w3 of each expert concatenated) and `moe.e2` [E, H, I].
//
//===----------------------------------------------------------------------===//

#include "ArchitectureBuilders.h"

using namespace qopt::models;
using build::layer;

/// MLC's module visitor leaves a Linear whose path ends in `gate` and whose
/// out_features is at most 256 unquantized (docs/quantization.md).
static constexpr int64_t MaxMoEGateExperts = 256;

static llvm::Expected<ModelDef> buildMixtral(const ModelConfig &cfg,
                                             int64_t tp) {
  const char *arch = "mixtral";
  llvm::Expected<build::TransformerDims> d = build::readDecoderConfig(
      cfg, arch, tp,
      {"hidden_size", "intermediate_size", "num_attention_heads",
       "num_hidden_layers", "rms_norm_eps", "vocab_size", "num_local_experts",
       "num_experts_per_tok"},
      /*needsRope=*/false);
  if (!d)
    return d.takeError();
  int64_t experts = cfg.getInt("num_local_experts", 0);
  if (experts <= 0)
    return build::configError(
        cfg, "field 'num_local_experts' must be a positive integer (mixtral)");
  int64_t h = d->hidden, ffn = d->intermediate;

  ModelDef m = build::startModel(
      arch, {"no-quant", "group-quant", "ft-quant", "per-tensor-quant"});
  m.shardDivisors = d->shardDivisors();
  build::addEmbedTokens(m, *d, /*symbolicVocab=*/true);
  for (int64_t i = 0; i < d->layers; ++i) {
    build::addFusedAttention(m, *d, i);
    std::string moe = layer(i, "block_sparse_moe.");
    build::addParam(m, layer(i, "moe.gate.weight"), {experts, h},
                    experts <= MaxMoEGateExperts ? ParamKind::MoEGate
                                                 : ParamKind::Linear,
                    MapExpr::src(moe + "gate.weight"));
    std::vector<MapExpr> w1w3, w2;
    for (int64_t e = 0; e < experts; ++e) {
      std::string expert = moe + "experts." + std::to_string(e) + ".";
      w1w3.push_back(MapExpr::concat({MapExpr::src(expert + "w1.weight"),
                                      MapExpr::src(expert + "w3.weight")}));
      w2.push_back(MapExpr::src(expert + "w2.weight"));
    }
    build::addParam(m, layer(i, "moe.e1_e3.weight"), {experts, 2 * ffn, h},
                    ParamKind::Experts, MapExpr::stack(std::move(w1w3)),
                    ShardStrategy{1, {ffn / tp, ffn / tp}});
    build::addParam(m, layer(i, "moe.e2.weight"), {experts, h, ffn},
                    ParamKind::Experts, MapExpr::stack(std::move(w2)),
                    ShardStrategy{2, {}});
    build::addLayerNorms(m, *d, i,
                         {"input_layernorm", "post_attention_layernorm"});
  }
  build::addFinalNormAndHead(m, *d, cfg.getBool("tie_word_embeddings", false));
  build::addUnusedPerLayer(m, d->layers, "self_attn.rotary_emb.inv_freq");
  return m;
}

Architecture qopt::models::makeMixtralArchitecture() {
  return {"mixtral", {"MixtralForCausalLM"}, {"mixtral"}, buildMixtral};
}
