//===- Tokenizer.h - A model's own tokenizer --------------------*- C++ -*-===//
//
// Text to token ids with the tokenizer a Hugging Face model directory ships:
//
//   tokenizer.json   the `tokenizers` library's format; BPE models with a
//                    byte-level pre-tokenizer (GPT-2, Llama 3, Qwen2, ...) or
//                    sentencepiece-style BPE (Llama 2, Mistral: `▁` for
//                    spaces, byte fallback). The pre-tokenizer's split
//                    regex runs on PCRE2 (UTF + UCP), normalization on
//                    utf8proc.
//   tokenizer.model  a sentencepiece model, run by libsentencepiece.
//
// What is supported, and what is refused with which error, is listed in
// docs/tokenizers.md. Errors name the file. No exceptions.
//
//===----------------------------------------------------------------------===//

#ifndef QOPT_TOKENIZER_TOKENIZER_H
#define QOPT_TOKENIZER_TOKENIZER_H

#include "llvm/ADT/ArrayRef.h"
#include "llvm/ADT/StringRef.h"
#include "llvm/Support/Error.h"

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace qopt::tokenizer {

class Tokenizer {
public:
  virtual ~Tokenizer();

  /// Opens the tokenizer of a model directory: `tokenizer.json` if present,
  /// else `tokenizer.model`; an error naming both if neither exists.
  static llvm::Expected<std::unique_ptr<Tokenizer>>
  open(llvm::StringRef modelDir);

  /// Opens a `tokenizer.json` file.
  static llvm::Expected<std::unique_ptr<Tokenizer>>
  openJson(llvm::StringRef path);

  /// Reads a tokenizer.json already in memory; `name` stands for the file
  /// in messages and path().
  static llvm::Expected<std::unique_ptr<Tokenizer>>
  fromJson(llvm::StringRef text, llvm::StringRef name);

  /// Opens a sentencepiece `tokenizer.model`. Whether encode() adds BOS/EOS
  /// comes from `add_bos_token` / `add_eos_token` of a tokenizer_config.json
  /// beside it (as transformers' LlamaTokenizer reads them); without one,
  /// BOS is added when the model defines a BOS piece, EOS never.
  static llvm::Expected<std::unique_ptr<Tokenizer>>
  openSentencePiece(llvm::StringRef path);

  /// Token ids of the UTF-8 `text`. With `addSpecialTokens`, the tokens the
  /// tokenizer's post-processor adds (BOS for Llama) are added, as
  /// `tokenizer(text)` does in transformers. Special tokens written in the
  /// text (e.g. `<|im_start|>`) become their ids. Text that is not valid
  /// UTF-8 is an error naming its byte offset.
  virtual llvm::Expected<std::vector<int32_t>>
  encode(llvm::StringRef text, bool addSpecialTokens = true) const = 0;

  /// The text of `ids` (the bytes they stand for; special tokens as their
  /// content). An id outside the vocabulary is an error.
  virtual llvm::Expected<std::string>
  decode(llvm::ArrayRef<int32_t> ids) const = 0;

  /// One more than the largest token id.
  virtual int32_t vocabSize() const = 0;

  /// The file this tokenizer was read from.
  llvm::StringRef path() const { return filePath; }

protected:
  explicit Tokenizer(std::string filePath) : filePath(std::move(filePath)) {}

private:
  std::string filePath;
};

} // namespace qopt::tokenizer

#endif // QOPT_TOKENIZER_TOKENIZER_H
