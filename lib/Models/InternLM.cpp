//===- InternLM.cpp - InternLMForCausalLM as MLC lays it out ---*- C++ -*-===//
//
// mlc-llm python/mlc_llm/model/internlm/{internlm_model,internlm_loader}.py
// (make_standard_hf_loader): q/k/v (all `num_attention_heads` heads) fused
// into `wqkv_pack`, with their biases when config `bias` is set (then
// `o_proj` has a bias too), gate/up fused into `gate_up_proj`,
// `rotary_emb.inv_freq` unused, `lm_head` always a parameter.
//
//===----------------------------------------------------------------------===//

#include "ArchitectureBuilders.h"

using namespace qopt::models;

static llvm::Expected<ModelDef> buildInternLM(const ModelConfig &cfg,
                                              int64_t tp) {
  const char *arch = "internlm";
  if (llvm::Error e = cfg.require(
          {"vocab_size", "hidden_size", "num_hidden_layers",
           "num_attention_heads", "rms_norm_eps", "intermediate_size", "bias",
           "use_cache", "pad_token_id", "bos_token_id", "eos_token_id"},
          arch))
    return std::move(e);
  if (llvm::Error e = build::requireContextWindow(cfg, arch))
    return std::move(e);
  bool bias = cfg.getBool("bias", false);
  if (bias)
    if (llvm::Error e = build::refusePresharding(
            cfg, arch, tp,
            "its o_proj.bias [hidden] carries ShardSingleDim(0), which needs "
            "hidden x shards elements in the checkpoint"))
      return std::move(e);
  // InternLM has no grouped-query attention: every head has its k and v.
  llvm::Expected<build::TransformerDims> d = build::readDims(cfg, arch, tp);
  if (!d)
    return d.takeError();
  d->kvHeads = d->heads;

  ModelDef m = build::startModel(arch, {"no-quant", "group-quant", "ft-quant"});
  build::addEmbedTokens(m, *d, /*symbolicVocab=*/false);
  build::AttentionOptions attention;
  attention.fusedName = "wqkv_pack";
  attention.qkvBias = attention.outBias = bias;
  for (int64_t i = 0; i < d->layers; ++i)
    build::addLlamaLayer(m, *d, i, attention);
  build::addFinalNormAndHead(m, *d, /*tied=*/false);
  build::addUnusedPerLayer(m, d->layers, "self_attn.rotary_emb.inv_freq");
  return m;
}

Architecture qopt::models::makeInternLMArchitecture() {
  return {"internlm", {"InternLMForCausalLM"}, {"internlm"}, buildInternLM};
}
