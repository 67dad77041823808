//===- MoreArchitecturesTest.cpp - Architectures added from mlc-llm -------===//
//
// What the lit tests do not show for the architectures added from mlc-llm's
// sources: detection by model_type and HF class, shard strategies at T = 2
// (segment lengths worked out by hand from `_set_tp` in each
// <arch>_model.py), parameter kinds (routers stay unquantized), quantization
// kinds from model.py, Gemma3's nested text_config, and the refusals.
//
//===----------------------------------------------------------------------===//

#include "qopt/Models/ModelDef.h"

#include <gtest/gtest.h>

using namespace qopt::models;

namespace {

/// H 64, I 96, nq 4, nkv 2 (d 16), 2 layers, V 40.
nlohmann::json base(const char *modelType) {
  return {{"model_type", modelType},  {"hidden_size", 64},
          {"intermediate_size", 96},  {"num_attention_heads", 4},
          {"num_key_value_heads", 2}, {"num_hidden_layers", 2},
          {"vocab_size", 40},         {"rms_norm_eps", 1e-6},
          {"max_position_embeddings", 128}, {"hidden_act", "silu"},
          {"rope_theta", 10000.0}};
}

llvm::Expected<ModelDef> buildDef(const nlohmann::json &config, int64_t tp,
                               const char *requested = "auto") {
  ModelConfig cfg(config, "/m/config.json");
  llvm::Expected<const Architecture *> a = detectArchitecture(cfg, requested);
  if (!a)
    return a.takeError();
  return (*a)->build(cfg, tp);
}

const ParamDef *find(const ModelDef &m, llvm::StringRef name) {
  for (const ParamDef &p : m.params)
    if (p.name == name)
      return &p;
  return nullptr;
}

std::string shard(const ModelDef &m, llvm::StringRef name) {
  const ParamDef *p = find(m, name);
  if (!p)
    return "missing";
  if (!p->shard)
    return "none";
  std::string s = std::to_string(p->shard->dim) + ":";
  for (size_t i = 0; i < p->shard->segments.size(); ++i)
    s += (i ? "," : "") + std::to_string(p->shard->segments[i]);
  return s;
}

std::string shapeOf(const ModelDef &m, llvm::StringRef name) {
  const ParamDef *p = find(m, name);
  if (!p)
    return "missing";
  std::string s;
  for (int64_t d : p->shape)
    s += (s.empty() ? "" : "x") + std::to_string(d);
  return s;
}

} // namespace

TEST(MoreArchitecturesTest, Qwen3MoeShardsAndRouter) {
  nlohmann::json c = base("qwen3_moe");
  c["attention_bias"] = false;
  c["num_experts"] = 4;
  c["moe_intermediate_size"] = 64;
  c["decoder_sparse_step"] = 1;
  c.erase("rope_theta");
  c["rope_parameters"] = {{"rope_type", "default"}, {"rope_theta", 1e6}};
  llvm::Expected<ModelDef> m = buildDef(c, 2);
  ASSERT_TRUE(bool(m)) << llvm::toString(m.takeError());
  EXPECT_EQ(m->arch, "qwen3_moe");
  // q = 2 x 16, k = v = 1 x 16 per shard; F / T = 32.
  EXPECT_EQ(shard(*m, "model.layers.0.self_attn.c_attn.weight"), "0:32,16,16");
  EXPECT_EQ(shard(*m, "model.layers.1.mlp.moe_gate_up_proj.weight"), "1:32,32");
  EXPECT_EQ(shard(*m, "model.layers.1.mlp.moe_down_proj.weight"), "2:");
  EXPECT_EQ(shard(*m, "model.layers.0.mlp.gate.weight"), "none");
  EXPECT_EQ(find(*m, "model.layers.0.mlp.gate.weight")->kind,
            ParamKind::MoEGate);
  EXPECT_EQ(shapeOf(*m, "model.layers.0.mlp.moe_gate_up_proj.weight"),
            "4x128x64");
  EXPECT_EQ(find(*m, "model.layers.0.self_attn.c_attn.bias"), nullptr);
  // lm_head is a parameter even when the config ties embeddings.
  c["tie_word_embeddings"] = true;
  m = buildDef(c, 1);
  ASSERT_TRUE(bool(m)) << llvm::toString(m.takeError());
  EXPECT_EQ(shapeOf(*m, "lm_head.weight"), "40x64");
}

