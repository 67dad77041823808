//===- Llama.cpp - A float32 reference Llama forward pass -------*- C++ -*-===//
//
// Part of quant-opt. See Llama.h.
//
//===----------------------------------------------------------------------===//

#include "qopt/Eval/Llama.h"

#include "ForwardKernels.h"

#include "qopt/Eval/WeightSource.h"
#include "qopt/Loaders/Checkpoint.h"

#include "llvm/ADT/SmallString.h"
#include "llvm/ADT/Twine.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/MemoryBuffer.h"
#include "llvm/Support/Path.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cassert>
#include <cmath>
#include <thread>

namespace qopt::eval {

static llvm::Error makeError(const llvm::Twine &msg) {
  return llvm::createStringError(llvm::inconvertibleErrorCode(), msg);
}

//===----------------------------------------------------------------------===//
// LlamaConfig
//===----------------------------------------------------------------------===//

/// Largest accepted dimension, so that products of two or three of them
/// stay far from int64 overflow.
static constexpr int64_t kMaxDim = int64_t(1) << 24;

/// Reads the integer field `key`: `out` keeps its value if the field is
/// absent or null and `required` is false.
static llvm::Error readInt(const nlohmann::json &json, llvm::StringRef path,
                           const char *key, bool required, int64_t &out) {
  auto it = json.find(key);
  if (it == json.end() || it->is_null()) {
    if (required)
      return makeError(path + ": missing required field '" + key + "'");
    return llvm::Error::success();
  }
  if (!it->is_number_integer())
    return makeError(path + ": field '" + key + "' must be an integer");
  int64_t v =
      it->is_number_unsigned() && it->get<uint64_t>() > uint64_t(kMaxDim)
          ? kMaxDim + 1
          : it->get<int64_t>();
  if (v < 0 || v > kMaxDim)
    return makeError(path + ": field '" + key + "' is out of range (" +
                     it->dump() + ")");
  out = v;
  return llvm::Error::success();
}

/// A string field, or "" if absent / not a string.
static std::string readString(const nlohmann::json &json, const char *key) {
  auto it = json.find(key);
  return it != json.end() && it->is_string() ? it->get<std::string>() : "";
}

llvm::Expected<LlamaConfig> LlamaConfig::fromJson(const nlohmann::json &json,
                                                  llvm::StringRef path) {
  if (!json.is_object())
    return makeError(path + ": expected a JSON object");
  std::string modelType = readString(json, "model_type");
  if (!modelType.empty() && modelType != "llama" && modelType != "mistral")
    return makeError(path + ": model_type '" + modelType +
                     "' is not supported by eval (llama, mistral)");
  return readDimensions(json, path);
}

llvm::Expected<LlamaConfig>
LlamaConfig::readDimensions(const nlohmann::json &json, llvm::StringRef path) {
  if (!json.is_object())
    return makeError(path + ": expected a JSON object");
  LlamaConfig c;
  if (auto e = readInt(json, path, "hidden_size", true, c.hiddenSize))
    return std::move(e);
  if (auto e =
          readInt(json, path, "intermediate_size", true, c.intermediateSize))
    return std::move(e);
  if (auto e = readInt(json, path, "num_hidden_layers", true, c.numLayers))
    return std::move(e);
  if (auto e = readInt(json, path, "num_attention_heads", true, c.numHeads))
    return std::move(e);
  if (auto e = readInt(json, path, "vocab_size", true, c.vocabSize))
    return std::move(e);
  if (auto e = readInt(json, path, "num_key_value_heads", false, c.numKVHeads))
    return std::move(e);
  if (auto e = readInt(json, path, "head_dim", false, c.headDim))
    return std::move(e);
  if (auto e = readInt(json, path, "max_position_embeddings", false,
                       c.maxPositionEmbeddings))
    return std::move(e);

  for (auto [key, value] :
       {std::pair<const char *, int64_t>{"hidden_size", c.hiddenSize},
        {"intermediate_size", c.intermediateSize},
        {"num_hidden_layers", c.numLayers},
        {"num_attention_heads", c.numHeads},
        {"vocab_size", c.vocabSize}})
    if (value <= 0)
      return makeError(path + ": field '" + key + "' must be positive");
  if (c.numKVHeads == 0)
    c.numKVHeads = c.numHeads;
  if (c.headDim == 0) {
    if (c.hiddenSize % c.numHeads != 0)
      return makeError(path + ": hidden_size " + llvm::Twine(c.hiddenSize) +
                       " is not divisible by num_attention_heads " +
                       llvm::Twine(c.numHeads));
    c.headDim = c.hiddenSize / c.numHeads;
  }
  if (c.numHeads % c.numKVHeads != 0)
    return makeError(path + ": num_attention_heads " + llvm::Twine(c.numHeads) +
                     " is not a multiple of num_key_value_heads " +
                     llvm::Twine(c.numKVHeads));
  if (c.headDim % 2 != 0)
    return makeError(path + ": head_dim " + llvm::Twine(c.headDim) +
                     " must be even for rotary embedding");
  if (c.numLayers > 4096)
    return makeError(path + ": num_hidden_layers is out of range");

  auto eps = json.find("rms_norm_eps");
  if (eps == json.end() || !eps->is_number())
    return makeError(path + ": missing required field 'rms_norm_eps'");
  c.rmsNormEps = static_cast<float>(eps->get<double>());
  if (!(c.rmsNormEps >= 0))
    return makeError(path + ": rms_norm_eps must be non-negative");

  // rope_theta at the top level (transformers < 5) or in rope_parameters.
  auto checkRopeType = [&](const nlohmann::json &obj,
                           const char *where) -> llvm::Error {
    if (!obj.is_object())
      return llvm::Error::success();
    for (const char *key : {"rope_type", "type"}) {
      std::string type = readString(obj, key);
      if (!type.empty() && type != "default")
        return makeError(path + ": " + where + " rope type '" + type +
                         "' is not supported by eval (only default)");
    }
    return llvm::Error::success();
  };
  auto theta = json.find("rope_theta");
  if (theta != json.end() && theta->is_number())
    c.ropeTheta = theta->get<double>();
  auto params = json.find("rope_parameters");
  if (params != json.end() && params->is_object()) {
    if (auto e = checkRopeType(*params, "rope_parameters"))
      return std::move(e);
    auto t = params->find("rope_theta");
    if (t != params->end() && t->is_number())
      c.ropeTheta = t->get<double>();
  }
  auto scaling = json.find("rope_scaling");
  if (scaling != json.end())
    if (auto e = checkRopeType(*scaling, "rope_scaling"))
      return std::move(e);
  if (!(c.ropeTheta > 0))
    return makeError(path + ": rope_theta must be positive");

  auto tie = json.find("tie_word_embeddings");
  if (tie != json.end() && tie->is_boolean())
    c.tieWordEmbeddings = tie->get<bool>();
  return c;
}

llvm::Expected<nlohmann::json> readConfigJson(llvm::StringRef path,
                                              std::string &file) {
  llvm::SmallString<256> p(path);
  if (llvm::sys::fs::is_directory(path))
    llvm::sys::path::append(p, "config.json");
  file = std::string(p);
  auto buffer = llvm::MemoryBuffer::getFile(file, /*IsText=*/false,
                                            /*RequiresNullTerminator=*/false);
  if (!buffer)
    return makeError(file + ": cannot read: " + buffer.getError().message());
  nlohmann::json json;
  loaders::detail::JsonFailure failure;
  if (!loaders::detail::parseJson((*buffer)->getBuffer(),
                                  loaders::detail::JsonLimits(), json,
                                  failure)) {
    if (failure.kind == loaders::detail::JsonFailure::DuplicateKey)
      return makeError(file + ": duplicate key '" + failure.key + "'");
    return makeError(file + ": is not valid JSON");
  }
  return json;
}

llvm::Expected<LlamaConfig> LlamaConfig::read(llvm::StringRef path) {
  std::string file;
  auto json = readConfigJson(path, file);
  if (!json)
    return json.takeError();
  return fromJson(*json, file);
}

std::vector<std::pair<std::string, std::vector<int64_t>>>
llamaParameters(const LlamaConfig &c) {
  int64_t h = c.hiddenSize;
  std::vector<std::pair<std::string, std::vector<int64_t>>> params;
  params.push_back({"model.embed_tokens.weight", {c.vocabSize, h}});
  for (int64_t l = 0; l < c.numLayers; ++l) {
    std::string p = "model.layers." + std::to_string(l) + ".";
    params.push_back({p + "input_layernorm.weight", {h}});
    params.push_back({p + "self_attn.qkv_proj.weight", {c.qkvRows(), h}});
    params.push_back(
        {p + "self_attn.o_proj.weight", {h, c.numHeads * c.headDim}});
    params.push_back({p + "post_attention_layernorm.weight", {h}});
    params.push_back(
        {p + "mlp.gate_up_proj.weight", {2 * c.intermediateSize, h}});
    params.push_back({p + "mlp.down_proj.weight", {h, c.intermediateSize}});
  }
  params.push_back({"model.norm.weight", {h}});
  if (!c.tieWordEmbeddings)
    params.push_back({"lm_head.weight", {c.vocabSize, h}});
  return params;
}

llvm::Expected<LlamaWeights> loadLlamaWeights(const LlamaConfig &config,
                                              WeightSource &source) {
  LlamaWeights w;
  w.layers.resize(static_cast<size_t>(config.numLayers));
  for (auto &[name, shape] : llamaParameters(config)) {
    auto values = source.load(name, shape);
    if (!values)
      return values.takeError();
    llvm::StringRef n(name);
    if (n == "model.embed_tokens.weight") {
      w.embed = std::move(*values);
      continue;
    }
    if (n == "model.norm.weight") {
      w.finalNorm = std::move(*values);
      continue;
    }
    if (n == "lm_head.weight") {
      w.lmHead = std::move(*values);
      continue;
    }
    // model.layers.<l>.<rest>
    n.consume_front("model.layers.");
    auto [index, rest] = n.split('.');
    size_t l = 0;
    index.getAsInteger(10, l);
    LlamaLayerWeights &layer = w.layers[l];
    if (rest == "input_layernorm.weight")
      layer.inputNorm = std::move(*values);
    else if (rest == "self_attn.qkv_proj.weight")
      layer.qkv = std::move(*values);
    else if (rest == "self_attn.o_proj.weight")
      layer.o = std::move(*values);
    else if (rest == "post_attention_layernorm.weight")
      layer.postAttentionNorm = std::move(*values);
    else if (rest == "mlp.gate_up_proj.weight")
      layer.gateUp = std::move(*values);
    else
      layer.down = std::move(*values);
  }
  return std::move(w);
}

//===----------------------------------------------------------------------===//
// Building blocks
//===----------------------------------------------------------------------===//

void matmulTransposed(const float *x, int64_t rows, int64_t k, const float *w,
                      int64_t n, float *y, unsigned threads) {
  parallelFor(n, threads, [=](int64_t j0, int64_t j1) {
    // Blocks of 16 weight rows stay in cache while every x row passes.
    constexpr int64_t kBlock = 16;
    for (int64_t jb = j0; jb < j1; jb += kBlock) {
      int64_t je = std::min(j1, jb + kBlock);
      for (int64_t r = 0; r < rows; ++r)
        for (int64_t j = jb; j < je; ++j)
          y[r * n + j] = dot(x + r * k, w + j * k, k);
    }
  });
}

void rmsNorm(const float *x, const float *weight, int64_t n, float eps,
             float *out) {
  float sumSq = 0;
  for (int64_t i = 0; i < n; ++i)
    sumSq += x[i] * x[i];
  float inv = 1.0f / std::sqrt(sumSq / float(n) + eps);
  for (int64_t i = 0; i < n; ++i)
    out[i] = weight[i] * (x[i] * inv);
}

void applyRotary(float *v, int64_t headDim, int64_t pos, double theta) {
  std::vector<float> c(headDim / 2), s(headDim / 2);
  rotaryAngles(headDim, pos, theta, c.data(), s.data());
  rotate(v, headDim, c.data(), s.data());
}

void softmax(float *x, int64_t n) {
  if (n <= 0)
    return;
  float m = *std::max_element(x, x + n);
  float sum = 0;
  for (int64_t i = 0; i < n; ++i) {
    x[i] = std::exp(x[i] - m);
    sum += x[i];
  }
  for (int64_t i = 0; i < n; ++i)
    x[i] /= sum;
}

float silu(float x) { return x / (1.0f + std::exp(-x)); }

//===----------------------------------------------------------------------===//
// LlamaModel
//===----------------------------------------------------------------------===//

llvm::Expected<LlamaModel>
LlamaModel::create(LlamaConfig config, LlamaWeights weights, unsigned threads) {
  const LlamaConfig &c = config;
  auto check = [](const std::vector<float> &v, int64_t expected,
                  const llvm::Twine &what) -> llvm::Error {
    if (int64_t(v.size()) == expected)
      return llvm::Error::success();
    return makeError("weight '" + what + "' has " + llvm::Twine(v.size()) +
                     " values, expected " + llvm::Twine(expected));
  };
  int64_t h = c.hiddenSize, qd = c.numHeads * c.headDim;
  if (auto e = check(weights.embed, c.vocabSize * h, "embed_tokens"))
    return std::move(e);
  if (int64_t(weights.layers.size()) != c.numLayers)
    return makeError("expected " + llvm::Twine(c.numLayers) + " layers, got " +
                     llvm::Twine(weights.layers.size()));
  for (const LlamaLayerWeights &l : weights.layers) {
    if (auto e = check(l.inputNorm, h, "input_layernorm"))
      return std::move(e);
    if (auto e = check(l.qkv, c.qkvRows() * h, "qkv_proj"))
      return std::move(e);
    if (auto e = check(l.o, h * qd, "o_proj"))
      return std::move(e);
    if (auto e = check(l.postAttentionNorm, h, "post_attention_layernorm"))
      return std::move(e);
    if (auto e = check(l.gateUp, 2 * c.intermediateSize * h, "gate_up_proj"))
      return std::move(e);
    if (auto e = check(l.down, h * c.intermediateSize, "down_proj"))
      return std::move(e);
  }
  if (auto e = check(weights.finalNorm, h, "norm"))
    return std::move(e);
  if (!c.tieWordEmbeddings)
    if (auto e = check(weights.lmHead, c.vocabSize * h, "lm_head"))
      return std::move(e);
  return LlamaModel(std::move(config), std::move(weights),
                    std::max(1u, threads));
}

std::vector<float> LlamaModel::forward(llvm::ArrayRef<int32_t> tokens) const {
  const LlamaConfig &c = cfg;
  const int64_t t = static_cast<int64_t>(tokens.size());
  const int64_t h = c.hiddenSize, d = c.headDim, nq = c.numHeads,
                nkv = c.numKVHeads, ffn = c.intermediateSize, v = c.vocabSize;
  const int64_t qkvRows = c.qkvRows(), half = d / 2, group = nq / nkv;

  std::vector<float> x(t * h), xn(t * h), qkv(t * qkvRows), attn(t * nq * d),
      delta(t * h), gateUp(t * 2 * ffn), act(t * ffn);
  for (int64_t i = 0; i < t; ++i) {
    assert(tokens[i] >= 0 && tokens[i] < v && "token out of range");
    std::copy_n(w.embed.data() + int64_t(tokens[i]) * h, h, x.data() + i * h);
  }
  std::vector<float> cosTable(t * half), sinTable(t * half);
  for (int64_t p = 0; p < t; ++p)
    rotaryAngles(d, p, c.ropeTheta, cosTable.data() + p * half,
                 sinTable.data() + p * half);
  const float scale = 1.0f / std::sqrt(float(d));

  for (const LlamaLayerWeights &layer : w.layers) {
    // Attention block.
    for (int64_t i = 0; i < t; ++i)
      rmsNorm(x.data() + i * h, layer.inputNorm.data(), h, c.rmsNormEps,
              xn.data() + i * h);
    matmulTransposed(xn.data(), t, h, layer.qkv.data(), qkvRows, qkv.data(),
                     threads);
    for (int64_t i = 0; i < t; ++i)
      for (int64_t head = 0; head < nq + nkv; ++head)
        rotate(qkv.data() + i * qkvRows + head * d, d,
               cosTable.data() + i * half, sinTable.data() + i * half);
    parallelFor(nq, threads, [&](int64_t h0, int64_t h1) {
      std::vector<float> scores(t);
      for (int64_t head = h0; head < h1; ++head) {
        int64_t kvHead = head / group;
        int64_t kOff = nq * d + kvHead * d, vOff = (nq + nkv) * d + kvHead * d;
        for (int64_t i = 0; i < t; ++i) {
          const float *q = qkv.data() + i * qkvRows + head * d;
          for (int64_t j = 0; j <= i; ++j)
            scores[j] = dot(q, qkv.data() + j * qkvRows + kOff, d) * scale;
          softmax(scores.data(), i + 1);
          float *out = attn.data() + (i * nq + head) * d;
          std::fill_n(out, d, 0.0f);
          for (int64_t j = 0; j <= i; ++j) {
            const float *val = qkv.data() + j * qkvRows + vOff;
            for (int64_t e = 0; e < d; ++e)
              out[e] += scores[j] * val[e];
          }
        }
      }
    });
    matmulTransposed(attn.data(), t, nq * d, layer.o.data(), h, delta.data(),
                     threads);
    for (int64_t i = 0; i < t * h; ++i)
      x[i] += delta[i];

    // MLP block.
    for (int64_t i = 0; i < t; ++i)
      rmsNorm(x.data() + i * h, layer.postAttentionNorm.data(), h, c.rmsNormEps,
              xn.data() + i * h);
    matmulTransposed(xn.data(), t, h, layer.gateUp.data(), 2 * ffn,
                     gateUp.data(), threads);
    for (int64_t i = 0; i < t; ++i)
      for (int64_t e = 0; e < ffn; ++e)
        act[i * ffn + e] =
            silu(gateUp[i * 2 * ffn + e]) * gateUp[i * 2 * ffn + ffn + e];
    matmulTransposed(act.data(), t, ffn, layer.down.data(), h, delta.data(),
                     threads);
    for (int64_t i = 0; i < t * h; ++i)
      x[i] += delta[i];
  }

  for (int64_t i = 0; i < t; ++i)
    rmsNorm(x.data() + i * h, w.finalNorm.data(), h, c.rmsNormEps,
            xn.data() + i * h);
  const std::vector<float> &head = c.tieWordEmbeddings ? w.embed : w.lmHead;
  std::vector<float> logits(t * v);
  matmulTransposed(xn.data(), t, h, head.data(), v, logits.data(), threads);
  return logits;
}

} // namespace qopt::eval
