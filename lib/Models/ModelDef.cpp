//===- ModelDef.cpp - Config reading, architecture registry -----*- C++ -*-===//

#include "qopt/Models/ModelDef.h"

#include "GroupBArchitectures.h"
#include "RemainingArchitectures.h"

#include "llvm/Support/FileSystem.h"
#include "llvm/Support/MemoryBuffer.h"
#include "llvm/Support/Path.h"

#include <algorithm>

using namespace qopt::models;

static llvm::Error makeError(const llvm::Twine &msg) {
  return llvm::createStringError(llvm::inconvertibleErrorCode(), msg);
}

//===----------------------------------------------------------------------===//
// MapExpr
//===----------------------------------------------------------------------===//

/// An expression of `op` over one operand; the builders below set its
/// parameter.
static MapExpr unary(MapExpr::Op op, MapExpr inner) {
  MapExpr e;
  e.op = op;
  e.operands.push_back(std::move(inner));
  return e;
}

MapExpr MapExpr::src(std::string name) {
  MapExpr e;
  e.op = Op::Source;
  e.source = std::move(name);
  return e;
}

MapExpr MapExpr::concat(std::vector<MapExpr> parts, int64_t axis) {
  MapExpr e;
  e.op = Op::Concat;
  e.axis = axis;
  e.operands = std::move(parts);
  return e;
}

MapExpr MapExpr::stack(std::vector<MapExpr> parts) {
  MapExpr e;
  e.op = Op::Stack;
  e.operands = std::move(parts);
  return e;
}

MapExpr MapExpr::transpose(MapExpr inner) {
  return unary(Op::Transpose, std::move(inner));
}

MapExpr MapExpr::addConstant(MapExpr inner, double c) {
  MapExpr e = unary(Op::AddConstant, std::move(inner));
  e.constant = c;
  return e;
}

MapExpr MapExpr::toF32(MapExpr inner) {
  return unary(Op::ToF32, std::move(inner));
}

MapExpr MapExpr::dividePow2(MapExpr inner, int64_t exponent) {
  MapExpr e = unary(Op::DividePow2, std::move(inner));
  e.exponent = exponent;
  return e;
}

MapExpr MapExpr::exp(MapExpr inner, bool negate) {
  MapExpr e = unary(Op::Exp, std::move(inner));
  e.negate = negate;
  return e;
}

MapExpr MapExpr::view(std::string src, int64_t offset,
                      std::vector<int64_t> shape,
                      std::vector<int64_t> strides) {
  MapExpr e = unary(Op::View, MapExpr::src(std::move(src)));
  e.viewOffset = offset;
  e.viewShape = std::move(shape);
  e.viewStrides = std::move(strides);
  return e;
}

MapExpr MapExpr::stackEach(MapExpr pattern, int64_t count) {
  MapExpr e = unary(Op::StackEach, std::move(pattern));
  e.count = count;
  return e;
}

/// `e` with every `{}` in its source names replaced by `index`.
static void substituteIndex(MapExpr &e, llvm::StringRef index) {
  size_t at;
  while ((at = e.source.find("{}")) != std::string::npos)
    e.source.replace(at, 2, index.str());
  for (MapExpr &o : e.operands)
    substituteIndex(o, index);
}

MapExpr MapExpr::instance(int64_t i) const {
  MapExpr e = operands.front();
  substituteIndex(e, std::to_string(i));
  return e;
}

MapExpr MapExpr::expanded() const {
  if (op == Op::StackEach) {
    std::vector<MapExpr> parts;
    parts.reserve(size_t(count));
    for (int64_t i = 0; i < count; ++i)
      parts.push_back(instance(i).expanded());
    return MapExpr::stack(std::move(parts));
  }
  MapExpr e = *this;
  for (MapExpr &o : e.operands)
    o = o.expanded();
  return e;
}

void MapExpr::collectSources(std::vector<std::string> &out) const {
  if (op == Op::Source) {
    out.push_back(source);
    return;
  }
  if (op == Op::StackEach) {
    for (int64_t i = 0; i < count; ++i)
      instance(i).collectSources(out);
    return;
  }
  for (const MapExpr &o : operands)
    o.collectSources(out);
}

//===----------------------------------------------------------------------===//
// ModelConfig
//===----------------------------------------------------------------------===//

bool ModelConfig::has(llvm::StringRef key) const {
  auto it = json.find(key.str());
  return it != json.end() && !it->is_null();
}

llvm::Expected<int64_t> ModelConfig::getInt(llvm::StringRef key,
                                            llvm::StringRef arch) const {
  auto it = json.find(key.str());
  if (it == json.end() || it->is_null())
    return makeError(path + ": missing required field '" + key + "' (" +
                     arch + ")");
  if (!it->is_number_integer())
    return makeError(path + ": field '" + key + "' must be an integer, got " +
                     it->dump());
  return it->get<int64_t>();
}

