//===- ArchitectureBuilders.cpp - Shared model-file pieces -----*- C++ -*-===//

#include "ArchitectureBuilders.h"

#include <string>
#include <utility>

using namespace qopt::models;
using namespace qopt::models::build;

llvm::Error build::configError(const ModelConfig &cfg, const llvm::Twine &msg) {
  return llvm::createStringError(llvm::inconvertibleErrorCode(),
                                 cfg.getPath() + ": " + msg);
}

ShardStrategy TransformerDims::qkvShard() const {
  int64_t q = heads / tp * headDim, kv = kvHeads / tp * headDim;
  return ShardStrategy{0, {q, kv, kv}};
}

ShardStrategy TransformerDims::gateUpShard() const {
  return ShardStrategy{0, {intermediate / tp, intermediate / tp}};
}

llvm::Expected<TransformerDims>
build::readDims(const ModelConfig &cfg, llvm::StringRef arch, int64_t tp) {
  TransformerDims d;
  d.tp = tp;
  d.hidden = cfg.getInt("hidden_size", 0);
  d.intermediate = cfg.getInt("intermediate_size", 0);
  d.heads = cfg.getInt("num_attention_heads", 0);
  d.layers = cfg.getInt("num_hidden_layers", 0);
  d.vocab = cfg.getInt("vocab_size", 0);
  d.kvHeads = cfg.getInt("num_key_value_heads", 0);
  if (d.kvHeads == 0)
    d.kvHeads = d.heads;
  for (auto [key, v] : {std::pair{"hidden_size", d.hidden},
                        {"intermediate_size", d.intermediate},
                        {"num_attention_heads", d.heads},
                        {"num_hidden_layers", d.layers},
                        {"vocab_size", d.vocab},
                        {"num_key_value_heads", d.kvHeads}})
    if (v <= 0)
      return configError(cfg, llvm::Twine("field '") + key +
                                  "' must be a positive integer (" + arch +
                                  ")");
  d.headDim = cfg.getInt("head_dim", 0);
  if (d.headDim < 0)
    return configError(cfg, "field 'head_dim' must be a positive integer (" +
                                arch + ")");
  if (d.headDim == 0) {
    auto hd = divide(d.hidden, d.heads,
                     cfg.getPath() + ": hidden_size / num_attention_heads");
    if (!hd)
      return hd.takeError();
    d.headDim = *hd;
  }
  if (d.heads % d.kvHeads != 0)
    return configError(cfg, "num_attention_heads " + llvm::Twine(d.heads) +
                                " is not a multiple of num_key_value_heads " +
                                llvm::Twine(d.kvHeads));
  for (const auto &[what, v] : d.shardDivisors())
    if (auto q = divide(v, tp, "tensor-parallel-shards: " + what);
        !q)
      return q.takeError();
  return d;
}

llvm::Error build::requireContextWindow(const ModelConfig &cfg,
                                        llvm::StringRef arch) {
  for (const char *key : {"context_window_size", "max_position_embeddings",
                          "max_sequence_length"})
    if (cfg.getInt(key, 0) > 0)
      return llvm::Error::success();
  return configError(cfg, "missing required field 'max_position_embeddings' "
                          "(or 'max_sequence_length') (" +
                              arch + ")");
}

llvm::Error build::requireRopeTheta(const ModelConfig &cfg,
                                    llvm::StringRef arch) {
  if (cfg.has("rope_theta"))
    return llvm::Error::success();
  const nlohmann::json &raw = cfg.raw();
  if (auto it = raw.find("rope_parameters");
      it != raw.end() && it->is_object() && it->contains("rope_theta") &&
      !(*it)["rope_theta"].is_null())
    return llvm::Error::success();
  return configError(cfg, "missing required field 'rope_theta' (" + arch + ")");
}

ModelDef build::startModel(llvm::StringRef arch,
                           std::initializer_list<const char *> kinds) {
  ModelDef m;
  m.arch = arch.str();
  for (const char *k : kinds)
    m.quantizationKinds.emplace_back(k);
  return m;
}

void build::addParam(ModelDef &m, std::string name, std::vector<int64_t> shape,
                     ParamKind kind, MapExpr map,
                     std::optional<ShardStrategy> shard) {
  m.params.push_back({std::move(name), std::move(shape), kind, std::move(map),
                      std::move(shard)});
}

