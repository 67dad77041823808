//===- ArchitecturesTest.cpp - The ten MLC architectures' definitions -----===//
//
// What the lit tests cannot see yet: shard strategies (mlc-models.md 4, the
// expected segment lengths worked out by hand for T = 2), parameter kinds,
// the quantization kinds each model accepts (mlc-quantization.md 1), and the
// source-prefix lookup GPT-2 uses.
//
//===----------------------------------------------------------------------===//

#include "qopt/Models/ModelDef.h"

#include <gtest/gtest.h>

#include <algorithm>

using namespace qopt::models;

namespace {

/// H 64, I 96, nq 4, nkv 2 (d 16), 2 layers, V 40: per shard at T = 2,
/// q = 2 x 16 = 32, k = v = 1 x 16 = 16, i = 48.
nlohmann::json llamaLikeConfig(const char *modelType) {
  return {{"model_type", modelType},
          {"hidden_size", 64},
          {"intermediate_size", 96},
          {"num_attention_heads", 4},
          {"num_key_value_heads", 2},
          {"num_hidden_layers", 2},
          {"vocab_size", 40},
          {"rms_norm_eps", 1e-6},
          {"max_position_embeddings", 128},
          {"hidden_act", "silu"},
          {"rope_theta", 10000.0}};
}

ModelDef buildOk(const char *arch, const nlohmann::json &config,
                 int64_t tp = 2) {
  const Architecture *a = findArchitecture(arch);
  EXPECT_NE(a, nullptr) << arch;
  if (!a)
    return {};
  llvm::Expected<ModelDef> def =
      a->build(ModelConfig(config, "/m/config.json"), tp);
  if (!def) {
    ADD_FAILURE() << llvm::toString(def.takeError());
    return {};
  }
  return std::move(*def);
}

std::string buildError(const char *arch, const nlohmann::json &config,
                       int64_t tp = 1) {
  llvm::Expected<ModelDef> def =
      findArchitecture(arch)->build(ModelConfig(config, "/m/config.json"), tp);
  if (def)
    return "<no error>";
  return llvm::toString(def.takeError());
}

const ParamDef *find(const ModelDef &m, llvm::StringRef name) {
  for (const ParamDef &p : m.params)
    if (p.name == name)
      return &p;
  return nullptr;
}

/// "dim:segs" of a parameter's strategy, "none" without one, "missing"
/// when there is no such parameter.
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

std::vector<std::string> sources(const ModelDef &m, llvm::StringRef name) {
  std::vector<std::string> out;
  if (const ParamDef *p = find(m, name))
    p->map.collectSources(out);
  return out;
}

} // namespace

TEST(ArchitecturesTest, RegistryOrderAndNames) {
  EXPECT_EQ(supportedArchitectureList(),
            "llama, mistral, mixtral, qwen2, qwen3, phi3, gemma, gemma2, "
            "starcoder2, gpt2, qwen3_moe, qwen2_moe, gemma3, gemma3_text, "
            "olmo, olmo2, stablelm, internlm, cohere, nemotron, orion, "
            "deepseek_v2, deepseek_v3, baichuan, gpt_bigcode, deepseek, "
            "phi, phi-msft, internlm2, qwen, minicpm, chatglm, gpt_neox, "
            "gptj, "
            "ministral3, llama4, qwen3_5, qwen3_5_text, bert, bert-bge, "
            "eagle, medusa, llava, "
            "qwen3-embedding, "
            "phi3_v");
  ModelConfig byClass({{"architectures", {"Starcoder2ForCausalLM"}}}, "c");
  auto a = detectArchitecture(byClass, "auto");
  ASSERT_TRUE(bool(a)) << llvm::toString(a.takeError());
  EXPECT_EQ((*a)->name, "starcoder2");
  ModelConfig gpt2({{"architectures", {"GPT2LMHeadModel"}}}, "c");
  a = detectArchitecture(gpt2, "auto");
  ASSERT_TRUE(bool(a)) << llvm::toString(a.takeError());
  EXPECT_EQ((*a)->name, "gpt2");
}

