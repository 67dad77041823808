//===- RwkvArchitecturesTest.cpp - rwkv5 / rwkv6 definitions -------------===//
//
// What the byte comparisons of arch-rwkv5.test / arch-rwkv6.test do not show
// directly: the quantization kinds (mlc-llm's model.py: rwkv5 with the
// default make_quantization_functions, rwkv6 with supports_ft_quant=False),
// the per-layer mapping steps, and the config errors of RWKV5Config /
// RWKV6Config.
//
//===----------------------------------------------------------------------===//

#include "qopt/Models/ModelDef.h"

#include <gtest/gtest.h>

using namespace qopt::models;

namespace {

nlohmann::json rwkvConfig(bool v6) {
  nlohmann::json c = {{"hidden_size", 64},       {"num_hidden_layers", 5},
                      {"vocab_size", 40},        {"head_size", 16},
                      {"rescale_every", 2},      {"intermediate_size", nullptr},
                      {"layer_norm_epsilon", 1e-5}};
  if (!v6)
    c["model_version"] = "5_2";
  return c;
}

llvm::Expected<ModelDef> buildRwkv(const char *arch, nlohmann::json cfg,
                               int64_t tp = 1) {
  return findArchitecture(arch)->build(ModelConfig(std::move(cfg), "c.json"),
                                       tp);
}

const ParamDef *find(const ModelDef &m, llvm::StringRef name) {
  for (const ParamDef &p : m.params)
    if (p.name == name)
      return &p;
  return nullptr;
}

std::string errorOf(llvm::Expected<ModelDef> m) {
  if (m)
    return "";
  return llvm::toString(m.takeError());
}

} // namespace

TEST(RwkvArchitecturesTest, QuantizationKinds) {
  auto r5 = buildRwkv("rwkv5", rwkvConfig(false));
  auto r6 = buildRwkv("rwkv6", rwkvConfig(true));
  ASSERT_TRUE(bool(r5)) << llvm::toString(r5.takeError());
  ASSERT_TRUE(bool(r6)) << llvm::toString(r6.takeError());
  EXPECT_EQ(r5->quantizationKinds,
            (std::vector<std::string>{"no-quant", "group-quant", "ft-quant"}));
  EXPECT_EQ(r6->quantizationKinds,
            (std::vector<std::string>{"no-quant", "group-quant"}));
}

TEST(RwkvArchitecturesTest, Rwkv5Layout) {
  auto m = buildRwkv("rwkv5", rwkvConfig(false));
  ASSERT_TRUE(bool(m)) << llvm::toString(m.takeError());
  // pre_ln on layer 0 only; HF names are `rwkv.` for `model.`.
  const ParamDef *pre = find(*m, "model.blocks.0.pre_ln.weight");
  ASSERT_TRUE(pre);
  EXPECT_EQ(pre->map.source, "rwkv.blocks.0.pre_ln.weight");
  EXPECT_FALSE(find(*m, "model.blocks.1.pre_ln.weight"));
  // intermediate_size null: int(64 * 3.5) // 32 * 32 = 224.
  EXPECT_EQ(find(*m, "model.blocks.0.feed_forward.key.weight")->shape,
            (std::vector<int64_t>{224, 64}));
  // time_decay: exp(-exp(float32(x))), kept in float32.
  const ParamDef *decay = find(*m, "model.blocks.3.attention.time_decay");
  ASSERT_TRUE(decay);
  EXPECT_EQ(decay->kind, ParamKind::Float32);
  EXPECT_EQ(decay->shape, (std::vector<int64_t>{4, 16}));
  ASSERT_EQ(decay->map.op, MapExpr::Op::Exp);
  EXPECT_TRUE(decay->map.negate);
  ASSERT_EQ(decay->map.operands[0].op, MapExpr::Op::Exp);
  EXPECT_FALSE(decay->map.operands[0].negate);
  EXPECT_EQ(decay->map.operands[0].operands[0].op, MapExpr::Op::ToF32);
  for (const char *f32 : {"time_faaaa", "ln_x.weight", "ln_x.bias"})
    EXPECT_EQ(find(*m, std::string("model.blocks.0.attention.") + f32)->kind,
              ParamKind::Float32);
  // Layer i's output and FFN value divided by 2^(i // 2); layers 0 and 1
  // by 2^0.
  for (int64_t i = 0; i < 5; ++i)
    for (const char *n : {"attention.output.weight",
                          "feed_forward.value.weight"}) {
      const ParamDef *p =
          find(*m, "model.blocks." + std::to_string(i) + "." + n);
      ASSERT_TRUE(p);
      EXPECT_EQ(p->kind, ParamKind::Linear);
      ASSERT_EQ(p->map.op, MapExpr::Op::DividePow2);
      EXPECT_EQ(p->map.exponent, i / 2);
    }
  // gate with 64 <= 256 outputs: MLC's visitor takes it for a MoE router.
  EXPECT_EQ(find(*m, "model.blocks.0.attention.gate.weight")->kind,
            ParamKind::MoEGate);
  EXPECT_EQ(find(*m, "head.weight")->kind, ParamKind::FinalFC);
  EXPECT_EQ(find(*m, "head.weight")->map.source, "head.weight");
  EXPECT_EQ(find(*m, "model.embeddings.weight")->map.source,
            "rwkv.embeddings.weight");
}

