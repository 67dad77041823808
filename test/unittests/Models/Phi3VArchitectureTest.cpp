//===- Phi3VArchitectureTest.cpp - phi3_v's definition --------------------===//
//
// What arch-phi3v.test's byte comparison does not show directly (values
// worked out by hand from mlc-llm's phi3v_model.py, phi3v_image.py,
// phi3v_loader.py and vision/clip_vision.py): the accepted quantization
// kinds, the parameter kinds that decide what is quantized, the shard
// strategies at T = 2, the fixed ViT-L tower whatever config.json says, the
// embedding that is both mapped and unused, detection by class, the config
// errors, and which modes ignore the tower's `no_quantization` (only
// FTQuantize's mutator lacks the check among the kinds phi3_v accepts).
//
//===----------------------------------------------------------------------===//

#include "qopt/Models/ModelDef.h"
#include "qopt/Models/QuantizationModes.h"

#include <gtest/gtest.h>

#include <algorithm>

using namespace qopt::models;

namespace {

/// H 64, I 96, nq 4, nkv 2 (d 16), 2 layers, V 40, image_dim_out 256.
nlohmann::json phi3vConfig() {
  return {{"model_type", "phi3_v"},
          {"hidden_size", 64},
          {"intermediate_size", 96},
          {"num_attention_heads", 4},
          {"num_key_value_heads", 2},
          {"num_hidden_layers", 2},
          {"vocab_size", 40},
          {"rms_norm_eps", 1e-5},
          {"max_position_embeddings", 128},
          {"img_processor", {{"image_dim_out", 256}}},
          // MLC's Phi3VConfig never reads this: the tower stays ViT-L.
          {"vision_config", {{"hidden_size", 32}, {"num_hidden_layers", 1}}}};
}

llvm::Expected<ModelDef> buildPhi3V(const nlohmann::json &cfg, int64_t tp) {
  return findArchitecture("phi3_v")->build(ModelConfig(cfg, "/m/config.json"),
                                           tp);
}

const ParamDef *find(const ModelDef &m, llvm::StringRef name) {
  for (const ParamDef &p : m.params)
    if (p.name == name)
      return &p;
  return nullptr;
}

std::string source(const ModelDef &m, llvm::StringRef name) {
  std::vector<std::string> out;
  if (const ParamDef *p = find(m, name))
    p->map.collectSources(out);
  return out.size() == 1 ? out[0] : "<" + std::to_string(out.size()) + ">";
}

} // namespace

