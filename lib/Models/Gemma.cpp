//===- Gemma.cpp - GemmaForCausalLM as MLC lays it out ---------*- C++ -*-===//
//
// mlc-llm python/mlc_llm/model/gemma/{gemma_model,gemma_loader}.py: Llama's
// names and fusions, embeddings always tied (no `lm_head`), and every RMSNorm
// weight stored as HF weight + 1. Gemma2 (Gemma2.cpp) shares this file's
// config checks.
//
//===----------------------------------------------------------------------===//

#include "Gemma.h"

using namespace qopt::models;

llvm::Expected<build::TransformerDims>
build::readGemmaDims(const ModelConfig &cfg, llvm::StringRef arch, int64_t tp) {
  if (llvm::Error e =
          cfg.require({"hidden_size", "intermediate_size", "attention_bias",
                       "num_attention_heads", "num_key_value_heads", "head_dim",
                       "num_hidden_layers", "rms_norm_eps", "vocab_size"},
                      arch))
    return std::move(e);
  if (cfg.getBool("attention_bias", true))
    return configError(cfg,
                       "field 'attention_bias' must be false (" + arch + ")");
  std::string act = cfg.getString("hidden_activation", "");
  if (!cfg.has("hidden_activation"))
    act = cfg.getString("hidden_act", "");
  if (act != "gelu" && act != "gelu_pytorch_tanh")
    return configError(cfg, "activation (hidden_activation or hidden_act) '" +
                                act + "' is not supported (" + arch +
                                "); expected gelu or gelu_pytorch_tanh");
  if (cfg.getInt("head_dim", 0) <= 0)
    return configError(cfg, "field 'head_dim' must be a positive integer (" +
                                arch + ")");
  if (llvm::Error e = requireContextWindow(cfg, arch))
    return std::move(e);
  return readDims(cfg, arch, tp);
}

static llvm::Expected<ModelDef> buildGemma(const ModelConfig &cfg, int64_t tp) {
  const char *arch = "gemma";
  llvm::Expected<build::TransformerDims> d =
      build::readGemmaDims(cfg, arch, tp);
  if (!d)
    return d.takeError();
  ModelDef m = build::startModel(arch, {"no-quant", "group-quant"});
  m.shardDivisors = d->shardDivisors();
  build::addEmbedTokens(m, *d, /*symbolicVocab=*/true);
  for (int64_t i = 0; i < d->layers; ++i)
    build::addLlamaLayer(m, *d, i, {}, /*normPlusOne=*/true);
  build::addFinalNormAndHead(m, *d, /*tied=*/true, /*normPlusOne=*/true);
  return m;
}

Architecture qopt::models::makeGemmaArchitecture() {
  return {"gemma", {"GemmaForCausalLM"}, {"gemma"}, buildGemma};
}
