//===- Phi.cpp - Phi-1.5 / Phi-2 as MLC lays them out -----------*- C++ -*-===//
//
// mlc-llm python/mlc_llm/model/phi/{phi_model,phi_loader}.py. Two model
// types share PhiForCausalLM: `phi` (Phi1Config, phi1_huggingface: the
// transformers layout of PhiForCausalLM) and `phi-msft` (PhiConfig,
// huggingface: Microsoft's original remote-code layout, where only the
// embedding is renamed, `transformer.embd.wte.weight`). MLC's parameters:
// `transformer.embd` [V, H]; per layer a LayerNorm `ln` (weight, bias), the
// fused `mixer.Wqkv` [(nq + 2 nkv) d, H] with bias (q/k/v concatenated from
// transformers' q_proj/k_proj/v_proj), `mixer.out_proj` (transformers'
// `dense`) and `mlp.fc1` / `mlp.fc2`, all with biases; the head
// `lm_head.ln` (LayerNorm) and `lm_head.linear` [V, H] with bias, V
// symbolic. Every config field has a default in MLC's dataclasses, so none
// is required but the context window (phi only; phi-msft falls back to
// n_positions). MLC's own loader also handles `mixformer-sequential`, but no
// registry entry reaches it.
//
//===----------------------------------------------------------------------===//

#include "ArchitectureBuilders.h"

using namespace qopt::models;
using build::layer;

namespace {
/// Phi's shape fields, named as MLC's PhiConfig names them.
struct PhiDims {
  int64_t vocab, hidden, inner, layers, heads, kvHeads, headDim;
};
} // namespace

/// An integer field with MLC's dataclass default `dflt` when absent; null
/// reads as 0 (then the caller's __post_init__ rule applies).
static int64_t field(const ModelConfig &cfg, llvm::StringRef key,
                     int64_t dflt) {
  if (!cfg.has(key))
    return cfg.raw().contains(key.str()) ? 0 : dflt;
  return cfg.getInt(key, 0);
}

static llvm::Expected<PhiDims> readPhiDims(const ModelConfig &cfg, bool msft,
                                           int64_t tp) {
  const char *arch = msft ? "phi-msft" : "phi";
  PhiDims d;
  const char *kHeads = msft ? "n_head" : "num_attention_heads";
  const char *kKv = msft ? "n_head_kv" : "num_key_value_heads";
  const char *kInner = msft ? "n_inner" : "intermediate_size";
  if (msft) {
    d = {field(cfg, "vocab_size", 51200), field(cfg, "n_embd", 2560),
         field(cfg, "n_inner", 0),        field(cfg, "n_layer", 32),
         field(cfg, "n_head", 32),        field(cfg, "n_head_kv", 0),
         field(cfg, "head_dim", 0)};
  } else {
    if (llvm::Error e = build::requireContextWindow(cfg, arch))
      return std::move(e);
    d = {field(cfg, "vocab_size", 51200),
         field(cfg, "hidden_size", 2048),
         field(cfg, "intermediate_size", 8192),
         field(cfg, "num_hidden_layers", 24),
         field(cfg, "num_attention_heads", 32),
         field(cfg, "num_key_value_heads", 0),
         field(cfg, "head_dim", 0)};
  }
  // PhiConfig.__post_init__ (Phi1Config's is the same).
  if (d.kvHeads == 0)
    d.kvHeads = d.heads;
  if (d.inner == 0)
    d.inner = 4 * d.hidden;
  for (auto [key, v] :
       {std::pair{"vocab_size", d.vocab},
        {msft ? "n_embd" : "hidden_size", d.hidden},
        {kInner, d.inner},
        {msft ? "n_layer" : "num_hidden_layers", d.layers},
        {kHeads, d.heads},
        {kKv, d.kvHeads}})
    if (v <= 0 || v > ConfigLimits::kMaxDim)
      return build::configError(cfg, llvm::Twine("field '") + key +
                                         "' must be a positive integer (" +
                                         arch + ")");
  if (d.headDim == 0)
    d.headDim = d.hidden / d.heads;
  if (d.headDim <= 0 || d.headDim * d.heads != d.hidden)
    return build::configError(cfg, "head_dim x " + llvm::Twine(kHeads) +
                                       " must equal the hidden size (" +
                                       arch + ")");
  if (d.heads % d.kvHeads != 0)
    return build::configError(cfg, llvm::Twine(kHeads) + " " +
                                       llvm::Twine(d.heads) +
                                       " is not a multiple of " + kKv + " " +
                                       llvm::Twine(d.kvHeads));
  for (auto [key, v] :
       {std::pair{kHeads, d.heads}, {kKv, d.kvHeads}, {kInner, d.inner}})
    if (auto q = build::divide(v, tp,
                               std::string("tensor-parallel-shards: ") + key);
        !q)
      return q.takeError();
  return d;
}

