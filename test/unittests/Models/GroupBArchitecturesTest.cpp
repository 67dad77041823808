//===- GroupBArchitecturesTest.cpp - Issue 16 group B definitions ---------===//
//
// What the lit tests of ministral3, llama4, qwen3_5, bert, eagle, medusa and
// llava do not show directly: the quantization kinds each accepts (from the
// flags of its make_quantization_functions call in mlc-llm's model.py:
// ft-quant unless supports_ft_quant=False, group-quant unless
// supports_group_quant=False, per-tensor-quant with supports_per_tensor;
// AWQ loaders are not offered), detection through "architectures", and the
// shape of the mappings the byte comparisons exercise.
//
//===----------------------------------------------------------------------===//

#include "qopt/Models/ModelDef.h"

#include <gtest/gtest.h>

#include <algorithm>

using namespace qopt::models;

namespace {

nlohmann::json decoder() {
  return {{"hidden_size", 64},          {"intermediate_size", 96},
          {"num_attention_heads", 4},   {"num_key_value_heads", 2},
          {"num_hidden_layers", 2},     {"vocab_size", 40},
          {"rms_norm_eps", 1e-6},       {"max_position_embeddings", 128},
          {"hidden_act", "silu"},       {"rope_theta", 10000.0}};
}

nlohmann::json configOf(const char *arch) {
  std::string a = arch;
  if (a == "ministral3" || a == "eagle")
    return decoder();
  if (a == "llama4") {
    nlohmann::json t = decoder();
    t.update({{"use_qk_norm", true}, {"interleave_moe_layer_step", 1},
              {"num_experts_per_tok", 1}, {"num_local_experts", 4}});
    return {{"text_config", t}};
  }
  if (a == "qwen3_5" || a == "qwen3_5_text") {
    nlohmann::json c = decoder();
    c["full_attention_interval"] = 2; // layer 0 linear, layer 1 full
    return c;
  }
  if (a == "bert" || a == "bert-bge") {
    nlohmann::json c = decoder();
    c["layer_norm_eps"] = 1e-12;
    return c;
  }
  if (a == "medusa")
    return {{"medusa_num_heads", 2}, {"medusa_num_layers", 1},
            {"hidden_size", 64}, {"vocab_size", 40}};
  // llava
  return {{"image_token_index", 39},
          {"text_config", decoder()},
          {"vision_config",
           {{"hidden_size", 32}, {"image_size", 16}, {"intermediate_size", 64},
            {"num_attention_heads", 2}, {"num_hidden_layers", 1},
            {"patch_size", 8}, {"projection_dim", 32}, {"vocab_size", 1}}}};
}

ModelDef buildDef(const char *arch, int64_t tp = 1) {
  const Architecture *a = findArchitecture(arch);
  EXPECT_NE(a, nullptr) << arch;
  if (!a)
    return {};
  llvm::Expected<ModelDef> def =
      a->build(ModelConfig(configOf(arch), "/m/config.json"), tp);
  if (!def) {
    ADD_FAILURE() << arch << ": " << llvm::toString(def.takeError());
    return {};
  }
  return std::move(*def);
}

const ParamDef *find(const ModelDef &m, llvm::StringRef name) {
  for (const ParamDef &p : m.params)
    if (p.name == name)
      return &p;
  return nullptr;
}

} // namespace

TEST(GroupBArchitecturesTest, QuantizationKinds) {
  using Kinds = std::vector<std::string>;
  auto kinds = [](const char *arch) {
    Kinds k = buildDef(arch).quantizationKinds;
    std::sort(k.begin(), k.end());
    return k;
  };
  Kinds standard = {"ft-quant", "group-quant", "no-quant"};
  // supports_block_scale=True adds the block-scale modes; an FP8 checkpoint
  // (quantization_config fp8 / static) takes every mode too (MLC refuses
  // the others for it; we dequantize, as for every FP8 model type).
  EXPECT_EQ(kinds("ministral3"), (Kinds{"block-scale-quant", "ft-quant",
                                        "group-quant", "no-quant"}));
  {
    nlohmann::json c = decoder();
    c["quantization_config"] = {{"quant_method", "fp8"},
                                {"activation_scheme", "static"},
                                {"weight_block_size", {128, 128}}};
    llvm::Expected<ModelDef> fp8 = findArchitecture("ministral3")->build(
        ModelConfig(c, "/m/config.json"), 1);
    ASSERT_TRUE(bool(fp8)) << llvm::toString(fp8.takeError());
    Kinds k = fp8->quantizationKinds;
    std::sort(k.begin(), k.end());
    EXPECT_EQ(k, (Kinds{"block-scale-quant", "ft-quant", "group-quant",
                        "no-quant"}));
  }
  EXPECT_EQ(kinds("llama4"),
            (Kinds{"ft-quant", "group-quant", "no-quant", "per-tensor-quant"}));
  EXPECT_EQ(kinds("qwen3_5"), standard);
  EXPECT_EQ(kinds("qwen3_5_text"), standard);
  EXPECT_EQ(kinds("bert"), standard);
  EXPECT_EQ(kinds("bert-bge"), standard);
  EXPECT_EQ(kinds("eagle"), standard);                    // + awq in MLC
  EXPECT_EQ(kinds("medusa"), (Kinds{"no-quant"}));
  EXPECT_EQ(kinds("llava"), (Kinds{"group-quant", "no-quant"})); // + awq
}

