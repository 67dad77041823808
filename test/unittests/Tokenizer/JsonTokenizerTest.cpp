//===- JsonTokenizerTest.cpp - tokenizer.json against tokenizers.js -------===//
//
// The fixtures of test/Inputs/tokenizers are tiny byte-level BPE
// tokenizers in real tokenizer.json form (test/reference/tokenizers/
// make_bpe_fixtures.py); expected-js.json holds the ids that
// @huggingface/tokenizers (pure JavaScript, an independent implementation)
// gives for each string (encode_with_tokenizers_js.mjs).
//
//===----------------------------------------------------------------------===//

#include "qopt/Tokenizer/Tokenizer.h"

#include "llvm/Support/MemoryBuffer.h"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <thread>

using qopt::tokenizer::Tokenizer;

static const std::string kDir = std::string(QOPT_TEST_INPUTS) + "/tokenizers";

static nlohmann::json expectedIds() {
  auto buffer = llvm::MemoryBuffer::getFile(kDir + "/expected-js.json");
  if (!buffer)
    return nlohmann::json();
  llvm::StringRef text = (*buffer)->getBuffer();
  return nlohmann::json::parse(text.begin(), text.end(), nullptr, false);
}

static std::unique_ptr<Tokenizer> openFixture(const std::string &name) {
  llvm::Expected<std::unique_ptr<Tokenizer>> t =
      Tokenizer::open(kDir + "/" + name);
  if (!t) {
    ADD_FAILURE() << llvm::toString(t.takeError());
    return nullptr;
  }
  return std::move(*t);
}

class JsonFixture : public testing::TestWithParam<const char *> {};

TEST_P(JsonFixture, IdsMatchTokenizersJs) {
  nlohmann::json expected = expectedIds();
  ASSERT_TRUE(expected.is_object());
  ASSERT_TRUE(expected.contains(GetParam()));
  std::unique_ptr<Tokenizer> tok = openFixture(GetParam());
  ASSERT_TRUE(tok);
  size_t checked = 0;
  for (const nlohmann::json &entry : expected[GetParam()]) {
    std::string text = entry["text"].get<std::string>();
    for (bool special : {true, false}) {
      llvm::Expected<std::vector<int32_t>> ids = tok->encode(text, special);
      ASSERT_TRUE(!!ids) << llvm::toString(ids.takeError());
      std::vector<int32_t> want =
          entry[special ? "ids" : "ids_no_special"].get<std::vector<int32_t>>();
      EXPECT_EQ(*ids, want) << "text: '" << text << "' special: " << special;
      ++checked;
    }
  }
  EXPECT_EQ(checked, 2 * expected[GetParam()].size());
  EXPECT_GE(checked, 50u);
}

INSTANTIATE_TEST_SUITE_P(Fixtures, JsonFixture,
                         testing::Values("qwen2", "llama3", "gpt2",
                                         "gpt2-prefix", "digits",
                                         "tiktoken-o200k", "llama2-json",
                                         "mistral-json"));

// Sentencepiece-style tokenizer.json: spaces as U+2581, byte fallback.
TEST(JsonTokenizer, SentencePieceStyleDecodes) {
  std::unique_ptr<Tokenizer> tok = openFixture("llama2-json");
  ASSERT_TRUE(tok);
  std::string text = "Hello  world, 東京 😀 and \x01";
  llvm::Expected<std::vector<int32_t>> ids = tok->encode(text, false);
  ASSERT_TRUE(!!ids) << llvm::toString(ids.takeError());
  llvm::Expected<std::string> back = tok->decode(*ids);
  ASSERT_TRUE(!!back) << llvm::toString(back.takeError());
  EXPECT_EQ(*back, text);
}

