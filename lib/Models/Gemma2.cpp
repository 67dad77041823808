//===- Gemma2.cpp - Gemma2ForCausalLM as MLC lays it out -------*- C++ -*-===//
//
// mlc-llm python/mlc_llm/model/gemma2/{gemma2_model,gemma2_loader}.py:
// Gemma plus `pre_feedforward_layernorm` and `post_feedforward_layernorm`
// per layer (also stored as HF weight + 1).
//
//===----------------------------------------------------------------------===//

#include "Gemma.h"

using namespace qopt::models;

static llvm::Expected<ModelDef> buildGemma2(const ModelConfig &cfg,
                                            int64_t tp) {
  const char *arch = "gemma2";
  llvm::Expected<build::TransformerDims> d =
      build::readGemmaDims(cfg, arch, tp);
  if (!d)
    return d.takeError();
  ModelDef m = build::startModel(arch, {"no-quant", "group-quant"});
  m.shardDivisors = d->shardDivisors();
  build::addEmbedTokens(m, *d, /*symbolicVocab=*/true);
  for (int64_t i = 0; i < d->layers; ++i) {
    build::addLlamaLayer(m, *d, i, {}, /*normPlusOne=*/true);
    build::addLayerNorms(
        m, *d, i, {"pre_feedforward_layernorm", "post_feedforward_layernorm"},
        /*normPlusOne=*/true);
  }
  build::addFinalNormAndHead(m, *d, /*tied=*/true, /*normPlusOne=*/true);
  return m;
}

Architecture qopt::models::makeGemma2Architecture() {
  return {"gemma2", {"Gemma2ForCausalLM"}, {"gemma2"}, buildGemma2};
}