TEST(GroupBArchitecturesTest, DetectionByClass) {
  for (auto [cls, arch] :
       {std::pair{"Mistral3ForConditionalGeneration", "ministral3"},
        {"Ministral3ForCausalLM", "ministral3"},
        {"Llama4ForConditionalGeneration", "llama4"},
        {"Qwen3_5ForConditionalGeneration", "qwen3_5"},
        {"Qwen3_5ForCausalLM", "qwen3_5_text"},
        {"BertModel", "bert"},
        {"LlavaForConditionalGeneration", "llava"}}) {
    ModelConfig c({{"architectures", {cls}}}, "c");
    auto a = detectArchitecture(c, "auto");
    ASSERT_TRUE(bool(a)) << llvm::toString(a.takeError());
    EXPECT_EQ((*a)->name, arch) << cls;
  }
  // EAGLE's and Medusa's own configs do not name them: --model-type only.
  ModelConfig llama({{"model_type", "llama"}, {"architectures", {"LlamaForCausalLM"}}}, "c");
  auto a = detectArchitecture(llama, "auto");
  ASSERT_TRUE(bool(a));
  EXPECT_EQ((*a)->name, "llama");
}

TEST(GroupBArchitecturesTest, MappingShapes) {
  // Qwen3.5's (1 + w) norms: float32(w) + 1; the gated norm is copied.
  ModelDef q = buildDef("qwen3_5");
  const ParamDef *norm = find(q, "model.layers.1.self_attn.q_norm.weight");
  ASSERT_NE(norm, nullptr);
  ASSERT_EQ(norm->map.op, MapExpr::Op::AddConstant);
  EXPECT_EQ(norm->map.constant, 1.0);
  ASSERT_EQ(norm->map.operands.size(), 1u);
  EXPECT_EQ(norm->map.operands[0].op, MapExpr::Op::ToF32);
  EXPECT_EQ(norm->map.operands[0].operands[0].source,
            "model.language_model.layers.1.self_attn.q_norm.weight");
  const ParamDef *gated = find(q, "model.layers.0.linear_attn.norm.weight");
  ASSERT_NE(gated, nullptr);
  EXPECT_EQ(gated->map.op, MapExpr::Op::Source);
  EXPECT_EQ(find(q, "model.layers.0.self_attn.c_attn.weight"), nullptr);
  EXPECT_EQ(find(q, "model.layers.1.linear_attn.A_log"), nullptr);

  // Llama 4's stacked experts stay plain parameters [E, H, 2F] / [E, F, H].
  ModelDef l = buildDef("llama4", 2);
  const ParamDef *gu = find(l, "model.layers.0.feed_forward.experts.gate_up_proj");
  ASSERT_NE(gu, nullptr);
  EXPECT_EQ(gu->kind, ParamKind::Other);
  EXPECT_EQ(gu->shape, (std::vector<int64_t>{4, 64, 192}));
  ASSERT_TRUE(gu->shard.has_value());
  EXPECT_EQ(gu->shard->dim, 2);
  EXPECT_EQ(gu->shard->segments, (std::vector<int64_t>{48, 48}));
  const ParamDef *router = find(l, "model.layers.0.feed_forward.router.router.weight");
  ASSERT_NE(router, nullptr);
  EXPECT_EQ(router->kind, ParamKind::Linear); // not a `gate`: quantized

  // LLaVA's vision tower is never quantized; its lm_head is no final FC.
  ModelDef v = buildDef("llava");
  const ParamDef *fc1 = find(v, "vision_tower.vision_model.encoder.layers.0.mlp.fc1.weight");
  ASSERT_NE(fc1, nullptr);
  EXPECT_EQ(fc1->kind, ParamKind::Other);
  const ParamDef *head = find(v, "language_model.lm_head.weight");
  ASSERT_NE(head, nullptr);
  EXPECT_EQ(head->kind, ParamKind::Linear);

  // Ministral 3 without a vision_config reads unprefixed names.
  ModelDef m = buildDef("ministral3");
  const ParamDef *embed = find(m, "model.embed_tokens.weight");
  ASSERT_NE(embed, nullptr);
  EXPECT_EQ(embed->map.source, "model.embed_tokens.weight");
}
