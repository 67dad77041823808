//===- DecoderConfig.cpp - The decoder variants' config and names -*- C++ -*-===//
//
// Part of quant-opt. See Decoder.h: what each model_type changes in Llama's
// forward, the MLC parameter names of each family (as lib/Models defines
// them), and the loading of one layer's weights.
//
//===----------------------------------------------------------------------===//

#include "qopt/Eval/Decoder.h"

#include "qopt/Eval/WeightSource.h"
#include "qopt/Loaders/Checkpoint.h"

#include "llvm/ADT/SmallString.h"
#include "llvm/ADT/StringSwitch.h"
#include "llvm/ADT/Twine.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/MemoryBuffer.h"
#include "llvm/Support/Path.h"

#include <nlohmann/json.hpp>

#include <cmath>

namespace qopt::eval {

static llvm::Error makeError(const llvm::Twine &msg) {
  return llvm::createStringError(llvm::inconvertibleErrorCode(), msg);
}

const char *supportedDecoderTypes() {
  return "llama, mistral, qwen2, qwen3, gemma, gemma2, phi3, mixtral";
}

static std::string readString(const nlohmann::json &json, const char *key) {
  auto it = json.find(key);
  return it != json.end() && it->is_string() ? it->get<std::string>() : "";
}

/// A number field: `out` keeps its value when the field is absent or null;
/// an error when it is not a number.
static llvm::Error readNumber(const nlohmann::json &json, llvm::StringRef path,
                              const char *key, double &out) {
  auto it = json.find(key);
  if (it == json.end() || it->is_null())
    return llvm::Error::success();
  if (!it->is_number())
    return makeError(path + ": field '" + key + "' must be a number");
  out = it->get<double>();
  return llvm::Error::success();
}

static bool readBool(const nlohmann::json &json, const char *key, bool dflt) {
  auto it = json.find(key);
  return it != json.end() && it->is_boolean() ? it->get<bool>() : dflt;
}

/// The sliding window of every layer from `sliding_window` (null or absent:
/// none); `evenOnly` (gemma2 without layer_types): layers 0, 2, 4, ...
static llvm::Error readSlidingWindow(const nlohmann::json &json,
                                     llvm::StringRef path, bool evenOnly,
                                     DecoderConfig &c) {
  int64_t layers = c.dims.numLayers;
  c.slidingWindow.assign(size_t(layers), 0);
  auto it = json.find("sliding_window");
  if (it == json.end() || it->is_null())
    return llvm::Error::success();
  if (!it->is_number_integer() || it->get<int64_t>() <= 0)
    return makeError(path + ": field 'sliding_window' must be a positive "
                            "integer or null");
  int64_t window = it->get<int64_t>();
  auto types = json.find("layer_types");
  bool haveTypes = types != json.end() && types->is_array();
  if (haveTypes && int64_t(types->size()) != layers)
    return makeError(path + ": field 'layer_types' has " +
                     llvm::Twine(types->size()) + " entries for " +
                     llvm::Twine(layers) + " layers");
  for (int64_t l = 0; l < layers; ++l) {
    bool sliding = !evenOnly || l % 2 == 0;
    if (haveTypes) {
      const nlohmann::json &t = (*types)[size_t(l)];
      std::string type = t.is_string() ? t.get<std::string>() : "";
      if (type != "sliding_attention" && type != "full_attention")
        return makeError(path + ": layer_types[" + llvm::Twine(l) +
                         "] must be sliding_attention or full_attention");
      sliding = type == "sliding_attention";
    }
    c.slidingWindow[size_t(l)] = sliding ? window : 0;
  }
  return llvm::Error::success();
}

llvm::Expected<DecoderConfig> DecoderConfig::fromJson(const nlohmann::json &json,
                                                      llvm::StringRef path) {
  if (!json.is_object())
    return makeError(path + ": expected a JSON object");
  DecoderConfig c;
  c.modelType = readString(json, "model_type");
  if (c.modelType.empty())
    c.modelType = "llama";
  bool known = llvm::StringSwitch<bool>(c.modelType)
                   .Cases({"llama", "mistral", "qwen2", "qwen3", "gemma",
                           "gemma2", "phi3", "mixtral"},
                          true)
                   .Default(false);
  if (!known)
    return makeError(path + ": model_type '" + c.modelType +
                     "' is not supported by the reference forward (" +
                     supportedDecoderTypes() + ")");
  auto dims = LlamaConfig::readDimensions(json, path);
  if (!dims)
    return dims.takeError();
  c.dims = *dims;
  const std::string &t = c.modelType;
  bool gemma = t == "gemma" || t == "gemma2";

  // The MLP activation: gemma's hidden_activation (else hidden_act), gelu or
  // its tanh approximation; SiLU for every other family.
  std::string act = readString(json, gemma ? "hidden_activation" : "hidden_act");
  if (gemma && act.empty())
    act = readString(json, "hidden_act");
  if (gemma) {
    if (act == "gelu")
      c.activation = Activation::Gelu;
    else if (act == "gelu_pytorch_tanh" || act == "gelu_tanh")
      c.activation = Activation::GeluTanh;
    else
      return makeError(path + ": activation '" + act + "' is not supported (" +
                       t + "; gelu or gelu_pytorch_tanh)");
  } else if (!act.empty() && act != "silu") {
    return makeError(path + ": hidden_act '" + act +
                     "' is not supported by the reference forward (" + t +
                     "; silu)");
  }

  c.queryScale = 1.0f / std::sqrt(float(c.dims.headDim));
  if (t == "qwen2" || t == "qwen3") {
    c.qkvName = "self_attn.c_attn";
    c.qkvBias = t == "qwen2" || readBool(json, "attention_bias", false);
    c.oBias = t == "qwen3" && c.qkvBias;
    c.qkNorm = t == "qwen3";
    if (readBool(json, "use_sliding_window", false))
      return makeError(path + ": use_sliding_window is not supported by the "
                              "reference forward (" + t + ")");
    c.slidingWindow.assign(size_t(c.dims.numLayers), 0);
  } else if (gemma) {
    c.dims.tieWordEmbeddings = true; // MLC's gemma always ties
    c.embedScale = float(std::sqrt(double(c.dims.hiddenSize)));
    if (t == "gemma2") {
      c.sandwichNorms = true;
      double scalar = double(c.dims.headDim), attnCap = 0, finalCap = 0;
      for (auto [key, out] :
           {std::pair<const char *, double *>{"query_pre_attn_scalar", &scalar},
            {"attn_logit_softcapping", &attnCap},
            {"final_logit_softcapping", &finalCap}})
        if (auto e = readNumber(json, path, key, *out))
          return std::move(e);
      if (!(scalar > 0) || attnCap < 0 || finalCap < 0)
        return makeError(path + ": query_pre_attn_scalar must be positive and "
                                "the soft-capping values non-negative");
      c.queryScale = float(std::pow(scalar, -0.5));
      c.attnSoftcap = float(attnCap);
      c.finalSoftcap = float(finalCap);
      if (auto e = readSlidingWindow(json, path, /*evenOnly=*/true, c))
        return std::move(e);
    } else {
      c.slidingWindow.assign(size_t(c.dims.numLayers), 0);
    }
  } else if (t == "llama") {
    c.slidingWindow.assign(size_t(c.dims.numLayers), 0); // LlamaModel has none
  } else {
    // mistral, mixtral, phi3: a sliding window applies to every layer.
    if (auto e = readSlidingWindow(json, path, /*evenOnly=*/false, c))
      return std::move(e);
  }
  if (t == "phi3") {
    auto params = json.find("rope_parameters");
    double factor = 1;
    if (params != json.end() && params->is_object())
      if (auto e = readNumber(*params, path, "partial_rotary_factor", factor))
        return std::move(e);
    if (auto e = readNumber(json, path, "partial_rotary_factor", factor))
      return std::move(e);
    if (factor != 1)
      return makeError(path + ": partial_rotary_factor " +
                       std::to_string(factor) +
                       " is not supported by the reference forward (phi3; 1)");
    c.embedName = "transformer.embd.weight";
    c.finalNormName = "transformer.norm.weight";
    c.layerPrefix = "transformer.h.";
    c.inputNormName = "ln.weight";
    c.qkvName = "mixer.qkv_proj";
    c.oName = "mixer.out_proj";
  }
  if (t == "mixtral") {
    int64_t experts = 0, perToken = 0;
    for (auto [key, out] : {std::pair<const char *, int64_t *>{
                                "num_local_experts", &experts},
                            {"num_experts_per_tok", &perToken}}) {
      auto it = json.find(key);
      if (it == json.end() || !it->is_number_integer() ||
          it->get<int64_t>() <= 0 || it->get<int64_t>() > 4096)
        return makeError(path + ": field '" + key +
                         "' must be a positive integer (mixtral)");
      *out = it->get<int64_t>();
    }
    if (perToken > experts)
      return makeError(path + ": num_experts_per_tok " + llvm::Twine(perToken) +
                       " exceeds num_local_experts " + llvm::Twine(experts));
    c.numExperts = experts;
    c.expertsPerToken = perToken;
  }
  return c;
}

llvm::Expected<DecoderConfig> DecoderConfig::read(llvm::StringRef path) {
  std::string file;
  auto json = readConfigJson(path, file);
  if (!json)
    return json.takeError();
  return fromJson(*json, file);
}

std::string DecoderConfig::layerName(int64_t l, llvm::StringRef rest) const {
  return layerPrefix + std::to_string(l) + "." + rest.str();
}

std::vector<LinearSpec> decoderLinears(const DecoderConfig &c, int64_t l) {
  const LlamaConfig &d = c.dims;
  if (l >= d.numLayers)
    return {{"lm_head.weight", d.hiddenSize, 0}};
  std::vector<LinearSpec> out;
  out.push_back({c.layerName(l, c.qkvName + ".weight"), d.hiddenSize, 0});
  out.push_back(
      {c.layerName(l, c.oName + ".weight"), d.numHeads * d.headDim, 0});
  if (c.isMoE()) {
    out.push_back({c.layerName(l, "moe.gate.weight"), d.hiddenSize, 0});
    out.push_back(
        {c.layerName(l, "moe.e1_e3.weight"), d.hiddenSize, c.numExperts});
    out.push_back(
        {c.layerName(l, "moe.e2.weight"), d.intermediateSize, c.numExperts});
  } else {
    out.push_back({c.layerName(l, "mlp.gate_up_proj.weight"), d.hiddenSize, 0});
    out.push_back(
        {c.layerName(l, "mlp.down_proj.weight"), d.intermediateSize, 0});
  }
  return out;
}

namespace {
/// Where each layer parameter goes in DecoderLayerWeights.
struct LayerParam {
  std::string name;
  std::vector<int64_t> shape;
  std::vector<float> DecoderLayerWeights::*member;
};
} // namespace

static std::vector<LayerParam> layerParams(const DecoderConfig &c, int64_t l) {
  using W = DecoderLayerWeights;
  const LlamaConfig &d = c.dims;
  int64_t h = d.hiddenSize, ffn = d.intermediateSize, qd = d.numHeads * d.headDim;
  std::vector<LayerParam> p;
  auto add = [&](llvm::StringRef rest, std::vector<int64_t> shape,
                 std::vector<float> W::*member) {
    p.push_back({c.layerName(l, rest), std::move(shape), member});
  };
  add(c.inputNormName, {h}, &W::inputNorm);
  add(c.qkvName + ".weight", {d.qkvRows(), h}, &W::qkv);
  if (c.qkvBias)
    add(c.qkvName + ".bias", {d.qkvRows()}, &W::qkvBias);
  if (c.qkNorm) {
    add("self_attn.q_norm.weight", {d.headDim}, &W::qNorm);
    add("self_attn.k_norm.weight", {d.headDim}, &W::kNorm);
  }
  add(c.oName + ".weight", {h, qd}, &W::o);
  if (c.oBias)
    add(c.oName + ".bias", {h}, &W::oBias);
  add("post_attention_layernorm.weight", {h}, &W::postAttentionNorm);
  if (c.sandwichNorms) {
    add("pre_feedforward_layernorm.weight", {h}, &W::preFeedforwardNorm);
    add("post_feedforward_layernorm.weight", {h}, &W::postFeedforwardNorm);
  }
  if (c.isMoE()) {
    int64_t e = c.numExperts;
    add("moe.gate.weight", {e, h}, &W::router);
    add("moe.e1_e3.weight", {e, 2 * ffn, h}, &W::expertsGateUp);
    add("moe.e2.weight", {e, h, ffn}, &W::expertsDown);
  } else {
    add("mlp.gate_up_proj.weight", {2 * ffn, h}, &W::gateUp);
    add("mlp.down_proj.weight", {h, ffn}, &W::down);
  }
  return p;
}

std::vector<std::pair<std::string, std::vector<int64_t>>>
decoderLayerParameters(const DecoderConfig &config, int64_t l) {
  std::vector<std::pair<std::string, std::vector<int64_t>>> out;
  for (LayerParam &p : layerParams(config, l))
    out.push_back({std::move(p.name), std::move(p.shape)});
  return out;
}

llvm::Expected<DecoderLayerWeights>
loadDecoderLayer(const DecoderConfig &config, WeightSource &source, int64_t l) {
  DecoderLayerWeights w;
  for (const LayerParam &p : layerParams(config, l)) {
    auto values = source.load(p.name, p.shape);
    if (!values)
      return values.takeError();
    w.*p.member = std::move(*values);
  }
  return std::move(w);
}

llvm::Expected<DecoderGlobalWeights>
loadDecoderGlobals(const DecoderConfig &c, WeightSource &source) {
  DecoderGlobalWeights w;
  int64_t h = c.dims.hiddenSize, v = c.dims.vocabSize;
  auto embed = source.load(c.embedName, {v, h});
  if (!embed)
    return embed.takeError();
  w.embed = std::move(*embed);
  auto norm = source.load(c.finalNormName, {h});
  if (!norm)
    return norm.takeError();
  w.finalNorm = std::move(*norm);
  if (!c.dims.tieWordEmbeddings) {
    auto head = source.load("lm_head.weight", {v, h});
    if (!head)
      return head.takeError();
    w.lmHead = std::move(*head);
  }
  return std::move(w);
}

std::vector<Window> splitWindows(int64_t tokens, int64_t context) {
  std::vector<Window> out;
  for (int64_t b = 0; b < tokens; b += context)
    out.push_back({b, std::min(context, tokens - b)});
  return out;
}

} // namespace qopt::eval
