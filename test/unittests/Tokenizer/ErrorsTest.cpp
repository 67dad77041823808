//===- ErrorsTest.cpp - What a tokenizer refuses, in which words ----------===//

#include "qopt/Tokenizer/Tokenizer.h"

#include "llvm/Support/FileSystem.h"
#include "llvm/Support/raw_ostream.h"

#include <gtest/gtest.h>

using qopt::tokenizer::Tokenizer;

namespace {
/// A temporary directory holding one tokenizer.json.
class TokenizerJsonErrors : public testing::Test {
protected:
  void SetUp() override {
    ASSERT_FALSE(llvm::sys::fs::createUniqueDirectory(
        std::string(QOPT_TEST_TMPDIR) + "/tokjson", dir));
    file = (dir + "/tokenizer.json").str();
  }
  void TearDown() override { llvm::sys::fs::remove_directories(dir); }

  /// Writes `text` as tokenizer.json and returns the error of opening it.
  std::string openError(llvm::StringRef text) {
    {
      std::error_code ec;
      llvm::raw_fd_ostream os(file, ec);
      os << text;
    }
    llvm::Expected<std::unique_ptr<Tokenizer>> tok = Tokenizer::open(dir);
    if (tok)
      return "(opened)";
    return llvm::toString(tok.takeError());
  }

  /// A tokenizer.json with a two-letter BPE model and `extra` members.
  std::string withModel(llvm::StringRef extra,
                        llvm::StringRef merges = R"(["a b"])") {
    return (R"({"model": {"type": "BPE", "vocab": {"a": 0, "b": 1, "ab": 2},
                 "merges": )" +
            merges + "}" + extra + "}")
        .str();
  }

  llvm::SmallString<128> dir;
  std::string file;
};
} // namespace

TEST_F(TokenizerJsonErrors, ValidBaseOpens) {
  EXPECT_EQ(openError(withModel("")), "(opened)");
  llvm::Expected<std::unique_ptr<Tokenizer>> tok = Tokenizer::open(dir);
  ASSERT_TRUE(!!tok);
  llvm::Expected<std::vector<int32_t>> ids = (*tok)->encode("abba");
  ASSERT_TRUE(!!ids);
  // No pre-tokenizer: one word; "a b" merges the first pair only.
  EXPECT_EQ(*ids, (std::vector<int32_t>{2, 1, 0}));
}

TEST_F(TokenizerJsonErrors, NoTokenizerInDirectory) {
  llvm::Expected<std::unique_ptr<Tokenizer>> tok = Tokenizer::open(dir);
  ASSERT_FALSE(!!tok);
  EXPECT_EQ(llvm::toString(tok.takeError()),
            (dir + ": no tokenizer.json or tokenizer.model").str());
}

TEST_F(TokenizerJsonErrors, MissingFile) {
  llvm::Expected<std::unique_ptr<Tokenizer>> tok = Tokenizer::openJson(file);
  ASSERT_FALSE(!!tok);
  EXPECT_EQ(llvm::toString(tok.takeError()),
            file + ": cannot read: No such file or directory");
}

TEST_F(TokenizerJsonErrors, MalformedJsonNamesLineAndColumn) {
  EXPECT_EQ(openError("{\n  \"model\": {\n    \"type\": \"BPE\",,\n"),
            file + ":3:19: invalid JSON");
  EXPECT_EQ(openError("{\"model\": 1"), file + ":1:12: invalid JSON");
}

TEST_F(TokenizerJsonErrors, DuplicateKey) {
  EXPECT_EQ(openError(R"({"model": {"vocab": {"a": 0, "a": 1}}})"),
            file + ": duplicate key 'a' in 'model'");
}

TEST_F(TokenizerJsonErrors, UnsupportedModelType) {
  EXPECT_EQ(openError(R"({"model": {"type": "WordPiece", "vocab": {}}})"),
            file + ": model type 'WordPiece' is not supported (only BPE; "
                   "sentencepiece Unigram models load from tokenizer.model)");
}

