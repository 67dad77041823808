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

#include <nlohmann/json.hpp>

#include <algorithm>
#include <unordered_set>

namespace qopt::loaders {

//===----------------------------------------------------------------------===//
// JSON with duplicate-key detection
//===----------------------------------------------------------------------===//

namespace {
/// An open object or array during parsing.
struct JsonFrame {
  bool isObject;
  std::unordered_set<std::string> keys;
};

/// A SAX handler that checks limits and duplicate keys, then hands each
/// event to nlohmann's plain DOM builder. (nlohmann's callback parser scans
/// the parent object after every member object ends, which is quadratic in
/// the number of members: 100k safetensors entries took minutes. Neither
/// this handler nor nlohmann's SAX driver recurses, so depth costs no stack.)
class CheckedSax {
public:
  using Json = nlohmann::json;
  CheckedSax(const detail::JsonLimits &limits, Json &out,
             detail::JsonFailure &failure, llvm::StringRef orderedKey,
             std::vector<std::string> *keyOrder)
      : limits(limits), dom(out, /*allow_exceptions=*/false), failure(failure),
        orderedKey(orderedKey), keyOrder(keyOrder) {}

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
    if (!stack.back().keys.insert(key).second) {
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
  nlohmann::detail::json_sax_dom_parser<Json> dom;
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
  CheckedSax sax(limits, out, failure, orderedKey, keyOrder);
  bool ok = nlohmann::json::sax_parse(text.begin(), text.end(), &sax,
                                      nlohmann::json::input_format_t::json,
                                      /*strict=*/true,
                                      /*ignore_comments=*/false);
  if (!ok)
    out = nlohmann::json(); // Drop the partial DOM.
  return ok;
}

} // namespace qopt::loaders
