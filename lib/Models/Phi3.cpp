//===- Phi3.cpp - Phi3ForCausalLM as MLC lays it out -----------*- C++ -*-===//
//
// mlc-llm python/mlc_llm/model/phi3/{phi3_model,phi3_loader}.py: the HF
// checkpoint already stores q/k/v and gate/up fused; MLC renames everything
// into its `transformer.` tree and copies the tensors as they are.
//
//===----------------------------------------------------------------------===//

#include "ArchitectureBuilders.h"

using namespace qopt::models;
using build::layer;

void build::addPhi3Layers(ModelDef &m, const TransformerDims &d,
                          llvm::StringRef mlcPrefix) {
  const int64_t h = d.hidden, ffn = d.intermediate;
  auto from = [&](std::string mlc, std::vector<int64_t> shape, ParamKind kind,
                  std::string hf, std::optional<ShardStrategy> shard = {}) {
    addParam(m, std::move(mlc), std::move(shape), kind,
             MapExpr::src(std::move(hf)), std::move(shard));
  };
  for (int64_t i = 0; i < d.layers; ++i) {
    auto mlc = [&](llvm::StringRef rest) {
      return layer(i, rest, mlcPrefix);
    };
    from(mlc("ln.weight"), {h}, ParamKind::Norm,
         layer(i, "input_layernorm.weight"));
    from(mlc("mixer.qkv_proj.weight"), {d.qkvRows(), h}, ParamKind::Linear,
         layer(i, "self_attn.qkv_proj.weight"), d.qkvShard());
    from(mlc("mixer.out_proj.weight"), {h, d.heads * d.headDim},
         ParamKind::Linear, layer(i, "self_attn.o_proj.weight"),
         ShardStrategy{1, {}});
    from(mlc("mlp.gate_up_proj.weight"), {2 * ffn, h}, ParamKind::Linear,
         layer(i, "mlp.gate_up_proj.weight"), d.gateUpShard());
    from(mlc("mlp.down_proj.weight"), {h, ffn}, ParamKind::Linear,
         layer(i, "mlp.down_proj.weight"), ShardStrategy{1, {}});
    from(mlc("post_attention_layernorm.weight"), {h}, ParamKind::Norm,
         layer(i, "post_attention_layernorm.weight"));
  }
}

static llvm::Expected<ModelDef> buildPhi3(const ModelConfig &cfg, int64_t tp) {
  const char *arch = "phi3";
  if (llvm::Error e = cfg.require(
          {"model_type", "hidden_size", "vocab_size", "num_hidden_layers",
           "num_attention_heads", "intermediate_size", "rms_norm_eps",
           "num_key_value_heads", "max_position_embeddings"},
          arch))
    return std::move(e);
  llvm::Expected<build::TransformerDims> d = build::readDims(cfg, arch, tp);
  if (!d)
    return d.takeError();
  const int64_t h = d->hidden;

  ModelDef m = build::startModel(arch, {"no-quant", "group-quant", "ft-quant"});
  m.shardDivisors = d->shardDivisors();
  auto from = [&](std::string mlc, std::vector<int64_t> shape, ParamKind kind,
                  std::string hf, std::optional<ShardStrategy> shard = {}) {
    build::addParam(m, std::move(mlc), std::move(shape), kind,
                    MapExpr::src(std::move(hf)), std::move(shard));
  };
  from("transformer.embd.weight", {d->vocab, h}, ParamKind::Embedding,
       "model.embed_tokens.weight");
  build::addPhi3Layers(m, *d, "transformer.h.");
  from("transformer.norm.weight", {h}, ParamKind::Norm, "model.norm.weight");
  if (!cfg.getBool("tie_word_embeddings", false))
    from("lm_head.weight", {d->vocab, h}, ParamKind::FinalFC, "lm_head.weight");
  return m;
}

Architecture qopt::models::makePhi3Architecture() {
  return {"phi3", {"Phi3ForCausalLM"}, {"phi3"}, buildPhi3};
}
