//===- GPT2.cpp - GPT2LMHeadModel as MLC lays it out -----------*- C++ -*-===//
//
// mlc-llm python/mlc_llm/model/gpt2/{gpt2_model,gpt2_loader}.py: MLC names
// live under `transformer.`, the HF names it reads do not (`wte.weight`,
// `h.0.attn.c_attn.weight`, ...); current transformers checkpoints do carry
// the prefix, so both spellings are accepted. HF's Conv1D stores weights
// [in, out]: MLC transposes them. `lm_head` is built from `wte.weight`.
//
//===----------------------------------------------------------------------===//

#include "ArchitectureBuilders.h"

using namespace qopt::models;
using build::layer;

static llvm::Expected<ModelDef> buildGPT2(const ModelConfig &cfg, int64_t tp) {
  const char *arch = "gpt2";
  if (llvm::Error e = cfg.require(
          {"vocab_size", "n_embd", "n_layer", "n_head", "layer_norm_epsilon"},
          arch))
    return std::move(e);
  int64_t vocab = cfg.getInt("vocab_size", 0), h = cfg.getInt("n_embd", 0);
  int64_t layers = cfg.getInt("n_layer", 0), heads = cfg.getInt("n_head", 0);
  int64_t inner = cfg.getInt("n_inner", -1);
  if (inner == -1 || inner == 0)
    inner = 4 * h;
  int64_t context = 0;
  for (const char *key :
       {"context_window_size", "n_positions", "max_sequence_length"})
    if ((context = cfg.getInt(key, 0)) > 0)
      break;
  if (context <= 0)
    return build::configError(cfg, "missing required field 'n_positions' "
                                   "(or 'context_window_size') (gpt2)");
  for (auto [key, v] : {std::pair{"vocab_size", vocab},
                        {"n_embd", h},
                        {"n_layer", layers},
                        {"n_head", heads},
                        {"n_inner", inner}})
    if (v <= 0)
      return build::configError(cfg, llvm::Twine("field '") + key +
                                         "' must be a positive integer (gpt2)");
  llvm::Expected<int64_t> d =
      build::divide(h, heads, cfg.getPath() + ": n_embd / n_head");
  if (!d)
    return d.takeError();
  std::vector<std::pair<std::string, int64_t>> divisors = {
      {"n_head", heads}, {"n_inner", inner}};
  for (const auto &[what, v] : divisors)
    if (auto q = build::divide(v, tp, "tensor-parallel-shards: " + what); !q)
      return q.takeError();
  int64_t q = heads / tp * *d;

  ModelDef m = build::startModel(arch, {"no-quant", "group-quant", "ft-quant"});
  m.sourcePrefixes = {"", "transformer."};
  m.shardDivisors = std::move(divisors);
  auto add = [&](std::string mlc, std::vector<int64_t> shape, ParamKind kind,
                 MapExpr map, std::optional<ShardStrategy> shard = {}) {
    build::addParam(m, std::move(mlc), std::move(shape), kind, std::move(map),
                    std::move(shard));
  };
  // lm_head first: MLC emits it right before transformer.wte.weight.
  add("lm_head.weight", {vocab, h}, ParamKind::FinalFC,
      MapExpr::src("wte.weight"));
  add("transformer.wte.weight", {vocab, h}, ParamKind::Embedding,
      MapExpr::src("wte.weight"));
  add("transformer.wpe.weight", {context, h}, ParamKind::Embedding,
      MapExpr::src("wpe.weight"));
  for (int64_t i = 0; i < layers; ++i) {
    auto mlc = [&](llvm::StringRef rest) {
      return layer(i, rest, "transformer.h.");
    };
    auto hf = [&](llvm::StringRef rest) {
      return MapExpr::src(layer(i, rest, "h."));
    };
    auto conv1d = [&](llvm::StringRef rest) {
      return MapExpr::transpose(hf(rest));
    };
    for (const char *n : {"ln_1", "ln_2"}) {
      add(mlc(std::string(n) + ".weight"), {h}, ParamKind::Norm,
          hf(std::string(n) + ".weight"));
      add(mlc(std::string(n) + ".bias"), {h}, ParamKind::Bias,
          hf(std::string(n) + ".bias"));
    }
    add(mlc("attn.c_attn.weight"), {3 * h, h}, ParamKind::Linear,
        conv1d("attn.c_attn.weight"), ShardStrategy{0, {q, q, q}});
    add(mlc("attn.c_attn.bias"), {3 * h}, ParamKind::Bias,
        hf("attn.c_attn.bias"), ShardStrategy{0, {q, q, q}});
    add(mlc("attn.c_proj.weight"), {h, h}, ParamKind::Linear,
        conv1d("attn.c_proj.weight"), ShardStrategy{1, {}});
    add(mlc("attn.c_proj.bias"), {h}, ParamKind::Bias, hf("attn.c_proj.bias"));
    add(mlc("mlp.c_fc.weight"), {inner, h}, ParamKind::Linear,
        conv1d("mlp.c_fc.weight"), ShardStrategy{0, {}});
    add(mlc("mlp.c_fc.bias"), {inner}, ParamKind::Bias, hf("mlp.c_fc.bias"),
        ShardStrategy{0, {}});
    add(mlc("mlp.c_proj.weight"), {h, inner}, ParamKind::Linear,
        conv1d("mlp.c_proj.weight"), ShardStrategy{1, {}});
    add(mlc("mlp.c_proj.bias"), {h}, ParamKind::Bias, hf("mlp.c_proj.bias"));
    m.unusedSources.push_back(layer(i, "attn.bias", "h."));
  }
  add("transformer.ln_f.weight", {h}, ParamKind::Norm,
      MapExpr::src("ln_f.weight"));
  add("transformer.ln_f.bias", {h}, ParamKind::Bias, MapExpr::src("ln_f.bias"));
  return m;
}

Architecture qopt::models::makeGPT2Architecture() {
  return {"gpt2", {"GPT2LMHeadModel"}, {"gpt2"}, buildGPT2};
}
