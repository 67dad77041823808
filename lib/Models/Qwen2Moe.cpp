//===- Qwen2Moe.cpp - Qwen2MoeForCausalLM as MLC lays it out ---*- C++ -*-===//
//
// mlc-llm python/mlc_llm/model/qwen2_moe/{qwen2_moe_model,qwen2_moe_loader}.py:
// Qwen2's attention (`c_attn` with its bias, `o_proj` without), and in every
// layer a shared expert `mlp.shared_expert.{gate_up_proj,down_proj}` with its
// one-output gate `mlp.shared_expert_gate` [1, H], the router `mlp.gate`
// [E, H] and the experts stacked into `mlp.moe_gate_up_proj` [E, 2F, H] and
// `mlp.moe_down_proj` [E, H, F]. `lm_head` is always a parameter.
//
//===----------------------------------------------------------------------===//

#include "ArchitectureBuilders.h"

using namespace qopt::models;
using build::layer;

static llvm::Expected<ModelDef> buildQwen2Moe(const ModelConfig &cfg,
                                              int64_t tp) {
  const char *arch = "qwen2_moe";
  if (llvm::Error e =
          cfg.require({"hidden_act", "hidden_size", "intermediate_size",
                       "num_attention_heads", "num_hidden_layers",
                       "num_key_value_heads", "rms_norm_eps", "vocab_size"},
                      arch))
    return std::move(e);
  if (llvm::Error e = build::requireRopeTheta(cfg, arch))
    return std::move(e);
  if (llvm::Error e = build::requireContextWindow(cfg, arch))
    return std::move(e);
  llvm::Expected<build::TransformerDims> d = build::readDims(cfg, arch, tp);
  if (!d)
    return d.takeError();
  int64_t sizes[3];
  const char *keys[3] = {"num_experts", "moe_intermediate_size",
                         "shared_expert_intermediate_size"};
  for (int k = 0; k < 3; ++k) {
    llvm::Expected<int64_t> v = build::positiveInt(cfg, keys[k], arch);
    if (!v)
      return v.takeError();
    sizes[k] = *v;
  }
  auto [experts, ffn, shared] = sizes;
  if (cfg.getInt("decoder_sparse_step", 0) != 1)
    return build::configError(cfg, "field 'decoder_sparse_step' must be 1: "
                                   "MLC's qwen2_moe has MoE in every layer");
  for (int k = 1; k < 3; ++k)
    if (auto q = build::divide(sizes[k], tp,
                               std::string("tensor-parallel-shards: ") +
                                   keys[k]);
        !q)
      return q.takeError();
  int64_t h = d->hidden, s = shared / tp;

  ModelDef m = build::startModel(arch, {"no-quant", "group-quant", "ft-quant"});
  build::addEmbedTokens(m, *d, /*symbolicVocab=*/false);
  build::AttentionOptions attention;
  attention.fusedName = "c_attn";
  attention.qkvBias = true;
  for (int64_t i = 0; i < d->layers; ++i) {
    build::addFusedAttention(m, *d, i, attention);
    std::string se = layer(i, "mlp.shared_expert.");
    build::addParam(m, se + "gate_up_proj.weight", {2 * shared, h},
                    ParamKind::Linear,
                    MapExpr::concat({MapExpr::src(se + "gate_proj.weight"),
                                     MapExpr::src(se + "up_proj.weight")}),
                    ShardStrategy{0, {s, s}});
    build::addCopy(m, se + "down_proj.weight", {h, shared}, ParamKind::Linear,
                   ShardStrategy{1, {}});
    build::addCopy(m, layer(i, "mlp.shared_expert_gate.weight"), {1, h},
                   build::routerKind(1));
    build::addCopy(m, layer(i, "mlp.gate.weight"), {experts, h},
                   build::routerKind(experts));
    build::addStackedExperts(m, *d,
                             {layer(i, "mlp.experts"),
                              layer(i, "mlp.moe_gate_up_proj.weight"),
                              layer(i, "mlp.moe_down_proj.weight"),
                              "gate_proj", "up_proj", "down_proj", experts,
                              ffn});
    build::addLayerNorms(m, *d, i,
                         {"input_layernorm", "post_attention_layernorm"});
  }
  build::addFinalNormAndHead(m, *d, /*tied=*/false);
  return m;
}

Architecture qopt::models::makeQwen2MoeArchitecture() {
  return {"qwen2_moe", {"Qwen2MoeForCausalLM"}, {"qwen2_moe"}, buildQwen2Moe};
}
