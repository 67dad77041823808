//===- Qwen35.cpp - Qwen3.5 (dense, text part) as MLC lays it out -*- C++ -*-===//
//
// mlc-llm python/mlc_llm/model/qwen35/{qwen35_model,qwen35_loader}.py, for the
// model types qwen3_5 (Qwen3_5ForConditionalGeneration: text fields in
// `text_config`, which override the top level) and qwen3_5_text (flat
// config). MLC's loader reads every text tensor under
// `model.language_model.` for both (lm_head as `lm_head.weight`); the
// vision tower and MTP weights are not converted.
//
// Every full_attention_interval-th layer (1-based) is full attention:
// `self_attn.c_attn` = concat(q_proj [2 nq d: query and output gate], k_proj,
// v_proj), o_proj, q_norm / k_norm [d]. The others are GatedDeltaNet layers
// (`linear_attn.`): in_proj_qkv, in_proj_z, in_proj_a, in_proj_b, out_proj
// (all Linear, quantized), `conv1d_weight` [qkv, 1, K] from `conv1d.weight`,
// `A_log` and `dt_bias` [nv] (plain parameters) and the gated `norm` [dv].
// Every other RMSNorm weight (input / post-attention, q_norm, k_norm, the
// final norm) is stored as (float32(w) + 1) cast to the model dtype; the
// gated norm is copied. No parameter has a shard strategy, so presharding is
// refused; so is attention_bias, whose c_attn bias MLC's loader looks for
// under a name no checkpoint has.
//
//===----------------------------------------------------------------------===//

#include "ArchitectureBuilders.h"
#include "GroupBArchitectures.h"

using namespace qopt::models;
using build::layer;

