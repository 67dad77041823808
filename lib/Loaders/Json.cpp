//===- Json.cpp - JSON with limits and duplicate-key detection ----------===//
//
// Part of quant-opt.
//
// detail::parseJson (qopt/Loaders/Checkpoint.h): the JSON of index files,
// safetensors headers and tensor-cache.json, parsed through nlohmann's SAX
// interface without exceptions, with caps on nesting and values and
// duplicate keys rejected (docs/reliability.md).
//
//===----------------------------------------------------------------------===//

#include "qopt/Loaders/Checkpoint.h"

#include "llvm/ADT/StringMap.h"
#include "llvm/Support/StringSaver.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include "llvm/ADT/StringSet.h"

namespace qopt::loaders {

//===----------------------------------------------------------------------===//
// JSON with duplicate-key detection
//===----------------------------------------------------------------------===//

namespace {
/// An open object or array during parsing.
struct JsonFrame {
  bool isObject;
  llvm::StringSet<> keys;
};

/// A SAX handler that checks limits and duplicate keys, then hands each
/// event to `Sink`: nlohmann's plain DOM builder, or (an index's weight map)
/// a sink that keeps only what it needs. (nlohmann's callback parser scans
/// the parent object after every member object ends, which is quadratic in
/// the number of members: 100k safetensors entries took minutes. Neither
/// this handler nor nlohmann's SAX driver recurses, so depth costs no stack.)
template <typename Sink>
class CheckedSax {
public:
  using Json = nlohmann::json;
  CheckedSax(const detail::JsonLimits &limits, Sink &dom,
             detail::JsonFailure &failure, llvm::StringRef orderedKey,
             std::vector<std::string> *keyOrder)
      : limits(limits), dom(dom), failure(failure), orderedKey(orderedKey),
        keyOrder(keyOrder) {}

  bool null() { return value() && dom.null(); }
  bool boolean(bool v) { return value() && dom.boolean(v); }
  bool number_integer(Json::number_integer_t v) {
    return value() && dom.number_integer(v);
  }
  bool number_unsigned(Json::number_unsigned_t v) {
    return value() && dom.number_unsigned(v);
  }
  bool number_float(Json::number_float_t v, const Json::string_t &s) {
    return value() && dom.number_float(v, s);
  }
  bool string(Json::string_t &v) { return value() && dom.string(v); }
  bool binary(Json::binary_t &v) { return value() && dom.binary(v); }
  bool start_object(std::size_t n) { return open(true) && dom.start_object(n); }
  bool start_array(std::size_t n) { return open(false) && dom.start_array(n); }
  bool end_object() {
    stack.pop_back();
    return dom.end_object();
  }
  bool end_array() {
    stack.pop_back();
    return dom.end_array();
  }
  bool key(Json::string_t &key) {
    if (!stack.back().keys.insert(llvm::StringRef(key)).second) {
      failure.kind = detail::JsonFailure::DuplicateKey;
      failure.depth = unsigned(stack.size());
      failure.outerKey = stack.size() > 1 ? topKey : std::string();
      failure.key = key;
      return false;
    }
    if (stack.size() == 1)
      topKey = key;
    else if (keyOrder && stack.size() == 2 && stack[0].isObject &&
             stack[1].isObject && topKey == orderedKey)
      keyOrder->push_back(key);
    return dom.key(key);
  }
  bool parse_error(std::size_t position, const std::string &,
                   const nlohmann::detail::exception &) {
    failure.kind = detail::JsonFailure::Syntax;
    failure.byte = position;
    return false;
  }

private:
  bool value() {
    if (++values > limits.maxValues) {
      failure.kind = detail::JsonFailure::TooManyValues;
      return false;
    }
    return true;
  }
  bool open(bool isObject) {
    if (stack.size() >= limits.maxDepth) {
      failure.kind = detail::JsonFailure::TooDeep;
      return false;
    }
    if (!value())
      return false;
    stack.push_back({isObject, {}});
    return true;
  }