void build::addCopy(ModelDef &m, const std::string &name,
                    std::vector<int64_t> shape, ParamKind kind,
                    std::optional<ShardStrategy> shard) {
  addParam(m, name, std::move(shape), kind, MapExpr::src(name),
           std::move(shard));
}

MapExpr build::normWeight(std::string source, bool plusOne) {
  MapExpr e = MapExpr::src(std::move(source));
  return plusOne ? MapExpr::addConstant(std::move(e), 1.0) : e;
}

void build::addUnusedPerLayer(ModelDef &m, int64_t layers,
                              llvm::StringRef rest) {
  for (int64_t i = 0; i < layers; ++i)
    m.unusedSources.push_back(layer(i, rest));
}

void build::addFusedAttention(ModelDef &m, const TransformerDims &d, int64_t i,
                              const AttentionOptions &o) {
  auto hf = [&](llvm::StringRef rest) { return MapExpr::src(layer(i, rest)); };
  std::string fused = "self_attn." + o.fusedName;
  addParam(m, layer(i, fused + ".weight"), {d.qkvRows(), d.hidden},
           ParamKind::Linear,
           MapExpr::concat({hf("self_attn.q_proj.weight"),
                            hf("self_attn.k_proj.weight"),
                            hf("self_attn.v_proj.weight")}),
           d.qkvShard());
  if (o.qkvBias)
    addParam(m, layer(i, fused + ".bias"), {d.qkvRows()}, ParamKind::Bias,
             MapExpr::concat({hf("self_attn.q_proj.bias"),
                              hf("self_attn.k_proj.bias"),
                              hf("self_attn.v_proj.bias")}),
             d.qkvShard());
  addCopy(m, layer(i, "self_attn.o_proj.weight"),
          {d.hidden, d.heads * d.headDim}, ParamKind::Linear,
          ShardStrategy{1, {}});
  if (o.outBias)
    addCopy(m, layer(i, "self_attn.o_proj.bias"), {d.hidden}, ParamKind::Bias);
}

void build::addGatedMLP(ModelDef &m, const TransformerDims &d, int64_t i) {
  addParam(m, layer(i, "mlp.gate_up_proj.weight"),
           {2 * d.intermediate, d.hidden}, ParamKind::Linear,
           MapExpr::concat({MapExpr::src(layer(i, "mlp.gate_proj.weight")),
                            MapExpr::src(layer(i, "mlp.up_proj.weight"))}),
           d.gateUpShard());
  addCopy(m, layer(i, "mlp.down_proj.weight"), {d.hidden, d.intermediate},
          ParamKind::Linear, ShardStrategy{1, {}});
}

void build::addLayerNorms(ModelDef &m, const TransformerDims &d, int64_t i,
                          std::initializer_list<const char *> names,
                          bool plusOne) {
  for (const char *n : names) {
    std::string name = layer(i, std::string(n) + ".weight");
    addParam(m, name, {d.hidden}, ParamKind::Norm, normWeight(name, plusOne));
  }
}

void build::addLlamaLayer(ModelDef &m, const TransformerDims &d, int64_t i,
                          const AttentionOptions &o, bool normPlusOne) {
  addFusedAttention(m, d, i, o);
  addGatedMLP(m, d, i);
  addLayerNorms(m, d, i, {"input_layernorm", "post_attention_layernorm"},
                normPlusOne);
}

void build::addEmbedTokens(ModelDef &m, const TransformerDims &d,
                           bool symbolicVocab) {
  addCopy(m, "model.embed_tokens.weight",
          {symbolicVocab ? int64_t(-1) : d.vocab, d.hidden},
          ParamKind::Embedding);
}

void build::addFinalNormAndHead(ModelDef &m, const TransformerDims &d,
                                bool tied, bool normPlusOne) {
  addParam(m, "model.norm.weight", {d.hidden}, ParamKind::Norm,
           normWeight("model.norm.weight", normPlusOne));
  if (!tied)
    addCopy(m, "lm_head.weight", {d.vocab, d.hidden}, ParamKind::FinalFC);
}

