//===- LlamaTest.cpp - The reference forward pass against a scalar one ----===//
//
// The expected logits come from a deliberately naive double-precision Llama
// written below (separate q/k/v and gate/up matrices in the HF layout, plain
// loops), not from the code under test. Building blocks are checked against
// values worked by hand.
//
//===----------------------------------------------------------------------===//

#include "EvalTestUtil.h"

#include "qopt/Eval/Llama.h"
#include "qopt/Eval/Perplexity.h"

#include <nlohmann/json.hpp>

#include <gtest/gtest.h>

#include <cmath>
#include <random>

using namespace qopt::eval;
using namespace qopt::eval::test;

namespace {

/// A tiny Llama in the Hugging Face layout.
struct TinyLayer {
  std::vector<float> inNorm, q, k, v, o, postNorm, gate, up, down;
};
struct Tiny {
  int hidden = 8, heads = 2, kvHeads = 1, headDim = 4, ffn = 12, vocab = 16;
  double eps = 1e-5, theta = 10000.0;
  bool tied = false;
  std::vector<float> embed, lmHead, finalNorm;
  std::vector<TinyLayer> layers;
};

std::vector<float> randomVector(std::mt19937 &rng, size_t n, float lo,
                                float hi) {
  std::uniform_real_distribution<float> dist(lo, hi);
  std::vector<float> v(n);
  for (float &x : v)
    x = dist(rng);
  return v;
}

/// Random weights for the geometry of `m` (norm weights in [0.5, 1.5]).
Tiny makeTiny(unsigned seed, int numLayers, bool tied, Tiny m = Tiny()) {
  std::mt19937 rng(seed);
  m.tied = tied;
  int h = m.hidden, qd = m.heads * m.headDim, kd = m.kvHeads * m.headDim;
  m.embed = randomVector(rng, size_t(m.vocab) * h, -1.0f, 1.0f);
  for (int l = 0; l < numLayers; ++l) {
    TinyLayer t;
    t.inNorm = randomVector(rng, h, 0.5f, 1.5f);
    t.q = randomVector(rng, size_t(qd) * h, -0.6f, 0.6f);
    t.k = randomVector(rng, size_t(kd) * h, -0.6f, 0.6f);
    t.v = randomVector(rng, size_t(kd) * h, -0.6f, 0.6f);
    t.o = randomVector(rng, size_t(h) * qd, -0.5f, 0.5f);
    t.postNorm = randomVector(rng, h, 0.5f, 1.5f);
    t.gate = randomVector(rng, size_t(m.ffn) * h, -0.5f, 0.5f);
    t.up = randomVector(rng, size_t(m.ffn) * h, -0.5f, 0.5f);
    t.down = randomVector(rng, size_t(h) * m.ffn, -0.5f, 0.5f);
    m.layers.push_back(std::move(t));
  }
  m.finalNorm = randomVector(rng, h, 0.5f, 1.5f);
  if (!tied)
    m.lmHead = randomVector(rng, size_t(m.vocab) * h, -1.0f, 1.0f);
  return m;
}

LlamaConfig configOf(const Tiny &m) {
  LlamaConfig c;
  c.hiddenSize = m.hidden;
  c.intermediateSize = m.ffn;
  c.numLayers = int64_t(m.layers.size());
  c.numHeads = m.heads;
  c.numKVHeads = m.kvHeads;
  c.headDim = m.headDim;
  c.vocabSize = m.vocab;
  c.rmsNormEps = float(m.eps);
  c.ropeTheta = m.theta;
  c.tieWordEmbeddings = m.tied;
  return c;
}

std::vector<float>
concat(std::initializer_list<const std::vector<float> *> parts) {
  std::vector<float> out;
  for (const std::vector<float> *p : parts)
    out.insert(out.end(), p->begin(), p->end());
  return out;
}

/// MLC's fused layout: qkv rows = q, k, v; gate_up rows = gate, up.
LlamaWeights weightsOf(const Tiny &m) {
  LlamaWeights w;
  w.embed = m.embed;
  for (const TinyLayer &t : m.layers) {
    LlamaLayerWeights l;
    l.inputNorm = t.inNorm;
    l.qkv = concat({&t.q, &t.k, &t.v});
    l.o = t.o;
    l.postAttentionNorm = t.postNorm;
    l.gateUp = concat({&t.gate, &t.up});
    l.down = t.down;
    w.layers.push_back(std::move(l));
  }
  w.finalNorm = m.finalNorm;
  w.lmHead = m.lmHead;
  return w;
}

using Mat = std::vector<std::vector<double>>;

/// y[t][j] = sum_i w[j * in + i] * x[t][i].
Mat naiveLinear(const Mat &x, const std::vector<float> &w, int out) {
  Mat y(x.size(), std::vector<double>(out, 0.0));
  for (size_t t = 0; t < x.size(); ++t)
    for (int j = 0; j < out; ++j)
      for (size_t i = 0; i < x[t].size(); ++i)
        y[t][j] += double(w[j * x[t].size() + i]) * x[t][i];
  return y;
}

Mat naiveRmsNorm(const Mat &x, const std::vector<float> &w, double eps) {
  Mat y = x;
  for (size_t t = 0; t < x.size(); ++t) {
    double ss = 0;
    for (double v : x[t])
      ss += v * v;
    double r = 1.0 / std::sqrt(ss / double(x[t].size()) + eps);
    for (size_t i = 0; i < x[t].size(); ++i)
      y[t][i] = x[t][i] * r * w[i];
  }
  return y;
}

/// HF rotate_half rotary embedding of every head of every position.
void naiveRope(Mat &x, int heads, int d, double theta) {
  for (size_t t = 0; t < x.size(); ++t)
    for (int h = 0; h < heads; ++h)
      for (int e = 0; e < d / 2; ++e) {
        double angle = double(t) * std::pow(theta, -2.0 * e / d);
        double a = x[t][h * d + e], b = x[t][h * d + e + d / 2];
        x[t][h * d + e] = a * std::cos(angle) - b * std::sin(angle);
        x[t][h * d + e + d / 2] = b * std::cos(angle) + a * std::sin(angle);
      }
}

/// The whole model, in double, one loop at a time.
Mat naiveForward(const Tiny &m, const std::vector<int32_t> &tokens) {
  int h = m.hidden, d = m.headDim;
  Mat x;
  for (int32_t tok : tokens)
    x.push_back(std::vector<double>(m.embed.begin() + tok * h,
                                    m.embed.begin() + (tok + 1) * h));
  for (const TinyLayer &layer : m.layers) {
    Mat n = naiveRmsNorm(x, layer.inNorm, m.eps);
    Mat q = naiveLinear(n, layer.q, m.heads * d);
    Mat k = naiveLinear(n, layer.k, m.kvHeads * d);
    Mat v = naiveLinear(n, layer.v, m.kvHeads * d);
    naiveRope(q, m.heads, d, m.theta);
    naiveRope(k, m.kvHeads, d, m.theta);
    Mat attn(x.size(), std::vector<double>(m.heads * d, 0.0));
    for (int head = 0; head < m.heads; ++head) {
      int kvh = head / (m.heads / m.kvHeads);
      for (size_t t = 0; t < x.size(); ++t) {
        std::vector<double> s(t + 1);
        double mx = -1e300;
        for (size_t j = 0; j <= t; ++j) {
          double dotp = 0;
          for (int e = 0; e < d; ++e)
            dotp += q[t][head * d + e] * k[j][kvh * d + e];
          s[j] = dotp / std::sqrt(double(d));
          mx = std::max(mx, s[j]);
        }
        double sum = 0;
        for (double &val : s)
          sum += (val = std::exp(val - mx));
        for (size_t j = 0; j <= t; ++j)
          for (int e = 0; e < d; ++e)
            attn[t][head * d + e] += s[j] / sum * v[j][kvh * d + e];
      }
    }
    Mat o = naiveLinear(attn, layer.o, h);
    for (size_t t = 0; t < x.size(); ++t)
      for (int i = 0; i < h; ++i)
        x[t][i] += o[t][i];
    Mat n2 = naiveRmsNorm(x, layer.postNorm, m.eps);
    Mat g = naiveLinear(n2, layer.gate, m.ffn);
    Mat u = naiveLinear(n2, layer.up, m.ffn);
    Mat a(x.size(), std::vector<double>(m.ffn));
    for (size_t t = 0; t < x.size(); ++t)
      for (int i = 0; i < m.ffn; ++i)
        a[t][i] = g[t][i] / (1.0 + std::exp(-g[t][i])) * u[t][i];
    Mat dn = naiveLinear(a, layer.down, h);
    for (size_t t = 0; t < x.size(); ++t)
      for (int i = 0; i < h; ++i)
        x[t][i] += dn[t][i];
  }
  Mat n = naiveRmsNorm(x, m.finalNorm, m.eps);
  return naiveLinear(n, m.tied ? m.embed : m.lmHead, m.vocab);
}

/// Every logit within 1e-5 of the largest reference logit's magnitude.
void expectLogitsMatch(const std::vector<float> &got, const Mat &want,
                       int vocab) {
  ASSERT_EQ(got.size(), want.size() * vocab);
  double scale = 0;
  for (const auto &row : want)
    for (double v : row)
      scale = std::max(scale, std::abs(v));
  ASSERT_GT(scale, 0.1);
  for (size_t t = 0; t < want.size(); ++t)
    for (int j = 0; j < vocab; ++j)
      EXPECT_NEAR(got[t * vocab + j], want[t][j], 1e-5 * scale)
          << "position " << t << ", logit " << j;
}

LlamaModel makeModel(const Tiny &m, unsigned threads) {
  return llvm::cantFail(LlamaModel::create(configOf(m), weightsOf(m), threads),
                        "the tiny model is consistent");
}

} // namespace