int64_t ModelConfig::getInt(llvm::StringRef key, int64_t dflt) const {
  auto it = json.find(key.str());
  if (it == json.end() || !it->is_number_integer())
    return dflt;
  return it->get<int64_t>();
}

bool ModelConfig::getBool(llvm::StringRef key, bool dflt) const {
  auto it = json.find(key.str());
  if (it == json.end() || !it->is_boolean())
    return dflt;
  return it->get<bool>();
}

std::string ModelConfig::getString(llvm::StringRef key,
                                   llvm::StringRef dflt) const {
  auto it = json.find(key.str());
  if (it == json.end() || !it->is_string())
    return dflt.str();
  return it->get<std::string>();
}

llvm::Error ModelConfig::require(llvm::ArrayRef<llvm::StringRef> keys,
                                 llvm::StringRef arch) const {
  for (llvm::StringRef k : keys)
    if (!has(k))
      return makeError(path + ": missing required field '" + k + "' (" +
                       arch + ")");
  return llvm::Error::success();
}

/// "line L, column C" of nlohmann's 1-based error byte.
static std::string jsonPosition(llvm::StringRef text, uint64_t byte) {
  size_t at = std::min<size_t>(byte ? size_t(byte - 1) : 0, text.size());
  llvm::StringRef before = text.take_front(at);
  size_t lastNewline = before.rfind('\n');
  return "line " + std::to_string(1 + before.count('\n')) + ", column " +
         std::to_string(lastNewline == llvm::StringRef::npos
                            ? at + 1
                            : at - lastNewline);
}

llvm::Expected<ModelConfig> qopt::models::readModelConfig(llvm::StringRef p) {
  std::string path = p.str();
  if (llvm::sys::fs::is_directory(path)) {
    llvm::SmallString<256> joined(path);
    llvm::sys::path::append(joined, "config.json");
    path = std::string(joined);
  }
  llvm::Expected<std::string> text =
      readRegularFile(path, ConfigLimits::kMaxBytes);
  if (!text)
    return makeError("cannot read model config '" + path +
                     "': " + llvm::toString(text.takeError()));
  // nlohmann's parser does not recurse, but everything that walks the result
  // (the config attribute of the IR) does: bound the nesting first.
  if (jsonNestingDepth(*text, ConfigLimits::kMaxDepth) >
      ConfigLimits::kMaxDepth)
    return makeError(path + ": JSON nests deeper than " +
                     llvm::Twine(ConfigLimits::kMaxDepth) + " levels");
  // The DOM builder, keeping the byte of a syntax error (the library builds
  // without exceptions, so nlohmann's throwing parse cannot report it).
  struct PositionSax : nlohmann::detail::json_sax_dom_parser<nlohmann::json> {
    using json_sax_dom_parser::json_sax_dom_parser;
    uint64_t errorByte = 0;
    bool parse_error(std::size_t byte, const std::string &,
                     const nlohmann::detail::exception &) {
      errorByte = byte;
      return false;
    }
  };
  nlohmann::json j;
  PositionSax sax(j, /*allow_exceptions=*/false);
  if (!nlohmann::json::sax_parse(text->begin(), text->end(), &sax,
                                 nlohmann::json::input_format_t::json,
                                 /*strict=*/true, /*ignore_comments=*/false))
    return makeError(path + ": not valid JSON (error at " +
                     jsonPosition(*text, sax.errorByte) + ")");
  if (!j.is_object())
    return makeError(path + ": expected a JSON object");
  ModelConfig config(std::move(j), path);
  if (llvm::Error err = checkModelConfig(config))
    return err;
  return config;
}

//===----------------------------------------------------------------------===//
// ModelDef and the registry
//===----------------------------------------------------------------------===//

bool ModelDef::isUnused(llvm::StringRef hfName) const {
  for (const std::string &prefix : sourcePrefixes) {
    if (!hfName.starts_with(prefix))
      continue;
    llvm::StringRef rest = hfName.drop_front(prefix.size());
    if (std::any_of(unusedSources.begin(), unusedSources.end(),
                    [&](const std::string &u) { return u == rest; }))
      return true;
  }
  return false;
}

static void resolveExpr(MapExpr &e, llvm::ArrayRef<std::string> prefixes,
                        llvm::function_ref<bool(llvm::StringRef)> exists) {
  // Each instance of a pattern may resolve under another prefix: written
  // out. (With the one empty prefix nothing changes: see the caller.)
  if (e.op == MapExpr::Op::StackEach)
    e = e.expanded();
  if (e.op != MapExpr::Op::Source) {
    for (MapExpr &o : e.operands)
      resolveExpr(o, prefixes, exists);
    return;
  }
  for (const std::string &prefix : prefixes) {
    std::string candidate = prefix + e.source;
    if (exists(candidate)) {
      e.source = std::move(candidate);
      return;
    }
  }
}

