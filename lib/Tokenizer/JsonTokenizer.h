//===- JsonTokenizer.h - The tokenizers library's tokenizer.json -*- C++
//-*-===//
//
// Internal to lib/Tokenizer: the parsed pipeline of a tokenizer.json
// (added tokens, normalizer, pre-tokenizer, BPE model, post-processor),
// built by JsonConfig.cpp and run by JsonTokenizer.cpp.
//
//===----------------------------------------------------------------------===//

#ifndef QOPT_LIB_TOKENIZER_JSONTOKENIZER_H
#define QOPT_LIB_TOKENIZER_JSONTOKENIZER_H

#include "TokenizerImpl.h"
#include "qopt/Tokenizer/Tokenizer.h"

#include <nlohmann/json.hpp>

namespace qopt::tokenizer::detail {

struct AddedToken {
  std::string content;
  int32_t id = 0;
  bool lstrip = false;
  bool rstrip = false;
  bool normalized = false;
};

/// Finds added tokens in text, leftmost first, longest first at a place.
class AddedTokenMatcher {
public:
  void add(llvm::StringRef content, int32_t index);
  void finish();
  bool empty() const { return entries.empty(); }
  /// The next match at or after `from`: (begin, length, token index).
  bool find(llvm::StringRef text, size_t from, size_t &begin, size_t &length,
            int32_t &index) const;

private:
  std::vector<std::pair<std::string, int32_t>> entries;
  /// Indices into entries by first byte, longest content first.
  std::array<std::vector<uint32_t>, 256> byFirstByte;
};

struct NormalizerStep {
  enum Kind { Unicode, Prepend, Replace } kind = Unicode;
  NormalForm form = NormalForm::NFC;
  std::string text; // Prepend: what; Replace: the replacement
  Regex pattern;    // Replace
};

/// What a Split does with the matches of its pattern (the tokenizers
/// library's SplitDelimiterBehavior).
enum class SplitBehavior {
  Isolated,           // matches and the text between are words
  Removed,            // matches are dropped
  MergedWithPrevious, // a match joins the word before it
  MergedWithNext,     // a match joins the word after it
  Contiguous,         // adjacent matches form one word
};

struct PreTokenizerStep {
  enum Kind { Split, ByteLevel, Metaspace } kind = Split;
  Regex pattern; // Split; ByteLevel with use_regex
  SplitBehavior behavior = SplitBehavior::Isolated; // Split
  bool invert = false;   // Split: the text between matches is the delimiter
  bool useRegex = false; // ByteLevel
  bool addPrefixSpace = false;                            // ByteLevel
  std::string replacement;                                // Metaspace
  enum Prepend { Always, First, Never } prepend = Always; // Metaspace
  bool splitOnReplacement = false;                        // Metaspace
};

/// One entry of a TemplateProcessing `single` template: the text's ids
/// (`$A`) or fixed special-token ids.
struct TemplatePiece {
  bool isSequence = false;
  std::vector<int32_t> ids;
};

class JsonTokenizer : public Tokenizer {
public:
  explicit JsonTokenizer(std::string path) : Tokenizer(std::move(path)) {}

  /// Builds the pipeline from the parsed file (JsonConfig.cpp).
  llvm::Error configure(const nlohmann::json &root);

  llvm::Expected<std::vector<int32_t>>
  encode(llvm::StringRef text, bool addSpecialTokens) const override;
  llvm::Expected<std::string>
  decode(llvm::ArrayRef<int32_t> ids) const override;
  int32_t vocabSize() const override { return int32_t(idToToken.size()); }

private:
  llvm::Error parseModel(const nlohmann::json &model);
  llvm::Error parseAddedTokens(const nlohmann::json &tokens);
  llvm::Error parseNormalizer(const nlohmann::json &n);
  llvm::Error parsePreTokenizer(const nlohmann::json &p);
  llvm::Error parsePostProcessor(const nlohmann::json &p);
  llvm::Error compilePattern(const nlohmann::json &pattern,
                             llvm::StringRef where, Regex &out);
  llvm::Error error(const llvm::Twine &message) const;

  std::string normalizeText(llvm::StringRef text) const;
  llvm::Error preTokenize(std::string text, bool firstSection,
                          std::vector<std::string> &pieces) const;
  llvm::Error encodeSection(llvm::StringRef text, bool firstSection,
                            std::vector<int32_t> &out) const;

  BpeModel model;
  std::vector<AddedToken> addedTokens;
  AddedTokenMatcher rawMatcher;        // normalized: false (and all, when
  AddedTokenMatcher normalizedMatcher; // there is no normalizer)
  std::vector<NormalizerStep> normalizer;
  std::vector<PreTokenizerStep> preTokenizer;
  std::vector<TemplatePiece> singleTemplate;
  bool hasTemplate = false;
  bool byteLevel = false;
  bool prependsSpace = false; // decode strips the first space
  /// id -> token text, and whether it is an added token.
  std::vector<std::string> idToToken;
  std::vector<uint8_t> idKind; // 0 none, 1 model, 2 added
};

} // namespace qopt::tokenizer::detail

#endif // QOPT_LIB_TOKENIZER_JSONTOKENIZER_H
