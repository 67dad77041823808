//===- Unicode.cpp - PCRE2 patterns, normalization, byte-level map -------===//
//
// The Unicode pieces of the tokenizer.json pipeline: split patterns run on
// PCRE2 in UTF mode with Unicode properties for \s, \w, \d (PCRE2_UCP), the
// normalizers' NFC/NFD/NFKC/NFKD on utf8proc, and GPT-2's map of the 256
// byte values onto printable characters.
//
//===----------------------------------------------------------------------===//

#include "TokenizerImpl.h"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>
#include <utf8proc.h>

#include <cstdlib>

namespace qopt::tokenizer::detail {

llvm::Error makeError(const llvm::Twine &message) {
  return llvm::createStringError(llvm::inconvertibleErrorCode(), message);
}

//===----------------------------------------------------------------------===//
// Regex
//===----------------------------------------------------------------------===//

Regex::Regex() = default;

Regex::Regex(Regex &&other) noexcept : code(other.code), mctx(other.mctx) {
  other.code = nullptr;
  other.mctx = nullptr;
}

Regex &Regex::operator=(Regex &&other) noexcept {
  std::swap(code, other.code);
  std::swap(mctx, other.mctx);
  return *this;
}

Regex::~Regex() {
  pcre2_code_free(static_cast<pcre2_code *>(code));
  pcre2_match_context_free(static_cast<pcre2_match_context *>(mctx));
}

Regex Regex::compile(llvm::StringRef pattern, bool literal,
                     std::string &error) {
  Regex re;
  int errorCode = 0;
  PCRE2_SIZE errorOffset = 0;
  // UCP is meaningless (and refused) for a literal.
  uint32_t options = PCRE2_UTF | (literal ? PCRE2_LITERAL : PCRE2_UCP);
  pcre2_code *code =
      pcre2_compile(reinterpret_cast<PCRE2_SPTR>(pattern.data()),
                    pattern.size(), options, &errorCode, &errorOffset, nullptr);
  if (!code) {
    PCRE2_UCHAR buffer[256];
    pcre2_get_error_message(errorCode, buffer, sizeof(buffer));
    error = std::string(reinterpret_cast<char *>(buffer)) + " at offset " +
            std::to_string(errorOffset);
    return re;
  }
  // JIT when the platform has it; the interpreter otherwise.
  (void)pcre2_jit_compile(code, PCRE2_JIT_COMPLETE);
  re.code = code;
  pcre2_match_context *mctx = pcre2_match_context_create(nullptr);
  // Bounded work per match on hostile patterns and text (PCRE2's defaults
  // are 10M steps and 20 MB of backtracking memory; said out loud here).
  pcre2_set_match_limit(mctx, 10000000);
  pcre2_set_heap_limit(mctx, 20000);
  re.mctx = mctx;
  return re;
}

llvm::Error Regex::findAll(llvm::StringRef text,
                           std::vector<std::pair<size_t, size_t>> &out) const {
  auto *re = static_cast<pcre2_code *>(code);
  auto *ctx = static_cast<pcre2_match_context *>(mctx);
  pcre2_match_data *md = pcre2_match_data_create_from_pattern(re, nullptr);
  auto subject = reinterpret_cast<PCRE2_SPTR>(text.data());
  size_t offset = 0;
  uint32_t flags = 0;
  llvm::Error result = llvm::Error::success();
  while (offset <= text.size()) {
    uint32_t options = PCRE2_NO_UTF_CHECK | flags;
    int rc = pcre2_match(re, subject, text.size(), offset, options, md, ctx);
    // The JIT's stack is small; the interpreter keeps its state on the heap.
    if (rc == PCRE2_ERROR_JIT_STACKLIMIT)
      rc = pcre2_match(re, subject, text.size(), offset, options | PCRE2_NO_JIT,
                       md, ctx);
    if (rc == PCRE2_ERROR_NOMATCH) {
      if (!flags)
        break;
      // No non-empty match here after an empty one: step one character.
      flags = 0;
      ++offset;
      while (offset < text.size() && (uint8_t(text[offset]) & 0xC0) == 0x80)
        ++offset;
      continue;
    }
    if (rc < 0) {
      PCRE2_UCHAR buffer[256];
      pcre2_get_error_message(rc, buffer, sizeof(buffer));
      result =
          makeError("split pattern failed at text byte " + llvm::Twine(offset) +
                    ": " + reinterpret_cast<char *>(buffer));
      break;
    }
    PCRE2_SIZE *ov = pcre2_get_ovector_pointer(md);
    size_t begin = ov[0], end = ov[1];
    if (begin == end) {
      // An empty match: look for a non-empty one at the same place next.
      flags = PCRE2_NOTEMPTY_ATSTART | PCRE2_ANCHORED;
      offset = end;
      if (offset == text.size())
        break;
      continue;
    }
    flags = 0;
    out.emplace_back(begin, end);
    offset = end;
  }
  pcre2_match_data_free(md);
  return result;
}

//===----------------------------------------------------------------------===//
// Unicode
//===----------------------------------------------------------------------===//

std::string normalize(llvm::StringRef text, NormalForm form) {
  int options = UTF8PROC_STABLE;
  switch (form) {
  case NormalForm::NFC:
    options |= UTF8PROC_COMPOSE;
    break;
  case NormalForm::NFD:
    options |= UTF8PROC_DECOMPOSE;
    break;
  case NormalForm::NFKC:
    options |= UTF8PROC_COMPOSE | UTF8PROC_COMPAT;
    break;
  case NormalForm::NFKD:
    options |= UTF8PROC_DECOMPOSE | UTF8PROC_COMPAT;
    break;
  }
  utf8proc_uint8_t *dst = nullptr;
  utf8proc_ssize_t n = utf8proc_map(
      reinterpret_cast<const utf8proc_uint8_t *>(text.data()),
      utf8proc_ssize_t(text.size()), &dst, utf8proc_option_t(options));
  // The text was checked to be UTF-8, so only allocation can fail.
  if (n < 0)
    return text.str();
  std::string result(reinterpret_cast<char *>(dst), size_t(n));
  std::free(dst);
  return result;
}

uint32_t nextCodePoint(llvm::StringRef s, size_t &i) {
  auto b = [&](size_t k) { return uint32_t(uint8_t(s[i + k])); };
  uint32_t c = b(0);
  if (c < 0x80) {
    i += 1;
    return c;
  }
  if (c < 0xE0) {
    c = ((c & 0x1F) << 6) | (b(1) & 0x3F);
    i += 2;
    return c;
  }
  if (c < 0xF0) {
    c = ((c & 0x0F) << 12) | ((b(1) & 0x3F) << 6) | (b(2) & 0x3F);
    i += 3;
    return c;
  }
  c = ((c & 0x07) << 18) | ((b(1) & 0x3F) << 12) | ((b(2) & 0x3F) << 6) |
      (b(3) & 0x3F);
  i += 4;
  return c;
}

void appendUtf8(std::string &out, uint32_t cp) {
  if (cp < 0x80) {
    out += char(cp);
  } else if (cp < 0x800) {
    out += char(0xC0 | (cp >> 6));
    out += char(0x80 | (cp & 0x3F));
  } else if (cp < 0x10000) {
    out += char(0xE0 | (cp >> 12));
    out += char(0x80 | ((cp >> 6) & 0x3F));
    out += char(0x80 | (cp & 0x3F));
  } else {
    out += char(0xF0 | (cp >> 18));
    out += char(0x80 | ((cp >> 12) & 0x3F));
    out += char(0x80 | ((cp >> 6) & 0x3F));
    out += char(0x80 | (cp & 0x3F));
  }
}

bool isWhitespace(uint32_t cp) {
  // PropList.txt, White_Space.
  return (cp >= 0x09 && cp <= 0x0D) || cp == 0x20 || cp == 0x85 || cp == 0xA0 ||
         cp == 0x1680 || (cp >= 0x2000 && cp <= 0x200A) || cp == 0x2028 ||
         cp == 0x2029 || cp == 0x202F || cp == 0x205F || cp == 0x3000;
}

/// GPT-2's bytes_to_unicode: the printable Latin-1 bytes ('!'..'~',
/// '¡'..'¬', '®'..'ÿ') stand for themselves; the other 68 take the code
/// points 256, 257, ... in byte order.
static std::array<uint32_t, 256> computeByteLevelCodePoints() {
  std::array<uint32_t, 256> cps{};
  uint32_t next = 256;
  for (uint32_t b = 0; b < 256; ++b) {
    bool printable = (b >= 0x21 && b <= 0x7E) || (b >= 0xA1 && b <= 0xAC) ||
                     (b >= 0xAE && b <= 0xFF);
    cps[b] = printable ? b : next++;
  }
  return cps;
}

const std::array<std::string, 256> &byteLevelChars() {
  static const std::array<std::string, 256> chars = [] {
    std::array<uint32_t, 256> cps = computeByteLevelCodePoints();
    std::array<std::string, 256> result;
    for (size_t b = 0; b < 256; ++b)
      appendUtf8(result[b], cps[b]);
    return result;
  }();
  return chars;
}

int byteLevelByte(uint32_t cp) {
  static const std::array<int16_t, 324> inverse = [] {
    std::array<int16_t, 324> inv;
    inv.fill(-1);
    std::array<uint32_t, 256> cps = computeByteLevelCodePoints();
    for (size_t b = 0; b < 256; ++b)
      inv[cps[b]] = int16_t(b);
    return inv;
  }();
  return cp < inverse.size() ? inverse[cp] : -1;
}

} // namespace qopt::tokenizer::detail
