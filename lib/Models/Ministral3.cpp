//===- Ministral3.cpp - Ministral 3 as MLC lays it out ---------*- C++ -*-===//
//
// mlc-llm python/mlc_llm/model/ministral3/{ministral3_model,ministral3_loader}.py
// (model type ministral3). MLC reads the text fields of `text_config`
// merged over the top level (top-level tie_word_embeddings and dtype win),
// builds Llama's parameters (qkv_proj = concat(q, k, v), gate_up_proj =
// concat(gate, up), a concrete [vocab_size, H] embedding, lm_head unless
// tied) and reads every HF tensor under `language_model.` when the config
// has a `vision_config` (Mistral3ForConditionalGeneration checkpoints), with
// no prefix otherwise. The vision tower and projector are not converted.
// `rotary_emb.inv_freq` is marked unused under its unprefixed name only, as
// MLC's loader does. MLC reads only FP8 checkpoints with static activation
// scales (quant_method "fp8", activation_scheme "static"), and those only
// with the block-scale modes (the static-activation one reading each
// projection's own activation_scale); every other mode dequantizes them
// here, as for the other FP8 model types (docs/quantization.md,
// "Block-scale modes").
//
//===----------------------------------------------------------------------===//

#include "ArchitectureBuilders.h"
#include "GroupBArchitectures.h"

using namespace qopt::models;
using build::layer;

/// Config.from_dict of MLC's Ministral3Config: text_config over the top
/// level, with the top level's tie_word_embeddings and dtype kept.
static nlohmann::json mergeTextConfig(const nlohmann::json &top) {
  auto text = top.find("text_config");
  if (text == top.end() || !text->is_object())
    return top;
  nlohmann::json merged = top;
  merged.erase("text_config");
  for (auto it = text->begin(); it != text->end(); ++it)
    merged[it.key()] = it.value();
  for (const char *key : {"tie_word_embeddings", "dtype"})
    if (top.contains(key))
      merged[key] = top[key];
  return merged;
}

static llvm::Error checkQuantizationConfig(const ModelConfig &cfg) {
  const nlohmann::json &raw = cfg.raw();
  auto q = raw.find("quantization_config");
  if (q == raw.end())
    return llvm::Error::success();
  if (!q->is_object())
    return build::configError(cfg, "unrecognized quantization_config: MLC's "
                                   "ministral3 reads only FP8 static "
                                   "quantization");
  auto str = [&](const char *key) {
    auto it = q->find(key);
    return it != q->end() && it->is_string() ? it->get<std::string>()
                                             : std::string();
  };
  if (str("quant_method") == "fp8" && str("activation_scheme") == "static")
    return llvm::Error::success();
  return build::configError(
      cfg, "quantization_config with quant_method '" + str("quant_method") +
               "' and activation_scheme '" + str("activation_scheme") +
               "': MLC's ministral3 supports only FP8 static quantization");
}

