//===- Qwen3.cpp - Qwen3ForCausalLM as MLC lays it out ---------*- C++ -*-===//
//
// mlc-llm python/mlc_llm/model/qwen3/{qwen3_model,qwen3_loader}.py: Qwen2's
// names (`c_attn`), biases only with `attention_bias` (then `o_proj` has
// one too), and per-head RMSNorms `q_norm` / `k_norm` [head_dim].
//
//===----------------------------------------------------------------------===//

#include "ArchitectureBuilders.h"
#include "RemainingArchitectures.h"

using namespace qopt::models;
using build::layer;

static llvm::Expected<ModelDef> buildQwen3As(const ModelConfig &cfg, int64_t tp,
                                             const char *arch) {
  llvm::Expected<build::TransformerDims> d = build::readDecoderConfig(
      cfg, arch, tp,
      {"hidden_act", "hidden_size", "intermediate_size", "attention_bias",
       "num_attention_heads", "num_hidden_layers", "num_key_value_heads",
       "rms_norm_eps", "vocab_size"},
      /*needsRope=*/true);
  if (!d)
    return d.takeError();
  bool bias = cfg.getBool("attention_bias", false);

  ModelDef m = build::startModel(
      arch, {"no-quant", "group-quant", "ft-quant", "block-scale-quant"});
  m.shardDivisors = d->shardDivisors();
  build::addEmbedTokens(m, *d, /*symbolicVocab=*/false);
  build::AttentionOptions attention;
  attention.fusedName = "c_attn";
  attention.qkvBias = attention.outBias = bias;
  for (int64_t i = 0; i < d->layers; ++i) {
    build::addFusedAttention(m, *d, i, attention);
    for (const char *n : {"self_attn.q_norm.weight", "self_attn.k_norm.weight"})
      build::addCopy(m, layer(i, n), {d->headDim}, ParamKind::Norm);
    build::addGatedMLP(m, *d, i);
    build::addLayerNorms(m, *d, i,
                         {"input_layernorm", "post_attention_layernorm"});
  }
  build::addFinalNormAndHead(m, *d, cfg.getBool("tie_word_embeddings", false));
  return m;
}

static llvm::Expected<ModelDef> buildQwen3(const ModelConfig &cfg, int64_t tp) {
  return buildQwen3As(cfg, tp, "qwen3");
}

/// mlc-llm's `to_hf`: drops a leading `model.` from every source name.
static void dropModelPrefix(MapExpr &e) {
  if (e.op != MapExpr::Op::Source) {
    for (MapExpr &o : e.operands)
      dropModelPrefix(o);
    return;
  }
  if (llvm::StringRef(e.source).starts_with("model."))
    e.source = e.source.substr(6);
}

static llvm::Expected<ModelDef> buildQwen3Embedding(const ModelConfig &cfg,
                                                    int64_t tp) {
  llvm::Expected<ModelDef> m = buildQwen3As(cfg, tp, "qwen3-embedding");
  if (!m)
    return m.takeError();
  for (ParamDef &p : m->params)
    dropModelPrefix(p.map);
  return m;
}

Architecture qopt::models::makeQwen3Architecture() {
  return {"qwen3", {"Qwen3ForCausalLM"}, {"qwen3"}, buildQwen3};
}

// The Hub's Qwen3-Embedding configs say model_type `qwen3` (which stays
// qwen3's); as in mlc-llm, this type is chosen by `--model-type
// qwen3-embedding` or a config whose model_type names it.
Architecture qopt::models::makeQwen3EmbeddingArchitecture() {
  return {"qwen3-embedding", {}, {"qwen3-embedding"}, buildQwen3Embedding};
}
