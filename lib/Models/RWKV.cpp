//===- RWKV.cpp - RWKV5 and RWKV6 as MLC lays them out ---------*- C++ -*-===//
//
// mlc-llm python/mlc_llm/model/rwkv5/{rwkv5_model,rwkv5_loader}.py and
// rwkv6/{rwkv6_model,rwkv6_loader}.py. MLC's names are the Hugging Face ones
// (RWKV/rwkv-5-world-*, RWKV/v6-Finch-*-HF) with `model.` for `rwkv.`
// (`head.weight` stays). Layer 0 alone has `pre_ln`. The attention's
// Module.to keeps time_decay, time_faaaa and ln_x (a GroupNorm) in float32
// in every mode (ParamKind::Float32); every nn.Linear is quantized except
// the attention's `gate` where MLC's visitor takes it for a MoE router (at
// most 256 outputs) and `head` unless the mode quantizes the final fc.
// The loader converts each tensor to its parameter's dtype and then
//  - rwkv5 only: time_decay = exp(-exp(time_decay)) in float32 (numpy),
//  - with rescale_every R > 0: divides layer i's attention.output.weight and
//    feed_forward.value.weight by 2**(i // R) in the model dtype.
// rwkv5's FFN key has intermediate_size rows (or int(3.5 H) // 32 * 32),
// rwkv6's H // 2 * 7 whatever the config says. Both configs refuse
// tensor_parallel_shards other than 1, so presharding is refused.
//
//===----------------------------------------------------------------------===//

#include "ArchitectureBuilders.h"
#include "RemainingArchitectures.h"

#include <utility>

using namespace qopt::models;

namespace {
struct RwkvDims {
  int64_t hidden = 0, layers = 0, vocab = 0, heads = 0, headSize = 0;
  int64_t ffn = 0, rescaleEvery = 0;
};
} // namespace

static constexpr const char *kSingleDevice =
    "its config refuses tensor_parallel_shards other than 1 (\"Only support "
    "single device at this moment.\")";

/// RWKV5Config / RWKV6Config: required fields, model_version, heads.
static llvm::Expected<RwkvDims> readRwkvConfig(const ModelConfig &cfg,
                                               llvm::StringRef arch, int64_t tp,
                                               bool v6) {
  if (llvm::Error e = cfg.require(
          {"hidden_size", "num_hidden_layers", "vocab_size"}, arch))
    return std::move(e);
  // intermediate_size (no default in MLC's dataclass) may be null, as the
  // Hub's RWKV5 configs write it; like every null field it reads as absent.
  if (!v6 && !cfg.has("model_version"))
    return build::configError(cfg, "missing required field 'model_version' (" +
                                       arch + ")");
  std::string version = cfg.getString("model_version", v6 ? "6_0" : "5_2");
  if (version != (v6 ? "6_0" : "5_2"))
    return build::configError(cfg, std::string("Only support RWKV ") +
                                       (v6 ? "v6_0" : "v5_2") + ", got " +
                                       version + ". (" + arch + ")");
  if (llvm::Error e = build::refusePresharding(cfg, arch, tp, kSingleDevice))
    return std::move(e);
  RwkvDims d;
  d.hidden = cfg.getInt("hidden_size", 0);
  d.layers = cfg.getInt("num_hidden_layers", 0);
  d.vocab = cfg.getInt("vocab_size", 0);
  d.headSize = cfg.getInt("head_size", 64);
  d.heads = cfg.getInt("num_heads", 0);
  for (auto [key, v] : {std::pair<const char *, int64_t>{"hidden_size", d.hidden},
                        {"num_hidden_layers", d.layers},
                        {"vocab_size", d.vocab},
                        {"head_size", d.headSize}})
    if (v <= 0)
      return build::configError(cfg, "field '" + llvm::Twine(key) +
                                         "' must be a positive integer (" +
                                         arch + ")");
  if (d.heads == 0)
    d.heads = d.hidden / d.headSize;
  if (d.heads * d.headSize != d.hidden)
    return build::configError(
        cfg, "hidden_size (" + llvm::Twine(d.hidden) +
                 ") must be divisible by head_size (" +
                 llvm::Twine(d.headSize) + ") (" + arch + ")");
  int64_t inter = cfg.getInt("intermediate_size", 0);
  d.ffn = v6 ? d.hidden / 2 * 7
             : (inter ? inter : int64_t(double(d.hidden) * 3.5) / 32 * 32);
  d.rescaleEvery = cfg.getInt("rescale_every", 0);
  if (d.rescaleEvery > 0 && (d.layers - 1) / d.rescaleEvery > 15)
    return build::configError(
        cfg, "rescale_every " + llvm::Twine(d.rescaleEvery) + " divides layer " +
                 llvm::Twine(d.layers - 1) + "'s weights by 2**" +
                 llvm::Twine((d.layers - 1) / d.rescaleEvery) +
                 ", which numpy's float16 cannot hold (2**15 at most; the "
                 "loader's result would depend on the numpy version) (" +
                 arch + ")");
  return d;
}