TEST(LlamaForward, OneLayerMatchesScalarReference) {
  Tiny m = makeTiny(1, 1, /*tied=*/false);
  std::vector<int32_t> tokens = {3, 7, 1, 15, 0, 9, 9, 4};
  LlamaModel model = makeModel(m, 1);
  expectLogitsMatch(model.forward(tokens), naiveForward(m, tokens), m.vocab);
}

TEST(LlamaForward, TwoLayersTiedFourHeadsTwoKV) {
  Tiny geometry;
  geometry.heads = 4;
  geometry.kvHeads = 2;
  geometry.headDim = 2;
  geometry.theta = 500.0;
  Tiny m = makeTiny(7, 2, /*tied=*/true, geometry);
  std::vector<int32_t> tokens = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11};
  LlamaModel model = makeModel(m, 3);
  expectLogitsMatch(model.forward(tokens), naiveForward(m, tokens), m.vocab);
}

TEST(LlamaForward, ThreadCountDoesNotChangeResults) {
  Tiny m = makeTiny(3, 2, false);
  std::vector<int32_t> tokens = {5, 4, 3, 2, 1, 0, 15, 14, 13};
  std::vector<float> one = makeModel(m, 1).forward(tokens);
  std::vector<float> five = makeModel(m, 5).forward(tokens);
  EXPECT_EQ(one, five);
}

