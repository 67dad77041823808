//===- GPTBigCode.cpp - GPTBigCodeForCausalLM as MLC lays it out -*- C++ -*-===//
//
// mlc-llm python/mlc_llm/model/gpt_bigcode/{gpt_bigcode_model,
// gpt_bigcode_loader}.py (make_standard_hf_loader without fusions): every
// tensor copied under its own name, `transformer.` included. Multi-query
// attention: `attn.c_attn` [(n_head + 2) d, n_embd] with bias, nn.Linear
// weights (not GPT-2's Conv1D), LayerNorms with biases, a symbolic
// vocabulary for `wte` and `lm_head`, `wpe` [n_positions, n_embd]. MLC's
// attention asserts tensor_parallel_shards == 1.
//
//===----------------------------------------------------------------------===//

#include "ArchitectureBuilders.h"

using namespace qopt::models;
using build::layer;

static llvm::Expected<ModelDef> buildGPTBigCode(const ModelConfig &cfg,
                                                int64_t tp) {
  const char *arch = "gpt_bigcode";
  if (llvm::Error e = cfg.require({"n_embd", "n_inner", "n_head", "n_layer",
                                   "n_positions", "layer_norm_epsilon",
                                   "vocab_size"},
                                  arch))
    return std::move(e);
  if (llvm::Error e = build::refusePresharding(
          cfg, arch, tp,
          "MLC's GPTBigCodeAttention asserts tensor_parallel_shards == 1"))
    return std::move(e);
  int64_t h = cfg.getInt("n_embd", 0), inner = cfg.getInt("n_inner", 0);
  int64_t heads = cfg.getInt("n_head", 0), layers = cfg.getInt("n_layer", 0);
  int64_t positions = cfg.getInt("n_positions", 0);
  for (auto [key, v] : {std::pair{"n_embd", h},
                        {"n_inner", inner},
                        {"n_head", heads},
                        {"n_layer", layers},
                        {"n_positions", positions}})
    if (v <= 0)
      return build::configError(cfg, llvm::Twine("field '") + key +
                                         "' must be a positive integer "
                                         "(gpt_bigcode)");
  llvm::Expected<int64_t> d =
      build::divide(h, heads, cfg.getPath() + ": n_embd / n_head");
  if (!d)
    return d.takeError();

  ModelDef m = build::startModel(arch, {"no-quant", "group-quant", "ft-quant"});
  m.preshardRefusal = build::preshardRefusal(
      arch, "MLC's GPTBigCodeAttention asserts tensor_parallel_shards == 1");
  auto copy = [&](const std::string &name, std::vector<int64_t> shape,
                  ParamKind kind, std::optional<ShardStrategy> shard = {}) {
    build::addCopy(m, name, std::move(shape), kind, std::move(shard));
  };
  copy("transformer.wte.weight", {-1, h}, ParamKind::Embedding);
  copy("transformer.wpe.weight", {positions, h}, ParamKind::Embedding);
  int64_t qkv = (heads + 2) * *d;
  for (int64_t i = 0; i < layers; ++i) {
    auto n = [&](llvm::StringRef rest) {
      return layer(i, rest, "transformer.h.");
    };
    for (const char *ln : {"ln_1", "ln_2"}) {
      copy(n(std::string(ln) + ".weight"), {h}, ParamKind::Norm);
      copy(n(std::string(ln) + ".bias"), {h}, ParamKind::Bias);
    }
    copy(n("attn.c_attn.weight"), {qkv, h}, ParamKind::Linear,
         ShardStrategy{0, {heads * *d, *d, *d}});
    copy(n("attn.c_attn.bias"), {qkv}, ParamKind::Bias);
    copy(n("attn.c_proj.weight"), {h, heads * *d}, ParamKind::Linear,
         ShardStrategy{1, {}});
    copy(n("attn.c_proj.bias"), {h}, ParamKind::Bias);
    copy(n("mlp.c_fc.weight"), {inner, h}, ParamKind::Linear,
         ShardStrategy{0, {}});
    copy(n("mlp.c_fc.bias"), {inner}, ParamKind::Bias);
    copy(n("mlp.c_proj.weight"), {h, inner}, ParamKind::Linear,
         ShardStrategy{1, {}});
    copy(n("mlp.c_proj.bias"), {h}, ParamKind::Bias);
  }
  copy("transformer.ln_f.weight", {h}, ParamKind::Norm);
  copy("transformer.ln_f.bias", {h}, ParamKind::Bias);
  copy("lm_head.weight", {-1, h}, ParamKind::FinalFC);
  return m;
}

Architecture qopt::models::makeGPTBigCodeArchitecture() {
  return {"gpt_bigcode", {"GPTBigCodeForCausalLM"}, {"gpt_bigcode"},
          buildGPTBigCode};
}
