//===- WeightSourceTest.cpp - MLC parameters from a checkpoint ------------===//
//
// A hand-written safetensors checkpoint with separate q/k/v and gate/up
// tensors: the fused MLC parameters must be their row concatenations.
//
//===----------------------------------------------------------------------===//

#include "EvalTestUtil.h"

#include "qopt/Eval/WeightSource.h"

#include <gtest/gtest.h>

using namespace qopt::eval;
using namespace qopt::eval::test;

namespace {
std::string f32s(std::initializer_list<float> values) {
  std::string s;
  for (float v : values)
    s += leF32(v);
  return s;
}
} // namespace

TEST(CheckpointWeightSource, FusesLikeMlc) {
  std::string dir = scratchDir("ckpt");
  const std::string p = "model.layers.0.";
  writeSafetensors(
      dir + "/model.safetensors",
      {{p + "self_attn.q_proj.weight", "F32", {2, 2}, f32s({1, 2, 3, 4})},
       {p + "self_attn.k_proj.weight", "F32", {1, 2}, f32s({5, 6})},
       {p + "self_attn.v_proj.weight",
        "F16",
        {1, 2},
        halves({0x4700, 0x4800})}, // 7, 8
       {p + "mlp.gate_proj.weight", "F32", {1, 2}, f32s({-1, -2})},
       {p + "mlp.up_proj.weight",
        "BF16",
        {1, 2},
        halves({0xC040, 0xC080})}, // -3, -4
       {"model.norm.weight", "F16", {2}, halves({0x3C00, 0x3800})}});
  auto source = CheckpointWeightSource::open(dir);
  ASSERT_TRUE(bool(source)) << errorOf(source.takeError());
  auto qkv = (*source)->load(p + "self_attn.qkv_proj.weight", {4, 2});
  ASSERT_TRUE(bool(qkv)) << errorOf(qkv.takeError());
  EXPECT_EQ(*qkv, (std::vector<float>{1, 2, 3, 4, 5, 6, 7, 8}));
  auto gateUp = (*source)->load(p + "mlp.gate_up_proj.weight", {2, 2});
  ASSERT_TRUE(bool(gateUp)) << errorOf(gateUp.takeError());
  EXPECT_EQ(*gateUp, (std::vector<float>{-1, -2, -3, -4}));
  auto norm = (*source)->load("model.norm.weight", {2});
  ASSERT_TRUE(bool(norm)) << errorOf(norm.takeError());
  EXPECT_EQ(*norm, (std::vector<float>{1.0f, 0.5f}));

  EXPECT_EQ(errorOf((*source)->load(p + "self_attn.qkv_proj.weight", {5, 2})),
            dir + ": MLC parameter '" + p +
                "self_attn.qkv_proj.weight' needs shape [5, 2] but its "
                "tensors have [2, 2] + [1, 2] + [1, 2]");
  EXPECT_EQ(errorOf((*source)->load(p + "mlp.gate_up_proj.weight", {2, 3})),
            dir + "/model.safetensors: tensor '" + p +
                "mlp.gate_proj.weight' has shape [1, 2], expected [*, 3] for "
                "MLC parameter '" +
                p + "mlp.gate_up_proj.weight'");
  EXPECT_EQ(errorOf((*source)->load("lm_head.weight", {2, 2})),
            dir + ": missing tensor 'lm_head.weight' (for MLC parameter "
                  "'lm_head.weight')");
}

TEST(CheckpointWeightSource, SourceNames) {
  EXPECT_EQ(
      CheckpointWeightSource::sourceNames(
          "model.layers.3.self_attn.qkv_proj.weight"),
      (std::vector<std::string>{"model.layers.3.self_attn.q_proj.weight",
                                "model.layers.3.self_attn.k_proj.weight",
                                "model.layers.3.self_attn.v_proj.weight"}));
  EXPECT_EQ(CheckpointWeightSource::sourceNames(
                "model.layers.0.mlp.gate_up_proj.weight"),
            (std::vector<std::string>{"model.layers.0.mlp.gate_proj.weight",
                                      "model.layers.0.mlp.up_proj.weight"}));
  EXPECT_EQ(CheckpointWeightSource::sourceNames("model.norm.weight"),
            (std::vector<std::string>{"model.norm.weight"}));
}
