//===- JsonTokenizer.cpp - Encoding with a tokenizer.json -----------------===//
//
// The steps of the tokenizers library's encode, in its order:
//   1. added tokens are split out of the text (those with normalized: false
//      on the raw text), leftmost then longest; lstrip / rstrip drop the
//      whitespace beside them;
//   2. each other section is normalized, then split on the normalized added
//      tokens;
//   3. the pre-tokenizer cuts it into words (Split pattern, ByteLevel with
//      GPT-2's byte-to-unicode map, Metaspace);
//   4. the BPE model encodes each word;
//   5. the post-processor's template adds BOS / EOS.
//
//===----------------------------------------------------------------------===//

#include "JsonTokenizer.h"

#include "qopt/Loaders/Checkpoint.h"

#include "llvm/Support/MemoryBuffer.h"

#include <algorithm>

namespace qopt::tokenizer::detail {

//===----------------------------------------------------------------------===//
// Added tokens
//===----------------------------------------------------------------------===//

void AddedTokenMatcher::add(llvm::StringRef content, int32_t index) {
  if (!content.empty())
    entries.emplace_back(content.str(), index);
}

void AddedTokenMatcher::finish() {
  for (uint32_t i = 0; i < entries.size(); ++i)
    byFirstByte[uint8_t(entries[i].first[0])].push_back(i);
  for (std::vector<uint32_t> &list : byFirstByte)
    std::stable_sort(list.begin(), list.end(), [&](uint32_t a, uint32_t b) {
      return entries[a].first.size() > entries[b].first.size();
    });
}

bool AddedTokenMatcher::find(llvm::StringRef text, size_t from, size_t &begin,
                             size_t &length, int32_t &index) const {
  for (size_t pos = from; pos < text.size(); ++pos) {
    for (uint32_t e : byFirstByte[uint8_t(text[pos])]) {
      const std::string &content = entries[e].first;
      if (text.substr(pos).starts_with(content)) {
        begin = pos;
        length = content.size();
        index = entries[e].second;
        return true;
      }
    }
  }
  return false;
}

namespace {
/// A piece of text, or an added token (index >= 0).
struct Section {
  std::string text;
  int32_t added = -1;
};
} // namespace

static void trimWhitespace(std::string &s, bool front) {
  if (front) {
    size_t i = 0;
    while (i < s.size()) {
      size_t next = i;
      if (!isWhitespace(nextCodePoint(s, next)))
        break;
      i = next;
    }
    s.erase(0, i);
    return;
  }
  // From the back: step over whole code points.
  size_t end = s.size();
  while (end > 0) {
    size_t start = end - 1;
    while (start > 0 && (uint8_t(s[start]) & 0xC0) == 0x80)
      --start;
    size_t probe = start;
    if (!isWhitespace(nextCodePoint(s, probe)))
      break;
    end = start;
  }
  s.resize(end);
}

static std::vector<Section> splitAdded(llvm::StringRef text,
                                       const AddedTokenMatcher &matcher,
                                       const std::vector<AddedToken> &tokens) {
  std::vector<Section> sections;
  size_t at = 0, begin = 0, length = 0;
  int32_t index = -1;
  while (!matcher.empty() && matcher.find(text, at, begin, length, index)) {
    sections.push_back({text.slice(at, begin).str(), -1});
    sections.push_back({std::string(), index});
    at = begin + length;
  }
  sections.push_back({text.substr(at).str(), -1});
  for (size_t i = 0; i < sections.size(); ++i) {
    if (sections[i].added < 0)
      continue;
    const AddedToken &t = tokens[sections[i].added];
    if (t.lstrip && i > 0 && sections[i - 1].added < 0)
      trimWhitespace(sections[i - 1].text, /*front=*/false);
    if (t.rstrip && i + 1 < sections.size() && sections[i + 1].added < 0)
      trimWhitespace(sections[i + 1].text, /*front=*/true);
  }
  return sections;
}

//===----------------------------------------------------------------------===//
// Normalizer and pre-tokenizer
//===----------------------------------------------------------------------===//

std::string JsonTokenizer::normalizeText(llvm::StringRef text) const {
  std::string s = text.str();
  for (const NormalizerStep &step : normalizer) {
    switch (step.kind) {
    case NormalizerStep::Unicode:
      s = normalize(s, step.form);
      break;
    case NormalizerStep::Prepend:
      if (!s.empty())
        s = step.text + s;
      break;
    case NormalizerStep::Replace: {
      std::vector<std::pair<size_t, size_t>> matches;
      // Replace patterns are literal or simple; a failure leaves the text.
      if (llvm::Error e = step.pattern.findAll(s, matches)) {
        llvm::consumeError(std::move(e));
        break;
      }
      std::string out;
      size_t at = 0;
      for (auto [b, e] : matches) {
        out.append(s, at, b - at);
        out += step.text;
        at = e;
      }
      out.append(s, at, std::string::npos);
      s = std::move(out);
      break;
    }
    }
  }
  return s;
}

/// Cuts `piece` at the matches of `re` as the tokenizers library's
/// split(pattern, behavior, invert) does: the piece is cut into alternating
/// delimiters (the matches; the text between them with `invert`) and other
/// text, then `behavior` says what becomes of the delimiters.
static llvm::Error splitPiece(const std::string &piece, const Regex &re,
                              SplitBehavior behavior, bool invert,
                              std::vector<std::string> &out) {
  std::vector<std::pair<size_t, size_t>> matches;
  if (llvm::Error e = re.findAll(piece, matches))
    return e;
  struct Part {
    size_t begin, end;
    bool delimiter;
  };
  std::vector<Part> parts;
  size_t at = 0;
  for (auto [b, e] : matches) {
    if (b > at)
      parts.push_back({at, b, invert});
    parts.push_back({b, e, !invert});
    at = e;
  }
  if (at < piece.size())
    parts.push_back({at, piece.size(), invert});

  std::vector<std::pair<size_t, size_t>> words;
  bool previous = false; // was the part before (after, for Next) a delimiter
  switch (behavior) {
  case SplitBehavior::Isolated:
    for (const Part &p : parts)
      words.emplace_back(p.begin, p.end);
    break;
  case SplitBehavior::Removed:
    for (const Part &p : parts)
      if (!p.delimiter)
        words.emplace_back(p.begin, p.end);
    break;
  case SplitBehavior::MergedWithPrevious:
    for (const Part &p : parts) {
      if (p.delimiter && !previous && !words.empty())
        words.back().second = p.end;
      else
        words.emplace_back(p.begin, p.end);
      previous = p.delimiter;
    }
    break;
  case SplitBehavior::MergedWithNext:
    for (auto it = parts.rbegin(); it != parts.rend(); ++it) {
      if (it->delimiter && !previous && !words.empty())
        words.back().first = it->begin;
      else
        words.emplace_back(it->begin, it->end);
      previous = it->delimiter;
    }
    std::reverse(words.begin(), words.end());
    break;
  case SplitBehavior::Contiguous:
    for (const Part &p : parts) {
      if (p.delimiter == previous && !words.empty())
        words.back().second = p.end;
      else
        words.emplace_back(p.begin, p.end);
      previous = p.delimiter;
    }
    break;
  }
  for (auto [b, e] : words)
    out.push_back(piece.substr(b, e - b));
  return llvm::Error::success();
}

llvm::Error JsonTokenizer::preTokenize(std::string text, bool firstSection,
                                       std::vector<std::string> &pieces) const {
  pieces.clear();
  pieces.push_back(std::move(text));
  std::vector<std::string> next;
  for (const PreTokenizerStep &step : preTokenizer) {
    next.clear();
    for (std::string &piece : pieces) {
      switch (step.kind) {
      case PreTokenizerStep::Split:
        if (llvm::Error e = splitPiece(piece, step.pattern, step.behavior,
                                       step.invert, next))
          return e;
        break;
      case PreTokenizerStep::ByteLevel: {
        if (step.addPrefixSpace && !llvm::StringRef(piece).starts_with(" "))
          piece.insert(0, " ");
        std::vector<std::string> words;
        if (step.useRegex) {
          if (llvm::Error e = splitPiece(piece, step.pattern,
                                         SplitBehavior::Isolated, false, words))
            return e;
        } else {
          words.push_back(std::move(piece));
        }
        const std::array<std::string, 256> &chars = byteLevelChars();
        for (const std::string &w : words) {
          std::string mapped;
          mapped.reserve(w.size() * 2);
          for (char c : w)
            mapped += chars[uint8_t(c)];
          next.push_back(std::move(mapped));
        }
        break;
      }
      case PreTokenizerStep::Metaspace: {
        std::string s;
        for (char c : piece) {
          if (c == ' ')
            s += step.replacement;
          else
            s += c;
        }
        bool prepend =
            step.prepend == PreTokenizerStep::Always ||
            (step.prepend == PreTokenizerStep::First && firstSection);
        if (prepend && !llvm::StringRef(s).starts_with(step.replacement))
          s.insert(0, step.replacement);
        if (!step.splitOnReplacement) {
          next.push_back(std::move(s));
          break;
        }
        // Split before each replacement character (MergedWithNext).
        llvm::StringRef rest(s);
        while (!rest.empty()) {
          size_t cut = rest.find(step.replacement, 1);
          next.push_back(rest.substr(0, cut).str());
          rest = cut == llvm::StringRef::npos ? llvm::StringRef()
                                              : rest.substr(cut);
        }
        break;
      }
      }
    }
    pieces.swap(next);
  }
  return llvm::Error::success();
}

llvm::Error JsonTokenizer::encodeSection(llvm::StringRef text,
                                         bool firstSection,
                                         std::vector<int32_t> &out) const {
  std::vector<std::string> pieces;
  if (llvm::Error e = preTokenize(text.str(), firstSection, pieces))
    return e;
  for (const std::string &piece : pieces)
    model.encodeWord(piece, out);
  return llvm::Error::success();
}

llvm::Expected<std::vector<int32_t>>
JsonTokenizer::encode(llvm::StringRef text, bool addSpecialTokens) const {
  if (std::optional<size_t> bad = loaders::findInvalidUtf8(text))
    return error("text is not valid UTF-8 (bad byte at offset " +
                 llvm::Twine(*bad) + ")");
  std::vector<int32_t> ids;
  std::vector<Section> sections = splitAdded(text, rawMatcher, addedTokens);
  for (size_t i = 0; i < sections.size(); ++i) {
    const Section &section = sections[i];
    if (section.added >= 0) {
      ids.push_back(addedTokens[section.added].id);
      continue;
    }
    if (section.text.empty())
      continue;
    std::string normalized = normalizeText(section.text);
    for (const Section &sub :
         splitAdded(normalized, normalizedMatcher, addedTokens)) {
      if (sub.added >= 0) {
        ids.push_back(addedTokens[sub.added].id);
      } else if (!sub.text.empty()) {
        if (llvm::Error e = encodeSection(sub.text, i == 0, ids))
          return error(llvm::toString(std::move(e)));
      }
    }
  }
  if (!addSpecialTokens || !hasTemplate)
    return ids;
  std::vector<int32_t> result;
  for (const TemplatePiece &piece : singleTemplate) {
    if (piece.isSequence)
      result.insert(result.end(), ids.begin(), ids.end());
    else
      result.insert(result.end(), piece.ids.begin(), piece.ids.end());
  }
  return result;
}

//===----------------------------------------------------------------------===//
// Decoding
//===----------------------------------------------------------------------===//

/// "<0xAB>" -> 0xAB, or -1.
static int byteToken(llvm::StringRef token) {
  unsigned value = 0;
  if (token.size() != 6 || !token.starts_with("<0x") || !token.ends_with(">") ||
      token.substr(3, 2).getAsInteger(16, value))
    return -1;
  return int(value);
}

llvm::Expected<std::string>
JsonTokenizer::decode(llvm::ArrayRef<int32_t> ids) const {
  std::string out;
  for (int32_t id : ids) {
    if (id < 0 || size_t(id) >= idToToken.size() || !idKind[id])
      return error("cannot decode token id " + llvm::Twine(id) +
                   ": not in the vocabulary");
    llvm::StringRef token = idToToken[id];
    if (idKind[id] == 2) {
      out += token;
      continue;
    }
    if (byteLevel) {
      for (size_t i = 0; i < token.size();) {
        size_t begin = i;
        int b = byteLevelByte(nextCodePoint(token, i));
        if (b >= 0)
          out += char(b);
        else
          out += token.slice(begin, i);
      }
      continue;
    }
    if (model.byteFallback) {
      if (int b = byteToken(token); b >= 0) {
        out += char(b);
        continue;
      }
    }
    // Sentencepiece-style: U+2581 stands for a space.
    llvm::StringRef rest = token;
    while (!rest.empty()) {
      if (rest.starts_with("\u2581")) {
        out += ' ';
        rest = rest.drop_front(3);
      } else {
        out += rest.front();
        rest = rest.drop_front();
      }
    }
  }
  if (prependsSpace && !out.empty() && out[0] == ' ')
    out.erase(0, 1);
  return out;
}

//===----------------------------------------------------------------------===//
// Opening
//===----------------------------------------------------------------------===//

/// Largest tokenizer.json read (real ones are up to about 35 MB).
static constexpr uint64_t kMaxJsonBytes = 256ull << 20;

} // namespace qopt::tokenizer::detail

