//===- JsonConfig.cpp - Reading a tokenizer.json's pipeline ---------------===//
//
// Builds a JsonTokenizer from the parsed file: every component type the
// encoder runs is listed here, and any other type is refused by name
// (docs/tokenizers.md lists them).
//
//===----------------------------------------------------------------------===//

#include "JsonTokenizer.h"

#include "llvm/ADT/StringExtras.h"

#include <algorithm>

namespace qopt::tokenizer::detail {

using nlohmann::json;

/// Largest token id accepted: bounds the id -> token table on hostile files
/// (the largest real vocabularies have about 262k entries; the table of
/// 2^21 strings is 64 MB).
static constexpr int64_t kMaxTokenId = 1 << 21;

/// The member `key` of `obj`, or nullptr if absent or null.
static const json *member(const json &obj, const char *key) {
  if (!obj.is_object())
    return nullptr;
  auto it = obj.find(key);
  return it == obj.end() || it->is_null() ? nullptr : &*it;
}

static std::string typeOf(const json &obj) {
  const json *t = member(obj, "type");
  return t && t->is_string() ? t->get_ref<const std::string &>() : "";
}

/// A JSON value as text for messages, shortened.
static std::string quote(llvm::StringRef s) {
  if (s.size() > 40) {
    // Cut before a whole character.
    size_t cut = 40;
    while (cut > 0 && (uint8_t(s[cut]) & 0xC0) == 0x80)
      --cut;
    return "'" + s.take_front(cut).str() + "...'";
  }
  return "'" + s.str() + "'";
}

llvm::Error JsonTokenizer::error(const llvm::Twine &message) const {
  return makeError(path() + ": " + message);
}

/// Reads an optional boolean member into `out`.
static bool readBool(const json &obj, const char *key, bool &out) {
  const json *v = member(obj, key);
  if (!v)
    return true;
  if (!v->is_boolean())
    return false;
  out = v->get<bool>();
  return true;
}

#define READ_BOOL(obj, key, out, where)                                        \
  if (!readBool(obj, key, out))                                                \
    return error(llvm::Twine(where) + "." key " must be a boolean");

llvm::Error JsonTokenizer::compilePattern(const json &pattern,
                                          llvm::StringRef where, Regex &out) {
  const json *regex = member(pattern, "Regex");
  const json *literal = member(pattern, "String");
  const json *which = regex ? regex : literal;
  if (!which || !which->is_string())
    return error(where + ".pattern must be {\"Regex\": ...} or "
                         "{\"String\": ...}");
  std::string message;
  out = Regex::compile(which->get_ref<const std::string &>(), !regex, message);
  if (!out.valid())
    return error(where + ".pattern does not compile: " + message);
  return llvm::Error::success();
}

//===----------------------------------------------------------------------===//
// model
//===----------------------------------------------------------------------===//

llvm::Error JsonTokenizer::parseModel(const json &m) {
  if (!m.is_object())
    return error("'model' must be an object");
  std::string type = typeOf(m);
  // Files written by old versions of the library leave out BPE's type.
  if (type.empty() && member(m, "merges"))
    type = "BPE";
  if (type != "BPE")
    return error("model type '" + type +
                 "' is not supported (only BPE; sentencepiece Unigram "
                 "models load from tokenizer.model)");
  const json *vocab = member(m, "vocab");
  if (!vocab || !vocab->is_object())
    return error("model.vocab must be an object mapping tokens to ids");
  for (auto it = vocab->begin(); it != vocab->end(); ++it) {
    if (!it->is_number_integer())
      return error("model.vocab[" + quote(it.key()) + "] must be an integer");
    int64_t id = it->get<int64_t>();
    if (id < 0 || id >= kMaxTokenId)
      return error("model.vocab[" + quote(it.key()) + "] = " + llvm::Twine(id) +
                   " is outside [0, " + llvm::Twine(kMaxTokenId) + ")");
    model.vocab[it.key()] = int32_t(id);
    if (size_t(id) >= idToToken.size()) {
      idToToken.resize(size_t(id) + 1);
      idKind.resize(size_t(id) + 1);
    }
    if (!idKind[id]) {
      idToToken[id] = it.key();
      idKind[id] = 1;
    }
  }

  const json *merges = member(m, "merges");
  if (merges && !merges->is_array())
    return error("model.merges must be an array");
  int32_t rank = 0;
  for (const json &entry : merges ? *merges : json::array()) {
    std::string left, right;
    // "a b" (older files) or ["a", "b"] (files since tokenizers 0.20).
    if (entry.is_string()) {
      const std::string &s = entry.get_ref<const std::string &>();
      size_t space = s.find(' ');
      if (space == std::string::npos)
        return error("model.merges[" + llvm::Twine(rank) + "] = " + quote(s) +
                     " is not two tokens separated by a space");
      left = s.substr(0, space);
      right = s.substr(space + 1);
    } else if (entry.is_array() && entry.size() == 2 && entry[0].is_string() &&
               entry[1].is_string()) {
      left = entry[0].get<std::string>();
      right = entry[1].get<std::string>();
    } else {
      return error("model.merges[" + llvm::Twine(rank) +
                   "] must be \"a b\" or [\"a\", \"b\"]");
    }
    auto l = model.vocab.find(left), r = model.vocab.find(right),
         merged = model.vocab.find(left + right);
    for (auto [it, tok] : {std::pair{l, &left}, std::pair{r, &right}})
      if (it == model.vocab.end())
        return error("model.merges[" + llvm::Twine(rank) + "]: token " +
                     quote(*tok) + " is not in model.vocab");
    if (merged == model.vocab.end())
      return error("model.merges[" + llvm::Twine(rank) +
                   "]: the merged token " + quote(left + right) +
                   " is not in model.vocab");
    // A repeated pair keeps its last rank, as in the tokenizers library.
    uint64_t key = (uint64_t(uint32_t(l->second)) << 32) | uint32_t(r->second);
    model.merges[key] = {rank, merged->second};
    ++rank;
  }

  if (const json *unk = member(m, "unk_token")) {
    if (!unk->is_string())
      return error("model.unk_token must be a string");
    auto it = model.vocab.find(unk->get_ref<const std::string &>());
    if (it == model.vocab.end())
      return error("model.unk_token " +
                   quote(unk->get_ref<const std::string &>()) +
                   " is not in model.vocab");
    model.unkId = it->second;
  }
  READ_BOOL(m, "fuse_unk", model.fuseUnk, "model");
  READ_BOOL(m, "byte_fallback", model.byteFallback, "model");
  READ_BOOL(m, "ignore_merges", model.ignoreMerges, "model");
  if (const json *d = member(m, "dropout"))
    if (!d->is_number() || d->get<double>() != 0.0)
      return error("model.dropout is not supported (BPE dropout samples "
                   "segmentations; set it to null)");
  for (const char *key : {"continuing_subword_prefix", "end_of_word_suffix"})
    if (const json *v = member(m, key))
      if (!v->is_string() || !v->get_ref<const std::string &>().empty())
        return error(llvm::Twine("model.") + key + " is not supported");
  if (model.byteFallback)
    for (int b = 0; b < 256; ++b) {
      auto it = model.vocab.find("<0x" + llvm::utohexstr(b, false, 2) + ">");
      if (it != model.vocab.end())
        model.byteIds[b] = it->second;
    }
  return llvm::Error::success();
}

//===----------------------------------------------------------------------===//
// added_tokens
//===----------------------------------------------------------------------===//

llvm::Error JsonTokenizer::parseAddedTokens(const json &tokens) {
  if (!tokens.is_array())
    return error("added_tokens must be an array");
  for (const json &t : tokens) {
    std::string where =
        "added_tokens[" + std::to_string(addedTokens.size()) + "]";
    const json *content = member(t, "content");
    const json *id = member(t, "id");
    if (!content || !content->is_string() ||
        content->get_ref<const std::string &>().empty())
      return error(where + ".content must be a non-empty string");
    if (!id || !id->is_number_integer() || id->get<int64_t>() < 0 ||
        id->get<int64_t>() >= kMaxTokenId)
      return error(where + ".id must be an integer in [0, " +
                   llvm::Twine(kMaxTokenId) + ")");
    AddedToken token;
    token.content = content->get<std::string>();
    token.id = int32_t(id->get<int64_t>());
    bool singleWord = false;
    READ_BOOL(t, "lstrip", token.lstrip, where);
    READ_BOOL(t, "rstrip", token.rstrip, where);
    READ_BOOL(t, "normalized", token.normalized, where);
    READ_BOOL(t, "single_word", singleWord, where);
    if (singleWord)
      return error(where + " (" + quote(token.content) +
                   ") has single_word: true, which is not supported");
    if (size_t(token.id) >= idToToken.size()) {
      idToToken.resize(size_t(token.id) + 1);
      idKind.resize(size_t(token.id) + 1);
    }
    idToToken[token.id] = token.content;
    idKind[token.id] = 2;
    addedTokens.push_back(std::move(token));
  }
  return llvm::Error::success();
}

//===----------------------------------------------------------------------===//
// normalizer
//===----------------------------------------------------------------------===//

llvm::Error JsonTokenizer::parseNormalizer(const json &n) {
  std::string type = typeOf(n);
  if (type == "Sequence") {
    const json *list = member(n, "normalizers");
    if (!list || !list->is_array())
      return error("normalizer Sequence needs a 'normalizers' array");
    for (const json &sub : *list)
      if (llvm::Error e = parseNormalizer(sub))
        return e;
    return llvm::Error::success();
  }
  NormalizerStep step;
  if (type == "NFC" || type == "NFD" || type == "NFKC" || type == "NFKD") {
    step.kind = NormalizerStep::Unicode;
    step.form = type == "NFC"    ? NormalForm::NFC
                : type == "NFD"  ? NormalForm::NFD
                : type == "NFKC" ? NormalForm::NFKC
                                 : NormalForm::NFKD;
  } else if (type == "Prepend") {
    const json *p = member(n, "prepend");
    if (!p || !p->is_string())
      return error("normalizer Prepend needs a 'prepend' string");
    step.kind = NormalizerStep::Prepend;
    step.text = p->get<std::string>();
    prependsSpace = true;
  } else if (type == "Replace") {
    const json *pattern = member(n, "pattern");
    const json *content = member(n, "content");
    if (!pattern || !content || !content->is_string())
      return error("normalizer Replace needs 'pattern' and 'content'");
    step.kind = NormalizerStep::Replace;
    step.text = content->get<std::string>();
    if (llvm::Error e =
            compilePattern(*pattern, "normalizer Replace", step.pattern))
      return e;
  } else {
    return error("normalizer type '" + type +
                 "' is not supported (supported: Sequence, NFC, NFD, NFKC, "
                 "NFKD, Prepend, Replace)");
  }
  normalizer.push_back(std::move(step));
  return llvm::Error::success();
}

//===----------------------------------------------------------------------===//
// pre_tokenizer
//===----------------------------------------------------------------------===//

/// GPT-2's pattern, which ByteLevel's use_regex splits with.
static const char *const kGpt2Pattern =
    "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|"
    "\\s+(?!\\S)|\\s+";

llvm::Error JsonTokenizer::parsePreTokenizer(const json &p) {
  std::string type = typeOf(p);
  if (type == "Sequence") {
    const json *list = member(p, "pretokenizers");
    if (!list || !list->is_array())
      return error("pre_tokenizer Sequence needs a 'pretokenizers' array");
    for (const json &sub : *list)
      if (llvm::Error e = parsePreTokenizer(sub))
        return e;
    return llvm::Error::success();
  }
  if (byteLevel)
    return error("pre_tokenizer " + type +
                 " after ByteLevel is not supported (ByteLevel must be last)");
  PreTokenizerStep step;
  if (type == "Split") {
    step.kind = PreTokenizerStep::Split;
    const json *pattern = member(p, "pattern");
    if (!pattern)
      return error("pre_tokenizer Split needs a 'pattern'");
    if (llvm::Error e =
            compilePattern(*pattern, "pre_tokenizer Split", step.pattern))
      return e;
    const json *behavior = member(p, "behavior");
    std::string b = behavior && behavior->is_string()
                        ? behavior->get<std::string>()
                        : std::string();
    static const std::pair<const char *, SplitBehavior> kBehaviors[] = {
        {"Isolated", SplitBehavior::Isolated},
        {"Removed", SplitBehavior::Removed},
        {"MergedWithPrevious", SplitBehavior::MergedWithPrevious},
        {"MergedWithNext", SplitBehavior::MergedWithNext},
        {"Contiguous", SplitBehavior::Contiguous}};
    auto found = std::find_if(std::begin(kBehaviors), std::end(kBehaviors),
                              [&](const auto &k) { return b == k.first; });
    if (found == std::end(kBehaviors))
      return error("pre_tokenizer Split behavior '" + b +
                   "' is not one of Isolated, Removed, MergedWithPrevious, "
                   "MergedWithNext, Contiguous");
    step.behavior = found->second;
    READ_BOOL(p, "invert", step.invert, "pre_tokenizer Split");
  } else if (type == "Digits") {
    // Runs of digits (or each digit) become words of their own. Numeric
    // as the tokenizers library's Rust tests it (char::is_numeric: the
    // Unicode N categories); tokenizers.js takes ASCII digits only.
    step.kind = PreTokenizerStep::Split;
    bool individual = false;
    READ_BOOL(p, "individual_digits", individual, "pre_tokenizer Digits");
    std::string message;
    step.pattern =
        Regex::compile(individual ? "\\p{N}" : "\\p{N}+", false, message);
  } else if (type == "ByteLevel") {
    step.kind = PreTokenizerStep::ByteLevel;
    step.useRegex = true;
    READ_BOOL(p, "add_prefix_space", step.addPrefixSpace,
              "pre_tokenizer ByteLevel");
    READ_BOOL(p, "use_regex", step.useRegex, "pre_tokenizer ByteLevel");
    if (step.useRegex) {
      std::string message;
      step.pattern = Regex::compile(kGpt2Pattern, false, message);
    }
    byteLevel = true;
  } else if (type == "Metaspace") {
    step.kind = PreTokenizerStep::Metaspace;
    const json *r = member(p, "replacement");
    step.replacement = r && r->is_string() ? r->get<std::string>() : "\u2581";
    if (step.replacement.empty())
      return error("pre_tokenizer Metaspace replacement must not be empty");
    std::string scheme = "always";
    if (const json *s = member(p, "prepend_scheme"); s && s->is_string())
      scheme = s->get<std::string>();
    // Files from before prepend_scheme say add_prefix_space.
    bool addPrefix = true;
    READ_BOOL(p, "add_prefix_space", addPrefix, "pre_tokenizer Metaspace");
    if (!member(p, "prepend_scheme") && !addPrefix)
      scheme = "never";
    if (scheme != "always" && scheme != "first" && scheme != "never")
      return error("pre_tokenizer Metaspace prepend_scheme '" + scheme +
                   "' is not supported");
    step.prepend = scheme == "always"  ? PreTokenizerStep::Always
                   : scheme == "first" ? PreTokenizerStep::First
                                       : PreTokenizerStep::Never;
    prependsSpace = prependsSpace || step.prepend != PreTokenizerStep::Never;
    step.splitOnReplacement = true;
    READ_BOOL(p, "split", step.splitOnReplacement, "pre_tokenizer Metaspace");
  } else {
    return error("pre_tokenizer type '" + type +
                 "' is not supported (supported: Sequence, Split, Digits, "
                 "ByteLevel, Metaspace)");
  }
  preTokenizer.push_back(std::move(step));
  return llvm::Error::success();
}

//===----------------------------------------------------------------------===//
// post_processor
//===----------------------------------------------------------------------===//

llvm::Error JsonTokenizer::parsePostProcessor(const json &p) {
  std::string type = typeOf(p);
  if (type == "Sequence") {
    const json *list = member(p, "processors");
    if (!list || !list->is_array())
      return error("post_processor Sequence needs a 'processors' array");
    for (const json &sub : *list)
      if (llvm::Error e = parsePostProcessor(sub))
        return e;
    return llvm::Error::success();
  }
  // ByteLevel post-processing only trims offsets; ids are unchanged.
  if (type == "ByteLevel")
    return llvm::Error::success();
  if (type != "TemplateProcessing")
    return error("post_processor type '" + type +
                 "' is not supported (supported: Sequence, ByteLevel, "
                 "TemplateProcessing)");
  if (hasTemplate)
    return error("post_processor has two TemplateProcessing entries");
  hasTemplate = true;
  const json *single = member(p, "single");
  const json *specials = member(p, "special_tokens");
  if (!single || !single->is_array())
    return error("post_processor TemplateProcessing needs a 'single' array");
  for (const json &piece : *single) {
    TemplatePiece out;
    if (member(piece, "Sequence")) {
      out.isSequence = true;
    } else if (const json *special = member(piece, "SpecialToken")) {
      const json *name = member(*special, "id");
      const json *entry =
          name && name->is_string() && specials
              ? member(*specials, name->get<std::string>().c_str())
              : nullptr;
      const json *ids = entry ? member(*entry, "ids") : nullptr;
      if (!ids || !ids->is_array())
        return error(
            "post_processor TemplateProcessing: special token " +
            quote(name && name->is_string() ? name->get<std::string>() : "") +
            " has no ids in 'special_tokens'");
      for (const json &id : *ids) {
        if (!id.is_number_integer() || id.get<int64_t>() < 0 ||
            id.get<int64_t>() >= kMaxTokenId)
          return error("post_processor TemplateProcessing: special token " +
                       quote(name->get<std::string>()) + " has a bad id");
        out.ids.push_back(int32_t(id.get<int64_t>()));
      }
    } else {
      return error("post_processor TemplateProcessing: a 'single' entry must "
                   "be {\"Sequence\": ...} or {\"SpecialToken\": ...}");
    }
    singleTemplate.push_back(std::move(out));
  }
  return llvm::Error::success();
}

//===----------------------------------------------------------------------===//
// The file
//===----------------------------------------------------------------------===//

llvm::Error JsonTokenizer::configure(const json &root) {
  if (!root.is_object())
    return error("not a JSON object");
  const json *m = member(root, "model");
  if (!m)
    return error("no 'model'");
  if (llvm::Error e = parseModel(*m))
    return e;
  if (const json *t = member(root, "added_tokens"))
    if (llvm::Error e = parseAddedTokens(*t))
      return e;
  if (const json *n = member(root, "normalizer"))
    if (llvm::Error e = parseNormalizer(*n))
      return e;
  if (const json *p = member(root, "pre_tokenizer"))
    if (llvm::Error e = parsePreTokenizer(*p))
      return e;
  if (const json *p = member(root, "post_processor"))
    if (llvm::Error e = parsePostProcessor(*p))
      return e;
  for (size_t i = 0; i < addedTokens.size(); ++i) {
    const AddedToken &t = addedTokens[i];
    if (t.normalized && !normalizer.empty())
      normalizedMatcher.add(normalizeText(t.content), int32_t(i));
    else
      rawMatcher.add(t.content, int32_t(i));
  }
  rawMatcher.finish();
  normalizedMatcher.finish();
  return llvm::Error::success();
}

} // namespace qopt::tokenizer::detail
