//===- Llava.cpp - LLaVA as MLC lays it out --------------------*- C++ -*-===//
//
// mlc-llm python/mlc_llm/model/llava/{llava_model,llava_loader}.py (+
// vision/clip_vision.py, loader/standard_loader.py): every parameter keeps
// its Hugging Face name (LlavaForConditionalGeneration's legacy layout),
// except the text model's fused `qkv_proj` / `gate_up_proj`.
// - `vision_tower.vision_model.*`: MLC's CLIPVisionModel (class embedding,
//   patch-embedding conv, position embedding, pre/post LayerNorms, encoder
//   layers with q/k/v/out projections and fc1/fc2, all with biases). It is
//   marked `no_quantization`, so every tensor stays in the model dtype.
// - `multi_modal_projector.linear_1` / `linear_2` (+ biases): quantized.
// - `language_model.*`: MLC's LlamaForCausalLM (MistralForCausalLM when the
//   text config names it), symbolic vocabulary, Llama's shard strategies;
//   `language_model.lm_head` is an ordinary Linear for the quantizer (MLC's
//   final-FC test matches the bare name `lm_head` only).
// Unused: the text layers' `rotary_emb.inv_freq`.
//
//===----------------------------------------------------------------------===//

#include "ArchitectureBuilders.h"
#include "GroupBArchitectures.h"

using namespace qopt::models;

