//===- TokenizerImpl.h - Pieces of the tokenizer.json pipeline --*- C++ -*-===//
//
// Internal to lib/Tokenizer: the PCRE2 pattern wrapper, Unicode helpers
// (utf8proc normalization, GPT-2's byte-to-unicode map) and the BPE model.
//
//===----------------------------------------------------------------------===//

#ifndef QOPT_LIB_TOKENIZER_TOKENIZERIMPL_H
#define QOPT_LIB_TOKENIZER_TOKENIZERIMPL_H

#include "llvm/ADT/DenseMap.h"
#include "llvm/ADT/StringMap.h"
#include "llvm/ADT/StringRef.h"
#include "llvm/Support/Error.h"

#include <array>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

namespace qopt::tokenizer::detail {

/// `message` as an llvm::Error (callers start it with the file's path).
llvm::Error makeError(const llvm::Twine &message);

//===----------------------------------------------------------------------===//
// Regex (PCRE2, UTF + UCP, JIT when available)
//===----------------------------------------------------------------------===//

class Regex {
public:
  Regex();
  Regex(Regex &&other) noexcept;
  Regex &operator=(Regex &&other) noexcept;
  ~Regex();

  /// Compiles `pattern` (a literal string when `literal`). On failure,
  /// returns an empty Regex and sets `error` to PCRE2's message and offset.
  static Regex compile(llvm::StringRef pattern, bool literal,
                       std::string &error);
  bool valid() const { return code != nullptr; }

  /// The [begin, end) byte ranges of the non-overlapping matches in the
  /// (valid UTF-8) `text`, left to right; empty matches are skipped. Fails
  /// only if PCRE2's match or depth limit is reached (hostile patterns).
  llvm::Error findAll(llvm::StringRef text,
                      std::vector<std::pair<size_t, size_t>> &out) const;

private:
  void *code = nullptr; // pcre2_code_8
  void *mctx = nullptr; // pcre2_match_context_8
};

//===----------------------------------------------------------------------===//
// Unicode
//===----------------------------------------------------------------------===//

enum class NormalForm { NFC, NFD, NFKC, NFKD };

/// `text` in the given normal form (utf8proc).
std::string normalize(llvm::StringRef text, NormalForm form);

/// Decodes the code point at `s[i]` (valid UTF-8), advancing `i`.
uint32_t nextCodePoint(llvm::StringRef s, size_t &i);
/// Appends the UTF-8 encoding of `cp`.
void appendUtf8(std::string &out, uint32_t cp);
/// Unicode White_Space (what Rust's char::is_whitespace tests).
bool isWhitespace(uint32_t cp);

/// GPT-2's byte-to-unicode map: the UTF-8 text of the character standing
/// for byte b.
const std::array<std::string, 256> &byteLevelChars();
/// The byte a byte-level character stands for, or -1.
int byteLevelByte(uint32_t cp);

//===----------------------------------------------------------------------===//
// BPE
//===----------------------------------------------------------------------===//

/// The `model` of a tokenizer.json of type BPE.
class BpeModel {
public:
  llvm::StringMap<int32_t> vocab;
  /// (left id << 32 | right id) -> (rank, merged id).
  llvm::DenseMap<uint64_t, std::pair<int32_t, int32_t>> merges;
  std::optional<int32_t> unkId;
  bool fuseUnk = false;
  bool byteFallback = false;
  bool ignoreMerges = false;
  /// Byte fallback: the id of `<0xXX>` per byte, -1 where absent.
  std::array<int32_t, 256> byteIds;

  BpeModel() { byteIds.fill(-1); }

  /// Appends the ids of one pre-tokenized word.
  void encodeWord(llvm::StringRef word, std::vector<int32_t> &out) const;

private:
  void mergeWord(llvm::StringRef word, std::vector<int32_t> &out) const;

  /// Words seen before (up to kCacheEntries words shorter than
  /// kCacheWordBytes), as the tokenizers library caches them.
  static constexpr size_t kCacheEntries = 1 << 16;
  static constexpr size_t kCacheWordBytes = 256;
  mutable std::mutex cacheMutex;
  mutable std::unordered_map<std::string, std::vector<int32_t>> cache;
};

} // namespace qopt::tokenizer::detail

#endif // QOPT_LIB_TOKENIZER_TOKENIZERIMPL_H
