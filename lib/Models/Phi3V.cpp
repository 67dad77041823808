//===- Phi3V.cpp - Phi-3-vision as MLC lays it out -------------*- C++ -*-===//
//
// mlc-llm python/mlc_llm/model/phi3v/{phi3v_model,phi3v_image,phi3v_loader}.py
// (+ vision/clip_vision.py, phi3/phi3_model.py): Phi3VForCausalLM holds
// - `model.*`: MLC's Phi3Model (`embd`, `h.L.{ln, mixer.qkv_proj,
//   mixer.out_proj, mlp.gate_up_proj, mlp.down_proj,
//   post_attention_layernorm}`, `norm`) read from the checkpoint's
//   `model.embed_tokens` / `model.layers.L.*` (q/k/v and gate/up already
//   fused there), with Phi-3's shard strategies;
// - `lm_head` [vocab (symbolic), H]: the final FC, always present (the config
//   class has no tie_word_embeddings);
// - `vision_embed_tokens.img_processor.vision_model.*`: MLC's CLIPVisionModel
//   built from the fixed CLIP ViT-L/14-336 configuration (Phi3VConfig never
//   reads config.json's vision settings): 24 layers of 1024, MLP 4096,
//   patch 14, 577 positions. Marked `no_quantization`: the group modes leave
//   every tensor in the model dtype, but MLC's FT quantizer ignores the mark
//   and treats its nn.Linear weights (all 144: N 1024 / 4096, K 1024 / 4096)
//   as any Linear and its position embedding (an nn.Embedding) as any
//   embedding (kinds NoQuantLinear / NoQuantEmbedding); the class
//   embedding, the patch Conv2D, LayerNorms and biases stay plain. HF names
//   carry a leading `model.`;
// - `vision_embed_tokens.glb_GN` [1, 1, 4 D] and `sub_GN` [1, 1, 1, 4 D]
//   (D = config `img_processor.image_dim_out`): plain parameters;
// - `vision_embed_tokens.img_projection.linear_1` [H, 4 x 1024] and
//   `linear_2` [H, H] (+ biases), from HF's `img_projection.0` / `.2`
//   (a Sequential with a GELU between): quantized Linears.
// MLC's phi3_v takes no-quant, group-quant and ft-quant (q4f16_ft; its
// presharding is refused for every model).
// The loader maps `model.embed_tokens.weight` to `model.embd.weight` and
// also marks it unused, so `Total parameters` leaves it out, as MLC counts.
//
//===----------------------------------------------------------------------===//

#include "ArchitectureBuilders.h"
#include "RemainingArchitectures.h"

using namespace qopt::models;

namespace {
// MLC's CLIPVISION_DEFAULT_CONFIG (phi3v_model.py), which Phi3VConfig uses
// whatever config.json says.
constexpr int64_t kVisionHidden = 1024, kVisionIntermediate = 4096,
                  kVisionLayers = 24, kPatch = 14, kImage = 336, kChannels = 3;
} // namespace

