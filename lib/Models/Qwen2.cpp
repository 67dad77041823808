//===- Qwen2.cpp - Qwen2ForCausalLM as MLC lays it out ---------*- C++ -*-===//
//
// mlc-llm python/mlc_llm/model/qwen2/{qwen2_model,qwen2_loader}.py: Llama's
// layout, but the fused q/k/v projection is named `c_attn` and always has a
// bias (q/k/v biases concatenated); the vocabulary size is concrete.
//
//===----------------------------------------------------------------------===//

#include "ArchitectureBuilders.h"

using namespace qopt::models;

static llvm::Expected<ModelDef> buildQwen2(const ModelConfig &cfg, int64_t tp) {
  const char *arch = "qwen2";
  llvm::Expected<build::TransformerDims> d = build::readDecoderConfig(
      cfg, arch, tp,
      {"hidden_act", "hidden_size", "intermediate_size", "num_attention_heads",
       "num_hidden_layers", "num_key_value_heads", "rms_norm_eps",
       "vocab_size"},
      /*needsRope=*/true);
  if (!d)
    return d.takeError();

  ModelDef m = build::startModel(arch, {"no-quant", "group-quant", "ft-quant"});
  m.shardDivisors = d->shardDivisors();
  build::addEmbedTokens(m, *d, /*symbolicVocab=*/false);
  build::AttentionOptions attention;
  attention.fusedName = "c_attn";
  attention.qkvBias = true;
  for (int64_t i = 0; i < d->layers; ++i)
    build::addLlamaLayer(m, *d, i, attention);
  build::addFinalNormAndHead(m, *d, cfg.getBool("tie_word_embeddings", false));
  build::addUnusedPerLayer(m, d->layers, "self_attn.rotary_emb.inv_freq");
  return m;
}

Architecture qopt::models::makeQwen2Architecture() {
  return {"qwen2", {"Qwen2ForCausalLM"}, {"qwen2"}, buildQwen2};
}
