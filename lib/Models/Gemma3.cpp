//===- Gemma3.cpp - Gemma3 (text and multimodal) as MLC lays it out -*- C++ -*-===//
//
// mlc-llm python/mlc_llm/model/gemma3/{gemma3_model,gemma3_loader}.py, for
// the model types gemma3 (Gemma3ForConditionalGeneration: the text fields in
// `text_config`, tensors under `language_model.`) and gemma3_text
// (Gemma3ForCausalLM: flat config, tensors under `model.`). MLC names start
// with `language_model.`; q/k/v stay separate linears, gate/up are fused,
// and every RMSNorm weight (q_norm and k_norm [head_dim] included) is stored
// as HF weight + 1. Embeddings are tied (no lm_head); the vision tower is
// not converted.
//
//===----------------------------------------------------------------------===//

#include "ArchitectureBuilders.h"

using namespace qopt::models;
using build::layer;

static llvm::Expected<ModelDef> buildGemma3(const ModelConfig &top,
                                            int64_t tp) {
  const char *arch = "gemma3";
  const nlohmann::json &raw = top.raw();
  auto text = raw.find("text_config");
  bool isTextModel = text == raw.end() || text->is_null();
  if (!isTextModel && !text->is_object())
    return build::configError(top, "field 'text_config' must be an object");
  ModelConfig cfg = isTextModel ? top : ModelConfig(*text, top.getPath());
  if (llvm::Error e = cfg.require(
          {"hidden_size", "intermediate_size", "num_hidden_layers"}, arch))
    return std::move(e);
  if (cfg.getBool("attention_bias", false))
    return build::configError(cfg, "field 'attention_bias' must be false (" +
                                       llvm::Twine(arch) + ")");
  std::string act = cfg.getString("hidden_activation", "gelu_pytorch_tanh");
  if (cfg.raw().contains("hidden_activation") &&
      cfg.raw()["hidden_activation"].is_null())
    act = cfg.getString("hidden_act", "");
  if (act != "gelu" && act != "gelu_pytorch_tanh")
    return build::configError(cfg, "activation '" + act +
                                       "' is not supported (gemma3); expected "
                                       "gelu or gelu_pytorch_tanh");
  if (llvm::Error e = build::refusePresharding(
          top, arch, tp,
          "its q_norm and k_norm [head_dim] carry ShardSingleDim(0), which "
          "needs head_dim x shards rows in the checkpoint"))
    return std::move(e);

  build::TransformerDims d;
  d.hidden = cfg.getInt("hidden_size", 0);
  d.intermediate = cfg.getInt("intermediate_size", 0);
  d.layers = cfg.getInt("num_hidden_layers", 0);
  d.heads = cfg.getInt("num_attention_heads", 8);
  d.kvHeads = cfg.getInt("num_key_value_heads", 4);
  d.headDim = cfg.getInt("head_dim", 256);
  for (auto [key, v] : {std::pair{"hidden_size", d.hidden},
                        {"intermediate_size", d.intermediate},
                        {"num_hidden_layers", d.layers},
                        {"num_attention_heads", d.heads},
                        {"num_key_value_heads", d.kvHeads},
                        {"head_dim", d.headDim}})
    if (v <= 0)
      return build::configError(cfg, llvm::Twine("field '") + key +
                                         "' must be a positive integer (gemma3)");
  if (d.heads % d.kvHeads != 0)
    return build::configError(
        cfg, "num_attention_heads " + llvm::Twine(d.heads) +
                 " is not a multiple of num_key_value_heads " +
                 llvm::Twine(d.kvHeads));

  // MLC names carry `language_model.`; the text model's HF names do not.
  const std::string mlcPrefix = "language_model.";
  auto hf = [&](const std::string &mlc) {
    return isTextModel ? mlc.substr(mlcPrefix.size()) : mlc;
  };
  auto name = [&](int64_t i, llvm::StringRef rest) {
    return mlcPrefix + layer(i, rest);
  };
  ModelDef m = build::startModel(isTextModel ? "gemma3_text" : "gemma3",
                                 {"no-quant", "group-quant"});
  auto copy = [&](const std::string &mlc, std::vector<int64_t> shape,
                  ParamKind kind, std::optional<ShardStrategy> shard = {}) {
    build::addParam(m, mlc, std::move(shape), kind, MapExpr::src(hf(mlc)),
                    std::move(shard));
  };
  auto plusOne = [&](const std::string &mlc, int64_t size) {
    build::addParam(m, mlc, {size}, ParamKind::Norm,
                    build::normWeight(hf(mlc), /*plusOne=*/true));
  };
  int64_t h = d.hidden, ffn = d.intermediate, hd = d.headDim;
  copy(mlcPrefix + "model.embed_tokens.weight", {-1, h}, ParamKind::Embedding);
  for (int64_t i = 0; i < d.layers; ++i) {
    copy(name(i, "self_attn.q_proj.weight"), {d.heads * hd, h},
         ParamKind::Linear, ShardStrategy{0, {}});
    copy(name(i, "self_attn.k_proj.weight"), {d.kvHeads * hd, h},
         ParamKind::Linear, ShardStrategy{0, {}});
    copy(name(i, "self_attn.v_proj.weight"), {d.kvHeads * hd, h},
         ParamKind::Linear, ShardStrategy{0, {}});
    copy(name(i, "self_attn.o_proj.weight"), {h, d.heads * hd},
         ParamKind::Linear, ShardStrategy{1, {}});
    plusOne(name(i, "self_attn.q_norm.weight"), hd);
    plusOne(name(i, "self_attn.k_norm.weight"), hd);
    std::string gateUp = name(i, "mlp.gate_up_proj.weight");
    build::addParam(
        m, gateUp, {2 * ffn, h}, ParamKind::Linear,
        MapExpr::concat({MapExpr::src(hf(name(i, "mlp.gate_proj.weight"))),
                         MapExpr::src(hf(name(i, "mlp.up_proj.weight")))}),
        ShardStrategy{0, {ffn, ffn}});
    copy(name(i, "mlp.down_proj.weight"), {h, ffn}, ParamKind::Linear,
         ShardStrategy{1, {}});
    for (const char *n : {"input_layernorm", "post_attention_layernorm",
                          "pre_feedforward_layernorm",
                          "post_feedforward_layernorm"})
      plusOne(name(i, std::string(n) + ".weight"), h);
  }
  plusOne(mlcPrefix + "model.norm.weight", h);
  return m;
}

Architecture qopt::models::makeGemma3Architecture() {
  return {"gemma3", {"Gemma3ForConditionalGeneration"}, {"gemma3"},
          buildGemma3};
}

Architecture qopt::models::makeGemma3TextArchitecture() {
  return {"gemma3_text", {"Gemma3ForCausalLM"}, {"gemma3_text"}, buildGemma3};
}
