//===- Deepseek.cpp - DeepSeek-MoE (v1) as MLC lays it out -----*- C++ -*-===//
//
// mlc-llm python/mlc_llm/model/deepseek/{deepseek_model,deepseek_loader}.py:
// q/k/v fused into `wqkv_pack`, layers from first_k_dense_replace (every
// moe_layer_freq-th) are MoE (router `mlp.gate`, shared experts fused into
// `mlp.shared_experts.gate_up_proj`, routed experts stacked into
// `mlp.moe_gate_up_proj` / `mlp.moe_down_proj`), the others a dense gated
// MLP; `lm_head` always a parameter.
//
//===----------------------------------------------------------------------===//

#include "ArchitectureBuilders.h"

using namespace qopt::models;
using build::layer;

static llvm::Expected<ModelDef> buildDeepseek(const ModelConfig &cfg,
                                              int64_t tp) {
  const char *arch = "deepseek";
  if (llvm::Error e = cfg.require(
          {"vocab_size", "hidden_size", "intermediate_size",
           "moe_intermediate_size", "num_hidden_layers", "num_attention_heads",
           "num_key_value_heads", "n_shared_experts", "n_routed_experts",
           "moe_layer_freq", "first_k_dense_replace", "hidden_act",
           "norm_topk_prob", "attention_bias", "rms_norm_eps", "use_cache",
           "bos_token_id", "eos_token_id"},
          arch))
    return std::move(e);
  if (llvm::Error e = build::requireContextWindow(cfg, arch))
    return std::move(e);
  // The loader maps only wqkv_pack.weight; a bias would have no source.
  if (cfg.getBool("attention_bias", false))
    return build::configError(cfg, "field 'attention_bias' must be false: "
                                   "MLC's deepseek loader maps no q/k/v bias");
  if (llvm::Error e = build::refusePresharding(
          cfg, arch, tp,
          "its shared experts have per-shard shapes but no shard strategy, "
          "so the full HF tensors do not fit them"))
    return std::move(e);
  llvm::Expected<build::TransformerDims> d = build::readDims(cfg, arch, tp);
  if (!d)
    return d.takeError();
  int64_t experts = 0, moeFfn = 0, freq = 0;
  for (auto [key, out] : {std::pair{"n_routed_experts", &experts},
                          {"moe_intermediate_size", &moeFfn},
                          {"moe_layer_freq", &freq}}) {
    llvm::Expected<int64_t> v = build::positiveInt(cfg, key, arch);
    if (!v)
      return v.takeError();
    *out = *v;
  }
  int64_t shared = cfg.getInt("n_shared_experts", 0) * moeFfn;
  int64_t firstDense = cfg.getInt("first_k_dense_replace", 0);
  int64_t h = d->hidden;

  ModelDef m = build::startModel(arch, {"no-quant", "group-quant", "ft-quant"});
  m.preshardRefusal = build::preshardRefusal(
      arch, "its shared experts have per-shard shapes but no shard strategy, "
      "so the full HF tensors do not fit them");
  build::addEmbedTokens(m, *d, /*symbolicVocab=*/false);
  build::AttentionOptions attention;
  attention.fusedName = "wqkv_pack";
  for (int64_t i = 0; i < d->layers; ++i) {
    build::addFusedAttention(m, *d, i, attention);
    if (i >= firstDense && i % freq == 0) {
      std::string mlp = layer(i, "mlp.");
      build::addCopy(m, mlp + "gate.weight", {experts, h},
                     build::routerKind(experts));
      if (shared > 0) {
        std::string se = mlp + "shared_experts.";
        build::addParam(
            m, se + "gate_up_proj.weight", {2 * shared, h}, ParamKind::Linear,
            MapExpr::concat({MapExpr::src(se + "gate_proj.weight"),
                             MapExpr::src(se + "up_proj.weight")}));
        build::addCopy(m, se + "down_proj.weight", {h, shared},
                       ParamKind::Linear);
      }
      build::addStackedExperts(m, *d,
                               {mlp + "experts", mlp + "moe_gate_up_proj.weight",
                                mlp + "moe_down_proj.weight", "gate_proj",
                                "up_proj", "down_proj", experts, moeFfn});
    } else {
      build::addGatedMLP(m, *d, i);
    }
    build::addLayerNorms(m, *d, i,
                         {"input_layernorm", "post_attention_layernorm"});
  }
  build::addFinalNormAndHead(m, *d, /*tied=*/false);
  return m;
}

Architecture qopt::models::makeDeepseekArchitecture() {
  return {"deepseek", {"DeepseekForCausalLM"}, {"deepseek"}, buildDeepseek};
}
