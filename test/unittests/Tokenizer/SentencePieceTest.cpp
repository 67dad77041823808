//===- SentencePieceTest.cpp - tokenizer.model through libsentencepiece ---===//
//
// expected-spm.json holds python3-sentencepiece's ids (without BOS) for the
// tiny models of test/Inputs/tokenizers (make_spm_fixtures.py). That is the
// same C++ library as ours, so these tests check our wrapping (BOS/EOS,
// errors); the ids themselves are also checked against tokenizers.js on the
// converted llama2-json (make_spm_fixtures.py --check).
//
//===----------------------------------------------------------------------===//

#include "qopt/Tokenizer/Tokenizer.h"

#include "llvm/Support/FileSystem.h"
#include "llvm/Support/MemoryBuffer.h"
#include "llvm/Support/Path.h"
#include "llvm/Support/raw_ostream.h"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

using qopt::tokenizer::Tokenizer;

static const std::string kDir = std::string(QOPT_TEST_INPUTS) + "/tokenizers";

static nlohmann::json readJson(const std::string &path) {
  auto buffer = llvm::MemoryBuffer::getFile(path);
  if (!buffer)
    return nlohmann::json();
  llvm::StringRef text = (*buffer)->getBuffer();
  return nlohmann::json::parse(text.begin(), text.end(), nullptr, false);
}

class SpmFixture : public testing::TestWithParam<const char *> {};

TEST_P(SpmFixture, IdsMatchSentencePiece) {
  nlohmann::json expected = readJson(kDir + "/expected-spm.json");
  ASSERT_TRUE(expected.contains(GetParam()));
  // The directory has only tokenizer.model: open() takes it.
  llvm::Expected<std::unique_ptr<Tokenizer>> tok =
      Tokenizer::open(kDir + "/" + GetParam());
  ASSERT_TRUE(!!tok) << llvm::toString(tok.takeError());
  EXPECT_EQ((*tok)->path(), kDir + "/" + GetParam() + "/tokenizer.model");
  size_t checked = 0;
  for (const nlohmann::json &entry : expected[GetParam()]) {
    std::string text = entry["text"].get<std::string>();
    std::vector<int32_t> want = entry["ids"].get<std::vector<int32_t>>();
    llvm::Expected<std::vector<int32_t>> plain = (*tok)->encode(text, false);
    ASSERT_TRUE(!!plain) << llvm::toString(plain.takeError());
    EXPECT_EQ(*plain, want) << text;
    // Without tokenizer_config.json, BOS (id 1) is added.
    want.insert(want.begin(), 1);
    llvm::Expected<std::vector<int32_t>> withBos = (*tok)->encode(text);
    ASSERT_TRUE(!!withBos);
    EXPECT_EQ(*withBos, want) << text;
    ++checked;
  }
  EXPECT_GE(checked, 25u);
}

INSTANTIATE_TEST_SUITE_P(Fixtures, SpmFixture,
                         testing::Values("llama2-spm", "unigram-spm"));

TEST(SentencePiece, TokenizerConfigSaysBosAndEos) {
  llvm::SmallString<128> dir;
  ASSERT_FALSE(llvm::sys::fs::createUniqueDirectory(
      std::string(QOPT_TEST_TMPDIR) + "/spm-config", dir));
  std::string model = (dir + "/tokenizer.model").str();
  ASSERT_FALSE(
      llvm::sys::fs::copy_file(kDir + "/llama2-spm/tokenizer.model", model));
  {
    std::error_code ec;
    llvm::raw_fd_ostream os((dir + "/tokenizer_config.json").str(), ec);
    os << R"({"add_bos_token": false, "add_eos_token": true})";
  }
  llvm::Expected<std::unique_ptr<Tokenizer>> tok = Tokenizer::open(dir);
  ASSERT_TRUE(!!tok) << llvm::toString(tok.takeError());
  llvm::Expected<std::vector<int32_t>> plain = (*tok)->encode("Hi", false);
  llvm::Expected<std::vector<int32_t>> ids = (*tok)->encode("Hi");
  ASSERT_TRUE(plain && ids);
  std::vector<int32_t> want = *plain;
  want.push_back(2);
  EXPECT_EQ(*ids, want);

  // A config that is not JSON is an error naming it.
  {
    std::error_code ec;
    llvm::raw_fd_ostream os((dir + "/tokenizer_config.json").str(), ec);
    os << "{oops";
  }
  llvm::Expected<std::unique_ptr<Tokenizer>> bad = Tokenizer::open(dir);
  ASSERT_FALSE(!!bad);
  EXPECT_EQ(llvm::toString(bad.takeError()),
            (dir + "/tokenizer_config.json: not a JSON object").str());
  llvm::sys::fs::remove_directories(dir);
}

TEST(SentencePiece, DecodeRoundTrips) {
  llvm::Expected<std::unique_ptr<Tokenizer>> tok =
      Tokenizer::open(kDir + "/llama2-spm");
  ASSERT_TRUE(!!tok);
  std::string text = "Hello  world, 東京 😀 and \x01";
  llvm::Expected<std::vector<int32_t>> ids = (*tok)->encode(text, false);
  ASSERT_TRUE(!!ids);
  llvm::Expected<std::string> back = (*tok)->decode(*ids);
  ASSERT_TRUE(!!back);
  EXPECT_EQ(*back, text);
  llvm::Expected<std::string> bad = (*tok)->decode({7000});
  ASSERT_FALSE(!!bad);
  EXPECT_EQ(llvm::toString(bad.takeError()),
            kDir + "/llama2-spm/tokenizer.model: cannot decode token id "
                   "7000: not in the vocabulary");
}

TEST(SentencePiece, NotAModel) {
  // A tokenizer.json is not a protobuf.
  llvm::Expected<std::unique_ptr<Tokenizer>> tok =
      Tokenizer::openSentencePiece(kDir + "/gpt2/tokenizer.json");
  ASSERT_FALSE(!!tok);
  std::string message = llvm::toString(tok.takeError());
  EXPECT_EQ(message.rfind(kDir + "/gpt2/tokenizer.json: not a sentencepiece "
                                 "model: ",
                          0),
            0u)
      << message;
}