TEST(ArchitecturesTest, QuantizationKinds) {
  using Kinds = std::vector<std::string>;
  auto kinds = [](const char *arch, nlohmann::json cfg) {
    Kinds k = buildOk(arch, cfg, 1).quantizationKinds;
    std::sort(k.begin(), k.end());
    return k;
  };
  nlohmann::json gemma = llamaLikeConfig("gemma");
  gemma.update({{"head_dim", 16}, {"attention_bias", false},
                {"hidden_activation", "gelu_pytorch_tanh"}});
  nlohmann::json mixtral = llamaLikeConfig("mixtral");
  mixtral.update({{"num_local_experts", 4}, {"num_experts_per_tok", 2}});
  nlohmann::json qwen3 = llamaLikeConfig("qwen3");
  qwen3["attention_bias"] = false;
  // mlc-quantization.md 1: per-tensor only llama and mixtral, awq only
  // llama and mistral, ft-quant everywhere but gemma / gemma2.
  EXPECT_EQ(kinds("llama", llamaLikeConfig("llama")),
            (Kinds{"awq", "ft-quant", "group-quant", "no-quant",
                   "per-tensor-quant"}));
  EXPECT_EQ(kinds("mistral", llamaLikeConfig("mistral")),
            (Kinds{"awq", "ft-quant", "group-quant", "no-quant"}));
  EXPECT_EQ(kinds("mixtral", mixtral),
            (Kinds{"ft-quant", "group-quant", "no-quant", "per-tensor-quant"}));
  EXPECT_EQ(kinds("qwen2", llamaLikeConfig("qwen2")),
            (Kinds{"ft-quant", "group-quant", "no-quant"}));
  // mlc_llm model.py: qwen3 is registered with supports_block_scale=True.
  EXPECT_EQ(kinds("qwen3", qwen3),
            (Kinds{"block-scale-quant", "ft-quant", "group-quant", "no-quant"}));
  EXPECT_EQ(kinds("gemma", gemma), (Kinds{"group-quant", "no-quant"}));
  gemma["model_type"] = "gemma2";
  EXPECT_EQ(kinds("gemma2", gemma), (Kinds{"group-quant", "no-quant"}));
}

TEST(ArchitecturesTest, LlamaFamilyShards) {
  for (const char *arch : {"llama", "mistral"}) {
    ModelDef m = buildOk(arch, llamaLikeConfig(arch));
    SCOPED_TRACE(arch);
    EXPECT_EQ(shard(m, "model.layers.1.self_attn.qkv_proj.weight"),
              "0:32,16,16");
    EXPECT_EQ(shard(m, "model.layers.1.self_attn.o_proj.weight"), "1:");
    EXPECT_EQ(shard(m, "model.layers.1.mlp.gate_up_proj.weight"), "0:48,48");
    EXPECT_EQ(shard(m, "model.layers.1.mlp.down_proj.weight"), "1:");
    EXPECT_EQ(shard(m, "model.embed_tokens.weight"), "none");
    EXPECT_EQ(shard(m, "model.layers.1.input_layernorm.weight"), "none");
    EXPECT_EQ(shard(m, "lm_head.weight"), "none");
  }
}

TEST(ArchitecturesTest, MistralAlwaysHasLmHead) {
  nlohmann::json cfg = llamaLikeConfig("mistral");
  cfg["tie_word_embeddings"] = true;
  ModelDef m = buildOk("mistral", cfg, 1);
  const ParamDef *head = find(m, "lm_head.weight");
  ASSERT_NE(head, nullptr);
  EXPECT_EQ(head->kind, ParamKind::FinalFC);
  EXPECT_EQ(sources(m, "lm_head.weight"),
            std::vector<std::string>{"lm_head.weight"});
}