// Byte-level BPE loses nothing: decoding gives the text back (the fixtures
// without a normalizer; added tokens decode to their content).
TEST(JsonTokenizer, DecodeRoundTrips) {
  for (const char *name : {"llama3", "gpt2"}) {
    std::unique_ptr<Tokenizer> tok = openFixture(name);
    ASSERT_TRUE(tok);
    for (std::string text :
         {std::string("Hello, world!  Ça va? 日本語 😀\n\tend"),
          std::string("nul\0byte", 8), std::string("<|endoftext|>x")}) {
      llvm::Expected<std::vector<int32_t>> ids = tok->encode(text, false);
      ASSERT_TRUE(!!ids) << llvm::toString(ids.takeError());
      llvm::Expected<std::string> back = tok->decode(*ids);
      ASSERT_TRUE(!!back) << llvm::toString(back.takeError());
      EXPECT_EQ(*back, text) << name;
    }
  }
}

TEST(JsonTokenizer, BosFromTemplate) {
  std::unique_ptr<Tokenizer> tok = openFixture("llama3");
  ASSERT_TRUE(tok);
  // <|begin_of_text|> is the first added token, after the 556 trained
  // entries and the one extra word.
  llvm::Expected<std::vector<int32_t>> ids = tok->encode("", true);
  ASSERT_TRUE(!!ids);
  EXPECT_EQ(*ids, std::vector<int32_t>{557});
  EXPECT_EQ(tok->vocabSize(), 562);
}

TEST(JsonTokenizer, InvalidUtf8IsAnError) {
  std::unique_ptr<Tokenizer> tok = openFixture("qwen2");
  ASSERT_TRUE(tok);
  llvm::Expected<std::vector<int32_t>> ids = tok->encode("ab\xC3(cd");
  ASSERT_FALSE(!!ids);
  EXPECT_EQ(llvm::toString(ids.takeError()),
            kDir + "/qwen2/tokenizer.json: text is not valid UTF-8 (bad byte "
                   "at offset 2)");
}

TEST(JsonTokenizer, DecodeUnknownId) {
  std::unique_ptr<Tokenizer> tok = openFixture("gpt2");
  ASSERT_TRUE(tok);
  llvm::Expected<std::string> text = tok->decode({5, 100000});
  ASSERT_FALSE(!!text);
  EXPECT_EQ(llvm::toString(text.takeError()),
            kDir + "/gpt2/tokenizer.json: cannot decode token id 100000: not "
                   "in the vocabulary");
}

// A whitespace run of 1 MB is one word; merging it must stay O(n log n).
TEST(JsonTokenizer, LongWordIsFast) {
  std::unique_ptr<Tokenizer> tok = openFixture("llama3");
  ASSERT_TRUE(tok);
  std::string text(1 << 20, ' ');
  text += "x";
  llvm::Expected<std::vector<int32_t>> ids = tok->encode(text, false);
  ASSERT_TRUE(!!ids) << llvm::toString(ids.takeError());
  llvm::Expected<std::string> back = tok->decode(*ids);
  ASSERT_TRUE(!!back);
  EXPECT_EQ(*back, text);
}

// One tokenizer shared by threads (the word cache is shared): every thread
// gets tokenizers.js's ids.
TEST(JsonTokenizer, SharedByThreads) {
  nlohmann::json expected = expectedIds();
  ASSERT_TRUE(expected.contains("qwen2"));
  std::unique_ptr<Tokenizer> tok = openFixture("qwen2");
  ASSERT_TRUE(tok);
  const nlohmann::json &entries = expected["qwen2"];
  std::vector<int> mismatches(4, 0);
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t)
    threads.emplace_back([&, t] {
      for (int round = 0; round < 20; ++round)
        for (size_t i = 0; i < entries.size(); ++i) {
          const nlohmann::json &e = entries[(i + t * 7) % entries.size()];
          llvm::Expected<std::vector<int32_t>> ids =
              tok->encode(e["text"].get<std::string>());
          if (!ids) {
            llvm::consumeError(ids.takeError());
            ++mismatches[t];
          } else if (*ids != e["ids"].get<std::vector<int32_t>>()) {
            ++mismatches[t];
          }
        }
    });
  for (std::thread &th : threads)
    th.join();
  EXPECT_EQ(mismatches, std::vector<int>(4, 0));
}