  const detail::JsonLimits &limits;
  Sink &dom;
  detail::JsonFailure &failure;
  llvm::StringRef orderedKey;
  std::vector<std::string> *keyOrder;
  std::vector<JsonFrame> stack;
  uint64_t values = 0;
  std::string topKey;
};
} // namespace

std::string detail::jsonPosition(llvm::StringRef text, uint64_t byte) {
  size_t at = std::min<size_t>(byte ? size_t(byte - 1) : 0, text.size());
  llvm::StringRef before = text.take_front(at);
  size_t line = 1 + size_t(before.count('\n'));
  size_t lastNewline = before.rfind('\n');
  size_t column = lastNewline == llvm::StringRef::npos ? at + 1
                                                       : at - lastNewline;
  return "line " + std::to_string(line) + ", column " + std::to_string(column);
}

bool detail::parseJson(llvm::StringRef text, const JsonLimits &limits,
                       nlohmann::json &out, JsonFailure &failure,
                       llvm::StringRef orderedKey,
                       std::vector<std::string> *keyOrder) {
  nlohmann::detail::json_sax_dom_parser<nlohmann::json> dom(
      out, /*allow_exceptions=*/false);
  CheckedSax<decltype(dom)> sax(limits, dom, failure, orderedKey, keyOrder);
  bool ok = nlohmann::json::sax_parse(text.begin(), text.end(), &sax,
                                      nlohmann::json::input_format_t::json,
                                      /*strict=*/true,
                                      /*ignore_comments=*/false);
  if (!ok)
    out = nlohmann::json(); // Drop the partial DOM.
  return ok;
}

namespace {
/// The SAX sink of parseWeightMapJson: the root's kind, whether it has a
/// `weight_map` object, and that object's members in file order. Every other
/// value is only checked (CheckedSax), never kept.
class WeightMapSink {
public:
  using Json = nlohmann::json;
  explicit WeightMapSink(detail::WeightMapJson &out)
      : out(out), saver(out.names) {}

  bool null() { return scalar(); }
  bool boolean(bool) { return scalar(); }
  bool number_integer(Json::number_integer_t) { return scalar(); }
  bool number_unsigned(Json::number_unsigned_t) { return scalar(); }
  bool number_float(Json::number_float_t, const Json::string_t &) {
    return scalar();
  }
  bool binary(Json::binary_t &) { return scalar(); }
  bool string(Json::string_t &v) {
    if (depth == 0)
      out.rootIsObject = false;
    else if (inMap && depth == 2) {
      auto [it, inserted] =
          fileIds.try_emplace(v, uint32_t(out.files.size()));
      if (inserted)
        out.files.push_back(v);
      out.entries.push_back({memberKey, int64_t(it->second)});
    }
    return true;
  }
  bool start_object(std::size_t) { return open(true); }
  bool start_array(std::size_t) { return open(false); }
  bool end_object() { return close(); }
  bool end_array() { return close(); }
  bool key(Json::string_t &k) {
    if (depth == 1)
      topKey = k;
    else if (inMap && depth == 2)
      memberKey = saver.save(k);
    return true;
  }

private:
  /// A value at the current depth that is not a string.
  void nonString() {
    if (inMap && depth == 2)
      out.entries.push_back({memberKey, -1});
  }
  /// A value other than a string or a container.
  bool scalar() {
    if (depth == 0)
      out.rootIsObject = false;
    nonString();
    return true;
  }
  bool open(bool isObject) {
    if (depth == 0)
      out.rootIsObject = isObject;
    else if (depth == 1 && out.rootIsObject && topKey == "weight_map") {
      out.hasMap = isObject;
      inMap = isObject;
    } else {
      nonString();
    }
    ++depth;
    return true;
  }
  bool close() {
    if (--depth == 1)
      inMap = false;
    return true;
  }

  detail::WeightMapJson &out;
  llvm::StringSaver saver;
  llvm::StringMap<uint32_t> fileIds;
  unsigned depth = 0;
  bool inMap = false;
  std::string topKey;
  llvm::StringRef memberKey;
};
} // namespace

bool detail::parseWeightMapJson(llvm::StringRef text, const JsonLimits &limits,
                                WeightMapJson &out, JsonFailure &failure) {
  WeightMapSink sink(out);
  CheckedSax<WeightMapSink> sax(limits, sink, failure, {}, nullptr);
  return nlohmann::json::sax_parse(text.begin(), text.end(), &sax,
                                   nlohmann::json::input_format_t::json,
                                   /*strict=*/true,
                                   /*ignore_comments=*/false);
}

} // namespace qopt::loaders