static llvm::Expected<ModelDef> buildLlava(const ModelConfig &top, int64_t tp) {
  const char *arch = "llava";
  const nlohmann::json &raw = top.raw();
  for (const char *key : {"text_config", "vision_config"})
    if (!raw.contains(key) || !raw[key].is_object())
      return build::configError(top, llvm::Twine("missing required field '") +
                                         key + "' (llava)");
  // LlavaConfig requires image_token_index, which transformers 5 writes as
  // image_token_id.
  if (!top.has("image_token_index") && !top.has("image_token_id"))
    return build::configError(top, "missing required field "
                                   "'image_token_index' (llava)");
  ModelConfig text(raw["text_config"], top.getPath());
  ModelConfig vision(raw["vision_config"], top.getPath());
  for (const ModelConfig *c : {&text, &vision})
    if (llvm::Error e = checkModelConfig(*c))
      return std::move(e);
  bool mistral = false;
  if (text.has("_name_or_path"))
    if (auto a = text.raw().find("architectures");
        a != text.raw().end() && a->is_array() && a->size() == 1 &&
        (*a)[0] == "MistralForCausalLM")
      mistral = true;
  llvm::Expected<build::TransformerDims> d = build::readDecoderConfig(
      text, arch, tp,
      {"hidden_size", "intermediate_size", "num_attention_heads",
       "num_hidden_layers", "rms_norm_eps", "vocab_size"},
      /*needsRope=*/false);
  if (!d)
    return d.takeError();
  // MLC's CLIPVisionConfig also requires projection_dim and vocab_size,
  // which no weight depends on and transformers 5 may leave out.
  if (llvm::Error e = vision.require(
          {"hidden_size", "image_size", "intermediate_size",
           "num_attention_heads", "num_hidden_layers", "patch_size"},
          "llava vision_config"))
    return std::move(e);
  int64_t vh = vision.getInt("hidden_size", 0);
  int64_t vi = vision.getInt("intermediate_size", 0);
  int64_t vl = vision.getInt("num_hidden_layers", 0);
  int64_t patch = vision.getInt("patch_size", 0);
  int64_t image = vision.getInt("image_size", 0);
  int64_t channels = vision.getInt("num_channels", 3);
  for (auto [key, v] : {std::pair{"hidden_size", vh}, {"intermediate_size", vi},
                        {"num_hidden_layers", vl}, {"patch_size", patch},
                        {"image_size", image}, {"num_channels", channels}})
    if (v <= 0)
      return build::configError(top, llvm::Twine("field 'vision_config.") +
                                         key + "' must be a positive "
                                               "integer (llava)");
  int64_t positions = (image / patch) * (image / patch) + 1;

  ModelDef m = build::startModel(arch, {"no-quant", "group-quant"});
  m.shardDivisors = d->shardDivisors();
  auto copy = [&](const std::string &name, std::vector<int64_t> shape,
                  ParamKind kind, std::optional<ShardStrategy> shard = {}) {
    build::addCopy(m, name, std::move(shape), kind, std::move(shard));
  };
  // The vision tower: no_quantization, so weights are plain parameters.
  const std::string v = "vision_tower.vision_model.";
  auto layerNorm = [&](const std::string &name, int64_t size) {
    copy(name + ".weight", {size}, ParamKind::Norm);
    copy(name + ".bias", {size}, ParamKind::Bias);
  };
  auto plainLinear = [&](const std::string &name, int64_t out, int64_t in) {
    copy(name + ".weight", {out, in}, ParamKind::Other);
    copy(name + ".bias", {out}, ParamKind::Bias);
  };
  copy(v + "embeddings.class_embedding", {vh}, ParamKind::Other);
  copy(v + "embeddings.patch_embedding.weight", {vh, channels, patch, patch},
       ParamKind::Other);
  copy(v + "embeddings.position_embedding.weight", {positions, vh},
       ParamKind::Other);
  layerNorm(v + "pre_layrnorm", vh);
  for (int64_t i = 0; i < vl; ++i) {
    std::string p = v + "encoder.layers." + std::to_string(i) + ".";
    for (const char *proj : {"k_proj", "v_proj", "q_proj", "out_proj"})
      plainLinear(p + "self_attn." + proj, vh, vh);
    layerNorm(p + "layer_norm1", vh);
    plainLinear(p + "mlp.fc1", vi, vh);
    plainLinear(p + "mlp.fc2", vh, vi);
    layerNorm(p + "layer_norm2", vh);
  }
  layerNorm(v + "post_layernorm", vh);
  // The projector.
  int64_t h = d->hidden;
  copy("multi_modal_projector.linear_1.weight", {h, vh}, ParamKind::Linear);
  copy("multi_modal_projector.linear_1.bias", {h}, ParamKind::Bias);
  copy("multi_modal_projector.linear_2.weight", {h, h}, ParamKind::Linear);
  copy("multi_modal_projector.linear_2.bias", {h}, ParamKind::Bias);
  // The text model (Llama's definition under `language_model.`).
  auto at = [](int64_t i, llvm::StringRef rest) {
    return build::layer(i, rest, "language_model.model.layers.");
  };
  copy("language_model.model.embed_tokens.weight", {-1, h},
       ParamKind::Embedding);
  for (int64_t i = 0; i < d->layers; ++i) {
    auto src = [&](llvm::StringRef rest) { return MapExpr::src(at(i, rest)); };
    build::addParam(m, at(i, "self_attn.qkv_proj.weight"), {d->qkvRows(), h},
                    ParamKind::Linear,
                    MapExpr::concat({src("self_attn.q_proj.weight"),
                                     src("self_attn.k_proj.weight"),
                                     src("self_attn.v_proj.weight")}),
                    d->qkvShard());
    copy(at(i, "self_attn.o_proj.weight"), {h, d->heads * d->headDim},
         ParamKind::Linear, ShardStrategy{1, {}});
    build::addParam(m, at(i, "mlp.gate_up_proj.weight"),
                    {2 * d->intermediate, h}, ParamKind::Linear,
                    MapExpr::concat({src("mlp.gate_proj.weight"),
                                     src("mlp.up_proj.weight")}),
                    d->gateUpShard());
    copy(at(i, "mlp.down_proj.weight"), {h, d->intermediate},
         ParamKind::Linear, ShardStrategy{1, {}});
    copy(at(i, "input_layernorm.weight"), {h}, ParamKind::Norm);
    copy(at(i, "post_attention_layernorm.weight"), {h}, ParamKind::Norm);
    m.unusedSources.push_back(at(i, "self_attn.rotary_emb.inv_freq"));
  }
  copy("language_model.model.norm.weight", {h}, ParamKind::Norm);
  if (mistral || !text.getBool("tie_word_embeddings", false))
    copy("language_model.lm_head.weight", {-1, h}, ParamKind::Linear);
  return m;
}

Architecture qopt::models::makeLlavaArchitecture() {
  return {"llava", {"LlavaForConditionalGeneration"}, {"llava"}, buildLlava};
}