static llvm::Expected<ModelDef> buildQwen35(const ModelConfig &top, int64_t tp,
                                            const char *arch) {
  // Qwen35Config.__post_init__: text_config's keys over the top level.
  nlohmann::json merged = top.raw();
  if (auto text = top.raw().find("text_config");
      text != top.raw().end() && text->is_object()) {
    merged.erase("text_config");
    for (auto it = text->begin(); it != text->end(); ++it)
      merged[it.key()] = it.value();
  }
  ModelConfig cfg(std::move(merged), top.getPath());
  if (llvm::Error e = checkModelConfig(cfg))
    return std::move(e);
  const char *why = "no parameter carries a shard strategy, while its "
                    "attention and MLP hold heads / shards and "
                    "intermediate_size / shards";
  if (llvm::Error e = build::refusePresharding(top, "qwen3_5", tp, why))
    return std::move(e);
  if (cfg.getBool("attention_bias", false))
    return build::configError(
        cfg, "attention_bias is not supported: MLC's qwen3_5 loader reads the "
             "fused bias as 'model.language_model.layers.L.self_attn.c_attn."
             "bias', which Hugging Face checkpoints do not have");
  if (cfg.getInt("context_window_size", 0) <= 0)
    if (llvm::Error e = build::requireContextWindow(cfg, "qwen3_5"))
      return std::move(e);

  // Qwen35Config's fields and defaults (0: none, must be given).
  std::string bad;
  auto field = [&](const char *key, int64_t dflt) {
    int64_t v = cfg.getInt(key, dflt);
    if (v <= 0 && bad.empty())
      bad = key;
    return v;
  };
  int64_t h = field("hidden_size", 0), inter = field("intermediate_size", 0);
  int64_t nq = field("num_attention_heads", 0);
  int64_t layers = field("num_hidden_layers", 0);
  int64_t nkv = field("num_key_value_heads", 0);
  int64_t vocab = field("vocab_size", 0), d = field("head_dim", 256);
  int64_t dk = field("linear_key_head_dim", 128);
  int64_t dv = field("linear_value_head_dim", 128);
  int64_t nk = field("linear_num_key_heads", 16);
  int64_t nv = field("linear_num_value_heads", 16);
  int64_t kernel = field("linear_conv_kernel_dim", 4);
  int64_t interval = field("full_attention_interval", 4);
  if (!bad.empty())
    return build::configError(cfg, "field '" + bad +
                                       "' must be a positive integer "
                                       "(qwen3_5)");
  int64_t qkvDim = 2 * nk * dk + nv * dv;

  ModelDef m =
      build::startModel(arch, {"no-quant", "group-quant", "ft-quant"});
  m.preshardRefusal = build::preshardRefusal("qwen3_5", why);
  const std::string hfPrefix = "model.language_model.";
  auto hf = [&](const std::string &mlc) {
    return MapExpr::src(mlc.rfind("model.", 0) == 0
                            ? hfPrefix + mlc.substr(6)
                            : mlc);
  };
  auto copy = [&](const std::string &name, std::vector<int64_t> shape,
                  ParamKind kind) {
    build::addParam(m, name, std::move(shape), kind, hf(name));
  };
  // Qwen3.5's RMSNorm scales by (1 + w): MLC adds the 1 in float32.
  auto plusOne = [&](const std::string &name, int64_t size) {
    build::addParam(m, name, {size}, ParamKind::Norm,
                    MapExpr::addConstant(MapExpr::toF32(hf(name)), 1.0));
  };
  copy("model.embed_tokens.weight", {vocab, h}, ParamKind::Embedding);
  for (int64_t i = 0; i < layers; ++i) {
    if ((i + 1) % interval == 0) {
      std::string a = layer(i, "self_attn.");
      build::addParam(m, a + "c_attn.weight", {(2 * nq + 2 * nkv) * d, h},
                      ParamKind::Linear,
                      MapExpr::concat({hf(a + "q_proj.weight"),
                                       hf(a + "k_proj.weight"),
                                       hf(a + "v_proj.weight")}));
      copy(a + "o_proj.weight", {h, nq * d}, ParamKind::Linear);
      plusOne(a + "q_norm.weight", d);
      plusOne(a + "k_norm.weight", d);
    } else {
      std::string a = layer(i, "linear_attn.");
      copy(a + "in_proj_qkv.weight", {qkvDim, h}, ParamKind::Linear);
      copy(a + "in_proj_z.weight", {nv * dv, h}, ParamKind::Linear);
      copy(a + "in_proj_a.weight", {nv, h}, ParamKind::Linear);
      copy(a + "in_proj_b.weight", {nv, h}, ParamKind::Linear);
      copy(a + "out_proj.weight", {h, nv * dv}, ParamKind::Linear);
      build::addParam(m, a + "conv1d_weight", {qkvDim, 1, kernel},
                      ParamKind::Other, hf(a + "conv1d.weight"));
      copy(a + "A_log", {nv}, ParamKind::Other);
      copy(a + "dt_bias", {nv}, ParamKind::Other);
      copy(a + "norm.weight", {dv}, ParamKind::Norm);
    }
    build::addParam(m, layer(i, "mlp.gate_up_proj.weight"), {2 * inter, h},
                    ParamKind::Linear,
                    MapExpr::concat({hf(layer(i, "mlp.gate_proj.weight")),
                                     hf(layer(i, "mlp.up_proj.weight"))}));
    copy(layer(i, "mlp.down_proj.weight"), {h, inter}, ParamKind::Linear);
    plusOne(layer(i, "input_layernorm.weight"), h);
    plusOne(layer(i, "post_attention_layernorm.weight"), h);
  }
  plusOne("model.norm.weight", h);
  if (!cfg.getBool("tie_word_embeddings", false))
    copy("lm_head.weight", {vocab, h}, ParamKind::FinalFC);
  return m;
}

Architecture qopt::models::makeQwen35Architecture() {
  return {"qwen3_5",
          {"Qwen3_5ForConditionalGeneration"},
          {"qwen3_5"},
          [](const ModelConfig &c, int64_t tp) {
            return buildQwen35(c, tp, "qwen3_5");
          }};
}

Architecture qopt::models::makeQwen35TextArchitecture() {
  return {"qwen3_5_text",
          {"Qwen3_5ForCausalLM"},
          {"qwen3_5_text"},
          [](const ModelConfig &c, int64_t tp) {
            return buildQwen35(c, tp, "qwen3_5_text");
          }};
}