static llvm::Expected<ModelDef> buildPhi(const ModelConfig &cfg, int64_t tp,
                                         bool msft) {
  const char *arch = msft ? "phi-msft" : "phi";
  llvm::Expected<PhiDims> dims = readPhiDims(cfg, msft, tp);
  if (!dims)
    return dims.takeError();
  const PhiDims &d = *dims;
  int64_t h = d.hidden, qkvRows = (d.heads + 2 * d.kvHeads) * d.headDim;
  int64_t q = d.heads / tp * d.headDim, kv = d.kvHeads / tp * d.headDim;

  ModelDef m = build::startModel(arch, {"no-quant", "group-quant", "ft-quant"});
  m.shardDivisors = {{msft ? "n_head" : "num_attention_heads", d.heads},
                     {msft ? "n_head_kv" : "num_key_value_heads", d.kvHeads},
                     {msft ? "n_inner" : "intermediate_size", d.inner}};
  // MLC name <- HF name, cast to the model dtype.
  auto add = [&](std::string name, std::string hf, std::vector<int64_t> shape,
                 ParamKind kind, std::optional<ShardStrategy> shard = {}) {
    build::addParam(m, std::move(name), std::move(shape), kind,
                    MapExpr::src(std::move(hf)), std::move(shard));
  };
  auto fuse = [&](std::string name, const std::string &hfAttn,
                  const char *suffix, std::vector<int64_t> shape,
                  ParamKind kind) {
    std::vector<MapExpr> parts;
    for (const char *p : {"q_proj", "k_proj", "v_proj"})
      parts.push_back(MapExpr::src(hfAttn + p + suffix));
    build::addParam(m, std::move(name), std::move(shape), kind,
                    MapExpr::concat(std::move(parts)),
                    ShardStrategy{0, {q, kv, kv}});
  };

  if (msft) {
    // huggingface(): the embedding renamed, every other name as MLC's.
    add("transformer.embd.weight", "transformer.embd.wte.weight", {d.vocab, h},
        ParamKind::Embedding);
  } else {
    // phi1_huggingface(), in its order.
    add("lm_head.linear.weight", "lm_head.weight", {-1, h}, ParamKind::FinalFC);
    add("lm_head.linear.bias", "lm_head.bias", {-1}, ParamKind::Bias);
    add("lm_head.ln.weight", "model.final_layernorm.weight", {h},
        ParamKind::Norm);
    add("lm_head.ln.bias", "model.final_layernorm.bias", {h}, ParamKind::Bias);
    add("transformer.embd.weight", "model.embed_tokens.weight", {d.vocab, h},
        ParamKind::Embedding);
  }
  for (int64_t i = 0; i < d.layers; ++i) {
    auto mlc = [&](llvm::StringRef rest) {
      return layer(i, rest, "transformer.h.");
    };
    // phi: transformers' names; phi-msft: MLC's own.
    auto hf = [&](llvm::StringRef phiName, llvm::StringRef mlcRest) {
      return msft ? mlc(mlcRest) : layer(i, phiName);
    };
    add(mlc("ln.weight"), hf("input_layernorm.weight", "ln.weight"), {h},
        ParamKind::Norm);
    add(mlc("ln.bias"), hf("input_layernorm.bias", "ln.bias"), {h},
        ParamKind::Bias);
    if (msft) {
      add(mlc("mixer.Wqkv.weight"), mlc("mixer.Wqkv.weight"), {qkvRows, h},
          ParamKind::Linear, ShardStrategy{0, {q, kv, kv}});
      add(mlc("mixer.Wqkv.bias"), mlc("mixer.Wqkv.bias"), {qkvRows},
          ParamKind::Bias, ShardStrategy{0, {q, kv, kv}});
    } else {
      std::string attn = layer(i, "self_attn.");
      fuse(mlc("mixer.Wqkv.weight"), attn, ".weight", {qkvRows, h},
           ParamKind::Linear);
      fuse(mlc("mixer.Wqkv.bias"), attn, ".bias", {qkvRows}, ParamKind::Bias);
    }
    add(mlc("mixer.out_proj.weight"),
        hf("self_attn.dense.weight", "mixer.out_proj.weight"),
        {h, d.heads * d.headDim}, ParamKind::Linear, ShardStrategy{1, {}});
    add(mlc("mixer.out_proj.bias"),
        hf("self_attn.dense.bias", "mixer.out_proj.bias"), {h},
        ParamKind::Bias);
    add(mlc("mlp.fc1.weight"), hf("mlp.fc1.weight", "mlp.fc1.weight"),
        {d.inner, h}, ParamKind::Linear, ShardStrategy{0, {}});
    add(mlc("mlp.fc1.bias"), hf("mlp.fc1.bias", "mlp.fc1.bias"), {d.inner},
        ParamKind::Bias, ShardStrategy{0, {}});
    add(mlc("mlp.fc2.weight"), hf("mlp.fc2.weight", "mlp.fc2.weight"),
        {h, d.inner}, ParamKind::Linear, ShardStrategy{1, {}});
    add(mlc("mlp.fc2.bias"), hf("mlp.fc2.bias", "mlp.fc2.bias"), {h},
        ParamKind::Bias);
  }
  if (msft) {
    add("lm_head.ln.weight", "lm_head.ln.weight", {h}, ParamKind::Norm);
    add("lm_head.ln.bias", "lm_head.ln.bias", {h}, ParamKind::Bias);
    add("lm_head.linear.weight", "lm_head.linear.weight", {-1, h},
        ParamKind::FinalFC);
    add("lm_head.linear.bias", "lm_head.linear.bias", {-1}, ParamKind::Bias);
  } else {
    // Named unused by phi1_huggingface (no checkpoint holds it).
    build::addUnusedPerLayer(m, d.layers, "mixer.rotary_emb.inv_freq");
  }
  return m;
}

Architecture qopt::models::makePhiArchitecture() {
  return {"phi",
          {"PhiForCausalLM"},
          {"phi"},
          [](const ModelConfig &cfg, int64_t tp) {
            return buildPhi(cfg, tp, /*msft=*/false);
          }};
}

Architecture qopt::models::makePhiMsftArchitecture() {
  // Microsoft's configs name PhiForCausalLM too: found by model_type only.
  return {"phi-msft",
          {},
          {"phi-msft"},
          [](const ModelConfig &cfg, int64_t tp) {
            return buildPhi(cfg, tp, /*msft=*/true);
          }};
}