TEST(LlamaForward, PrefixLogitsDoNotSeeLaterTokens) {
  // Causality: the logits of a prefix equal the first rows for the longer
  // sequence, bit for bit.
  Tiny m = makeTiny(4, 1, false);
  std::vector<int32_t> longer = {2, 4, 6, 8, 10, 12};
  std::vector<int32_t> prefix = {2, 4, 6};
  LlamaModel model = makeModel(m, 2);
  std::vector<float> a = model.forward(longer), b = model.forward(prefix);
  EXPECT_EQ(std::vector<float>(a.begin(), a.begin() + 3 * m.vocab), b);
}

TEST(LlamaForward, CreateRejectsWrongWeightSize) {
  Tiny m = makeTiny(1, 1, false);
  LlamaWeights w = weightsOf(m);
  w.layers[0].gateUp.pop_back();
  EXPECT_EQ(errorOf(LlamaModel::create(configOf(m), std::move(w), 1)),
            "weight 'gate_up_proj' has 191 values, expected 192");
  LlamaWeights w2 = weightsOf(m);
  w2.lmHead.clear();
  EXPECT_EQ(errorOf(LlamaModel::create(configOf(m), std::move(w2), 1)),
            "weight 'lm_head' has 0 values, expected 128");
}

//===----------------------------------------------------------------------===//
// Building blocks, worked by hand
//===----------------------------------------------------------------------===//

TEST(LlamaBlocks, RmsNorm) {
  // sum of squares 9 + 1 + 1 + 1 = 12, mean 3, + eps 1 = 4, 1/sqrt = 0.5.
  float x[4] = {3, -1, 1, 1}, w[4] = {1, 2, 3, -1}, out[4];
  rmsNorm(x, w, 4, 1.0f, out);
  EXPECT_EQ(out[0], 1.5f);
  EXPECT_EQ(out[1], -1.0f);
  EXPECT_EQ(out[2], 1.5f);
  EXPECT_EQ(out[3], -0.5f);
  // In place, eps 0: mean of squares of {2, 2} is 4 -> x / 2.
  float y[2] = {2, -2}, ones[2] = {1, 1};
  rmsNorm(y, ones, 2, 0.0f, y);
  EXPECT_EQ(y[0], 1.0f);
  EXPECT_EQ(y[1], -1.0f);
}

