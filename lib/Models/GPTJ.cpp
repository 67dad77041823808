//===- GPTJ.cpp - GPTJForCausalLM as MLC's model lays it out ----*- C++ -*-===//
//
// mlc-llm python/mlc_llm/model/gpt_j/{gpt_j_model,gpt_j_loader}.py. MLC's
// own converter fails for GPT-J: its loader (make_standard_hf_loader with
// layer_prefix `transformer.h`, qkv_target_name `c_attn`) builds the names
// `transformer.h.L.self_attn.{c_attn,q_proj,k_proj,v_proj}`, while both
// GPTJForCausalLM (its model) and transformers' GPT-J call the attention
// `attn`, so `mlc_llm convert_weight` stops with a KeyError. quant-opt writes
// the parameters the compiled model loads instead, as that loader would with
// its names pointing at `attn`: `transformer.h.L.attn.c_attn.weight` =
// concat(attn.q_proj, attn.k_proj, attn.v_proj) on axis 0 and every other
// parameter of the model copied from the tensor of its name
// (`transformer.wte`, `h.L.ln_1`, `attn.out_proj`, `mlp.fc_in` / `fc_out`
// with biases, `transformer.ln_f`, `lm_head` with its bias), each in the
// model dtype: `lm_head`'s declared float32 does not survive Module.to,
// and it is a final FC for MLC's quantizer. Nothing is marked unused (the
// loader adds no unused names), so the attention's `bias` / `masked_bias`
// buffers of older checkpoints are counted and warned about.
// Pre-sharding is refused: GPTJAttention keeps c_attn at 3 x n_embd rows
// and GPTJMLP fc_in / fc_out at the full inner size for any shard count,
// while their shard strategies split them (docs/architectures.md).
//
//===----------------------------------------------------------------------===//

#include "ArchitectureBuilders.h"

using namespace qopt::models;
using build::layer;

/// GPTJConfig's required fields and __post_init__: n_inner (None as 4 x
/// n_embd), head_dim = n_embd // n_head (asserted exact), a
/// context window from context_window_size, max_position_embeddings or
/// n_positions, and an activation its ACT2FN has.
static llvm::Expected<ModelDef> buildGPTJ(const ModelConfig &cfg, int64_t) {
  const char *arch = "gptj";
  if (llvm::Error e = cfg.require({"vocab_size", "n_embd", "n_layer", "n_head",
                                   "layer_norm_epsilon", "rotary_dim",
                                   "activation_function"},
                                  arch))
    return std::move(e);
  int64_t vocab = cfg.getInt("vocab_size", 0), h = cfg.getInt("n_embd", 0);
  int64_t layers = cfg.getInt("n_layer", 0), heads = cfg.getInt("n_head", 0);
  for (auto [key, v] : {std::pair{"vocab_size", vocab},
                        {"n_embd", h},
                        {"n_layer", layers},
                        {"n_head", heads}})
    if (v <= 0 || v > ConfigLimits::kMaxDim)
      return build::configError(cfg, llvm::Twine("field '") + key +
                                         "' must be a positive integer "
                                         "(gptj)");
  // n_inner: null (GPTJConfig's to_dict writes it so) means 4 x n_embd.
  // MLC's dataclass default for a missing key, -1, would fail; the IR keeps
  // no nulls, so a missing key reads as null here.
  int64_t inner = cfg.has("n_inner") ? cfg.getInt("n_inner", 0) : 4 * h;
  if (inner <= 0 || inner > ConfigLimits::kMaxDim)
    return build::configError(cfg, "field 'n_inner' must be null or a "
                                   "positive integer (gptj)");
  int64_t headDim = cfg.getInt("head_dim", 0);
  if (headDim == 0)
    headDim = h / heads;
  if (headDim * heads != h)
    return build::configError(cfg, "head_dim x n_head must equal n_embd, as "
                                   "MLC's GPTJConfig asserts (gptj)");
  if (!cfg.has("context_window_size") &&
      !cfg.has("max_position_embeddings") && !cfg.has("n_positions"))
    return build::configError(cfg, "missing required field 'n_positions' (or "
                                   "'max_position_embeddings') (gptj)");
  std::string act = cfg.getString("activation_function", "");
  if (!llvm::is_contained({"gelu", "relu", "silu", "swish", "gelu_new"}, act))
    return build::configError(cfg, "activation_function '" + act +
                                       "' is not one MLC's GPTJMLP has "
                                       "(gelu, relu, silu, swish, gelu_new) "
                                       "(gptj)");

  ModelDef m = build::startModel(arch, {"no-quant", "group-quant", "ft-quant"});
  m.preshardRefusal = build::preshardRefusal(
      arch, "GPTJAttention's c_attn keeps 3 x n_embd rows and GPTJMLP's "
            "fc_in / fc_out the full inner size for any shard count, while "
            "their ShardSingleDim strategies split them (c_attn's segments "
            "[q, k, v] of n_head / shards heads add up to 3 x n_embd / shards "
            "rows, which ShardSingleDim asserts to be the parameter's)");
  auto copy = [&](const std::string &name, std::vector<int64_t> shape,
                  ParamKind kind) { build::addCopy(m, name, std::move(shape), kind); };
  copy("transformer.wte.weight", {vocab, h}, ParamKind::Embedding);
  for (int64_t i = 0; i < layers; ++i) {
    auto n = [&](llvm::StringRef rest) {
      return layer(i, rest, "transformer.h.");
    };
    copy(n("ln_1.weight"), {h}, ParamKind::Norm);
    copy(n("ln_1.bias"), {h}, ParamKind::Bias);
    std::vector<MapExpr> qkv;
    for (const char *p : {"attn.q_proj.weight", "attn.k_proj.weight",
                          "attn.v_proj.weight"})
      qkv.push_back(MapExpr::src(n(p)));
    build::addParam(m, n("attn.c_attn.weight"), {3 * h, h}, ParamKind::Linear,
                    MapExpr::concat(std::move(qkv)));
    copy(n("attn.out_proj.weight"), {h, h}, ParamKind::Linear);
    copy(n("mlp.fc_in.weight"), {inner, h}, ParamKind::Linear);
    copy(n("mlp.fc_in.bias"), {inner}, ParamKind::Bias);
    copy(n("mlp.fc_out.weight"), {h, inner}, ParamKind::Linear);
    copy(n("mlp.fc_out.bias"), {h}, ParamKind::Bias);
  }
  copy("transformer.ln_f.weight", {h}, ParamKind::Norm);
  copy("transformer.ln_f.bias", {h}, ParamKind::Bias);
  copy("lm_head.weight", {vocab, h}, ParamKind::FinalFC);
  copy("lm_head.bias", {vocab}, ParamKind::Bias);
  return m;
}

Architecture qopt::models::makeGPTJArchitecture() {
  return {"gptj", {"GPTJForCausalLM"}, {"gptj"}, buildGPTJ};
}