TEST(ArchitecturesTest, MixtralExperts) {
  nlohmann::json cfg = llamaLikeConfig("mixtral");
  cfg.update({{"num_local_experts", 3}, {"num_experts_per_tok", 2}});
  ModelDef m = buildOk("mixtral", cfg);
  EXPECT_EQ(shard(m, "model.layers.0.moe.e1_e3.weight"), "1:48,48");
  EXPECT_EQ(shard(m, "model.layers.0.moe.e2.weight"), "2:");
  EXPECT_EQ(shard(m, "model.layers.0.moe.gate.weight"), "none");
  EXPECT_EQ(shard(m, "model.layers.0.self_attn.qkv_proj.weight"),
            "0:32,16,16");
  EXPECT_EQ(find(m, "model.layers.0.mlp.gate_up_proj.weight"), nullptr);

  const ParamDef *gate = find(m, "model.layers.0.moe.gate.weight");
  ASSERT_NE(gate, nullptr);
  EXPECT_EQ(gate->kind, ParamKind::MoEGate);
  EXPECT_EQ(gate->shape, (std::vector<int64_t>{3, 64}));
  const ParamDef *e13 = find(m, "model.layers.0.moe.e1_e3.weight");
  ASSERT_NE(e13, nullptr);
  EXPECT_EQ(e13->kind, ParamKind::Experts);
  EXPECT_EQ(e13->shape, (std::vector<int64_t>{3, 192, 64}));
  // stack over e of concat(w1, w3).
  ASSERT_EQ(e13->map.op, MapExpr::Op::Stack);
  ASSERT_EQ(e13->map.operands.size(), 3u);
  EXPECT_EQ(e13->map.operands[2].op, MapExpr::Op::Concat);
  EXPECT_EQ(sources(m, "model.layers.0.moe.e1_e3.weight"),
            (std::vector<std::string>{
                "model.layers.0.block_sparse_moe.experts.0.w1.weight",
                "model.layers.0.block_sparse_moe.experts.0.w3.weight",
                "model.layers.0.block_sparse_moe.experts.1.w1.weight",
                "model.layers.0.block_sparse_moe.experts.1.w3.weight",
                "model.layers.0.block_sparse_moe.experts.2.w1.weight",
                "model.layers.0.block_sparse_moe.experts.2.w3.weight"}));
  const ParamDef *e2 = find(m, "model.layers.0.moe.e2.weight");
  ASSERT_NE(e2, nullptr);
  EXPECT_EQ(e2->shape, (std::vector<int64_t>{3, 64, 96}));

  // A router with more than 256 outputs is an ordinary Linear to MLC.
  cfg["num_local_experts"] = 257;
  ModelDef big = buildOk("mixtral", cfg, 1);
  ASSERT_NE(find(big, "model.layers.0.moe.gate.weight"), nullptr);
  EXPECT_EQ(find(big, "model.layers.0.moe.gate.weight")->kind,
            ParamKind::Linear);
}

TEST(ArchitecturesTest, QwenShards) {
  ModelDef q2 = buildOk("qwen2", llamaLikeConfig("qwen2"));
  EXPECT_EQ(shard(q2, "model.layers.0.self_attn.c_attn.weight"), "0:32,16,16");
  EXPECT_EQ(shard(q2, "model.layers.0.self_attn.c_attn.bias"), "0:32,16,16");
  EXPECT_EQ(shard(q2, "model.layers.0.self_attn.o_proj.weight"), "1:");
  EXPECT_EQ(shard(q2, "model.layers.0.mlp.gate_up_proj.weight"), "0:48,48");
  EXPECT_EQ(shard(q2, "model.layers.0.mlp.down_proj.weight"), "1:");
  EXPECT_EQ(find(q2, "model.layers.0.self_attn.c_attn.bias")->kind,
            ParamKind::Bias);

  nlohmann::json cfg = llamaLikeConfig("qwen3");
  cfg.update({{"attention_bias", true}, {"head_dim", 32}});
  ModelDef q3 = buildOk("qwen3", cfg);
  // head_dim 32: q = 2 x 32, k = v = 1 x 32.
  EXPECT_EQ(shard(q3, "model.layers.0.self_attn.c_attn.weight"), "0:64,32,32");
  EXPECT_EQ(shard(q3, "model.layers.0.self_attn.c_attn.bias"), "0:64,32,32");
  EXPECT_EQ(shard(q3, "model.layers.0.self_attn.o_proj.bias"), "none");
  EXPECT_EQ(shard(q3, "model.layers.0.self_attn.q_norm.weight"), "none");
  EXPECT_EQ(find(q3, "model.layers.0.self_attn.k_norm.weight")->shape,
            (std::vector<int64_t>{32}));
  EXPECT_EQ(find(q3, "model.layers.0.self_attn.o_proj.weight")->shape,
            (std::vector<int64_t>{64, 128}));
}

