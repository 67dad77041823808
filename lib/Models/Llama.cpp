//===- Llama.cpp - LlamaForCausalLM as MLC lays it out ---------*- C++ -*-===//
//
// mlc-llm python/mlc_llm/model/llama/{llama_model,llama_loader}.py: q/k/v
// fused into `qkv_proj`, gate/up into `gate_up_proj`, everything else copied.
// llama.cpp's GGUF files of it read through LlamaGguf.cpp.
//
//===----------------------------------------------------------------------===//

#include "ArchitectureBuilders.h"
#include "LlamaGguf.h"

using namespace qopt::models;

static llvm::Expected<ModelDef> buildLlama(const ModelConfig &cfg, int64_t tp) {
  const char *arch = "llama";
  llvm::Expected<build::TransformerDims> d = build::readDecoderConfig(
      cfg, arch, tp,
      {"hidden_size", "intermediate_size", "num_attention_heads",
       "num_hidden_layers", "rms_norm_eps", "vocab_size"},
      /*needsRope=*/false);
  if (!d)
    return d.takeError();

  ModelDef m = build::startModel(
      arch, {"no-quant", "group-quant", "ft-quant", "awq", "per-tensor-quant"});
  m.shardDivisors = d->shardDivisors();
  build::addEmbedTokens(m, *d, /*symbolicVocab=*/true);
  for (int64_t i = 0; i < d->layers; ++i)
    build::addLlamaLayer(m, *d, i);
  build::addFinalNormAndHead(m, *d, cfg.getBool("tie_word_embeddings", false));
  build::addUnusedPerLayer(m, d->layers, "self_attn.rotary_emb.inv_freq");
  return m;
}

Architecture qopt::models::makeLlamaArchitecture() {
  return {"llama", {"LlamaForCausalLM"}, {"llama"}, buildLlama,
          llamaGgufArchitecture()};
}