TEST(MoreArchitecturesTest, Qwen3MoeRouterOver256ExpertsIsQuantizable) {
  nlohmann::json c = base("qwen3_moe");
  c["attention_bias"] = false;
  c["num_experts"] = 257;
  c["moe_intermediate_size"] = 32;
  c["decoder_sparse_step"] = 1;
  llvm::Expected<ModelDef> m = buildDef(c, 1);
  ASSERT_TRUE(bool(m)) << llvm::toString(m.takeError());
  EXPECT_EQ(find(*m, "model.layers.0.mlp.gate.weight")->kind,
            ParamKind::Linear);
}

TEST(MoreArchitecturesTest, Qwen2MoeSharedExpert) {
  nlohmann::json c = base("qwen2_moe");
  c["num_experts"] = 4;
  c["moe_intermediate_size"] = 64;
  c["shared_expert_intermediate_size"] = 128;
  c["decoder_sparse_step"] = 1;
  llvm::Expected<ModelDef> m = buildDef(c, 2);
  ASSERT_TRUE(bool(m)) << llvm::toString(m.takeError());
  EXPECT_EQ(shard(*m, "model.layers.0.mlp.shared_expert.gate_up_proj.weight"),
            "0:64,64");
  EXPECT_EQ(shard(*m, "model.layers.0.mlp.shared_expert.down_proj.weight"),
            "1:");
  EXPECT_EQ(shard(*m, "model.layers.0.self_attn.c_attn.bias"), "0:32,16,16");
  EXPECT_EQ(find(*m, "model.layers.0.mlp.shared_expert_gate.weight")->kind,
            ParamKind::MoEGate);
  EXPECT_EQ(shapeOf(*m, "model.layers.0.mlp.shared_expert_gate.weight"),
            "1x64");
  c["decoder_sparse_step"] = 2;
  m = buildDef(c, 1);
  ASSERT_FALSE(bool(m));
  EXPECT_EQ(llvm::toString(m.takeError()),
            "/m/config.json: field 'decoder_sparse_step' must be 1: MLC's "
            "qwen2_moe has MoE in every layer");
}

TEST(MoreArchitecturesTest, Gemma3NestedTextConfigAndDefaults) {
  // Gemma3TextConfig's defaults: 8 heads, 4 kv heads, head_dim 256.
  nlohmann::json c = {{"architectures", {"Gemma3ForConditionalGeneration"}},
                      {"text_config",
                       {{"hidden_size", 32},
                        {"intermediate_size", 48},
                        {"num_hidden_layers", 1}}}};
  llvm::Expected<ModelDef> m = buildDef(c, 1);
  ASSERT_TRUE(bool(m)) << llvm::toString(m.takeError());
  EXPECT_EQ(m->arch, "gemma3");
  const ParamDef *q = find(*m, "language_model.model.layers.0.self_attn.q_proj.weight");
  ASSERT_NE(q, nullptr);
  EXPECT_EQ(q->map.source, "language_model.model.layers.0.self_attn.q_proj.weight");
  EXPECT_EQ(shapeOf(*m, "language_model.model.layers.0.self_attn.q_proj.weight"),
            "2048x32");
  EXPECT_EQ(shapeOf(*m, "language_model.model.layers.0.self_attn.k_norm.weight"),
            "256");
  EXPECT_EQ(shapeOf(*m, "language_model.model.embed_tokens.weight"), "-1x32");
  EXPECT_EQ(find(*m, "lm_head.weight"), nullptr);

  nlohmann::json t = {{"model_type", "gemma3_text"},
                      {"hidden_size", 32},
                      {"intermediate_size", 48},
                      {"num_hidden_layers", 1}};
  m = buildDef(t, 1);
  ASSERT_TRUE(bool(m)) << llvm::toString(m.takeError());
  EXPECT_EQ(m->arch, "gemma3_text");
  const ParamDef *n = find(*m, "language_model.model.norm.weight");
  ASSERT_NE(n, nullptr);
  ASSERT_EQ(n->map.op, MapExpr::Op::AddConstant);
  EXPECT_EQ(n->map.operands[0].source, "model.norm.weight");

  t["hidden_activation"] = "silu";
  m = buildDef(t, 1);
  ASSERT_FALSE(bool(m));
  EXPECT_EQ(llvm::toString(m.takeError()),
            "/m/config.json: activation 'silu' is not supported (gemma3); "
            "expected gelu or gelu_pytorch_tanh");
}