TEST(ArchitecturesTest, Phi3Shards) {
  nlohmann::json cfg = llamaLikeConfig("phi3");
  ModelDef m = buildOk("phi3", cfg);
  EXPECT_EQ(shard(m, "transformer.h.0.mixer.qkv_proj.weight"), "0:32,16,16");
  EXPECT_EQ(shard(m, "transformer.h.0.mixer.out_proj.weight"), "1:");
  EXPECT_EQ(shard(m, "transformer.h.0.mlp.gate_up_proj.weight"), "0:48,48");
  EXPECT_EQ(shard(m, "transformer.h.0.mlp.down_proj.weight"), "1:");
  EXPECT_EQ(shard(m, "transformer.embd.weight"), "none");
  EXPECT_EQ(sources(m, "transformer.h.1.mixer.qkv_proj.weight"),
            std::vector<std::string>{"model.layers.1.self_attn.qkv_proj.weight"});
}

TEST(ArchitecturesTest, GemmaNormsPlusOne) {
  nlohmann::json cfg = llamaLikeConfig("gemma2");
  cfg.update({{"head_dim", 32}, {"attention_bias", false},
              {"hidden_act", "gelu"}});
  ModelDef m = buildOk("gemma2", cfg);
  // q = 2 x 32, k = v = 1 x 32.
  EXPECT_EQ(shard(m, "model.layers.0.self_attn.qkv_proj.weight"), "0:64,32,32");
  EXPECT_EQ(shard(m, "model.layers.0.mlp.gate_up_proj.weight"), "0:48,48");
  EXPECT_EQ(find(m, "lm_head.weight"), nullptr);
  for (const char *n : {"model.layers.1.input_layernorm.weight",
                        "model.layers.1.post_attention_layernorm.weight",
                        "model.layers.1.pre_feedforward_layernorm.weight",
                        "model.layers.1.post_feedforward_layernorm.weight",
                        "model.norm.weight"}) {
    const ParamDef *p = find(m, n);
    ASSERT_NE(p, nullptr) << n;
    EXPECT_EQ(p->kind, ParamKind::Norm);
    ASSERT_EQ(p->map.op, MapExpr::Op::AddConstant) << n;
    EXPECT_EQ(p->map.constant, 1.0);
    EXPECT_EQ(sources(m, n), std::vector<std::string>{n});
  }
  EXPECT_EQ(find(m, "model.embed_tokens.weight")->shape,
            (std::vector<int64_t>{-1, 64}));
}