TEST(LlamaBlocks, RotaryPositionZeroIsIdentity) {
  float v[4] = {1, 2, 3, 4};
  applyRotary(v, 4, 0, 10000.0);
  EXPECT_EQ(v[0], 1.0f);
  EXPECT_EQ(v[1], 2.0f);
  EXPECT_EQ(v[2], 3.0f);
  EXPECT_EQ(v[3], 4.0f);
}

TEST(LlamaBlocks, RotaryRotateHalf) {
  // d = 4, theta = 100: frequencies 100^0 = 1 and 100^(-2/4) = 0.1; at
  // position 2 the angles are 2 and 0.2. Pairs are (v0, v2) and (v1, v3).
  float v[4] = {1, 2, 3, 4};
  applyRotary(v, 4, 2, 100.0);
  EXPECT_NEAR(v[0], 1 * std::cos(2.0) - 3 * std::sin(2.0), 1e-6);
  EXPECT_NEAR(v[1], 2 * std::cos(0.2) - 4 * std::sin(0.2), 1e-6);
  EXPECT_NEAR(v[2], 3 * std::cos(2.0) + 1 * std::sin(2.0), 1e-6);
  EXPECT_NEAR(v[3], 4 * std::cos(0.2) + 2 * std::sin(0.2), 1e-6);
  // A unit vector on the first axis at position 1: (cos 1, 0, sin 1, 0).
  float u[4] = {1, 0, 0, 0};
  applyRotary(u, 4, 1, 10000.0);
  EXPECT_NEAR(u[0], 0.5403023, 1e-6);
  EXPECT_EQ(u[1], 0.0f);
  EXPECT_NEAR(u[2], 0.8414710, 1e-6);
  EXPECT_EQ(u[3], 0.0f);
}

TEST(LlamaBlocks, Softmax) {
  // exp(0) : exp(ln 3) = 1 : 3.
  float a[2] = {0.0f, float(std::log(3.0))};
  softmax(a, 2);
  EXPECT_NEAR(a[0], 0.25, 1e-7);
  EXPECT_NEAR(a[1], 0.75, 1e-7);
  // Shift invariance keeps large inputs finite.
  float b[2] = {1000.0f, 1000.0f + float(std::log(3.0))};
  softmax(b, 2);
  EXPECT_NEAR(b[0], 0.25, 1e-4);
  EXPECT_NEAR(b[1], 0.75, 1e-4);
  float c[4] = {-5, -5, -5, -5};
  softmax(c, 4);
  for (float x : c)
    EXPECT_EQ(x, 0.25f);
}

TEST(LlamaBlocks, Silu) {
  EXPECT_EQ(silu(0.0f), 0.0f);
  // -1 / (1 + e) = -0.26894142.
  EXPECT_NEAR(silu(-1.0f), -0.26894142, 1e-7);
  // 2 / (1 + e^-2) = 1.7615942.
  EXPECT_NEAR(silu(2.0f), 1.7615942, 1e-6);
}

TEST(LlamaBlocks, MatmulTransposed) {
  // x [2, 3], w [2, 3]: y = x w^T.
  float x[6] = {1, 2, 3, 4, 5, 6};
  float w[6] = {1, 0, -1, 2, 1, 0};
  for (unsigned threads : {1u, 2u, 8u}) {
    float y[4] = {0, 0, 0, 0};
    matmulTransposed(x, 2, 3, w, 2, y, threads);
    EXPECT_EQ(y[0], -2.0f);
    EXPECT_EQ(y[1], 4.0f);
    EXPECT_EQ(y[2], -2.0f);
    EXPECT_EQ(y[3], 13.0f);
  }
  // k = 19 exercises the eight-way unrolled part and the tail: sum of i^2
  // for i = 1..19 is 19 * 20 * 39 / 6 = 2470.
  std::vector<float> a(19), b(19);
  for (int i = 0; i < 19; ++i)
    a[i] = b[i] = float(i + 1);
  float r = 0;
  matmulTransposed(a.data(), 1, 19, b.data(), 1, &r, 1);
  EXPECT_EQ(r, 2470.0f);
}

