//===- Qwen3Moe.cpp - Qwen3MoeForCausalLM as MLC lays it out ---*- C++ -*-===//
//
// mlc-llm python/mlc_llm/model/qwen3_moe/{qwen3_moe_model,qwen3_moe_loader}.py:
// Qwen3's attention (`c_attn`, q_norm / k_norm, biases with attention_bias)
// and, in every layer (MLC requires decoder_sparse_step 1), a router
// `mlp.gate` [E, H] and the experts stacked into `mlp.moe_gate_up_proj`
// [E, 2F, H] and `mlp.moe_down_proj` [E, H, F] (F = moe_intermediate_size).
// `lm_head` is always a parameter, tied config or not.
//
//===----------------------------------------------------------------------===//

#include "ArchitectureBuilders.h"

using namespace qopt::models;
using build::layer;

static llvm::Expected<ModelDef> buildQwen3Moe(const ModelConfig &cfg,
                                              int64_t tp) {
  const char *arch = "qwen3_moe";
  if (llvm::Error e = cfg.require(
          {"hidden_act", "hidden_size", "intermediate_size", "attention_bias",
           "num_attention_heads", "num_hidden_layers", "num_key_value_heads",
           "rms_norm_eps", "vocab_size"},
          arch))
    return std::move(e);
  if (llvm::Error e = build::requireRopeTheta(cfg, arch))
    return std::move(e);
  if (llvm::Error e = build::requireContextWindow(cfg, arch))
    return std::move(e);
  if (llvm::Error e = build::refuseFp8Checkpoint(cfg, arch))
    return std::move(e);
  llvm::Expected<build::TransformerDims> d = build::readDims(cfg, arch, tp);
  if (!d)
    return d.takeError();
  llvm::Expected<int64_t> experts = build::positiveInt(cfg, "num_experts", arch);
  if (!experts)
    return experts.takeError();
  llvm::Expected<int64_t> ffn =
      build::positiveInt(cfg, "moe_intermediate_size", arch);
  if (!ffn)
    return ffn.takeError();
  if (cfg.getInt("decoder_sparse_step", 0) != 1)
    return build::configError(cfg, "field 'decoder_sparse_step' must be 1: "
                                   "MLC's qwen3_moe has MoE in every layer");
  if (auto q = build::divide(*ffn, tp, "tensor-parallel-shards: "
                                       "moe_intermediate_size");
      !q)
    return q.takeError();
  bool bias = cfg.getBool("attention_bias", false);

  ModelDef m = build::startModel(
      arch, {"no-quant", "group-quant", "ft-quant", "block-scale-quant"});
  m.shardDivisors = d->shardDivisors();
  m.shardDivisors.push_back({"moe_intermediate_size", *ffn});
  build::addEmbedTokens(m, *d, /*symbolicVocab=*/false);
  build::AttentionOptions attention;
  attention.fusedName = "c_attn";
  attention.qkvBias = attention.outBias = bias;
  for (int64_t i = 0; i < d->layers; ++i) {
    build::addFusedAttention(m, *d, i, attention);
    for (const char *n : {"self_attn.q_norm.weight", "self_attn.k_norm.weight"})
      build::addCopy(m, layer(i, n), {d->headDim}, ParamKind::Norm);
    build::addCopy(m, layer(i, "mlp.gate.weight"), {*experts, d->hidden},
                   build::routerKind(*experts));
    build::addStackedExperts(m, *d,
                             {layer(i, "mlp.experts"),
                              layer(i, "mlp.moe_gate_up_proj.weight"),
                              layer(i, "mlp.moe_down_proj.weight"),
                              "gate_proj", "up_proj", "down_proj", *experts,
                              *ffn});
    build::addLayerNorms(m, *d, i,
                         {"input_layernorm", "post_attention_layernorm"});
  }
  build::addFinalNormAndHead(m, *d, /*tied=*/false);
  return m;
}

Architecture qopt::models::makeQwen3MoeArchitecture() {
  return {"qwen3_moe", {"Qwen3MoeForCausalLM"}, {"qwen3_moe"}, buildQwen3Moe};
}
