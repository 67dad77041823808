//===- Llama4.cpp - Llama 4 (text part) as MLC lays it out -----*- C++ -*-===//
//
// mlc-llm python/mlc_llm/model/llama4/{llama4_model,llama4_loader}.py (model
// type llama4, Llama4ForConditionalGeneration checkpoints). The shapes come
// from `text_config`; every HF tensor is read under `language_model.`; the
// vision model and projector are not converted. Each layer has separate
// q/k/v/o projections (biases with attention_bias), and a MoE feed-forward:
// a router `feed_forward.router.router.weight` [E, H] (an ordinary Linear,
// quantized: its name does not end in `gate`), a shared expert whose
// `gate_up_proj` is concat(gate_proj, up_proj), and the experts as HF
// already stacks them: `feed_forward.experts.gate_up_proj` [E, H, 2F] and
// `feed_forward.experts.down_proj` [E, F, H], plain parameters that MLC's
// quantizers leave in the model dtype. The embedding and lm_head have a
// symbolic vocabulary.
//
// MLC's loader maps a router, shared expert and experts in every layer, so
// a config with dense layers (interleave_moe_layer_step > 1, as Maverick)
// is refused; so is presharding with attention_bias, whose biases carry no
// shard strategy.
//
//===----------------------------------------------------------------------===//

#include "ArchitectureBuilders.h"
#include "GroupBArchitectures.h"

using namespace qopt::models;
using build::layer;

