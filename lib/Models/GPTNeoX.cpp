//===- GPTNeoX.cpp - GPTNeoXForCausalLM as MLC lays it out -----*- C++ -*-===//
//
// mlc-llm python/mlc_llm/model/gpt_neox/{gpt_neox_model,gpt_neox_loader}.py.
// Every tensor is copied under its transformers name (`gpt_neox.` included)
// except that `attention.query_key_value` (weight and bias), stored per head
// as [q, k, v] ([heads, 3, d, ...]), is re-laid out as [all q; all k; all v]
// (the loader's transform_qkv_layout): here a concatenation of contiguous
// row blocks of the one tensor (build::rowBlocks). The MLP's Linears are
// declared with out_dtype float32 (ffn_out_dtype), so Module.to leaves
// their biases in float32 in every mode (ParamKind::Float32Bias), and
// q4f16_ft group-quantizes their weights (ParamKind::Float32OutLinear).
// `embed_in` and `embed_out` have a symbolic vocabulary; `embed_out` is a
// final FC for MLC's quantizer. The attention's rotary_emb.inv_freq,
// masked_bias and bias buffers are unused.
//
//===----------------------------------------------------------------------===//

#include "ArchitectureBuilders.h"

using namespace qopt::models;
using build::layer;

static llvm::Expected<ModelDef> buildGPTNeoX(const ModelConfig &cfg,
                                             int64_t tp) {
  const char *arch = "gpt_neox";
  if (llvm::Error e = cfg.require(
          {"use_parallel_residual", "hidden_size", "intermediate_size",
           "num_attention_heads", "num_hidden_layers", "layer_norm_eps",
           "vocab_size"},
          arch))
    return std::move(e);
  // transformers 5 keeps rotary_pct as rope_parameters.partial_rotary_factor.
  const nlohmann::json &raw = cfg.raw();
  auto rope = raw.find("rope_parameters");
  if (!cfg.has("rotary_pct") &&
      !(rope != raw.end() && rope->is_object() &&
        rope->contains("partial_rotary_factor")))
    return build::configError(cfg, "missing required field 'rotary_pct' (or "
                                   "rope_parameters.partial_rotary_factor) "
                                   "(gpt_neox)");
  if (cfg.getString("ffn_out_dtype", "float32") != "float32")
    return build::configError(cfg, "ffn_out_dtype other than float32 is not "
                                   "supported (gpt_neox)");
  if (llvm::Error e = build::requireContextWindow(cfg, arch))
    return std::move(e);
  llvm::Expected<build::TransformerDims> d = build::readDims(cfg, arch, tp);
  if (!d)
    return d.takeError();
  d->kvHeads = d->heads;
  int64_t h = d->hidden, hd = d->headDim, nh = d->heads, inter = d->intermediate;
  if (hd * nh != h)
    return build::configError(cfg, "head_dim x num_attention_heads must equal "
                                   "hidden_size (gpt_neox)");

  ModelDef m = build::startModel(arch, {"no-quant", "group-quant", "ft-quant"});
  m.shardDivisors = {{"num_attention_heads", nh}, {"intermediate_size", inter}};
  auto copy = [&](const std::string &name, std::vector<int64_t> shape,
                  ParamKind kind, std::optional<ShardStrategy> shard = {}) {
    build::addCopy(m, name, std::move(shape), kind, std::move(shard));
  };
  // transform_qkv_layout: rows [head, part, j] -> [part, head, j].
  std::vector<std::pair<int64_t, int64_t>> blocks;
  for (int64_t part = 0; part < 3; ++part)
    for (int64_t head = 0; head < nh; ++head)
      blocks.push_back({(3 * head + part) * hd, hd});
  copy("gpt_neox.embed_in.weight", {-1, h}, ParamKind::Embedding);
  for (int64_t i = 0; i < d->layers; ++i) {
    auto n = [&](llvm::StringRef rest) {
      return layer(i, rest, "gpt_neox.layers.");
    };
    std::string qkv = n("attention.query_key_value.");
    build::addParam(m, qkv + "weight", {3 * h, h}, ParamKind::Linear,
                    build::rowBlocks(qkv + "weight", h, /*oneD=*/false, blocks),
                    d->qkvShard());
    build::addParam(m, qkv + "bias", {3 * h}, ParamKind::Bias,
                    build::rowBlocks(qkv + "bias", 1, /*oneD=*/true, blocks),
                    d->qkvShard());
    for (const char *ln : {"input_layernorm", "post_attention_layernorm"}) {
      copy(n(std::string(ln) + ".weight"), {h}, ParamKind::Norm);
      copy(n(std::string(ln) + ".bias"), {h}, ParamKind::Bias);
    }
    copy(n("attention.dense.weight"), {h, h}, ParamKind::Linear,
         ShardStrategy{1, {}});
    copy(n("attention.dense.bias"), {h}, ParamKind::Bias);
    copy(n("mlp.dense_h_to_4h.weight"), {inter, h}, ParamKind::Float32OutLinear,
         ShardStrategy{0, {}});
    copy(n("mlp.dense_h_to_4h.bias"), {inter}, ParamKind::Float32Bias,
         ShardStrategy{0, {}});
    copy(n("mlp.dense_4h_to_h.weight"), {h, inter}, ParamKind::Float32OutLinear,
         ShardStrategy{1, {}});
    copy(n("mlp.dense_4h_to_h.bias"), {h}, ParamKind::Float32Bias);
    for (const char *unused : {"rotary_emb.inv_freq", "masked_bias", "bias"})
      m.unusedSources.push_back(n(std::string("attention.") + unused));
  }
  copy("gpt_neox.final_layer_norm.weight", {h}, ParamKind::Norm);
  copy("gpt_neox.final_layer_norm.bias", {h}, ParamKind::Bias);
  copy("embed_out.weight", {-1, h}, ParamKind::FinalFC);
  return m;
}

Architecture qopt::models::makeGPTNeoXArchitecture() {
  return {"gpt_neox", {"GPTNeoXForCausalLM"}, {"gpt_neox"}, buildGPTNeoX};
}
