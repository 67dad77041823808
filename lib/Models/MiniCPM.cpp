//===- MiniCPM.cpp - MiniCPM (dense and MoE) as MLC lays it out -*- C++ -*-===//
//
// mlc-llm python/mlc_llm/model/minicpm/{minicpm_model,minicpm_loader}.py:
// q/k/v fused into `self_attn.wqkv_pack` (no bias), o_proj copied; with
// num_experts 0 gate/up fused into `mlp.gate_up_proj`, else the router
// `mlp.gate` (left unquantized, as MLC's quantizer leaves a Linear named
// `gate` with at most 256 outputs), the experts' w1/w3 stacked into
// `mlp.e1_e3` [E, 2I, H] and w2 into `mlp.e2` [E, H, I]; RMSNorms copied;
// `lm_head` unless tie_word_embeddings (MLC's default: false).
//
//===----------------------------------------------------------------------===//

#include "ArchitectureBuilders.h"

using namespace qopt::models;
using build::layer;

static llvm::Expected<ModelDef> buildMiniCPM(const ModelConfig &cfg,
                                             int64_t tp) {
  const char *arch = "minicpm";
  llvm::Expected<build::TransformerDims> d = build::readDecoderConfig(
      cfg, arch, tp,
      {"vocab_size", "hidden_size", "num_hidden_layers", "num_attention_heads",
       "num_key_value_heads", "hidden_act", "rms_norm_eps", "intermediate_size",
       "scale_emb", "scale_depth", "dim_model_base", "use_cache",
       "bos_token_id", "eos_token_id"},
      /*needsRope=*/false);
  if (!d)
    return d.takeError();
  if (d->headDim * d->heads != d->hidden)
    return build::configError(cfg, "head_dim x num_attention_heads must equal "
                                   "hidden_size (minicpm)");
  int64_t experts = cfg.getInt("num_experts", 0);
  if (experts < 0 || experts > ConfigLimits::kMaxDim)
    return build::configError(cfg, "field 'num_experts' must be a "
                                   "non-negative integer (minicpm)");
  std::string act = cfg.getString("hidden_act", "");
  if (experts == 0 && act != "gelu" && act != "relu" && act != "silu" &&
      act != "swish" && act != "gelu_new")
    return build::configError(
        cfg, "hidden_act '" + act +
                 "' is not one of MiniCPM's MLP activations (gelu, relu, "
                 "silu, swish, gelu_new)");

  ModelDef m = build::startModel(arch, {"no-quant", "group-quant", "ft-quant"});
  m.shardDivisors = d->shardDivisors();
  build::addEmbedTokens(m, *d, /*symbolicVocab=*/false);
  build::AttentionOptions attention;
  attention.fusedName = "wqkv_pack";
  for (int64_t i = 0; i < d->layers; ++i) {
    build::addFusedAttention(m, *d, i, attention);
    if (experts == 0) {
      build::addGatedMLP(m, *d, i);
    } else {
      std::string mlp = layer(i, "mlp.");
      build::addCopy(m, mlp + "gate.weight", {experts, d->hidden},
                     build::routerKind(experts));
      build::addStackedExperts(m, *d,
                               {mlp + "experts", mlp + "e1_e3.weight",
                                mlp + "e2.weight", "w1", "w3", "w2", experts,
                                d->intermediate});
    }
    build::addLayerNorms(m, *d, i,
                         {"input_layernorm", "post_attention_layernorm"});
  }
  build::addFinalNormAndHead(m, *d, cfg.getBool("tie_word_embeddings", false));
  return m;
}

Architecture qopt::models::makeMiniCPMArchitecture() {
  return {"minicpm", {"MiniCPMForCausalLM"}, {"minicpm"}, buildMiniCPM};
}