TEST(ArchitecturesTest, Starcoder2) {
  nlohmann::json cfg = llamaLikeConfig("starcoder2");
  cfg.erase("rms_norm_eps");
  cfg.update({{"norm_epsilon", 1e-5}, {"use_bias", true}, {"use_cache", true},
              {"bos_token_id", 0}, {"eos_token_id", 0}});
  ModelDef m = buildOk("starcoder2", cfg);
  EXPECT_EQ(shard(m, "model.layers.0.self_attn.wqkv_pack.weight"),
            "0:32,16,16");
  EXPECT_EQ(shard(m, "model.layers.0.self_attn.wqkv_pack.bias"), "0:32,16,16");
  EXPECT_EQ(shard(m, "model.layers.0.self_attn.o_proj.weight"), "1:");
  EXPECT_EQ(shard(m, "model.layers.0.self_attn.o_proj.bias"), "none");
  EXPECT_EQ(shard(m, "model.layers.0.mlp.c_fc.weight"), "0:");
  EXPECT_EQ(shard(m, "model.layers.0.mlp.c_fc.bias"), "0:");
  EXPECT_EQ(shard(m, "model.layers.0.mlp.c_proj.weight"), "1:");
  EXPECT_EQ(shard(m, "model.layers.0.mlp.c_proj.bias"), "0:");
  EXPECT_EQ(shard(m, "model.layers.0.input_layernorm.bias"), "none");
  // lm_head comes from the embedding tensor and precedes the embedding.
  ASSERT_GE(m.params.size(), 2u);
  EXPECT_EQ(m.params[0].name, "lm_head.weight");
  EXPECT_EQ(m.params[0].kind, ParamKind::FinalFC);
  EXPECT_EQ(m.params[1].name, "model.embed_tokens.weight");
  EXPECT_EQ(sources(m, "lm_head.weight"),
            std::vector<std::string>{"model.embed_tokens.weight"});

  cfg["use_bias"] = false;
  ModelDef noBias = buildOk("starcoder2", cfg);
  EXPECT_EQ(shard(noBias, "model.layers.0.mlp.c_proj.bias"), "missing");
  EXPECT_EQ(shard(noBias, "model.layers.0.self_attn.wqkv_pack.bias"),
            "missing");
  EXPECT_EQ(shard(noBias, "model.layers.0.input_layernorm.bias"), "none");
}

namespace {
nlohmann::json gpt2Config() {
  return {{"model_type", "gpt2"}, {"vocab_size", 40}, {"n_embd", 64},
          {"n_layer", 2},         {"n_head", 4},      {"n_inner", nullptr},
          {"n_positions", 48},    {"layer_norm_epsilon", 1e-5}};
}
} // namespace

TEST(ArchitecturesTest, GPT2) {
  ModelDef m = buildOk("gpt2", gpt2Config());
  // q = k = v = n_head / T x d = 2 x 16.
  EXPECT_EQ(shard(m, "transformer.h.0.attn.c_attn.weight"), "0:32,32,32");
  EXPECT_EQ(shard(m, "transformer.h.0.attn.c_attn.bias"), "0:32,32,32");
  EXPECT_EQ(shard(m, "transformer.h.0.attn.c_proj.weight"), "1:");
  EXPECT_EQ(shard(m, "transformer.h.0.attn.c_proj.bias"), "none");
  EXPECT_EQ(shard(m, "transformer.h.0.mlp.c_fc.weight"), "0:");
  EXPECT_EQ(shard(m, "transformer.h.0.mlp.c_fc.bias"), "0:");
  EXPECT_EQ(shard(m, "transformer.h.0.mlp.c_proj.weight"), "1:");
  EXPECT_EQ(shard(m, "transformer.h.0.mlp.c_proj.bias"), "none");
  EXPECT_EQ(shard(m, "transformer.wpe.weight"), "none");

  const ParamDef *fc = find(m, "transformer.h.1.mlp.c_fc.weight");
  ASSERT_NE(fc, nullptr);
  EXPECT_EQ(fc->shape, (std::vector<int64_t>{256, 64})); // n_inner null
  EXPECT_EQ(fc->map.op, MapExpr::Op::Transpose);
  EXPECT_EQ(find(m, "transformer.wpe.weight")->shape,
            (std::vector<int64_t>{48, 64}));
  EXPECT_EQ(find(m, "transformer.wpe.weight")->kind, ParamKind::Embedding);
  ASSERT_GE(m.params.size(), 2u);
  EXPECT_EQ(m.params[0].name, "lm_head.weight");
  EXPECT_EQ(m.params[1].name, "transformer.wte.weight");
}

