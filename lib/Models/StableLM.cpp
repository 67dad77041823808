//===- StableLM.cpp - StableLmForCausalLM as MLC lays it out ---*- C++ -*-===//
//
// mlc-llm python/mlc_llm/model/stable_lm/{stablelm_model,stablelm_loader}.py
// (make_standard_hf_loader): fused `qkv_proj` (with the q/k/v biases when
// use_qkv_bias), `gate_up_proj`, LayerNorms with weight and bias, `lm_head`
// always a parameter, a concrete vocabulary.
//
//===----------------------------------------------------------------------===//

#include "ArchitectureBuilders.h"

using namespace qopt::models;

static llvm::Expected<ModelDef> buildStableLM(const ModelConfig &cfg,
                                              int64_t tp) {
  const char *arch = "stablelm";
  if (llvm::Error e = cfg.require(
          {"vocab_size", "hidden_size", "num_hidden_layers",
           "num_attention_heads", "num_key_value_heads", "layer_norm_eps",
           "partial_rotary_factor", "intermediate_size"},
          arch))
    return std::move(e);
  if (llvm::Error e = build::requireRopeTheta(cfg, arch))
    return std::move(e);
  if (llvm::Error e = build::requireContextWindow(cfg, arch))
    return std::move(e);
  llvm::Expected<build::TransformerDims> d = build::readDims(cfg, arch, tp);
  if (!d)
    return d.takeError();

  ModelDef m = build::startModel(arch, {"no-quant", "group-quant", "ft-quant"});
  build::addEmbedTokens(m, *d, /*symbolicVocab=*/false);
  build::AttentionOptions attention;
  attention.qkvBias = cfg.getBool("use_qkv_bias", false);
  for (int64_t i = 0; i < d->layers; ++i) {
    build::addFusedAttention(m, *d, i, attention);
    build::addGatedMLP(m, *d, i);
    build::addLayerNormWithBias(m, *d, i, "input_layernorm");
    build::addLayerNormWithBias(m, *d, i, "post_attention_layernorm");
  }
  build::addCopy(m, "model.norm.weight", {d->hidden}, ParamKind::Norm);
  build::addCopy(m, "model.norm.bias", {d->hidden}, ParamKind::Bias);
  build::addCopy(m, "lm_head.weight", {d->vocab, d->hidden},
                 ParamKind::FinalFC);
  return m;
}

Architecture qopt::models::makeStableLMArchitecture() {
  return {"stablelm", {"StableLmForCausalLM"}, {"stablelm"}, buildStableLM};
}