//===----------------------------------------------------------------------===//
// Config
//===----------------------------------------------------------------------===//

TEST(LlamaConfigTest, DefaultsAndRopeParameters) {
  nlohmann::json j = {{"model_type", "llama"},
                      {"hidden_size", 64},
                      {"intermediate_size", 96},
                      {"num_hidden_layers", 2},
                      {"num_attention_heads", 4},
                      {"vocab_size", 100},
                      {"rms_norm_eps", 1e-5},
                      {"rope_parameters",
                       {{"rope_theta", 500000.0}, {"rope_type", "default"}}}};
  auto c = LlamaConfig::fromJson(j, "config.json");
  ASSERT_TRUE(bool(c)) << errorOf(c.takeError());
  EXPECT_EQ(c->numKVHeads, 4);
  EXPECT_EQ(c->headDim, 16);
  EXPECT_EQ(c->ropeTheta, 500000.0);
  EXPECT_EQ(c->rmsNormEps, 1e-5f);
  EXPECT_EQ(c->maxPositionEmbeddings, 0);
  EXPECT_FALSE(c->tieWordEmbeddings);
  EXPECT_EQ(c->qkvRows(), (4 + 8) * 16);

  j.erase("rope_parameters");
  c = LlamaConfig::fromJson(j, "config.json");
  ASSERT_TRUE(bool(c));
  EXPECT_EQ(c->ropeTheta, 10000.0);
  j["rope_theta"] = 20000.0;
  j["num_key_value_heads"] = 2;
  j["head_dim"] = 8;
  j["tie_word_embeddings"] = true;
  j["max_position_embeddings"] = 2048;
  c = LlamaConfig::fromJson(j, "config.json");
  ASSERT_TRUE(bool(c));
  EXPECT_EQ(c->ropeTheta, 20000.0);
  EXPECT_EQ(c->numKVHeads, 2);
  EXPECT_EQ(c->headDim, 8);
  EXPECT_TRUE(c->tieWordEmbeddings);
  EXPECT_EQ(c->maxPositionEmbeddings, 2048);
}

TEST(LlamaConfigTest, Errors) {
  nlohmann::json base = {{"hidden_size", 64},      {"intermediate_size", 96},
                         {"num_hidden_layers", 2}, {"num_attention_heads", 4},
                         {"vocab_size", 100},      {"rms_norm_eps", 1e-5}};
  nlohmann::json j = base;
  j.erase("vocab_size");
  EXPECT_EQ(errorOf(LlamaConfig::fromJson(j, "m/config.json")),
            "m/config.json: missing required field 'vocab_size'");
  j = base;
  j["model_type"] = "gpt2";
  EXPECT_EQ(errorOf(LlamaConfig::fromJson(j, "m/config.json")),
            "m/config.json: model_type 'gpt2' is not supported by eval "
            "(llama, mistral)");
  j = base;
  j["num_key_value_heads"] = 3;
  EXPECT_EQ(errorOf(LlamaConfig::fromJson(j, "m/config.json")),
            "m/config.json: num_attention_heads 4 is not a multiple of "
            "num_key_value_heads 3");
  j = base;
  j["rope_scaling"] = {{"rope_type", "llama3"}, {"factor", 8.0}};
  EXPECT_EQ(errorOf(LlamaConfig::fromJson(j, "m/config.json")),
            "m/config.json: rope_scaling rope type 'llama3' is not supported "
            "by eval (only default)");
  j = base;
  j["hidden_size"] = "64";
  EXPECT_EQ(errorOf(LlamaConfig::fromJson(j, "m/config.json")),
            "m/config.json: field 'hidden_size' must be an integer");
  j = base;
  j["num_attention_heads"] = 0;
  EXPECT_EQ(errorOf(LlamaConfig::fromJson(j, "m/config.json")),
            "m/config.json: field 'num_attention_heads' must be positive");
}

//===----------------------------------------------------------------------===//
// Perplexity
//===----------------------------------------------------------------------===//

/// log-sum-exp minus the target logit, in double, from the naive model.
double naiveNLL(const std::vector<double> &logits, int target) {
  double mx = *std::max_element(logits.begin(), logits.end()), s = 0;
  for (double v : logits)
    s += std::exp(v - mx);
  return mx + std::log(s) - logits[target];
}