static llvm::Expected<ModelDef> buildPhi3V(const ModelConfig &cfg,
                                           int64_t tp) {
  const char *arch = "phi3_v";
  if (llvm::Error e = cfg.require(
          {"model_type", "hidden_size", "vocab_size", "num_hidden_layers",
           "num_attention_heads", "intermediate_size", "rms_norm_eps",
           "num_key_value_heads", "max_position_embeddings"},
          arch))
    return std::move(e);
  // Phi3ImageEmbedding reads config.img_processor["image_dim_out"].
  const nlohmann::json &raw = cfg.raw();
  auto img = raw.find("img_processor");
  if (img == raw.end() || !img->is_object() || !img->contains("image_dim_out"))
    return build::configError(cfg, "missing required field "
                                   "'img_processor.image_dim_out' (phi3_v)");
  const nlohmann::json &dimOut = (*img)["image_dim_out"];
  if (!dimOut.is_number_integer() || dimOut.get<int64_t>() <= 0 ||
      dimOut.get<int64_t>() > ConfigLimits::kMaxDim)
    return build::configError(cfg, "field 'img_processor.image_dim_out' "
                                   "must be a positive integer (phi3_v)");
  int64_t merged = 4 * dimOut.get<int64_t>();
  llvm::Expected<build::TransformerDims> d = build::readDims(cfg, arch, tp);
  if (!d)
    return d.takeError();
  // Phi3VConfig asserts head_dim * num_attention_heads == hidden_size.
  if (d->headDim * d->heads != d->hidden)
    return build::configError(
        cfg, "head_dim " + llvm::Twine(d->headDim) + " x num_attention_heads " +
                 llvm::Twine(d->heads) + " is not hidden_size " +
                 llvm::Twine(d->hidden) + " (phi3_v)");
  const int64_t h = d->hidden;

  ModelDef m =
      build::startModel(arch, {"no-quant", "group-quant", "ft-quant"});
  m.shardDivisors = d->shardDivisors();
  auto from = [&](std::string mlc, std::vector<int64_t> shape, ParamKind kind,
                  std::string hf, std::optional<ShardStrategy> shard = {}) {
    build::addParam(m, std::move(mlc), std::move(shape), kind,
                    MapExpr::src(std::move(hf)), std::move(shard));
  };
  // The text model.
  from("model.embd.weight", {d->vocab, h}, ParamKind::Embedding,
       "model.embed_tokens.weight");
  m.unusedSources.push_back("model.embed_tokens.weight");
  build::addPhi3Layers(m, *d, "model.h.");
  from("model.norm.weight", {h}, ParamKind::Norm, "model.norm.weight");
  from("lm_head.weight", {-1, h}, ParamKind::FinalFC, "lm_head.weight");

  // The CLIP tower (no_quantization, which only q4f16_ft ignores).
  auto vision = [&](const std::string &name, std::vector<int64_t> shape,
                    ParamKind kind) {
    from(name, std::move(shape), kind, "model." + name);
  };
  const std::string v = "vision_embed_tokens.img_processor.vision_model.";
  auto layerNorm = [&](const std::string &name) {
    vision(name + ".weight", {kVisionHidden}, ParamKind::Norm);
    vision(name + ".bias", {kVisionHidden}, ParamKind::Bias);
  };
  auto towerLinear = [&](const std::string &name, int64_t out, int64_t in) {
    vision(name + ".weight", {out, in}, ParamKind::NoQuantLinear);
    vision(name + ".bias", {out}, ParamKind::Bias);
  };
  int64_t positions = (kImage / kPatch) * (kImage / kPatch) + 1;
  vision(v + "embeddings.class_embedding", {kVisionHidden}, ParamKind::Other);
  vision(v + "embeddings.patch_embedding.weight",
         {kVisionHidden, kChannels, kPatch, kPatch}, ParamKind::Other);
  vision(v + "embeddings.position_embedding.weight", {positions, kVisionHidden},
         ParamKind::NoQuantEmbedding);
  layerNorm(v + "pre_layrnorm");
  for (int64_t i = 0; i < kVisionLayers; ++i) {
    std::string p = v + "encoder.layers." + std::to_string(i) + ".";
    for (const char *proj : {"k_proj", "v_proj", "q_proj", "out_proj"})
      towerLinear(p + "self_attn." + proj, kVisionHidden, kVisionHidden);
    layerNorm(p + "layer_norm1");
    towerLinear(p + "mlp.fc1", kVisionIntermediate, kVisionHidden);
    towerLinear(p + "mlp.fc2", kVisionHidden, kVisionIntermediate);
    layerNorm(p + "layer_norm2");
  }
  layerNorm(v + "post_layernorm");
  // The HD-transform separators and the projector.
  vision("vision_embed_tokens.glb_GN", {1, 1, merged}, ParamKind::Other);
  vision("vision_embed_tokens.sub_GN", {1, 1, 1, merged}, ParamKind::Other);
  const std::string proj = "vision_embed_tokens.img_projection.";
  from(proj + "linear_1.weight", {h, 4 * kVisionHidden}, ParamKind::Linear,
       "model." + proj + "0.weight");
  from(proj + "linear_1.bias", {h}, ParamKind::Bias, "model." + proj + "0.bias");
  from(proj + "linear_2.weight", {h, h}, ParamKind::Linear,
       "model." + proj + "2.weight");
  from(proj + "linear_2.bias", {h}, ParamKind::Bias, "model." + proj + "2.bias");
  return m;
}

Architecture qopt::models::makePhi3VArchitecture() {
  return {"phi3_v", {"Phi3VForCausalLM"}, {"phi3_v"}, buildPhi3V};
}