static llvm::Expected<ModelDef> buildMinistral3(const ModelConfig &top,
                                                int64_t tp) {
  const char *arch = "ministral3";
  ModelConfig cfg(mergeTextConfig(top.raw()), top.getPath());
  // The merged text fields pass the same type and range checks.
  if (llvm::Error e = checkModelConfig(cfg))
    return std::move(e);
  if (llvm::Error e = cfg.require({"hidden_size", "intermediate_size",
                                   "num_attention_heads", "num_hidden_layers",
                                   "rms_norm_eps", "vocab_size"},
                                  arch))
    return std::move(e);
  if (llvm::Error e = checkQuantizationConfig(cfg))
    return std::move(e);
  // A sliding window stands in for the context window (MLC sets -1).
  if (!cfg.has("sliding_window"))
    if (llvm::Error e = build::requireContextWindow(cfg, arch))
      return std::move(e);
  // Ministral3Attention reads rope_parameters["factor"] whenever the
  // config has rope_parameters (transformers 5 writes YaRN's there).
  const nlohmann::json &raw = cfg.raw();
  if (auto rp = raw.find("rope_parameters");
      rp != raw.end() && !rp->is_null() &&
      (!rp->is_object() || !rp->contains("factor")))
    return build::configError(cfg, "field 'rope_parameters' has no 'factor', "
                                   "which MLC's ministral3 reads");
  llvm::Expected<build::TransformerDims> d = build::readDims(cfg, arch, tp);
  if (!d)
    return d.takeError();
  if (d->hidden % d->heads != 0)
    return build::configError(cfg, "hidden_size " + llvm::Twine(d->hidden) +
                                       " is not a multiple of "
                                       "num_attention_heads " +
                                       llvm::Twine(d->heads) + " (ministral3)");

  const std::string prefix = raw.contains("vision_config") ? "language_model."
                                                           : "";
  // mlc_llm's model table gives ministral3 the block-scale modes; its
  // loader refuses them for a checkpoint that is not FP8 (KeepBlockFp8.cpp)
  // and every other mode for one that is ("The input Ministral 3 model is
  // fp8 block quantized. Please use BlockScaleQuantize for the model.").
  // We dequantize an FP8 checkpoint for every other mode instead, as the
  // other FP8 types do (weights.dequantize_block_fp8; per-tensor scales are
  // stride-0 views, so each part takes its own scale).
  ModelDef m = build::startModel(
      arch, {"no-quant", "group-quant", "ft-quant", "block-scale-quant"});
  m.shardDivisors = d->shardDivisors();
  auto hf = [&](const std::string &name) { return MapExpr::src(prefix + name); };
  auto copy = [&](const std::string &name, std::vector<int64_t> shape,
                  ParamKind kind, std::optional<ShardStrategy> shard = {}) {
    build::addParam(m, name, std::move(shape), kind, hf(name),
                    std::move(shard));
  };
  int64_t h = d->hidden, f = d->intermediate;
  copy("model.embed_tokens.weight", {d->vocab, h}, ParamKind::Embedding);
  for (int64_t i = 0; i < d->layers; ++i) {
    build::addParam(m, layer(i, "self_attn.qkv_proj.weight"),
                    {d->qkvRows(), h}, ParamKind::Linear,
                    MapExpr::concat({hf(layer(i, "self_attn.q_proj.weight")),
                                     hf(layer(i, "self_attn.k_proj.weight")),
                                     hf(layer(i, "self_attn.v_proj.weight"))}),
                    d->qkvShard());
    copy(layer(i, "self_attn.o_proj.weight"), {h, d->heads * d->headDim},
         ParamKind::Linear, ShardStrategy{1, {}});
    build::addParam(m, layer(i, "mlp.gate_up_proj.weight"), {2 * f, h},
                    ParamKind::Linear,
                    MapExpr::concat({hf(layer(i, "mlp.gate_proj.weight")),
                                     hf(layer(i, "mlp.up_proj.weight"))}),
                    d->gateUpShard());
    copy(layer(i, "mlp.down_proj.weight"), {h, f}, ParamKind::Linear,
         ShardStrategy{1, {}});
    copy(layer(i, "input_layernorm.weight"), {h}, ParamKind::Norm);
    copy(layer(i, "post_attention_layernorm.weight"), {h}, ParamKind::Norm);
  }
  copy("model.norm.weight", {h}, ParamKind::Norm);
  if (!cfg.getBool("tie_word_embeddings", false))
    copy("lm_head.weight", {d->vocab, h}, ParamKind::FinalFC);
  build::addUnusedPerLayer(m, d->layers, "self_attn.rotary_emb.inv_freq");
  return m;
}

Architecture qopt::models::makeMinistral3Architecture() {
  Architecture a{"ministral3",
                 {"Mistral3ForConditionalGeneration", "Ministral3ForCausalLM"},
                 {"ministral3"},
                 buildMinistral3};
  // Ministral3Config's default block; the loader's _weight_scale_transform
  // broadcasts each per-tensor scale over it.
  a.fp8PerTensorBlock = std::array<int64_t, 2>{128, 128};
  // The `_static_activation` mode reads q/k/v's and gate/up's own
  // activation_scale (required allclose, the first kept) and o_proj's and
  // down_proj's, each broadcast to the input blocks.
  a.activationScalesFromProjections = true;
  return a;
}