TEST_F(TokenizerJsonErrors, UnsupportedPreTokenizer) {
  EXPECT_EQ(openError(withModel(R"(, "pre_tokenizer": {"type": "Sequence",
              "pretokenizers": [{"type": "Whitespace"}]})")),
            file + ": pre_tokenizer type 'Whitespace' is not supported "
                   "(supported: Sequence, Split, Digits, ByteLevel, "
                   "Metaspace)");
  EXPECT_EQ(openError(withModel(R"(, "pre_tokenizer": {"type": "Split",
              "pattern": {"Regex": "\\s"}, "behavior": "Merged",
              "invert": false})")),
            file + ": pre_tokenizer Split behavior 'Merged' is not one of "
                   "Isolated, Removed, MergedWithPrevious, MergedWithNext, "
                   "Contiguous");
  EXPECT_EQ(openError(withModel(R"(, "pre_tokenizer": {"type": "Sequence",
              "pretokenizers": [{"type": "ByteLevel"}, {"type": "Split",
              "pattern": {"String": " "}, "behavior": "Isolated"}]})")),
            file + ": pre_tokenizer Split after ByteLevel is not supported "
                   "(ByteLevel must be last)");
}

TEST_F(TokenizerJsonErrors, BadSplitPattern) {
  EXPECT_EQ(openError(withModel(R"(, "pre_tokenizer": {"type": "Split",
              "pattern": {"Regex": "(\\p{L}"}, "behavior": "Isolated"})")),
            file + ": pre_tokenizer Split.pattern does not compile: missing "
                   "closing parenthesis at offset 6");
}

TEST_F(TokenizerJsonErrors, UnsupportedNormalizerAndPostProcessor) {
  EXPECT_EQ(openError(withModel(R"(, "normalizer": {"type": "Lowercase"})")),
            file + ": normalizer type 'Lowercase' is not supported "
                   "(supported: Sequence, NFC, NFD, NFKC, NFKD, Prepend, "
                   "Replace)");
  EXPECT_EQ(
      openError(withModel(R"(, "post_processor": {"type": "RobertaProcessing",
              "sep": ["</s>", 2], "cls": ["<s>", 0]})")),
      file + ": post_processor type 'RobertaProcessing' is not supported "
             "(supported: Sequence, ByteLevel, TemplateProcessing)");
}

TEST_F(TokenizerJsonErrors, MergesMustBeInVocabulary) {
  EXPECT_EQ(openError(withModel("", R"(["a b", "b c"])")),
            file + ": model.merges[1]: token 'c' is not in model.vocab");
  EXPECT_EQ(openError(withModel("", R"([["b", "a"]])")),
            file + ": model.merges[0]: the merged token 'ba' is not in "
                   "model.vocab");
  EXPECT_EQ(openError(withModel("", R"(["ab"])")),
            file + ": model.merges[0] = 'ab' is not two tokens separated by "
                   "a space");
}

TEST_F(TokenizerJsonErrors, HostileIds) {
  EXPECT_EQ(openError(R"({"model": {"type": "BPE", "vocab": {"a": 2000000000},
                          "merges": []}})"),
            file + ": model.vocab['a'] = 2000000000 is outside [0, "
                   "2097152)");
  EXPECT_EQ(openError(withModel(R"(, "added_tokens": [{"id": -1,
              "content": "<s>"}])")),
            file + ": added_tokens[0].id must be an integer in [0, "
                   "2097152)");
}

TEST_F(TokenizerJsonErrors, DeepNesting) {
  std::string deep =
      R"({"model": )" + std::string(40, '[') + std::string(40, ']') + "}";
  EXPECT_EQ(openError(deep), file + ": JSON nests deeper than 32 levels");
}

TEST_F(TokenizerJsonErrors, SingleWordAddedTokens) {
  EXPECT_EQ(openError(withModel(R"(, "added_tokens": [{"id": 3,
              "content": "<s>", "single_word": true}])")),
            file + ": added_tokens[0] ('<s>') has single_word: true, which "
                   "is not supported");
}

TEST_F(TokenizerJsonErrors, DropoutRefused) {
  EXPECT_EQ(openError(R"({"model": {"type": "BPE", "dropout": 0.1,
                          "vocab": {}, "merges": []}})"),
            file + ": model.dropout is not supported (BPE dropout samples "
                   "segmentations; set it to null)");
}

