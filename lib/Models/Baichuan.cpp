//===- Baichuan.cpp - BaichuanForCausalLM as MLC lays it out ---*- C++ -*-===//
//
// mlc-llm python/mlc_llm/model/baichuan/{baichuan_model,baichuan_loader}.py
// (make_standard_hf_loader without q/k/v fusion): the checkpoint's fused
// `W_pack` [3 nh d, H] is copied as it is (sharded as [q, k, v] segments),
// gate/up fused into `gate_up_proj`, `lm_head` always a parameter.
//
//===----------------------------------------------------------------------===//

#include "ArchitectureBuilders.h"

using namespace qopt::models;
using build::layer;

static llvm::Expected<ModelDef> buildBaichuan(const ModelConfig &cfg,
                                              int64_t tp) {
  const char *arch = "baichuan";
  llvm::Expected<build::TransformerDims> d = build::readDecoderConfig(
      cfg, arch, tp,
      {"vocab_size", "hidden_size", "num_hidden_layers", "num_attention_heads",
       "initializer_range", "intermediate_size", "rms_norm_eps", "use_cache",
       "pad_token_id", "bos_token_id", "eos_token_id", "tie_word_embeddings"},
      /*needsRope=*/false);
  if (!d)
    return d.takeError();
  d->kvHeads = d->heads; // W_pack holds every head's q, k and v

  ModelDef m = build::startModel(arch, {"no-quant", "group-quant", "ft-quant"});
  build::addEmbedTokens(m, *d, /*symbolicVocab=*/false);
  for (int64_t i = 0; i < d->layers; ++i) {
    build::addCopy(m, layer(i, "self_attn.W_pack.weight"),
                   {d->qkvRows(), d->hidden}, ParamKind::Linear, d->qkvShard());
    build::addCopy(m, layer(i, "self_attn.o_proj.weight"),
                   {d->hidden, d->heads * d->headDim}, ParamKind::Linear,
                   ShardStrategy{1, {}});
    build::addGatedMLP(m, *d, i);
    build::addLayerNorms(m, *d, i,
                         {"input_layernorm", "post_attention_layernorm"});
  }
  build::addFinalNormAndHead(m, *d, /*tied=*/false);
  return m;
}

Architecture qopt::models::makeBaichuanArchitecture() {
  return {"baichuan",
          {"BaichuanForCausalLM", "BaiChuanForCausalLM"},
          {"baichuan"},
          buildBaichuan};
}
