//===- Bert.cpp - BertModel as MLC lays it out -----------------*- C++ -*-===//
//
// mlc-llm python/mlc_llm/model/bert/{bert_model,bert_loader}.py (model type
// bert, the embedding model; MLC's registry uses the loader without a name
// prefix, i.e. BertModel checkpoints as sentence-transformers ship them).
// Per layer, query/key/value (weights and biases) fuse into
// `attention.self.qkv`; every other tensor is copied under its own name:
// the three embeddings (word [V, H], position [context_window_size, H],
// token type [type_vocab_size, H]), the LayerNorms (weight and bias) and the
// dense layers with their biases. The pooler is not part of MLC's model and
// not marked unused (counted, warned about). MLC's BertSelfAttention divides
// its heads over the shards but no parameter has a shard strategy, so
// presharding is refused. bert-bge (`huggingface_bge`) is the same model
// with the pooler and the `embeddings.position_ids` buffer marked unused.
//
//===----------------------------------------------------------------------===//

#include "ArchitectureBuilders.h"
#include "GroupBArchitectures.h"

using namespace qopt::models;

static llvm::Expected<ModelDef> buildBert(const ModelConfig &cfg, int64_t tp,
                                          bool bge) {
  const char *arch = "bert";
  const char *why = "BertSelfAttention holds num_attention_heads / shards "
                    "heads, but no parameter carries a shard strategy, so "
                    "the full HF tensors do not fit a shard";
  // intermediate_size null means 4 x hidden_size. (MLC requires the key;
  // the config attribute of the IR keeps no nulls, so a missing key reads
  // the same here.)
  if (llvm::Error e = cfg.require({"vocab_size", "hidden_size",
                                   "num_hidden_layers", "num_attention_heads",
                                   "hidden_act", "layer_norm_eps"},
                                  arch))
    return std::move(e);
  if (llvm::Error e = build::refusePresharding(cfg, arch, tp, why))
    return std::move(e);
  int64_t ctx = cfg.getInt("context_window_size", 0);
  if (ctx == 0) {
    for (const char *key : {"max_position_embeddings", "max_sequence_length"})
      if (cfg.has(key)) {
        ctx = cfg.getInt(key, 0);
        break;
      }
    if (ctx == 0)
      return build::configError(cfg, "missing required field "
                                     "'max_position_embeddings' (or "
                                     "'max_sequence_length') (bert)");
  }
  int64_t h = cfg.getInt("hidden_size", 0), v = cfg.getInt("vocab_size", 0);
  int64_t layers = cfg.getInt("num_hidden_layers", 0);
  int64_t heads = cfg.getInt("num_attention_heads", 0);
  int64_t inter = cfg.has("intermediate_size")
                      ? cfg.getInt("intermediate_size", 0)
                      : 4 * h;
  int64_t types = cfg.getInt("type_vocab_size", 2);
  for (auto [key, x] : {std::pair{"hidden_size", h}, {"vocab_size", v},
                        {"num_hidden_layers", layers},
                        {"num_attention_heads", heads},
                        {"intermediate_size", inter},
                        {"max_position_embeddings", ctx},
                        {"type_vocab_size", types}})
    if (x <= 0)
      return build::configError(cfg, llvm::Twine("field '") + key +
                                         "' must be a positive integer "
                                         "(bert)");
  int64_t hd = cfg.getInt("head_dim", 0);
  if (hd == 0)
    hd = h / heads;
  if (hd * heads != h)
    return build::configError(cfg, "head_dim " + llvm::Twine(hd) + " x "
                                       "num_attention_heads " +
                                       llvm::Twine(heads) +
                                       " is not hidden_size " +
                                       llvm::Twine(h) + " (bert)");

  ModelDef m = build::startModel(bge ? "bert-bge" : arch,
                                 {"no-quant", "group-quant", "ft-quant"});
  // huggingface_bge: the same mapping, three more names unused.
  if (bge)
    m.unusedSources = {"pooler.dense.weight", "pooler.dense.bias",
                       "embeddings.position_ids"};
  m.preshardRefusal = build::preshardRefusal(arch, why);
  auto copy = [&](const std::string &name, std::vector<int64_t> shape,
                  ParamKind kind) { build::addCopy(m, name, shape, kind); };
  auto layerNorm = [&](const std::string &prefix) {
    copy(prefix + ".LayerNorm.weight", {h}, ParamKind::Norm);
    copy(prefix + ".LayerNorm.bias", {h}, ParamKind::Bias);
  };
  copy("embeddings.word_embeddings.weight", {v, h}, ParamKind::Embedding);
  copy("embeddings.position_embeddings.weight", {ctx, h},
       ParamKind::Embedding);
  copy("embeddings.token_type_embeddings.weight", {types, h},
       ParamKind::Embedding);
  layerNorm("embeddings");
  for (int64_t i = 0; i < layers; ++i) {
    std::string p = "encoder.layer." + std::to_string(i) + ".";
    std::string self = p + "attention.self.";
    for (const char *part : {"weight", "bias"}) {
      std::vector<MapExpr> qkv;
      for (const char *n : {"query", "key", "value"})
        qkv.push_back(MapExpr::src(self + n + "." + part));
      bool weight = std::string(part) == "weight";
      build::addParam(m, self + "qkv." + part,
                      weight ? std::vector<int64_t>{3 * heads * hd, h}
                             : std::vector<int64_t>{3 * heads * hd},
                      weight ? ParamKind::Linear : ParamKind::Bias,
                      MapExpr::concat(std::move(qkv)));
    }
    copy(p + "attention.output.dense.weight", {h, h}, ParamKind::Linear);
    copy(p + "attention.output.dense.bias", {h}, ParamKind::Bias);
    layerNorm(p + "attention.output");
    copy(p + "intermediate.dense.weight", {inter, h}, ParamKind::Linear);
    copy(p + "intermediate.dense.bias", {inter}, ParamKind::Bias);
    copy(p + "output.dense.weight", {h, inter}, ParamKind::Linear);
    copy(p + "output.dense.bias", {h}, ParamKind::Bias);
    layerNorm(p + "output");
  }
  return m;
}

Architecture qopt::models::makeBertArchitecture() {
  return {"bert", {"BertModel"}, {"bert"},
          [](const ModelConfig &c, int64_t tp) { return buildBert(c, tp, false); }};
}

Architecture qopt::models::makeBertBgeArchitecture() {
  return {"bert-bge", {}, {"bert-bge"},
          [](const ModelConfig &c, int64_t tp) { return buildBert(c, tp, true); }};
}
