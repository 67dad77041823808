//===- Qwen.cpp - Qwen-1 (QWenLMHeadModel) as MLC lays it out ---*- C++ -*-===//
//
// mlc-llm python/mlc_llm/model/qwen/{qwen_model,qwen_loader}.py
// (make_standard_hf_loader with layer_prefix `transformer.h`, no q/k/v
// fusion, gate_up_names (w1, w2)): every tensor copied under its remote-code
// name but `mlp.gate_up_proj` = concat(mlp.w1, mlp.w2). The checkpoint's
// `attn.c_attn` [3 H, H] (with bias) holds q, k and v of every head and is
// sharded as [q, k, v] segments; Qwen-1's `intermediate_size` is twice the
// width of w1 and w2 (c_proj is [H, I / 2]). RMSNorms ln_1, ln_2, ln_f;
// `lm_head` always a parameter (declared float32, cast to the model dtype
// by Module.to like every weight).
//
//===----------------------------------------------------------------------===//

#include "ArchitectureBuilders.h"

using namespace qopt::models;
using build::layer;

static llvm::Expected<ModelDef> buildQwen(const ModelConfig &cfg, int64_t tp) {
  const char *arch = "qwen";
  if (llvm::Error e = cfg.require(
          {"vocab_size", "hidden_size", "num_hidden_layers",
           "num_attention_heads", "layer_norm_epsilon", "scale_attn_weights",
           "kv_channels", "rotary_emb_base", "intermediate_size"},
          arch))
    return std::move(e);
  if (llvm::Error e = build::requireContextWindow(cfg, arch))
    return std::move(e);
  // QWenAttention holds every head's k and v (no grouped-query attention).
  llvm::Expected<build::TransformerDims> d = build::readDims(cfg, arch, tp);
  if (!d)
    return d.takeError();
  d->kvHeads = d->heads;
  int64_t h = d->hidden, inter = d->intermediate;
  if (d->headDim * d->heads != h)
    return build::configError(cfg, "head_dim x num_attention_heads must equal "
                                   "hidden_size (qwen)");
  if (inter % (2 * tp) != 0)
    return build::configError(
        cfg, "intermediate_size " + llvm::Twine(inter) +
                 " must split into w1 and w2 on every shard (qwen)");
  int64_t i = inter / tp / 2;

  ModelDef m = build::startModel(arch, {"no-quant", "group-quant", "ft-quant"});
  m.shardDivisors = {{"num_attention_heads", d->heads},
                     {"intermediate_size", inter}};
  auto copy = [&](const std::string &name, std::vector<int64_t> shape,
                  ParamKind kind, std::optional<ShardStrategy> shard = {}) {
    build::addCopy(m, name, std::move(shape), kind, std::move(shard));
  };
  copy("transformer.wte.weight", {d->vocab, h}, ParamKind::Embedding);
  for (int64_t l = 0; l < d->layers; ++l) {
    auto n = [&](llvm::StringRef rest) {
      return layer(l, rest, "transformer.h.");
    };
    copy(n("attn.c_attn.weight"), {3 * h, h}, ParamKind::Linear,
         d->qkvShard());
    copy(n("attn.c_attn.bias"), {3 * h}, ParamKind::Bias, d->qkvShard());
    copy(n("attn.c_proj.weight"), {h, h}, ParamKind::Linear,
         ShardStrategy{1, {}});
    build::addParam(m, n("mlp.gate_up_proj.weight"), {inter, h},
                    ParamKind::Linear,
                    MapExpr::concat({MapExpr::src(n("mlp.w1.weight")),
                                     MapExpr::src(n("mlp.w2.weight"))}),
                    ShardStrategy{0, {i, i}});
    copy(n("mlp.c_proj.weight"), {h, inter / 2}, ParamKind::Linear,
         ShardStrategy{1, {}});
    copy(n("ln_1.weight"), {h}, ParamKind::Norm);
    copy(n("ln_2.weight"), {h}, ParamKind::Norm);
  }
  copy("transformer.ln_f.weight", {h}, ParamKind::Norm);
  copy("lm_head.weight", {d->vocab, h}, ParamKind::FinalFC);
  return m;
}

Architecture qopt::models::makeQwenArchitecture() {
  return {"qwen", {"QWenLMHeadModel"}, {"qwen"}, buildQwen};
}