ParamKind build::routerKind(int64_t outFeatures, bool float32Out) {
  constexpr int64_t MaxMoEGateOutputs = 256;
  if (outFeatures <= MaxMoEGateOutputs)
    return float32Out ? ParamKind::Float32OutMoEGate : ParamKind::MoEGate;
  return float32Out ? ParamKind::Float32OutLinear : ParamKind::Linear;
}

void build::addLayerNormWithBias(ModelDef &m, const TransformerDims &d,
                                 int64_t i, llvm::StringRef name) {
  addCopy(m, layer(i, name.str() + ".weight"), {d.hidden}, ParamKind::Norm);
  addCopy(m, layer(i, name.str() + ".bias"), {d.hidden}, ParamKind::Bias);
}

void build::addStackedExperts(ModelDef &m, const TransformerDims &d,
                              const StackedExperts &e) {
  // One pattern per stacked parameter, instantiated per expert `{}`.
  std::string expert = e.hfExperts + ".{}.";
  MapExpr gateUp = MapExpr::concat({MapExpr::src(expert + e.gate + ".weight"),
                                    MapExpr::src(expert + e.up + ".weight")});
  int64_t f = e.ffn / d.tp;
  addParam(m, e.mlcGateUp, {e.experts, 2 * e.ffn, d.hidden},
           ParamKind::Experts, MapExpr::stackEach(std::move(gateUp), e.experts),
           ShardStrategy{1, {f, f}});
  addParam(m, e.mlcDown, {e.experts, d.hidden, e.ffn}, ParamKind::Experts,
           MapExpr::stackEach(MapExpr::src(expert + e.down + ".weight"),
                              e.experts),
           ShardStrategy{2, {}});
}

llvm::Error build::refusePresharding(const ModelConfig &cfg,
                                     llvm::StringRef arch, int64_t tp,
                                     const llvm::Twine &why) {
  if (tp == 1)
    return llvm::Error::success();
  return configError(cfg, "tensor-parallel-shards " + llvm::Twine(tp) +
                              ": " + preshardRefusal(arch, why));
}

std::string build::preshardRefusal(llvm::StringRef arch,
                                   const llvm::Twine &why) {
  return (arch + " cannot be pre-sharded as MLC defines it: " + why).str();
}

llvm::Expected<int64_t> build::positiveInt(const ModelConfig &cfg,
                                           llvm::StringRef key,
                                           llvm::StringRef arch) {
  int64_t v = cfg.getInt(key, 0);
  if (v <= 0)
    return configError(cfg, "field '" + key + "' must be a positive integer (" +
                                arch + ")");
  return v;
}

llvm::Error build::refuseFp8Checkpoint(const ModelConfig &cfg,
                                       llvm::StringRef arch) {
  if (!cfg.has("quantization_config"))
    return llvm::Error::success();
  // FP8 blocks (DeepSeek-V3, Qwen3-FP8) are read by qopt-map-parameters:
  // kept by the block-scale modes, dequantized for the others.
  const nlohmann::json &q = cfg.raw()["quantization_config"];
  if (q.is_object() && q.value("quant_method", "") == "fp8")
    return llvm::Error::success();
  return configError(cfg, "the checkpoint is quantized (quantization_config) "
                          "other than to FP8 blocks, which MLC does not "
                          "convert (" +
                              arch + ")");
}

llvm::Expected<build::TransformerDims>
build::readDecoderConfig(const ModelConfig &cfg, llvm::StringRef arch,
                         int64_t tp, llvm::ArrayRef<llvm::StringRef> fields,
                         bool needsRope) {
  if (llvm::Error e = cfg.require(fields, arch))
    return std::move(e);
  if (needsRope)
    if (llvm::Error e = requireRopeTheta(cfg, arch))
      return std::move(e);
  if (llvm::Error e = requireContextWindow(cfg, arch))
    return std::move(e);
  return readDims(cfg, arch, tp);
}

// Issue 16, group A.
MapExpr build::rowBlocks(const std::string &src, int64_t cols, bool oneD,
                         llvm::ArrayRef<std::pair<int64_t, int64_t>> blocks) {
  std::vector<MapExpr> parts;
  for (auto [start, count] : blocks)
    parts.push_back(oneD ? MapExpr::view(src, start, {count}, {1})
                         : MapExpr::view(src, start * cols, {count, cols},
                                         {cols, 1}));
  return MapExpr::concat(std::move(parts));
}