TEST(ArchitecturesTest, GPT2SourcePrefixes) {
  ModelDef m = buildOk("gpt2", gpt2Config(), 1);
  EXPECT_TRUE(m.isUnused("h.1.attn.bias"));
  EXPECT_TRUE(m.isUnused("transformer.h.1.attn.bias"));
  EXPECT_FALSE(m.isUnused("transformer.h.1.attn.c_attn.bias"));
  EXPECT_FALSE(m.isUnused("model.h.1.attn.bias"));

  // Each name is looked up under "" first, then "transformer.".
  std::vector<std::string> present = {"transformer.wte.weight", "wpe.weight",
                                      "wte.weight"};
  m.resolveSourceNames([&](llvm::StringRef n) {
    return std::find(present.begin(), present.end(), n) != present.end();
  });
  EXPECT_EQ(sources(m, "transformer.wte.weight"),
            std::vector<std::string>{"wte.weight"});
  EXPECT_EQ(sources(m, "transformer.wpe.weight"),
            std::vector<std::string>{"wpe.weight"});
  // Found under no prefix: left as MLC names it.
  EXPECT_EQ(sources(m, "transformer.ln_f.bias"),
            std::vector<std::string>{"ln_f.bias"});

  present = {"transformer.h.0.attn.c_attn.weight"};
  m.resolveSourceNames([&](llvm::StringRef n) {
    return std::find(present.begin(), present.end(), n) != present.end();
  });
  EXPECT_EQ(sources(m, "transformer.h.0.attn.c_attn.weight"),
            std::vector<std::string>{"transformer.h.0.attn.c_attn.weight"});

  // Other architectures keep the names exactly.
  ModelDef llama = buildOk("llama", llamaLikeConfig("llama"), 1);
  EXPECT_FALSE(llama.isUnused("transformer.model.layers.0.self_attn."
                              "rotary_emb.inv_freq"));
  EXPECT_TRUE(llama.isUnused("model.layers.0.self_attn.rotary_emb.inv_freq"));
}

TEST(ArchitecturesTest, ShardDivisibility) {
  nlohmann::json cfg = llamaLikeConfig("qwen2");
  EXPECT_EQ(buildError("qwen2", cfg, 3),
            "tensor-parallel-shards: num_attention_heads: 4 is not divisible "
            "by 3");
  EXPECT_EQ(buildError("gpt2", gpt2Config(), 3),
            "tensor-parallel-shards: n_head: 4 is not divisible by 3");
}

TEST(ArchitecturesTest, ConfigErrors) {
  nlohmann::json cfg = llamaLikeConfig("gemma");
  cfg.update({{"head_dim", 16}, {"attention_bias", false},
              {"hidden_act", "gelu_pytorch_tanh"}, {"num_key_value_heads", 3}});
  EXPECT_EQ(buildError("gemma", cfg),
            "/m/config.json: num_attention_heads 4 is not a multiple of "
            "num_key_value_heads 3");
  cfg["num_key_value_heads"] = 2;
  cfg["hidden_size"] = 0;
  EXPECT_EQ(buildError("gemma", cfg),
            "/m/config.json: field 'hidden_size' must be a positive integer "
            "(gemma)");
  nlohmann::json g = gpt2Config();
  g["n_inner"] = -5;
  EXPECT_EQ(buildError("gpt2", g),
            "/m/config.json: field 'n_inner' must be a positive integer "
            "(gpt2)");
  nlohmann::json q = llamaLikeConfig("qwen3");
  q["attention_bias"] = false;
  q.erase("max_position_embeddings");
  EXPECT_EQ(buildError("qwen3", q),
            "/m/config.json: missing required field 'max_position_embeddings' "
            "(or 'max_sequence_length') (qwen3)");
}
