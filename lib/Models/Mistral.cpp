//===- Mistral.cpp - MistralForCausalLM as MLC lays it out -----*- C++ -*-===//
//
// mlc-llm python/mlc_llm/model/mistral/{mistral_model,mistral_loader}.py:
// Llama's parameters and fusions, but `lm_head` is always present (MLC's
// Mistral has no tied-embedding support).
//
//===----------------------------------------------------------------------===//

#include "ArchitectureBuilders.h"

using namespace qopt::models;

static llvm::Expected<ModelDef> buildMistral(const ModelConfig &cfg,
                                             int64_t tp) {
  const char *arch = "mistral";
  llvm::Expected<build::TransformerDims> d = build::readDecoderConfig(
      cfg, arch, tp,
      {"hidden_size", "intermediate_size", "num_attention_heads",
       "num_hidden_layers", "rms_norm_eps", "vocab_size"},
      /*needsRope=*/false);
  if (!d)
    return d.takeError();

  ModelDef m =
      build::startModel(arch, {"no-quant", "group-quant", "ft-quant", "awq"});
  m.shardDivisors = d->shardDivisors();
  build::addEmbedTokens(m, *d, /*symbolicVocab=*/true);
  for (int64_t i = 0; i < d->layers; ++i)
    build::addLlamaLayer(m, *d, i);
  build::addFinalNormAndHead(m, *d, /*tied=*/false);
  build::addUnusedPerLayer(m, d->layers, "self_attn.rotary_emb.inv_freq");
  return m;
}

Architecture qopt::models::makeMistralArchitecture() {
  return {"mistral", {"MistralForCausalLM"}, {"mistral"}, buildMistral};
}