TEST(MoreArchitecturesTest, StandardLoaderFamilies) {
  llvm::Expected<ModelDef> m = buildDef(base("olmo"), 2);
  ASSERT_TRUE(bool(m)) << llvm::toString(m.takeError());
  EXPECT_EQ(shard(*m, "model.layers.0.self_attn.qkv_proj.weight"),
            "0:32,16,16");
  EXPECT_EQ(shard(*m, "model.layers.0.mlp.gate_up_proj.weight"), "0:48,48");
  EXPECT_TRUE(m->isUnused("model.layers.1.self_attn.rotary_emb.inv_freq"));
  EXPECT_EQ(m->quantizationKinds,
            (std::vector<std::string>{"no-quant", "group-quant", "ft-quant",
                                      "awq", "per-tensor-quant"}));

  nlohmann::json o = base("orion");
  m = buildDef(o, 1);
  ASSERT_TRUE(bool(m)) << llvm::toString(m.takeError());
  EXPECT_EQ(shapeOf(*m, "lm_head.weight"), "-1x64");
  EXPECT_EQ(m->quantizationKinds,
            (std::vector<std::string>{"no-quant", "group-quant"}));

  nlohmann::json i = base("internlm");
  i.erase("num_key_value_heads");
  for (const char *k : {"use_cache", "bias"})
    i[k] = false;
  for (const char *k : {"pad_token_id", "bos_token_id", "eos_token_id"})
    i[k] = 0;
  m = buildDef(i, 2);
  ASSERT_TRUE(bool(m)) << llvm::toString(m.takeError());
  // No grouped kv: q = k = v = 2 x 16 per shard.
  EXPECT_EQ(shard(*m, "model.layers.0.self_attn.wqkv_pack.weight"),
            "0:32,32,32");

  nlohmann::json s = base("stablelm");
  s["layer_norm_eps"] = 1e-5;
  s["partial_rotary_factor"] = 0.25;
  s["use_qkv_bias"] = true;
  m = buildDef(s, 2);
  ASSERT_TRUE(bool(m)) << llvm::toString(m.takeError());
  EXPECT_EQ(shard(*m, "model.layers.0.self_attn.qkv_proj.bias"), "0:32,16,16");
  EXPECT_EQ(shard(*m, "model.layers.0.input_layernorm.bias"), "none");
}

TEST(MoreArchitecturesTest, PresharingRefusedWhereMlcCannot) {
  nlohmann::json n = base("nemotron");
  llvm::Expected<ModelDef> m = buildDef(n, 2);
  ASSERT_FALSE(bool(m));
  EXPECT_EQ(llvm::toString(m.takeError()),
            "/m/config.json: tensor-parallel-shards 2: nemotron cannot be "
            "pre-sharded as MLC defines it: its mlp.up_proj [intermediate, "
            "hidden] carries ShardSingleDim(1), which needs hidden x shards "
            "columns in the checkpoint");
  m = buildDef(n, 1);
  ASSERT_TRUE(bool(m)) << llvm::toString(m.takeError());

  nlohmann::json c = base("cohere");
  c["layer_norm_eps"] = 1e-5;
  m = buildDef(c, 4);
  ASSERT_FALSE(bool(m));
  llvm::consumeError(m.takeError());
  m = buildDef(c, 1);
  ASSERT_TRUE(bool(m)) << llvm::toString(m.takeError());
  EXPECT_EQ(find(*m, "lm_head.weight"), nullptr);
  EXPECT_EQ(find(*m, "model.layers.0.self_attn.out_proj.weight")->map.source,
            "model.layers.0.self_attn.o_proj.weight");
}

