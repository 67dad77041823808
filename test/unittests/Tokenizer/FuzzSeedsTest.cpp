//===- FuzzSeedsTest.cpp - The tokenizer fuzz seeds, in the normal build --===//
//
// Every seed of test/fuzz/corpus/tokenizer (make_fuzz_seeds.py: the
// fixtures shrunk to 300 ids, and a truncated one) goes through the fuzz
// target's function; the shrunk ones must open and encode, the truncated
// one must fail with its line and column.
//
//===----------------------------------------------------------------------===//

#include "qopt/Tokenizer/Tokenizer.h"

#include "llvm/Support/MemoryBuffer.h"

#include <gtest/gtest.h>

#include <filesystem>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

using qopt::tokenizer::Tokenizer;

TEST(TokenizerFuzzSeeds, Replay) {
  std::string dir = std::string(QOPT_TEST_CORPUS) + "/tokenizer";
  size_t seeds = 0;
  for (const auto &entry : std::filesystem::directory_iterator(dir)) {
    std::string path = entry.path().string();
    auto buffer = llvm::MemoryBuffer::getFile(path);
    ASSERT_TRUE(!!buffer) << path;
    llvm::StringRef text = (*buffer)->getBuffer();
    EXPECT_EQ(LLVMFuzzerTestOneInput(
                  reinterpret_cast<const uint8_t *>(text.data()), text.size()),
              0);
    llvm::Expected<std::unique_ptr<Tokenizer>> tok =
        Tokenizer::fromJson(text, path);
    if (entry.path().filename() == "truncated.json") {
      ASSERT_FALSE(!!tok);
      std::string message = llvm::toString(tok.takeError());
      EXPECT_EQ(message, path + ":1:" + std::to_string(text.size() + 1) +
                             ": invalid JSON");
    } else {
      ASSERT_TRUE(!!tok) << llvm::toString(tok.takeError());
      llvm::Expected<std::vector<int32_t>> ids =
          (*tok)->encode("Hello, world! Caf\xC3\xA9");
      ASSERT_TRUE(!!ids) << path;
      EXPECT_FALSE(ids->empty()) << path;
    }
    ++seeds;
  }
  EXPECT_EQ(seeds, 8u);
}
