//===- DecoderTest.cpp - The decoder variants and calibration statistics --===//
//
// The generalized forward against LlamaModel (bit for bit on the shipped
// byte Llama), the statistics kernels against sums worked by hand, and the
// streamed STATS writer's bytes and failure behaviour. The architecture
// variants themselves are checked against the pure-Python reference in
// test/Eval/calibrate-*.test.
//
//===----------------------------------------------------------------------===//

#include "EvalTestUtil.h"

#include "qopt/Eval/Calibration.h"
#include "qopt/Eval/Decoder.h"
#include "qopt/Eval/Llama.h"
#include "qopt/Eval/Perplexity.h"
#include "qopt/Eval/WeightSource.h"
#include "qopt/Loaders/Calibration.h"

#include <nlohmann/json.hpp>

#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

using namespace qopt::eval;
using namespace qopt::eval::test;

namespace {

std::string readAll(const std::string &path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

TEST(DecoderTest, LlamaLogitsAreBitIdenticalToLlamaModel) {
  std::string dir = std::string(QOPT_TEST_INPUTS) + "/bytellama-fp16-st";
  auto llamaConfig = LlamaConfig::read(dir);
  ASSERT_TRUE(bool(llamaConfig)) << llvm::toString(llamaConfig.takeError());
  auto ckpt = CheckpointWeightSource::open(dir);
  ASSERT_TRUE(bool(ckpt)) << llvm::toString(ckpt.takeError());
  auto weights = loadLlamaWeights(*llamaConfig, **ckpt);
  ASSERT_TRUE(bool(weights)) << llvm::toString(weights.takeError());
  auto model = LlamaModel::create(*llamaConfig, std::move(*weights), 2);
  ASSERT_TRUE(bool(model)) << llvm::toString(model.takeError());
  std::string text = "The quick brown fox jumps over the lazy dog.";
  std::vector<int32_t> tokens(text.begin(), text.end());
  std::vector<float> want = model->forward(tokens);

  auto config = DecoderConfig::read(dir);
  ASSERT_TRUE(bool(config)) << llvm::toString(config.takeError());
  auto source = ModelWeightSource::open(dir);
  ASSERT_TRUE(bool(source)) << llvm::toString(source.takeError());
  for (unsigned threads : {1u, 3u}) {
    auto got = decoderLogits(*config, **source, tokens, threads);
    ASSERT_TRUE(bool(got)) << llvm::toString(got.takeError());
    ASSERT_EQ(got->size(), want.size());
    EXPECT_EQ(0, std::memcmp(got->data(), want.data(), want.size() * 4))
        << "threads " << threads;
  }

  // Perplexity over windows of 20 (20 + 20 + 4 tokens), layer by layer over
  // all windows: the same mean NLL to the last bit.
  auto ppl = evaluatePerplexity(*model, tokens, 20);
  ASSERT_TRUE(bool(ppl)) << llvm::toString(ppl.takeError());
  auto decoderPpl = evaluateDecoderPerplexity(*config, **source, tokens, 20, 2);
  ASSERT_TRUE(bool(decoderPpl)) << llvm::toString(decoderPpl.takeError());
  EXPECT_EQ(ppl->meanNLL, decoderPpl->meanNLL);
  EXPECT_EQ(ppl->predicted, decoderPpl->predicted);
  EXPECT_EQ(ppl->windows, decoderPpl->windows);
}

TEST(DecoderTest, UnsupportedModelType) {
  auto c = DecoderConfig::fromJson(
      nlohmann::json{{"model_type", "gpt2"}, {"hidden_size", 8}}, "cfg.json");
  ASSERT_FALSE(bool(c));
  EXPECT_EQ(llvm::toString(c.takeError()),
            "cfg.json: model_type 'gpt2' is not supported by the reference "
            "forward (llama, mistral, qwen2, qwen3, gemma, gemma2, phi3, "
            "mixtral)");
}

TEST(DecoderTest, Gemma2SlidingWindowOnEvenLayers) {
  nlohmann::json j = {{"model_type", "gemma2"},
                      {"hidden_size", 8},
                      {"intermediate_size", 16},
                      {"num_hidden_layers", 3},
                      {"num_attention_heads", 2},
                      {"head_dim", 4},
                      {"vocab_size", 10},
                      {"rms_norm_eps", 1e-6},
                      {"hidden_activation", "gelu_pytorch_tanh"},
                      {"query_pre_attn_scalar", 16},
                      {"sliding_window", 5},
                      {"final_logit_softcapping", 30.0},
                      {"attn_logit_softcapping", 50.0}};
  auto c = DecoderConfig::fromJson(j, "cfg.json");
  ASSERT_TRUE(bool(c)) << llvm::toString(c.takeError());
  EXPECT_EQ(c->slidingWindow, (std::vector<int64_t>{5, 0, 5}));
  EXPECT_EQ(c->queryScale, 0.25f);
  EXPECT_EQ(c->attnSoftcap, 50.0f);
  EXPECT_EQ(c->finalSoftcap, 30.0f);
  EXPECT_TRUE(c->dims.tieWordEmbeddings);
  EXPECT_EQ(c->activation, Activation::GeluTanh);
}

// x = [[1, 2], [3, -1], [0.5, 4]]:
//   sum x0^2 = 1 + 9 + 0.25 = 10.25, sum x1^2 = 4 + 1 + 16 = 21,
//   sum x1 x0 = 2 - 3 + 2 = 1.
TEST(DecoderTest, StatisticsKernelsByHand) {
  const float x[] = {1, 2, 3, -1, 0.5f, 4};
  for (unsigned threads : {1u, 2u, 5u}) {
    std::vector<double> sq(2, 0.0), outer(4, 0.0);
    accumulateSquares(x, 3, 2, sq.data(), threads);
    accumulateOuterProducts(x, 3, 2, outer.data(), threads);
    EXPECT_EQ(sq, (std::vector<double>{10.25, 21}));
    // The lower triangle only: [0][0], [1][0], [1][1].
    EXPECT_EQ(outer, (std::vector<double>{10.25, 0, 1, 21}));
  }
}

TEST(DecoderTest, OuterProductsSameForAnyThreadCount) {
  // 70 channels (three 32-row blocks, the last partial), 9 rows.
  std::vector<float> x(9 * 70);
  for (size_t i = 0; i < x.size(); ++i)
    x[i] = float(int(i * 37 % 101) - 50) / 7.0f;
  std::vector<double> one(70 * 70, 0.0), many(70 * 70, 0.0);
  accumulateOuterProducts(x.data(), 9, 70, one.data(), 1);
  accumulateOuterProducts(x.data(), 9, 70, many.data(), 4);
  EXPECT_EQ(0, std::memcmp(one.data(), many.data(), one.size() * 8));
  // An entry recomputed in the obvious way.
  double want = 0;
  for (int r = 0; r < 9; ++r)
    want += double(x[r * 70 + 69]) * double(x[r * 70 + 3]);
  EXPECT_EQ(one[69 * 70 + 3], want);
}

TEST(DecoderTest, StatsFileWriterBytes) {
  std::string dir = scratchDir("stats-writer");
  std::string path = dir + "/s.safetensors";
  auto w = StatsFileWriter::create(
      path, {{"format", "quant-opt-calibration"}},
      {{"a.imatrix", false, {2}}, {"a.count", true, {1}}});
  ASSERT_TRUE(bool(w)) << llvm::toString(w.takeError());
  EXPECT_FALSE(std::filesystem::exists(path));
  float a[2] = {1.5f, -2.0f};
  ASSERT_FALSE(bool((*w)->append("a.imatrix", a, 4)));
  ASSERT_FALSE(bool((*w)->append("a.imatrix", a + 1, 4)));
  int64_t n = 3;
  ASSERT_FALSE(bool((*w)->append("a.count", &n, 8)));
  ASSERT_FALSE(bool((*w)->commit()));
  w->reset();

  std::string header =
      R"({"__metadata__":{"format":"quant-opt-calibration"},)"
      R"("a.imatrix":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},)"
      R"("a.count":{"dtype":"I64","shape":[1],"data_offsets":[8,16]}})";
  header.append((8 - header.size() % 8) % 8, ' ');
  std::string want;
  for (int i = 0; i < 8; ++i)
    want += char((uint64_t(header.size()) >> (8 * i)) & 0xFF);
  want += header + leF32(1.5f) + leF32(-2.0f);
  want += std::string("\x03\0\0\0\0\0\0\0", 8);
  EXPECT_EQ(readAll(path), want);
  // Nothing else is left in the directory.
  EXPECT_EQ(std::distance(std::filesystem::directory_iterator(dir),
                          std::filesystem::directory_iterator()),
            1);
}

TEST(DecoderTest, StatsFileWriterLeavesNothingWhenIncomplete) {
  std::string dir = scratchDir("stats-writer-incomplete");
  std::string path = dir + "/s.safetensors";
  {
    auto w = StatsFileWriter::create(path, {},
                                     {{"a.imatrix", false, {2}},
                                      {"a.count", true, {1}}});
    ASSERT_TRUE(bool(w));
    float a[2] = {1, 2};
    ASSERT_FALSE(bool((*w)->append("a.imatrix", a, 8)));
    llvm::Error wrong = (*w)->append("b.count", a, 8);
    ASSERT_TRUE(bool(wrong));
    EXPECT_EQ(llvm::toString(std::move(wrong)),
              path + ": internal error: tensor 'b.count' written out of the "
                     "declared order");
    llvm::Error early = (*w)->commit();
    ASSERT_TRUE(bool(early));
    EXPECT_EQ(llvm::toString(std::move(early)),
              path + ": internal error: tensor 'a.count' is incomplete");
  }
  EXPECT_EQ(std::distance(std::filesystem::directory_iterator(dir),
                          std::filesystem::directory_iterator()),
            0);
}

// A STATS file written by calibrate() (mixtral: dense and stacked-expert
// entries) reads back through the project's reader of the format
// (lib/Loaders/Calibration.h): the same entries, shapes and values.
TEST(DecoderTest, StatsFileReadsBackThroughTheLoader) {
  std::string dir = std::string(QOPT_TEST_INPUTS) + "/mixtral-bf16-st";
  std::string out = scratchDir("stats-loader") + "/m.safetensors";
  auto config = DecoderConfig::read(dir);
  ASSERT_TRUE(bool(config)) << llvm::toString(config.takeError());
  auto source = ModelWeightSource::open(dir);
  ASSERT_TRUE(bool(source)) << llvm::toString(source.takeError());
  std::vector<int32_t> tokens = {3, 17, 250, 4, 99, 511, 7, 42};
  CalibrationOptions options;
  options.context = 5;
  options.hessian = true;
  auto result = calibrate(*config, **source, tokens, out, options);
  ASSERT_TRUE(bool(result)) << llvm::toString(result.takeError());
  EXPECT_EQ(result->tensors, 33); // 2 x 5 linear layers + lm_head, x 3

  auto file = qopt::loaders::CalibrationFile::open(out);
  ASSERT_TRUE(bool(file)) << llvm::toString(file.takeError());
  std::vector<std::string> names;
  for (const auto &e : (*file)->getEntries())
    names.push_back(e.name);
  std::vector<std::string> want;
  for (int64_t l = 0; l <= 2; ++l)
    for (const LinearSpec &s : decoderLinears(*config, l))
      want.push_back(s.name);
  std::sort(names.begin(), names.end());
  std::sort(want.begin(), want.end());
  EXPECT_EQ(names, want);
  const auto *experts = (*file)->find("model.layers.1.moe.e2.weight");
  ASSERT_NE(experts, nullptr);
  EXPECT_EQ(experts->importanceShape, (std::vector<int64_t>{4, 256}));
  EXPECT_EQ(experts->hessianShape, (std::vector<int64_t>{4, 256, 256}));
  std::vector<float> importance, hessian;
  ASSERT_FALSE(bool((*file)->readImportance(experts->name, importance)));
  ASSERT_FALSE(bool((*file)->readHessian(experts->name, hessian)));
  ASSERT_EQ(importance.size(), 4u * 256);
  ASSERT_EQ(hessian.size(), 4u * 256 * 256);
  // The Hessians' diagonals are the importances, bit for bit.
  for (size_t e = 0; e < 4; ++e)
    for (size_t k = 0; k < 256; ++k)
      ASSERT_EQ(hessian[(e * 256 + k) * 256 + k], importance[e * 256 + k]);
}

} // namespace