static llvm::Expected<ModelDef> buildRwkv(const ModelConfig &cfg, int64_t tp,
                                          bool v6) {
  const char *arch = v6 ? "rwkv6" : "rwkv5";
  llvm::Expected<RwkvDims> dims = readRwkvConfig(cfg, arch, tp, v6);
  if (!dims)
    return dims.takeError();
  const RwkvDims &d = *dims;
  int64_t h = d.hidden;
  ModelDef m = v6 ? build::startModel(arch, {"no-quant", "group-quant"})
                  : build::startModel(arch, {"no-quant", "group-quant",
                                             "ft-quant"});
  m.preshardRefusal = build::preshardRefusal(arch, kSingleDevice);
  // MLC name -> HF name: the loader's `mlc_name.replace("model", "rwkv")`.
  auto hf = [](const std::string &mlc) {
    return mlc.rfind("model.", 0) == 0 ? "rwkv." + mlc.substr(6) : mlc;
  };
  auto add = [&](const std::string &name, std::vector<int64_t> shape,
                 ParamKind kind) {
    build::addParam(m, name, std::move(shape), kind, MapExpr::src(hf(name)));
  };
  auto layerNorm = [&](const std::string &name) {
    add(name + ".weight", {h}, ParamKind::Norm);
    add(name + ".bias", {h}, ParamKind::Bias);
  };
  // x.astype(dtype) / 2**(i // rescale_every).
  auto rescaled = [&](const std::string &name, std::vector<int64_t> shape,
                      int64_t layer) {
    MapExpr e = MapExpr::src(hf(name));
    if (d.rescaleEvery > 0)
      e = MapExpr::dividePow2(std::move(e), layer / d.rescaleEvery);
    build::addParam(m, name, std::move(shape), ParamKind::Linear, std::move(e));
  };
  // RWKV v6 7B/14B (hidden 4096) use wider time-mix and decay LoRAs.
  int64_t mixDim = h == 4096 ? 64 : 32, decayDim = h == 4096 ? 128 : 64;

  add("model.embeddings.weight", {d.vocab, h}, ParamKind::Embedding);
  for (int64_t i = 0; i < d.layers; ++i) {
    std::string p = "model.blocks." + std::to_string(i) + ".";
    if (i == 0)
      layerNorm(p + "pre_ln");
    layerNorm(p + "ln1");
    layerNorm(p + "ln2");
    std::string at = p + "attention.";
    if (v6) {
      for (const char *x : {"x", "w", "k", "v", "r", "g"})
        add(at + "time_maa_" + x, {1, 1, h}, ParamKind::Other);
      add(at + "time_maa_w1", {h, 5 * mixDim}, ParamKind::Other);
      add(at + "time_maa_w2", {5, mixDim, h}, ParamKind::Other);
      add(at + "time_decay_w1", {h, decayDim}, ParamKind::Other);
      add(at + "time_decay_w2", {decayDim, h}, ParamKind::Other);
      add(at + "time_decay", {1, 1, h}, ParamKind::Float32);
    } else {
      // np.exp(-np.exp(x.astype("float32"))).
      build::addParam(
          m, at + "time_decay", {d.heads, d.headSize}, ParamKind::Float32,
          MapExpr::exp(MapExpr::exp(MapExpr::toF32(MapExpr::src(
                                        hf(at + "time_decay")))),
                       /*negate=*/true));
    }
    add(at + "time_faaaa", {d.heads, d.headSize}, ParamKind::Float32);
    if (!v6)
      for (const char *x : {"gate", "key", "value", "receptance"})
        add(at + "time_mix_" + x, {1, 1, h}, ParamKind::Other);
    for (const char *x : {"key", "value", "receptance"})
      add(at + x + ".weight", {h, h}, ParamKind::Linear);
    add(at + "gate.weight", {h, h}, build::routerKind(h));
    rescaled(at + "output.weight", {h, h}, i);
    add(at + "ln_x.weight", {h}, ParamKind::Float32);
    add(at + "ln_x.bias", {h}, ParamKind::Float32);
    std::string ff = p + "feed_forward.";
    if (v6) {
      add(ff + "time_maa_k", {1, 1, h}, ParamKind::Other);
      add(ff + "time_maa_r", {1, 1, h}, ParamKind::Other);
    } else {
      add(ff + "time_mix_key", {1, 1, h}, ParamKind::Other);
      add(ff + "time_mix_receptance", {1, 1, h}, ParamKind::Other);
    }
    add(ff + "key.weight", {d.ffn, h}, ParamKind::Linear);
    add(ff + "receptance.weight", {h, h}, ParamKind::Linear);
    rescaled(ff + "value.weight", {h, d.ffn}, i);
  }
  layerNorm("model.ln_out");
  add("head.weight", {d.vocab, h}, ParamKind::FinalFC);
  return m;
}

Architecture qopt::models::makeRwkv5Architecture() {
  return {"rwkv5", {"Rwkv5ForCausalLM"}, {"rwkv5"}, [](const ModelConfig &cfg, int64_t tp) {
            return buildRwkv(cfg, tp, /*v6=*/false);
          }};
}

Architecture qopt::models::makeRwkv6Architecture() {
  return {"rwkv6", {"Rwkv6ForCausalLM"}, {"rwkv6"}, [](const ModelConfig &cfg, int64_t tp) {
            return buildRwkv(cfg, tp, /*v6=*/true);
          }};
}
