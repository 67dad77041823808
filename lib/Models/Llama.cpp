//===- Llama.cpp - LlamaForCausalLM as MLC lays it out ---------*- C++ -*-===//
//
// mlc-llm python/mlc_llm/model/llama/{llama_model,llama_loader}.py: q/k/v
// fused into `qkv_proj`, gate/up into `gate_up_proj`, everything else copied.
//
//===----------------------------------------------------------------------===//

#include "qopt/Models/ModelDef.h"

using namespace qopt::models;
using build::layer;

static llvm::Expected<ModelDef> buildLlama(const ModelConfig &cfg,
                                           int64_t tp) {
  const char *arch = "llama";
  if (llvm::Error e = cfg.require({"hidden_size", "intermediate_size",
                                   "num_attention_heads", "num_hidden_layers",
                                   "rms_norm_eps", "vocab_size"},
                                  arch))
    return std::move(e);
  if (!cfg.has("max_position_embeddings") && !cfg.has("max_sequence_length"))
    return llvm::createStringError(
        cfg.getPath() + ": missing required field 'max_position_embeddings' "
                        "(or 'max_sequence_length') (llama)");
  int64_t h = cfg.getInt("hidden_size", 0), ffn = cfg.getInt("intermediate_size", 0);
  int64_t nq = cfg.getInt("num_attention_heads", 0);
  int64_t layers = cfg.getInt("num_hidden_layers", 0);
  int64_t vocab = cfg.getInt("vocab_size", 0);
  int64_t nkv = cfg.getInt("num_key_value_heads", 0);
  if (nkv == 0)
    nkv = nq;
  for (auto [key, v] : {std::pair{"hidden_size", h}, {"intermediate_size", ffn},
                        {"num_attention_heads", nq}, {"num_hidden_layers", layers},
                        {"vocab_size", vocab}, {"num_key_value_heads", nkv}})
    if (v <= 0)
      return llvm::createStringError(cfg.getPath() + ": field '" + key +
                                     "' must be a positive integer");
  int64_t d = cfg.getInt("head_dim", 0);
  if (d == 0) {
    auto hd = build::divide(h, nq, cfg.getPath() + ": hidden_size / num_attention_heads");
    if (!hd)
      return hd.takeError();
    d = *hd;
  }
  if (nq % nkv != 0)
    return llvm::createStringError(
        cfg.getPath() + ": num_attention_heads " + std::to_string(nq) +
        " is not a multiple of num_key_value_heads " + std::to_string(nkv));
  for (auto [what, v] : {std::pair{"num_attention_heads", nq},
                         {"num_key_value_heads", nkv}, {"intermediate_size", ffn}})
    if (auto q = build::divide(v, tp, std::string("tensor-parallel-shards: ") + what); !q)
      return q.takeError();
  bool tied = cfg.getBool("tie_word_embeddings", false);

  ModelDef m;
  m.arch = arch;
  m.quantizationKinds = {"no-quant", "group-quant", "ft-quant", "awq",
                         "per-tensor-quant"};
  auto add = [&](std::string name, std::vector<int64_t> shape, ParamKind kind,
                 MapExpr map, std::optional<ShardStrategy> shard = std::nullopt) {
    m.params.push_back({std::move(name), std::move(shape), kind, std::move(map),
                        std::move(shard)});
  };
  add("model.embed_tokens.weight", {vocab, h}, ParamKind::Embedding,
      MapExpr::src("model.embed_tokens.weight"));
  for (int64_t i = 0; i < layers; ++i) {
    auto hf = [&](llvm::StringRef rest) { return MapExpr::src(layer(i, rest)); };
    add(layer(i, "self_attn.qkv_proj.weight"), {(nq + 2 * nkv) * d, h},
        ParamKind::Linear,
        MapExpr::concat({hf("self_attn.q_proj.weight"),
                         hf("self_attn.k_proj.weight"),
                         hf("self_attn.v_proj.weight")}),
        ShardStrategy{0, {nq / tp * d, nkv / tp * d, nkv / tp * d}});
    add(layer(i, "self_attn.o_proj.weight"), {h, nq * d}, ParamKind::Linear,
        hf("self_attn.o_proj.weight"), ShardStrategy{1, {}});
    add(layer(i, "mlp.gate_up_proj.weight"), {2 * ffn, h}, ParamKind::Linear,
        MapExpr::concat({hf("mlp.gate_proj.weight"), hf("mlp.up_proj.weight")}),
        ShardStrategy{0, {ffn / tp, ffn / tp}});
    add(layer(i, "mlp.down_proj.weight"), {h, ffn}, ParamKind::Linear,
        hf("mlp.down_proj.weight"), ShardStrategy{1, {}});
    add(layer(i, "input_layernorm.weight"), {h}, ParamKind::Norm,
        hf("input_layernorm.weight"));
    add(layer(i, "post_attention_layernorm.weight"), {h}, ParamKind::Norm,
        hf("post_attention_layernorm.weight"));
    m.unusedSources.push_back(layer(i, "self_attn.rotary_emb.inv_freq"));
  }
  add("model.norm.weight", {h}, ParamKind::Norm, MapExpr::src("model.norm.weight"));
  if (!tied)
    add("lm_head.weight", {vocab, h}, ParamKind::FinalFC,
        MapExpr::src("lm_head.weight"));
  return m;
}

Architecture qopt::models::makeLlamaArchitecture() {
  return {"llama", {"LlamaForCausalLM"}, {"llama"}, buildLlama};
}