TEST(MoreArchitecturesTest, DetectionByClassName) {
  for (auto [cls, name] :
       {std::pair{"Qwen3MoeForCausalLM", "qwen3_moe"},
        {"Qwen2MoeForCausalLM", "qwen2_moe"},
        {"Gemma3ForConditionalGeneration", "gemma3"},
        {"Gemma3ForCausalLM", "gemma3_text"},
        {"OlmoForCausalLM", "olmo"},
        {"Olmo2ForCausalLM", "olmo2"},
        {"StableLmForCausalLM", "stablelm"},
        {"InternLMForCausalLM", "internlm"},
        {"CohereForCausalLM", "cohere"},
        {"NemotronForCausalLM", "nemotron"},
        {"OrionForCausalLM", "orion"},
        {"DeepseekV2ForCausalLM", "deepseek_v2"},
        {"DeepseekV3ForCausalLM", "deepseek_v3"},
        {"BaichuanForCausalLM", "baichuan"},
        {"GPTBigCodeForCausalLM", "gpt_bigcode"},
        {"DeepseekForCausalLM", "deepseek"}}) {
    ModelConfig cfg({{"architectures", {cls}}}, "c");
    llvm::Expected<const Architecture *> a = detectArchitecture(cfg, "auto");
    ASSERT_TRUE(bool(a)) << llvm::toString(a.takeError());
    EXPECT_EQ((*a)->name, name);
  }
}

TEST(MoreArchitecturesTest, DeepseekKvBSplitViews) {
  // nh 2, nope 4, v 3, rank 5: kv_b_proj is [2 x (4 + 3), 5]; head h's rows
  // start at flat element 35 h. w_uk[h, r, n] = kv_b[7 h + n, r] (flat
  // 35 h + 5 n + r); w_uv[h, j, r] = kv_b[7 h + 4 + j, r] (flat
  // 20 + 35 h + 5 j + r).
  nlohmann::json c = {{"model_type", "deepseek_v2"},
                      {"vocab_size", 40},
                      {"hidden_size", 32},
                      {"intermediate_size", 64},
                      {"moe_intermediate_size", 32},
                      {"num_hidden_layers", 1},
                      {"num_attention_heads", 2},
                      {"num_key_value_heads", 2},
                      {"n_shared_experts", 1},
                      {"n_routed_experts", 4},
                      {"num_experts_per_tok", 2},
                      {"norm_topk_prob", false},
                      {"first_k_dense_replace", 1},
                      {"moe_layer_freq", 1},
                      {"routed_scaling_factor", 1.0},
                      {"scoring_func", "softmax"},
                      {"topk_method", "greedy"},
                      {"n_group", 1},
                      {"topk_group", 1},
                      {"attention_bias", false},
                      {"kv_lora_rank", 5},
                      {"qk_rope_head_dim", 2},
                      {"v_head_dim", 3},
                      {"qk_nope_head_dim", 4},
                      {"rms_norm_eps", 1e-6},
                      {"rope_theta", 10000},
                      {"max_position_embeddings", 64}};
  llvm::Expected<ModelDef> m = buildDef(c, 1);
  ASSERT_TRUE(bool(m)) << llvm::toString(m.takeError());
  const ParamDef *uk = find(*m, "model.layers.0.self_attn.w_uk");
  const ParamDef *uv = find(*m, "model.layers.0.self_attn.w_uv");
  ASSERT_TRUE(uk && uv);
  ASSERT_EQ(uk->map.op, MapExpr::Op::View);
  EXPECT_EQ(uk->map.operands[0].source, "model.layers.0.self_attn.kv_b_proj.weight");
  EXPECT_EQ(uk->map.viewOffset, 0);
  EXPECT_EQ(uk->map.viewShape, (std::vector<int64_t>{2, 5, 4}));
  EXPECT_EQ(uk->map.viewStrides, (std::vector<int64_t>{35, 1, 5}));
  EXPECT_EQ(uv->map.viewOffset, 20);
  EXPECT_EQ(uv->map.viewShape, (std::vector<int64_t>{2, 3, 5}));
  EXPECT_EQ(uv->map.viewStrides, (std::vector<int64_t>{35, 5, 1}));
  EXPECT_EQ(uk->kind, ParamKind::Other);
  // Only dense layers (first_k_dense_replace 1 of 1 layer): no router.
  EXPECT_EQ(find(*m, "model.layers.0.mlp.gate.weight"), nullptr);
  EXPECT_EQ(shapeOf(*m, "model.layers.0.mlp.gate_up_proj.weight"), "128x32");
  // w_uk and w_uv are defined (so emitted) before kv_b_proj.weight.
  EXPECT_LT(uv - m->params.data(),
            find(*m, "model.layers.0.self_attn.kv_b_proj.weight") -
                m->params.data());
  c["num_key_value_heads"] = 1;
  m = buildDef(c, 1);
  ASSERT_FALSE(bool(m));
  llvm::consumeError(m.takeError());
}