TEST(RwkvArchitecturesTest, Rwkv6Layout) {
  nlohmann::json c = rwkvConfig(true);
  c["intermediate_size"] = 100; // ignored: MLC's key has H / 2 * 7 rows
  c["rescale_every"] = 0;       // no rescale
  auto m = buildRwkv("rwkv6", c);
  ASSERT_TRUE(bool(m)) << llvm::toString(m.takeError());
  EXPECT_EQ(find(*m, "model.blocks.0.feed_forward.key.weight")->shape,
            (std::vector<int64_t>{224, 64}));
  const ParamDef *decay = find(*m, "model.blocks.0.attention.time_decay");
  EXPECT_EQ(decay->kind, ParamKind::Float32);
  EXPECT_EQ(decay->map.op, MapExpr::Op::Source);
  EXPECT_EQ(decay->shape, (std::vector<int64_t>{1, 1, 64}));
  EXPECT_EQ(find(*m, "model.blocks.0.attention.time_maa_w2")->shape,
            (std::vector<int64_t>{5, 32, 64}));
  EXPECT_EQ(find(*m, "model.blocks.4.attention.output.weight")->map.op,
            MapExpr::Op::Source);
  // hidden 4096 (7B/14B): the wider LoRAs.
  c["hidden_size"] = 4096;
  c["head_size"] = 64;
  auto big = buildRwkv("rwkv6", c);
  ASSERT_TRUE(bool(big)) << llvm::toString(big.takeError());
  EXPECT_EQ(find(*big, "model.blocks.0.attention.time_maa_w1")->shape,
            (std::vector<int64_t>{4096, 320}));
  EXPECT_EQ(find(*big, "model.blocks.0.attention.time_decay_w2")->shape,
            (std::vector<int64_t>{128, 4096}));
  EXPECT_EQ(find(*big, "model.blocks.0.attention.gate.weight")->kind,
            ParamKind::Linear);
}

TEST(RwkvArchitecturesTest, ConfigErrors) {
  nlohmann::json c = rwkvConfig(false);
  c["model_version"] = "5_1";
  EXPECT_EQ(errorOf(buildRwkv("rwkv5", c)),
            "c.json: Only support RWKV v5_2, got 5_1. (rwkv5)");
  c = rwkvConfig(false);
  c.erase("model_version");
  EXPECT_EQ(errorOf(buildRwkv("rwkv5", c)),
            "c.json: missing required field 'model_version' (rwkv5)");
  c = rwkvConfig(true);
  c["head_size"] = 0;
  EXPECT_EQ(errorOf(buildRwkv("rwkv6", c)),
            "c.json: field 'head_size' must be a positive integer (rwkv6)");
  c = rwkvConfig(true);
  c["head_size"] = 24;
  EXPECT_EQ(errorOf(buildRwkv("rwkv6", c)),
            "c.json: hidden_size (64) must be divisible by head_size (24) "
            "(rwkv6)");
  c = rwkvConfig(true);
  c["num_hidden_layers"] = 18;
  c["rescale_every"] = 1;
  EXPECT_EQ(errorOf(buildRwkv("rwkv6", c)),
            "c.json: rescale_every 1 divides layer 17's weights by 2**17, "
            "which numpy's float16 cannot hold (2**15 at most; the loader's "
            "result would depend on the numpy version) (rwkv6)");
  c["num_hidden_layers"] = 16; // 2**15 for layer 15: accepted
  EXPECT_EQ(errorOf(buildRwkv("rwkv6", c)), "");
  EXPECT_EQ(errorOf(buildRwkv("rwkv5", rwkvConfig(false), 2)),
            "c.json: tensor-parallel-shards 2: rwkv5 cannot be pre-sharded as "
            "MLC defines it: its config refuses tensor_parallel_shards other "
            "than 1 (\"Only support single device at this moment.\")");
}