namespace qopt::tokenizer {

llvm::Expected<std::unique_ptr<Tokenizer>>
Tokenizer::openJson(llvm::StringRef path) {
  using namespace detail;
  llvm::ErrorOr<std::unique_ptr<llvm::MemoryBuffer>> buffer =
      llvm::MemoryBuffer::getFile(path, /*IsText=*/false,
                                  /*RequiresNullTerminator=*/false);
  if (!buffer)
    return makeError(path + ": cannot read: " + buffer.getError().message());
  return fromJson((*buffer)->getBuffer(), path);
}

llvm::Expected<std::unique_ptr<Tokenizer>>
Tokenizer::fromJson(llvm::StringRef text, llvm::StringRef path) {
  using namespace detail;
  if (text.size() > kMaxJsonBytes)
    return makeError(path + ": " + llvm::Twine(text.size()) +
                     " bytes is larger than the " + llvm::Twine(kMaxJsonBytes) +
                     " bytes accepted");
  nlohmann::json root;
  loaders::detail::JsonLimits limits;
  limits.maxDepth = 32;
  limits.maxValues = 1u << 23; // Real files: a few million at most.
  loaders::detail::JsonFailure failure;
  if (!loaders::detail::parseJson(text, limits, root, failure)) {
    switch (failure.kind) {
    case loaders::detail::JsonFailure::Syntax: {
      // nlohmann reports the count of bytes read: the error is the last.
      size_t at =
          std::min<uint64_t>(failure.byte ? failure.byte - 1 : 0, text.size());
      llvm::StringRef before = text.take_front(at);
      size_t line = before.count('\n') + 1;
      size_t lineStart = before.rfind('\n');
      size_t column =
          at - (lineStart == llvm::StringRef::npos ? 0 : lineStart + 1) + 1;
      return makeError(path + ":" + llvm::Twine(line) + ":" +
                       llvm::Twine(column) + ": invalid JSON");
    }
    case loaders::detail::JsonFailure::TooDeep:
      return makeError(path + ": JSON nests deeper than " +
                       llvm::Twine(limits.maxDepth) + " levels");
    case loaders::detail::JsonFailure::TooManyValues:
      return makeError(path + ": JSON has more than " +
                       llvm::Twine(limits.maxValues) + " values");
    case loaders::detail::JsonFailure::DuplicateKey:
      return makeError(path + ": duplicate key '" + failure.key + "'" +
                       (failure.outerKey.empty()
                            ? std::string()
                            : " in '" + failure.outerKey + "'"));
    }
  }
  auto tokenizer = std::make_unique<JsonTokenizer>(path.str());
  if (llvm::Error e = tokenizer->configure(root))
    return std::move(e);
  return std::unique_ptr<Tokenizer>(std::move(tokenizer));
}

} // namespace qopt::tokenizer