static llvm::Expected<ModelDef> buildLlama4(const ModelConfig &top,
                                            int64_t tp) {
  const char *arch = "llama4";
  const nlohmann::json &raw = top.raw();
  auto text = raw.find("text_config");
  if (text == raw.end() || !text->is_object())
    return build::configError(top, "missing required field 'text_config' "
                                   "(llama4)");
  ModelConfig cfg(*text, top.getPath());
  if (llvm::Error e = checkModelConfig(cfg))
    return std::move(e);
  if (llvm::Error e = cfg.require(
          {"hidden_size", "intermediate_size", "num_attention_heads",
           "num_hidden_layers", "rms_norm_eps", "use_qk_norm",
           "interleave_moe_layer_step", "num_experts_per_tok",
           "num_local_experts", "hidden_act"},
          arch))
    return std::move(e);
  if (llvm::Error e = build::requireRopeTheta(cfg, arch))
    return std::move(e);
  int64_t layers = cfg.getInt("num_hidden_layers", 0);
  llvm::Expected<int64_t> experts =
      build::positiveInt(cfg, "num_local_experts", arch);
  if (!experts)
    return experts.takeError();
  llvm::Expected<int64_t> step =
      build::positiveInt(cfg, "interleave_moe_layer_step", arch);
  if (!step)
    return step.takeError();

  // Llama4TextConfig: moe_layers, or every step-th layer.
  std::vector<bool> moe(std::max<int64_t>(layers, 0), false);
  if (auto ml = cfg.raw().find("moe_layers");
      ml != cfg.raw().end() && !ml->is_null()) {
    if (!ml->is_array())
      return build::configError(cfg, "field 'moe_layers' must be a list of "
                                     "layer indices (llama4)");
    for (const nlohmann::json &v : *ml)
      if (v.is_number_integer() && v.get<int64_t>() >= 0 &&
          v.get<int64_t>() < layers)
        moe[v.get<int64_t>()] = true;
  } else {
    for (int64_t i = *step - 1; i < layers; i += *step)
      moe[i] = true;
  }
  for (int64_t i = 0; i < layers; ++i)
    if (!moe[i])
      return build::configError(
          cfg, "layer " + llvm::Twine(i) +
                   " is a dense layer (interleave_moe_layer_step / "
                   "moe_layers), but MLC's llama4 loader maps a router, "
                   "shared expert and experts in every layer");

  // vocab_size defaults to 202048 in MLC's Llama4TextConfig.
  nlohmann::json dims = cfg.raw();
  if (!dims.contains("vocab_size") || dims["vocab_size"].is_null())
    dims["vocab_size"] = 202048;
  llvm::Expected<build::TransformerDims> d =
      build::readDims(ModelConfig(std::move(dims), top.getPath()), arch, tp);
  if (!d)
    return d.takeError();
  if (d->hidden % d->heads != 0)
    return build::configError(cfg, "hidden_size " + llvm::Twine(d->hidden) +
                                       " is not a multiple of "
                                       "num_attention_heads " +
                                       llvm::Twine(d->heads) + " (llama4)");
  bool bias = cfg.getBool("attention_bias", false);
  const char *biasWhy = "attention_bias adds q/k/v biases that carry no shard "
                        "strategy, so the full HF biases do not fit a shard";
  if (bias)
    if (llvm::Error e = build::refusePresharding(top, arch, tp, biasWhy))
      return std::move(e);
  if (auto q = build::divide(*experts, tp,
                             "tensor-parallel-shards: num_local_experts");
      !q)
    return q.takeError();

  ModelDef m = build::startModel(
      arch, {"no-quant", "group-quant", "ft-quant", "per-tensor-quant"});
  if (bias)
    m.preshardRefusal = build::preshardRefusal(arch, biasWhy);
  m.shardDivisors = d->shardDivisors();
  m.shardDivisors.push_back({"num_local_experts", *experts});
  const std::string pre = "language_model.";
  auto copy = [&](const std::string &name, std::vector<int64_t> shape,
                  ParamKind kind, std::optional<ShardStrategy> shard = {}) {
    build::addParam(m, name, std::move(shape), kind, MapExpr::src(pre + name),
                    std::move(shard));
  };
  int64_t h = d->hidden, f = d->intermediate, e = *experts, hd = d->headDim;
  copy("model.embed_tokens.weight", {-1, h}, ParamKind::Embedding);
  for (int64_t i = 0; i < layers; ++i) {
    for (auto [proj, rows] : {std::pair{"q_proj", d->heads * hd},
                              {"k_proj", d->kvHeads * hd},
                              {"v_proj", d->kvHeads * hd}}) {
      std::string n = layer(i, std::string("self_attn.") + proj);
      copy(n + ".weight", {rows, h}, ParamKind::Linear, ShardStrategy{0, {}});
      if (bias)
        copy(n + ".bias", {rows}, ParamKind::Bias);
    }
    copy(layer(i, "self_attn.o_proj.weight"), {h, d->heads * hd},
         ParamKind::Linear, ShardStrategy{1, {}});
    if (bias)
      copy(layer(i, "self_attn.o_proj.bias"), {h}, ParamKind::Bias);
    std::string ff = layer(i, "feed_forward.");
    copy(ff + "experts.gate_up_proj", {e, h, 2 * f}, ParamKind::Other,
         ShardStrategy{2, {f / tp, f / tp}});
    copy(ff + "experts.down_proj", {e, f, h}, ParamKind::Other,
         ShardStrategy{1, {}});
    build::addParam(m, ff + "router.router.weight", {e, h}, ParamKind::Linear,
                    MapExpr::src(pre + ff + "router.weight"),
                    ShardStrategy{0, {}});
    build::addParam(
        m, ff + "shared_expert.gate_up_proj.weight", {2 * f, h},
        ParamKind::Linear,
        MapExpr::concat(
            {MapExpr::src(pre + ff + "shared_expert.gate_proj.weight"),
             MapExpr::src(pre + ff + "shared_expert.up_proj.weight")}),
        ShardStrategy{0, {f / tp, f / tp}});
    copy(ff + "shared_expert.down_proj.weight", {h, f}, ParamKind::Linear,
         ShardStrategy{1, {}});
    copy(layer(i, "input_layernorm.weight"), {h}, ParamKind::Norm);
    copy(layer(i, "post_attention_layernorm.weight"), {h}, ParamKind::Norm);
  }
  copy("model.norm.weight", {h}, ParamKind::Norm);
  if (!cfg.getBool("tie_word_embeddings", false))
    copy("lm_head.weight", {-1, h}, ParamKind::FinalFC);
  return m;
}

Architecture qopt::models::makeLlama4Architecture() {
  return {"llama4", {"Llama4ForConditionalGeneration"}, {"llama4"},
          buildLlama4};
}
