//===- Decoder.cpp - Float32 reference forward of Llama's variants -*- C++ -*-===//
//
// Part of quant-opt. See Decoder.h. The loops are LlamaModel's (same kernels,
// same order), with each variant's extra step where Hugging Face's modeling
// code puts it.
//
//===----------------------------------------------------------------------===//

#include "qopt/Eval/Decoder.h"

#include "ForwardKernels.h"

#include "qopt/Eval/WeightSource.h"

#include "llvm/ADT/Twine.h"

#include <algorithm>
#include <cassert>
#include <cmath>
#include <numeric>

namespace qopt::eval {

LinearInputObserver::~LinearInputObserver() = default;

static float gelu(float x) {
  return 0.5f * x * (1.0f + std::erf(x * float(M_SQRT1_2)));
}

/// transformers' gelu_pytorch_tanh / NewGELU.
static float geluTanh(float x) {
  const float k = float(std::sqrt(2.0 / M_PI));
  return 0.5f * x * (1.0f + std::tanh(k * (x + 0.044715f * x * x * x)));
}

static float softcap(float x, float cap) { return std::tanh(x / cap) * cap; }

std::vector<float>
DecoderForward::embed(const std::vector<float> &embedding,
                      llvm::ArrayRef<int32_t> tokens) const {
  const int64_t h = cfg.dims.hiddenSize, t = int64_t(tokens.size());
  std::vector<float> x(static_cast<size_t>(t * h));
  for (int64_t i = 0; i < t; ++i) {
    assert(tokens[i] >= 0 && tokens[i] < cfg.dims.vocabSize &&
           "token out of range");
    std::copy_n(embedding.data() + int64_t(tokens[i]) * h, h, x.data() + i * h);
  }
  if (cfg.embedScale != 0)
    for (float &v : x)
      v *= cfg.embedScale;
  return x;
}

/// Reports a dense linear layer's input.
static llvm::Error observeDense(LinearInputObserver *observer,
                                const LinearSpec &spec, const float *x,
                                int64_t rows) {
  return observer ? observer->observe(spec, -1, x, rows) : llvm::Error::success();
}

void DecoderForward::attention(const std::vector<float> &qkv,
                               std::vector<float> &attn,
                               llvm::ArrayRef<Window> windows, int64_t l) const {
  const LlamaConfig &c = cfg.dims;
  const int64_t d = c.headDim, nq = c.numHeads, nkv = c.numKVHeads;
  const int64_t qkvRows = c.qkvRows(), group = nq / nkv;
  const int64_t window = cfg.slidingWindow.empty()
                             ? 0
                             : cfg.slidingWindow[size_t(l)];
  const float scale = cfg.queryScale, cap = cfg.attnSoftcap;
  for (const Window &win : windows) {
    const float *base = qkv.data() + win.begin * qkvRows;
    float *outBase = attn.data() + win.begin * nq * d;
    const int64_t t = win.length;
    parallelFor(nq, threads, [&](int64_t h0, int64_t h1) {
      std::vector<float> scores(static_cast<size_t>(t));
      for (int64_t head = h0; head < h1; ++head) {
        int64_t kvHead = head / group;
        int64_t kOff = nq * d + kvHead * d, vOff = (nq + nkv) * d + kvHead * d;
        for (int64_t i = 0; i < t; ++i) {
          const float *q = base + i * qkvRows + head * d;
          int64_t first = window > 0 ? std::max<int64_t>(0, i - window + 1) : 0;
          int64_t n = i + 1 - first;
          for (int64_t j = first; j <= i; ++j) {
            float s = dot(q, base + j * qkvRows + kOff, d) * scale;
            scores[j - first] = cap != 0 ? softcap(s, cap) : s;
          }
          softmax(scores.data(), n);
          float *out = outBase + (i * nq + head) * d;
          std::fill_n(out, d, 0.0f);
          for (int64_t j = first; j <= i; ++j) {
            const float *val = base + j * qkvRows + vOff;
            for (int64_t e = 0; e < d; ++e)
              out[e] += scores[j - first] * val[e];
          }
        }
      }
    });
  }
}

/// act(gate) * up of one row of a fused [gate | up] row of 2 * ffn values.
static void gatedActivation(Activation act, const float *gateUp, int64_t ffn,
                            float *out) {
  for (int64_t e = 0; e < ffn; ++e) {
    float g = gateUp[e];
    float a = act == Activation::SiLU   ? silu(g)
              : act == Activation::Gelu ? gelu(g)
                                        : geluTanh(g);
    out[e] = a * gateUp[ffn + e];
  }
}

llvm::Error DecoderForward::mlp(const DecoderLayerWeights &w, int64_t l,
                                const std::vector<float> &xn,
                                std::vector<float> &out,
                                LinearInputObserver *observer) const {
  const int64_t h = cfg.dims.hiddenSize, ffn = cfg.dims.intermediateSize;
  const int64_t t = int64_t(xn.size()) / h;
  std::vector<LinearSpec> specs = decoderLinears(cfg, l);
  if (auto e = observeDense(observer, specs[2], xn.data(), t))
    return e;
  std::vector<float> gateUp(static_cast<size_t>(t * 2 * ffn)), act(static_cast<size_t>(t * ffn));
  matmulTransposed(xn.data(), t, h, w.gateUp.data(), 2 * ffn, gateUp.data(),
                   threads);
  for (int64_t i = 0; i < t; ++i)
    gatedActivation(cfg.activation, gateUp.data() + i * 2 * ffn, ffn,
                    act.data() + i * ffn);
  gateUp = {};
  if (auto e = observeDense(observer, specs[3], act.data(), t))
    return e;
  matmulTransposed(act.data(), t, ffn, w.down.data(), h, out.data(), threads);
  return llvm::Error::success();
}

llvm::Error DecoderForward::moe(const DecoderLayerWeights &w, int64_t l,
                                const std::vector<float> &xn,
                                std::vector<float> &out,
                                LinearInputObserver *observer) const {
  const int64_t h = cfg.dims.hiddenSize, ffn = cfg.dims.intermediateSize;
  const int64_t t = int64_t(xn.size()) / h, experts = cfg.numExperts,
                k = cfg.expertsPerToken;
  std::vector<LinearSpec> specs = decoderLinears(cfg, l);
  if (auto e = observeDense(observer, specs[2], xn.data(), t))
    return e;
  std::vector<float> routerLogits(static_cast<size_t>(t * experts));
  matmulTransposed(xn.data(), t, h, w.router.data(), experts,
                   routerLogits.data(), threads);
  // Per token: softmax over all experts, the k largest (ties: lower index)
  // renormalized to sum 1 (transformers' MixtralSparseMoeBlock).
  std::vector<std::vector<int64_t>> routed(static_cast<size_t>(experts));
  std::vector<std::vector<float>> weight(static_cast<size_t>(experts));
  std::vector<int64_t> order(static_cast<size_t>(experts));
  for (int64_t i = 0; i < t; ++i) {
    float *p = routerLogits.data() + i * experts;
    softmax(p, experts);
    std::iota(order.begin(), order.end(), 0);
    std::stable_sort(order.begin(), order.end(),
                     [&](int64_t a, int64_t b) { return p[a] > p[b]; });
    float sum = 0;
    for (int64_t r = 0; r < k; ++r)
      sum += p[order[r]];
    for (int64_t r = 0; r < k; ++r) {
      routed[size_t(order[r])].push_back(i);
      weight[size_t(order[r])].push_back(p[order[r]] / sum);
    }
  }
  // Every expert over the rows routed to it, in token order: first all the
  // gate/up projections (so the observer sees e1_e3 before e2), then down.
  std::vector<std::vector<float>> acts(static_cast<size_t>(experts));
  for (int64_t e = 0; e < experts; ++e) {
    const std::vector<int64_t> &rows = routed[size_t(e)];
    int64_t n = int64_t(rows.size());
    std::vector<float> in(static_cast<size_t>(n * h)), gateUp(static_cast<size_t>(n * 2 * ffn));
    for (int64_t r = 0; r < n; ++r)
      std::copy_n(xn.data() + rows[size_t(r)] * h, h, in.data() + r * h);
    if (observer)
      if (auto err = observer->observe(specs[3], e, in.data(), n))
        return err;
    matmulTransposed(in.data(), n, h,
                     w.expertsGateUp.data() + e * 2 * ffn * h, 2 * ffn,
                     gateUp.data(), threads);
    acts[size_t(e)].resize(static_cast<size_t>(n * ffn));
    for (int64_t r = 0; r < n; ++r)
      gatedActivation(cfg.activation, gateUp.data() + r * 2 * ffn, ffn,
                      acts[size_t(e)].data() + r * ffn);
  }
  std::fill(out.begin(), out.end(), 0.0f);
  for (int64_t e = 0; e < experts; ++e) {
    const std::vector<int64_t> &rows = routed[size_t(e)];
    int64_t n = int64_t(rows.size());
    if (observer)
      if (auto err = observer->observe(specs[4], e, acts[size_t(e)].data(), n))
        return err;
    std::vector<float> y(static_cast<size_t>(n * h));
    matmulTransposed(acts[size_t(e)].data(), n, ffn,
                     w.expertsDown.data() + e * h * ffn, h, y.data(), threads);
    acts[size_t(e)] = {};
    for (int64_t r = 0; r < n; ++r) {
      float wt = weight[size_t(e)][size_t(r)];
      float *o = out.data() + rows[size_t(r)] * h;
      for (int64_t j = 0; j < h; ++j)
        o[j] += wt * y[size_t(r * h + j)];
    }
  }
  return llvm::Error::success();
}

llvm::Error DecoderForward::layer(const DecoderLayerWeights &w, int64_t l,
                                  std::vector<float> &x,
                                  llvm::ArrayRef<Window> windows,
                                  LinearInputObserver *observer) const {
  const LlamaConfig &c = cfg.dims;
  const int64_t h = c.hiddenSize, d = c.headDim, nq = c.numHeads,
                nkv = c.numKVHeads, qkvRows = c.qkvRows(), half = d / 2;
  const int64_t t = int64_t(x.size()) / h;
  std::vector<LinearSpec> specs = decoderLinears(cfg, l);

  // Attention block.
  std::vector<float> xn(x.size());
  for (int64_t i = 0; i < t; ++i)
    rmsNorm(x.data() + i * h, w.inputNorm.data(), h, c.rmsNormEps,
            xn.data() + i * h);
  if (auto e = observeDense(observer, specs[0], xn.data(), t))
    return e;
  std::vector<float> qkv(static_cast<size_t>(t * qkvRows));
  matmulTransposed(xn.data(), t, h, w.qkv.data(), qkvRows, qkv.data(), threads);
  if (cfg.qkvBias)
    for (int64_t i = 0; i < t; ++i)
      for (int64_t j = 0; j < qkvRows; ++j)
        qkv[size_t(i * qkvRows + j)] += w.qkvBias[size_t(j)];
  int64_t longest = 0;
  for (const Window &win : windows)
    longest = std::max(longest, win.length);
  std::vector<float> cosTable(static_cast<size_t>(longest * half)),
      sinTable(static_cast<size_t>(longest * half));
  for (int64_t p = 0; p < longest; ++p)
    rotaryAngles(d, p, c.ropeTheta, cosTable.data() + p * half,
                 sinTable.data() + p * half);
  for (const Window &win : windows)
    for (int64_t p = 0; p < win.length; ++p) {
      float *row = qkv.data() + (win.begin + p) * qkvRows;
      for (int64_t head = 0; head < nq + nkv; ++head) {
        float *v = row + head * d;
        if (cfg.qkNorm)
          rmsNorm(v, (head < nq ? w.qNorm : w.kNorm).data(), d, c.rmsNormEps,
                  v);
        rotate(v, d, cosTable.data() + p * half, sinTable.data() + p * half);
      }
    }
  std::vector<float> attn(static_cast<size_t>(t * nq * d));
  attention(qkv, attn, windows, l);
  qkv = {};
  if (auto e = observeDense(observer, specs[1], attn.data(), t))
    return e;
  std::vector<float> delta(x.size());
  matmulTransposed(attn.data(), t, nq * d, w.o.data(), h, delta.data(),
                   threads);
  attn = {};
  if (cfg.oBias)
    for (int64_t i = 0; i < t; ++i)
      for (int64_t j = 0; j < h; ++j)
        delta[size_t(i * h + j)] += w.oBias[size_t(j)];
  if (cfg.sandwichNorms)
    for (int64_t i = 0; i < t; ++i)
      rmsNorm(delta.data() + i * h, w.postAttentionNorm.data(), h,
              c.rmsNormEps, delta.data() + i * h);
  for (size_t i = 0; i < x.size(); ++i)
    x[i] += delta[i];

  // MLP block.
  const std::vector<float> &mlpNorm =
      cfg.sandwichNorms ? w.preFeedforwardNorm : w.postAttentionNorm;
  for (int64_t i = 0; i < t; ++i)
    rmsNorm(x.data() + i * h, mlpNorm.data(), h, c.rmsNormEps,
            xn.data() + i * h);
  if (auto e = cfg.isMoE() ? moe(w, l, xn, delta, observer)
                           : mlp(w, l, xn, delta, observer))
    return e;
  if (cfg.sandwichNorms)
    for (int64_t i = 0; i < t; ++i)
      rmsNorm(delta.data() + i * h, w.postFeedforwardNorm.data(), h,
              c.rmsNormEps, delta.data() + i * h);
  for (size_t i = 0; i < x.size(); ++i)
    x[i] += delta[i];
  return llvm::Error::success();
}

llvm::Error DecoderForward::finalNorm(const std::vector<float> &norm,
                                      std::vector<float> &x,
                                      LinearInputObserver *observer) const {
  const int64_t h = cfg.dims.hiddenSize, t = int64_t(x.size()) / h;
  for (int64_t i = 0; i < t; ++i)
    rmsNorm(x.data() + i * h, norm.data(), h, cfg.dims.rmsNormEps,
            x.data() + i * h);
  return observeDense(observer, decoderLinears(cfg, cfg.dims.numLayers)[0],
                      x.data(), t);
}

std::vector<float> DecoderForward::logits(const std::vector<float> &head,
                                          const float *xn, int64_t rows) const {
  const int64_t h = cfg.dims.hiddenSize, v = cfg.dims.vocabSize;
  std::vector<float> out(static_cast<size_t>(rows * v));
  matmulTransposed(xn, rows, h, head.data(), v, out.data(), threads);
  if (cfg.finalSoftcap != 0)
    for (float &z : out)
      z = softcap(z, cfg.finalSoftcap);
  return out;
}

llvm::Error runDecoderLayers(const DecoderConfig &config, WeightSource &source,
                             DecoderForward &forward,
                             llvm::ArrayRef<int32_t> tokens,
                             llvm::ArrayRef<Window> windows,
                             DecoderGlobalWeights &globals, std::vector<float> &x) {
  auto loaded = loadDecoderGlobals(config, source);
  if (!loaded)
    return loaded.takeError();
  globals = std::move(*loaded);
  x = forward.embed(globals.embed, tokens);
  for (int64_t l = 0; l < config.dims.numLayers; ++l) {
    auto w = loadDecoderLayer(config, source, l);
    if (!w)
      return w.takeError();
    if (auto e = forward.layer(*w, l, x, windows, nullptr))
      return e;
  }
  return forward.finalNorm(globals.finalNorm, x, nullptr);
}

llvm::Expected<std::vector<float>>
decoderLogits(const DecoderConfig &config, WeightSource &source,
              llvm::ArrayRef<int32_t> tokens, unsigned threads) {
  DecoderForward forward(config, threads);
  DecoderGlobalWeights globals;
  std::vector<float> x;
  Window whole{0, int64_t(tokens.size())};
  if (auto e = runDecoderLayers(config, source, forward, tokens, whole,
                                globals, x))
    return std::move(e);
  const std::vector<float> &head = config.dims.tieWordEmbeddings
                                       ? globals.embed
                                       : globals.lmHead;
  return forward.logits(head, x.data(), int64_t(tokens.size()));
}

} // namespace qopt::eval