void ModelDef::resolveSourceNames(
    llvm::function_ref<bool(llvm::StringRef)> exists) {
  // Names under the empty prefix alone resolve to themselves.
  if (sourcePrefixes.size() == 1 && sourcePrefixes.front().empty())
    return;
  for (ParamDef &p : params)
    resolveExpr(p.map, sourcePrefixes, exists);
}

const std::vector<Architecture> &qopt::models::architectures() {
  static const std::vector<Architecture> all = {
      makeLlamaArchitecture(),      makeMistralArchitecture(),
      makeMixtralArchitecture(),    makeQwen2Architecture(),
      makeQwen3Architecture(),      makePhi3Architecture(),
      makeGemmaArchitecture(),      makeGemma2Architecture(),
      makeStarcoder2Architecture(), makeGPT2Architecture(),
      makeQwen3MoeArchitecture(),   makeQwen2MoeArchitecture(),
      makeGemma3Architecture(),     makeGemma3TextArchitecture(),
      makeOLMoArchitecture(),       makeOLMo2Architecture(),
      makeStableLMArchitecture(),   makeInternLMArchitecture(),
      makeCohereArchitecture(),     makeNemotronArchitecture(),
      makeOrionArchitecture(),      makeDeepseekV2Architecture(),
      makeDeepseekV3Architecture(), makeBaichuanArchitecture(),
      makeGPTBigCodeArchitecture(), makeDeepseekArchitecture(),
      // Issue 16, group A.
      makePhiArchitecture(), makePhiMsftArchitecture(),
      makeInternLM2Architecture(), makeQwenArchitecture(),
      makeMiniCPMArchitecture(), makeChatGLMArchitecture(),
      makeGPTNeoXArchitecture(), makeGPTJArchitecture(),
      // Group B of issue 16 (lib/Models/GroupBArchitectures.h).
      makeMinistral3Architecture(), makeLlama4Architecture(),
      makeQwen35Architecture(), makeQwen35TextArchitecture(),
      makeBertArchitecture(),       makeBertBgeArchitecture(),
      makeEagleArchitecture(),      makeMedusaArchitecture(),
      makeLlavaArchitecture(),
      // Issue 16, the remaining types (lib/Models/RemainingArchitectures.h).
      makeQwen3EmbeddingArchitecture(),
      // Issue 16: phi3_v (Phi3V.cpp).
      makePhi3VArchitecture(),
      // Issue 16: rwkv5, rwkv6 (RWKV.cpp).
      makeRwkv5Architecture(), makeRwkv6Architecture()};
  return all;
}

const Architecture *qopt::models::findArchitecture(llvm::StringRef name) {
  for (const Architecture &a : architectures())
    if (a.name == name)
      return &a;
  return nullptr;
}

std::string qopt::models::supportedArchitectureList() {
  std::string s;
  for (const Architecture &a : architectures())
    s += (s.empty() ? "" : ", ") + a.name;
  return s;
}

llvm::Expected<const Architecture *>
qopt::models::detectArchitecture(const ModelConfig &config,
                                 llvm::StringRef requested) {
  if (!requested.empty() && requested != "auto") {
    if (const Architecture *a = findArchitecture(requested))
      return a;
    return makeError("unsupported model type '" + requested +
                     "'; supported: " + supportedArchitectureList());
  }
  std::string modelType = config.getString("model_type", "");
  for (const Architecture &a : architectures())
    for (const std::string &t : a.modelTypes)
      if (t == modelType)
        return &a;
  const nlohmann::json &raw = config.raw();
  std::string archs;
  if (auto it = raw.find("architectures");
      it != raw.end() && it->is_array()) {
    for (const nlohmann::json &name : *it) {
      if (!name.is_string())
        continue;
      archs += (archs.empty() ? "" : ", ") + name.get<std::string>();
      for (const Architecture &a : architectures())
        for (const std::string &h : a.hfArchitectures)
          if (h == name.get<std::string>())
            return &a;
    }
  }
  return makeError(config.getPath() + ": unsupported model type '" +
                   (modelType.empty() ? std::string("<none>") : modelType) +
                   "'" + (archs.empty() ? "" : " (architectures: " + archs + ")") +
                   "; supported: " + supportedArchitectureList());
}

std::string qopt::models::build::layer(int64_t i, llvm::StringRef rest,
                                       llvm::StringRef prefix) {
  return (prefix + llvm::Twine(i) + "." + rest).str();
}

llvm::Expected<int64_t> qopt::models::build::divide(int64_t a, int64_t b,
                                                    llvm::StringRef what) {
  if (b <= 0 || a % b != 0)
    return makeError(what + ": " + llvm::Twine(a) +
                     " is not divisible by " + llvm::Twine(b));
  return a / b;
}