TEST(MoreArchitecturesTest, DeepseekMoeLayersAndRefusals) {
  nlohmann::json c = base("deepseek");
  for (auto [k, v] : {std::pair{"moe_intermediate_size", 32},
                      {"n_shared_experts", 2},
                      {"n_routed_experts", 4},
                      {"moe_layer_freq", 1},
                      {"first_k_dense_replace", 1},
                      {"bos_token_id", 0},
                      {"eos_token_id", 1}})
    c[k] = v;
  for (const char *k : {"norm_topk_prob", "attention_bias", "use_cache"})
    c[k] = false;
  llvm::Expected<ModelDef> m = buildDef(c, 1);
  ASSERT_TRUE(bool(m)) << llvm::toString(m.takeError());
  // Layer 0 dense, layer 1 MoE with 2 x 32 shared-expert rows per half.
  EXPECT_EQ(shapeOf(*m, "model.layers.0.mlp.gate_up_proj.weight"), "192x64");
  EXPECT_EQ(find(*m, "model.layers.0.mlp.gate.weight"), nullptr);
  EXPECT_EQ(shapeOf(*m, "model.layers.1.mlp.shared_experts.gate_up_proj.weight"),
            "128x64");
  EXPECT_EQ(shapeOf(*m, "model.layers.1.mlp.moe_down_proj.weight"), "4x64x32");
  EXPECT_EQ(find(*m, "model.layers.1.mlp.gate.weight")->kind,
            ParamKind::MoEGate);
  m = buildDef(c, 2);
  ASSERT_FALSE(bool(m));
  llvm::consumeError(m.takeError());
  c["attention_bias"] = true;
  m = buildDef(c, 1);
  ASSERT_FALSE(bool(m));
  EXPECT_EQ(llvm::toString(m.takeError()),
            "/m/config.json: field 'attention_bias' must be false: MLC's "
            "deepseek loader maps no q/k/v bias");
}

// deepseek_v2 / deepseek_v3's router is an nn.Linear with out_dtype float32
// (DeepseekV2MoE in deepseek_v2_model.py): a MoE gate for every mode, but
// group-quantized by q4f16_ft, whose FT rewriter checks out_dtype before
// it looks for gates (docs/quantization.md, "q4f16_ft"). deepseek's (v1)
// router has the model dtype: a plain MoE gate.
TEST(MoreArchitecturesTest, DeepseekV2RouterHasFloat32Output) {
  nlohmann::json c = {{"model_type", "deepseek_v2"},
                      {"vocab_size", 40},
                      {"hidden_size", 32},
                      {"intermediate_size", 64},
                      {"moe_intermediate_size", 32},
                      {"num_hidden_layers", 1},
                      {"num_attention_heads", 2},
                      {"num_key_value_heads", 2},
                      {"n_shared_experts", 1},
                      {"n_routed_experts", 4},
                      {"num_experts_per_tok", 2},
                      {"norm_topk_prob", false},
                      {"first_k_dense_replace", 0},
                      {"moe_layer_freq", 1},
                      {"routed_scaling_factor", 1.0},
                      {"scoring_func", "softmax"},
                      {"topk_method", "greedy"},
                      {"n_group", 1},
                      {"topk_group", 1},
                      {"attention_bias", false},
                      {"kv_lora_rank", 5},
                      {"qk_rope_head_dim", 2},
                      {"v_head_dim", 3},
                      {"qk_nope_head_dim", 4},
                      {"rms_norm_eps", 1e-6},
                      {"rope_theta", 10000},
                      {"max_position_embeddings", 64}};
  llvm::Expected<ModelDef> m = buildDef(c, 1);
  ASSERT_TRUE(bool(m)) << llvm::toString(m.takeError());
  const ParamDef *gate = find(*m, "model.layers.0.mlp.gate.weight");
  ASSERT_NE(gate, nullptr);
  EXPECT_EQ(gate->kind, ParamKind::Float32OutMoEGate);
  // Over 256 experts it is an ordinary (float32-output) Linear.
  c["n_routed_experts"] = 264;
  m = buildDef(c, 1);
  ASSERT_TRUE(bool(m)) << llvm::toString(m.takeError());
  EXPECT_EQ(find(*m, "model.layers.0.mlp.gate.weight")->kind,
            ParamKind::Float32OutLinear);
  // The other Linears have the model dtype.
  EXPECT_EQ(find(*m, "model.layers.0.self_attn.o_proj.weight")->kind,
            ParamKind::Linear);
}