TEST(Perplexity, WindowsMatchScalarReference) {
  Tiny m = makeTiny(11, 1, false);
  std::vector<int32_t> tokens = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10};
  // Context 4: windows [1..4], [5..8], [9, 10] predict 3 + 3 + 1 tokens.
  double total = 0;
  for (size_t start = 0; start < tokens.size(); start += 4) {
    std::vector<int32_t> w(tokens.begin() + start,
                           tokens.begin() + std::min(tokens.size(), start + 4));
    Mat logits = naiveForward(m, w);
    for (size_t i = 0; i + 1 < w.size(); ++i)
      total += naiveNLL(logits[i], w[i + 1]);
  }
  double expected = std::exp(total / 7);
  auto r = evaluatePerplexity(makeModel(m, 2), tokens, 4);
  ASSERT_TRUE(bool(r)) << errorOf(r.takeError());
  EXPECT_EQ(r->tokens, 10);
  EXPECT_EQ(r->predicted, 7);
  EXPECT_EQ(r->windows, 3);
  EXPECT_NEAR(r->perplexity, expected, 1e-5 * expected);
  EXPECT_NEAR(r->meanNLL, total / 7, 1e-5);
}

TEST(Perplexity, Errors) {
  Tiny m = makeTiny(11, 1, false);
  LlamaModel model = makeModel(m, 1);
  EXPECT_EQ(errorOf(evaluatePerplexity(model, {1, 2, 3}, 1)),
            "context must be at least 2 tokens, got 1");
  EXPECT_EQ(errorOf(evaluatePerplexity(model, {1}, 8)),
            "no token to predict: need at least 2 tokens, got 1");
  EXPECT_EQ(errorOf(evaluatePerplexity(model, {1, 16}, 8)),
            "token 1 is 16, outside the vocabulary [0, 16)");
}

TEST(Perplexity, TokenNLL) {
  float uniform[4] = {0, 0, 0, 0};
  EXPECT_NEAR(tokenNLL(uniform, 4, 1), std::log(4.0), 1e-12);
  // p(target) = 3/4 -> NLL = ln(4/3).
  float skewed[2] = {0.0f, float(std::log(3.0))};
  EXPECT_NEAR(tokenNLL(skewed, 2, 1), std::log(4.0 / 3.0), 1e-7);
}

TEST(Perplexity, ReadByteTokens) {
  std::string dir = scratchDir("bytes");
  writeFile(dir + "/t.txt", "AB\n");
  auto t = readByteTokens(dir + "/t.txt", 256);
  ASSERT_TRUE(bool(t)) << errorOf(t.takeError());
  EXPECT_EQ(*t, (std::vector<int32_t>{65, 66, 10}));
  EXPECT_EQ(errorOf(readByteTokens(dir + "/t.txt", 66)),
            dir + "/t.txt: byte 66 at offset 1 is outside the vocabulary "
                  "[0, 66)");
  std::string missing = errorOf(readByteTokens(dir + "/none.txt", 256));
  EXPECT_EQ(missing.rfind(dir + "/none.txt: cannot read: ", 0), 0u) << missing;
}

TEST(Perplexity, ReadTokenIds) {
  std::string dir = scratchDir("ids");
  writeFile(dir + "/ok.txt", " 1 2\n3\t15 \n");
  auto t = readTokenIds(dir + "/ok.txt", 16);
  ASSERT_TRUE(bool(t)) << errorOf(t.takeError());
  EXPECT_EQ(*t, (std::vector<int32_t>{1, 2, 3, 15}));
  writeFile(dir + "/word.txt", "1 x 3");
  EXPECT_EQ(errorOf(readTokenIds(dir + "/word.txt", 16)),
            dir + "/word.txt: token 1 (at byte 2) 'x' is not a token id in "
                  "[0, 16)");
  writeFile(dir + "/big.txt", "0 16");
  EXPECT_EQ(errorOf(readTokenIds(dir + "/big.txt", 16)),
            dir + "/big.txt: token 1 (at byte 2) '16' is not a token id in "
                  "[0, 16)");
  writeFile(dir + "/neg.txt", "-1");
  EXPECT_EQ(errorOf(readTokenIds(dir + "/neg.txt", 16)),
            dir + "/neg.txt: token 0 (at byte 0) '-1' is not a token id in "
                  "[0, 16)");
}