TEST(Phi3VArchitectureTest, Definition) {
  llvm::Expected<ModelDef> def = buildPhi3V(phi3vConfig(), 2);
  ASSERT_TRUE(bool(def)) << llvm::toString(def.takeError());
  const ModelDef &m = *def;
  std::vector<std::string> kinds = m.quantizationKinds;
  std::sort(kinds.begin(), kinds.end());
  EXPECT_EQ(kinds, (std::vector<std::string>{"ft-quant", "group-quant",
                                             "no-quant"}));
  // Text: 1 + 2 x 6 + norm + lm_head; tower: 3 + 4 + 24 x 16; glb_GN,
  // sub_GN; projector 4.
  EXPECT_EQ(m.params.size(), 15u + 391u + 2u + 4u);

  const ParamDef *embd = find(m, "model.embd.weight");
  ASSERT_NE(embd, nullptr);
  EXPECT_EQ(embd->kind, ParamKind::Embedding);
  EXPECT_EQ(embd->shape, (std::vector<int64_t>{40, 64}));
  EXPECT_EQ(source(m, "model.embd.weight"), "model.embed_tokens.weight");
  EXPECT_TRUE(m.isUnused("model.embed_tokens.weight"));

  const ParamDef *qkv = find(m, "model.h.1.mixer.qkv_proj.weight");
  ASSERT_NE(qkv, nullptr);
  EXPECT_EQ(source(m, "model.h.1.mixer.qkv_proj.weight"),
            "model.layers.1.self_attn.qkv_proj.weight");
  EXPECT_EQ(qkv->shape, (std::vector<int64_t>{128, 64}));
  ASSERT_TRUE(qkv->shard.has_value());
  EXPECT_EQ(qkv->shard->segments, (std::vector<int64_t>{32, 16, 16}));
  const ParamDef *gateUp = find(m, "model.h.0.mlp.gate_up_proj.weight");
  ASSERT_TRUE(gateUp && gateUp->shard);
  EXPECT_EQ(gateUp->shard->segments, (std::vector<int64_t>{48, 48}));
  const ParamDef *out = find(m, "model.h.0.mixer.out_proj.weight");
  ASSERT_TRUE(out && out->shard);
  EXPECT_EQ(out->shard->dim, 1);
  EXPECT_EQ(source(m, "model.h.0.ln.weight"),
            "model.layers.0.input_layernorm.weight");

  const ParamDef *head = find(m, "lm_head.weight");
  ASSERT_NE(head, nullptr);
  EXPECT_EQ(head->kind, ParamKind::FinalFC);
  EXPECT_EQ(head->shape, (std::vector<int64_t>{-1, 64}));
  EXPECT_FALSE(head->shard.has_value());

  // The tower: ViT-L/14-336 whatever vision_config says; no_quantization,
  // which only q4f16_ft ignores: its Linears and position Embedding have
  // the no-quant kinds, the rest is plain.
  const std::string v = "vision_embed_tokens.img_processor.vision_model.";
  const ParamDef *fc1 = find(m, v + "encoder.layers.23.mlp.fc1.weight");
  ASSERT_NE(fc1, nullptr);
  EXPECT_EQ(fc1->kind, ParamKind::NoQuantLinear);
  EXPECT_EQ(fc1->shape, (std::vector<int64_t>{4096, 1024}));
  EXPECT_FALSE(fc1->shard.has_value());
  EXPECT_EQ(source(m, v + "encoder.layers.23.mlp.fc1.weight"),
            "model." + v + "encoder.layers.23.mlp.fc1.weight");
  EXPECT_EQ(find(m, v + "encoder.layers.24.mlp.fc1.weight"), nullptr);
  int towerLinears = 0;
  for (const ParamDef &p : m.params)
    towerLinears += p.kind == ParamKind::NoQuantLinear;
  EXPECT_EQ(towerLinears, 24 * 6);
  const ParamDef *kBias = find(m, v + "encoder.layers.0.self_attn.k_proj.bias");
  ASSERT_NE(kBias, nullptr);
  EXPECT_EQ(kBias->kind, ParamKind::Bias);
  const ParamDef *patch = find(m, v + "embeddings.patch_embedding.weight");
  ASSERT_NE(patch, nullptr);
  EXPECT_EQ(patch->shape, (std::vector<int64_t>{1024, 3, 14, 14}));
  EXPECT_EQ(patch->kind, ParamKind::Other); // a Conv2D: never quantized
  const ParamDef *pos = find(m, v + "embeddings.position_embedding.weight");
  ASSERT_NE(pos, nullptr);
  EXPECT_EQ(pos->kind, ParamKind::NoQuantEmbedding);
  EXPECT_EQ(pos->shape, (std::vector<int64_t>{577, 1024}));

  // Separators sized by image_dim_out (4 x 256); the projector by the tower.
  const ParamDef *glb = find(m, "vision_embed_tokens.glb_GN");
  const ParamDef *sub = find(m, "vision_embed_tokens.sub_GN");
  ASSERT_TRUE(glb && sub);
  EXPECT_EQ(glb->shape, (std::vector<int64_t>{1, 1, 1024}));
  EXPECT_EQ(sub->shape, (std::vector<int64_t>{1, 1, 1, 1024}));
  EXPECT_EQ(glb->kind, ParamKind::Other);
  const ParamDef *l1 =
      find(m, "vision_embed_tokens.img_projection.linear_1.weight");
  ASSERT_NE(l1, nullptr);
  EXPECT_EQ(l1->kind, ParamKind::Linear);
  EXPECT_EQ(l1->shape, (std::vector<int64_t>{64, 4096}));
  EXPECT_EQ(source(m, "vision_embed_tokens.img_projection.linear_1.weight"),
            "model.vision_embed_tokens.img_projection.0.weight");
  EXPECT_EQ(source(m, "vision_embed_tokens.img_projection.linear_2.bias"),
            "model.vision_embed_tokens.img_projection.2.bias");
}

TEST(Phi3VArchitectureTest, DetectionByClass) {
  ModelConfig cfg({{"architectures", {"Phi3VForCausalLM"}}}, "c");
  auto a = detectArchitecture(cfg, "auto");
  ASSERT_TRUE(bool(a)) << llvm::toString(a.takeError());
  EXPECT_EQ((*a)->name, "phi3_v");
}

TEST(Phi3VArchitectureTest, ConfigErrors) {
  auto error = [](nlohmann::json cfg, int64_t tp = 1) {
    llvm::Expected<ModelDef> def = buildPhi3V(cfg, tp);
    return def ? std::string("<no error>") : llvm::toString(def.takeError());
  };
  nlohmann::json c = phi3vConfig();
  c.erase("img_processor");
  EXPECT_EQ(error(c), "/m/config.json: missing required field "
                      "'img_processor.image_dim_out' (phi3_v)");
  c = phi3vConfig();
  c["img_processor"]["image_dim_out"] = 0;
  EXPECT_EQ(error(c), "/m/config.json: field 'img_processor.image_dim_out' "
                      "must be a positive integer (phi3_v)");
  c = phi3vConfig();
  c["head_dim"] = 8;
  EXPECT_EQ(error(c), "/m/config.json: head_dim 8 x num_attention_heads 4 is "
                      "not hidden_size 64 (phi3_v)");
  c = phi3vConfig();
  c.erase("max_position_embeddings");
  EXPECT_EQ(error(c), "/m/config.json: missing required field "
                      "'max_position_embeddings' (phi3_v)");
  EXPECT_EQ(error(phi3vConfig(), 4),
            "tensor-parallel-shards: num_key_value_heads: 2 is not divisible "
            "by 4");
}

TEST(Phi3VArchitectureTest, ModesIgnoringNoQuantization) {
  for (const QuantizationMode &m : quantizationModes())
    EXPECT_EQ(m.ignoresNoQuantization, m.name == "q4f16_ft") << m.name;
}