// Stacked experts are one pattern per parameter (MapExpr::stackEach), not a
// mapping per expert; they name the same tensors, in the same order, as the
// list written out by hand here, and write out to the Stack of the experts.
TEST(MoreArchitecturesTest, StackedExpertsPatternNamesEveryExpert) {
  nlohmann::json c = base("qwen3_moe");
  c["attention_bias"] = false;
  c["num_experts"] = 3;
  c["moe_intermediate_size"] = 64;
  c["decoder_sparse_step"] = 1;
  llvm::Expected<ModelDef> m = buildDef(c, 1);
  ASSERT_TRUE(bool(m)) << llvm::toString(m.takeError());
  const ParamDef *gu = find(*m, "model.layers.1.mlp.moe_gate_up_proj.weight");
  const ParamDef *dn = find(*m, "model.layers.1.mlp.moe_down_proj.weight");
  ASSERT_NE(gu, nullptr);
  ASSERT_NE(dn, nullptr);
  EXPECT_EQ(gu->map.op, MapExpr::Op::StackEach);
  EXPECT_EQ(gu->map.count, 3);
  ASSERT_EQ(gu->map.operands.size(), 1u);
  std::vector<std::string> names;
  gu->map.collectSources(names);
  EXPECT_EQ(names, (std::vector<std::string>{
                       "model.layers.1.mlp.experts.0.gate_proj.weight",
                       "model.layers.1.mlp.experts.0.up_proj.weight",
                       "model.layers.1.mlp.experts.1.gate_proj.weight",
                       "model.layers.1.mlp.experts.1.up_proj.weight",
                       "model.layers.1.mlp.experts.2.gate_proj.weight",
                       "model.layers.1.mlp.experts.2.up_proj.weight"}));
  names.clear();
  dn->map.collectSources(names);
  EXPECT_EQ(names, (std::vector<std::string>{
                       "model.layers.1.mlp.experts.0.down_proj.weight",
                       "model.layers.1.mlp.experts.1.down_proj.weight",
                       "model.layers.1.mlp.experts.2.down_proj.weight"}));
  // Instance 2: concat(gate, up) of expert 2.
  MapExpr two = gu->map.instance(2);
  EXPECT_EQ(two.op, MapExpr::Op::Concat);
  ASSERT_EQ(two.operands.size(), 2u);
  EXPECT_EQ(two.operands[0].source,
            "model.layers.1.mlp.experts.2.gate_proj.weight");
  EXPECT_EQ(two.operands[1].source,
            "model.layers.1.mlp.experts.2.up_proj.weight");
  // Written out: the Stack of the three down projections.
  MapExpr stack = dn->map.expanded();
  EXPECT_EQ(stack.op, MapExpr::Op::Stack);
  ASSERT_EQ(stack.operands.size(), 3u);
  EXPECT_EQ(stack.operands[1].op, MapExpr::Op::Source);
  EXPECT_EQ(stack.operands[1].source,
            "model.layers.1.mlp.experts.1.down_proj.weight");
}