// A pattern that backtracks exponentially stops at PCRE2's match limit
// with an error instead of running for hours.
TEST_F(TokenizerJsonErrors, BacktrackingPatternIsBounded) {
  EXPECT_EQ(openError(withModel(R"(, "pre_tokenizer": {"type": "Split",
              "pattern": {"Regex": "(a|aa)+$"}, "behavior": "Isolated"})")),
            "(opened)");
  llvm::Expected<std::unique_ptr<Tokenizer>> tok = Tokenizer::open(dir);
  ASSERT_TRUE(!!tok);
  llvm::Expected<std::vector<int32_t>> ids =
      (*tok)->encode(std::string(60, 'a') + "b");
  ASSERT_FALSE(!!ids);
  EXPECT_EQ(llvm::toString(ids.takeError()),
            file + ": split pattern failed at text byte 0: match limit "
                   "exceeded");
}

// The five Split behaviors, worked by hand on "a  b" cut at " ", with the
// vocabulary a b ' ' "a " " b" "  " and the merges (a,' ') (' ',b) (' ',' ')
// in that rank order. The words each behavior makes, then their merges:
//   none                "a  b": (a,' ') first, then (' ',b)     [3, 4]
//   Isolated            a | ' ' | ' ' | b                       [0, 2, 2, 1]
//   Removed             a | b                                   [0, 1]
//   MergedWithPrevious  "a " | ' ' | b  (the 2nd ' ' follows a
//                       delimiter, so it stays alone)           [3, 2, 1]
//   MergedWithNext      a | ' ' | " b"                          [0, 2, 4]
//   Contiguous          a | "  " | b                            [0, 5, 1]
//   Isolated + invert   the same words as Isolated              [0, 2, 2, 1]
//   Removed + invert    only the spaces are words               [2, 2]
TEST_F(TokenizerJsonErrors, SplitBehaviorsByHand) {
  const char *model = R"({"model": {"type": "BPE",
      "vocab": {"a": 0, "b": 1, " ": 2, "a ": 3, " b": 4, "  ": 5},
      "merges": [["a", " "], [" ", "b"], [" ", " "]]}})";
  auto idsWith = [&](llvm::StringRef preTokenizer) -> std::vector<int32_t> {
    std::string doc = model;
    if (!preTokenizer.empty())
      doc.insert(doc.size() - 1, (R"(, "pre_tokenizer": {"type": "Split",
          "pattern": {"String": " "}, )" +
                                  preTokenizer + "}")
                                     .str());
    EXPECT_EQ(openError(doc), "(opened)") << preTokenizer.str();
    llvm::Expected<std::unique_ptr<Tokenizer>> tok = Tokenizer::open(dir);
    if (!tok) {
      llvm::consumeError(tok.takeError());
      return {};
    }
    llvm::Expected<std::vector<int32_t>> ids = (*tok)->encode("a  b");
    if (!ids) {
      ADD_FAILURE() << llvm::toString(ids.takeError());
      return {};
    }
    return *ids;
  };
  using V = std::vector<int32_t>;
  EXPECT_EQ(idsWith(""), (V{3, 4}));
  EXPECT_EQ(idsWith(R"("behavior": "Isolated")"), (V{0, 2, 2, 1}));
  EXPECT_EQ(idsWith(R"("behavior": "Removed")"), (V{0, 1}));
  EXPECT_EQ(idsWith(R"("behavior": "MergedWithPrevious")"), (V{3, 2, 1}));
  EXPECT_EQ(idsWith(R"("behavior": "MergedWithNext")"), (V{0, 2, 4}));
  EXPECT_EQ(idsWith(R"("behavior": "Contiguous")"), (V{0, 5, 1}));
  EXPECT_EQ(idsWith(R"("behavior": "Isolated", "invert": true)"),
            (V{0, 2, 2, 1}));
  EXPECT_EQ(idsWith(R"("behavior": "Removed", "invert": true)"), (V{2, 2}));
}
