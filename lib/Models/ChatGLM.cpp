//===- ChatGLM.cpp - ChatGLM3 / GLM-4 as MLC lays them out ------*- C++ -*-===//
//
// mlc-llm python/mlc_llm/model/chatglm3/{chatglm3_model,chatglm3_loader}.py
// (model type `chatglm`): every tensor copied under its remote-code name but
// the embedding, `transformer.embedding.word_embeddings.weight` ->
// `transformer.embedding.weight`. Per layer under `transformer.encoder.
// layers.L.`: RMSNorms, `self_attention.query_key_value` [(nq + 2 nkv) d, H]
// (nkv = multi_query_group_num with multi_query_attention; bias with
// add_bias_linear or add_qkv_bias), `self_attention.dense`, the fused
// `mlp.dense_h_to_4h` [2F, H] (sharded as one segment) and
// `mlp.dense_4h_to_h`, with biases when add_bias_linear; the final norm
// with post_layer_norm (a LayerNorm with bias unless rmsnorm);
// `transformer.output_layer`. The vocabulary is vocab_size or
// padded_vocab_size. MLC's chatglm takes no FasterTransformer modes.
//
//===----------------------------------------------------------------------===//

#include "ArchitectureBuilders.h"

using namespace qopt::models;
using build::layer;

static const char *const kBiasRefusal =
    "with add_bias_linear, its self_attention.dense.bias [hidden] carries "
    "ShardSingleDim(0), which needs hidden x shards elements in the "
    "checkpoint, and mlp.dense_4h_to_h.bias [hidden] ShardSingleDim(1), a "
    "dimension it does not have";

static llvm::Expected<ModelDef> buildChatGLM(const ModelConfig &cfg,
                                             int64_t tp) {
  const char *arch = "chatglm";
  if (llvm::Error e = cfg.require(
          {"hidden_size", "num_layers", "kv_channels", "num_attention_heads",
           "ffn_hidden_size", "layernorm_epsilon", "post_layer_norm",
           "rmsnorm", "add_bias_linear", "add_qkv_bias",
           "apply_query_key_layer_scaling", "multi_query_attention",
           "multi_query_group_num"},
          arch))
    return std::move(e);
  if (cfg.getInt("context_window_size", 0) <= 0 &&
      cfg.getInt("max_position_embeddings", 0) <= 0 &&
      cfg.getInt("seq_length", 0) <= 0)
    return build::configError(cfg, "missing required field 'seq_length' (or "
                                   "'max_position_embeddings') (chatglm)");
  bool linearBias = cfg.getBool("add_bias_linear", false);
  bool qkvBias = linearBias || cfg.getBool("add_qkv_bias", false);
  if (linearBias)
    if (llvm::Error e = build::refusePresharding(cfg, arch, tp, kBiasRefusal))
      return std::move(e);
  build::TransformerDims d;
  d.tp = tp;
  d.hidden = cfg.getInt("hidden_size", 0);
  d.intermediate = cfg.getInt("ffn_hidden_size", 0);
  d.heads = cfg.getInt("num_attention_heads", 0);
  d.layers = cfg.getInt("num_layers", 0);
  d.vocab = cfg.getInt("vocab_size", 0);
  if (d.vocab == 0)
    d.vocab = cfg.getInt("padded_vocab_size", 0);
  bool mqa = cfg.getBool("multi_query_attention", false);
  d.kvHeads = mqa ? cfg.getInt("multi_query_group_num", 0) : d.heads;
  for (auto [key, v] : {std::pair{"hidden_size", d.hidden},
                        {"ffn_hidden_size", d.intermediate},
                        {"num_attention_heads", d.heads},
                        {"num_layers", d.layers},
                        {"padded_vocab_size", d.vocab},
                        {"multi_query_group_num", d.kvHeads}})
    if (v <= 0 || v > ConfigLimits::kMaxDim)
      return build::configError(cfg, llvm::Twine("field '") + key +
                                         "' must be a positive integer "
                                         "(chatglm)");
  d.headDim = cfg.getInt("head_dim", 0);
  if (d.headDim == 0)
    d.headDim = d.hidden / d.heads;
  if (d.headDim * d.heads != d.hidden)
    return build::configError(cfg, "head_dim x num_attention_heads must equal "
                                   "hidden_size (chatglm)");
  std::vector<std::pair<std::string, int64_t>> divisors = {
      {"num_attention_heads", d.heads},
      {mqa ? "multi_query_group_num" : "num_attention_heads", d.kvHeads},
      {"ffn_hidden_size", d.intermediate}};
  for (const auto &[what, v] : divisors)
    if (auto q = build::divide(v, tp, "tensor-parallel-shards: " + what); !q)
      return q.takeError();
  int64_t h = d.hidden, f = d.intermediate;

  ModelDef m = build::startModel(arch, {"no-quant", "group-quant"});
  if (linearBias)
    m.preshardRefusal = build::preshardRefusal(arch, kBiasRefusal);
  m.shardDivisors = divisors;
  auto copy = [&](const std::string &name, std::vector<int64_t> shape,
                  ParamKind kind, std::optional<ShardStrategy> shard = {}) {
    build::addCopy(m, name, std::move(shape), kind, std::move(shard));
  };
  build::addParam(m, "transformer.embedding.weight", {d.vocab, h},
                  ParamKind::Embedding,
                  MapExpr::src("transformer.embedding.word_embeddings.weight"));
  for (int64_t i = 0; i < d.layers; ++i) {
    auto n = [&](llvm::StringRef rest) {
      return layer(i, rest, "transformer.encoder.layers.");
    };
    copy(n("input_layernorm.weight"), {h}, ParamKind::Norm);
    copy(n("self_attention.query_key_value.weight"), {d.qkvRows(), h},
         ParamKind::Linear, d.qkvShard());
    if (qkvBias)
      copy(n("self_attention.query_key_value.bias"), {d.qkvRows()},
           ParamKind::Bias, d.qkvShard());
    copy(n("self_attention.dense.weight"), {h, d.heads * d.headDim},
         ParamKind::Linear, ShardStrategy{1, {}});
    if (linearBias)
      copy(n("self_attention.dense.bias"), {h}, ParamKind::Bias);
    copy(n("mlp.dense_h_to_4h.weight"), {2 * f, h}, ParamKind::Linear,
         ShardStrategy{0, {}});
    if (linearBias)
      copy(n("mlp.dense_h_to_4h.bias"), {2 * f}, ParamKind::Bias);
    copy(n("mlp.dense_4h_to_h.weight"), {h, f}, ParamKind::Linear,
         ShardStrategy{1, {}});
    if (linearBias)
      copy(n("mlp.dense_4h_to_h.bias"), {h}, ParamKind::Bias);
    copy(n("post_attention_layernorm.weight"), {h}, ParamKind::Norm);
  }
  if (cfg.getBool("post_layer_norm", false)) {
    copy("transformer.encoder.final_layernorm.weight", {h}, ParamKind::Norm);
    if (!cfg.getBool("rmsnorm", false))
      copy("transformer.encoder.final_layernorm.bias", {h}, ParamKind::Bias);
  }
  copy("transformer.output_layer.weight", {d.vocab, h}, ParamKind::Linear);
  return m;
}

Architecture qopt::models::makeChatGLMArchitecture() {
  return {"chatglm",
          {"ChatGLMModel", "ChatGLMForConditionalGeneration"},
          {"chatglm"},
          buildChatGLM};
}
