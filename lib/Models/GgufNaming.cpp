//===- GgufNaming.cpp - GGUF files through the architecture hooks ---------===//
//
// Part of quant-opt.
//
// Finds the architecture definition a GGUF file belongs to and reads the
// file's tensors and metadata through its GgufArchitecture hook
// (qopt/Models/Gguf.h, docs/gguf.md). Nothing here knows an architecture.
//
//===----------------------------------------------------------------------===//

#include "qopt/Models/Gguf.h"

#include "llvm/ADT/StringExtras.h"

#include <unordered_map>

namespace qopt::models {

using loaders::CheckpointFile;
using loaders::GgufFile;
using loaders::GgufMetadataReader;
using loaders::ggufQuote;
using loaders::GgufTensorInfo;
using loaders::TensorInfo;

static llvm::Error makeError(const llvm::Twine &msg) {
  return llvm::createStringError(llvm::inconvertibleErrorCode(), msg.str());
}

const GgufArchitecture *findGgufArchitecture(llvm::StringRef ggufArchitecture) {
  for (const Architecture &a : architectures())
    if (a.gguf && ggufArchitecture == a.gguf->name)
      return a.gguf;
  return nullptr;
}

std::string supportedGgufArchitectureList() {
  std::vector<std::string> names;
  for (const Architecture &a : architectures())
    if (a.gguf && !llvm::is_contained(names, a.gguf->name))
      names.push_back(a.gguf->name);
  return llvm::join(names, ", ");
}

llvm::Expected<const GgufArchitecture *>
ggufArchitectureOf(const GgufFile &file) {
  GgufMetadataReader md(file);
  llvm::Expected<std::optional<std::string>> arch =
      md.optString("general.architecture");
  if (!arch)
    return arch.takeError();
  if (!*arch)
    return md.error("missing metadata key 'general.architecture'");
  const GgufArchitecture *gguf = findGgufArchitecture(**arch);
  if (!gguf)
    return md.error("GGUF architecture " + ggufQuote(**arch) +
                    " is not supported (supported: " +
                    supportedGgufArchitectureList() + ")");
  if (llvm::Error e = gguf->check(md))
    return std::move(e);
  return gguf;
}

std::optional<std::string> ggufToHfName(llvm::StringRef ggufArchitecture,
                                        llvm::StringRef ggufName) {
  const GgufArchitecture *gguf = findGgufArchitecture(ggufArchitecture);
  if (!gguf)
    return std::nullopt;
  return gguf->hfName(ggufName);
}

static bool readsSource(const MapExpr &e, llvm::StringRef hfName) {
  if (e.op == MapExpr::Op::Source || e.op == MapExpr::Op::View)
    return e.source == hfName;
  if (e.op == MapExpr::Op::StackEach)
    return readsSource(e.expanded(), hfName);
  return llvm::any_of(e.operands,
                      [&](const MapExpr &o) { return readsSource(o, hfName); });
}

std::vector<std::string> mlcParamsReading(const ModelDef &def,
                                          llvm::StringRef hfName) {
  std::vector<std::string> out;
  for (const ParamDef &p : def.params)
    if (readsSource(p.map, hfName))
      out.push_back(p.name);
  return out;
}

llvm::Expected<nlohmann::json> ggufModelConfig(const GgufFile &file) {
  llvm::Expected<const GgufArchitecture *> gguf = ggufArchitectureOf(file);
  if (!gguf)
    return gguf.takeError();
  return (*gguf)->config(GgufMetadataReader(file));
}

llvm::Expected<CheckpointFile> ggufCheckpointFile(const GgufFile &file) {
  llvm::Expected<const GgufArchitecture *> gguf = ggufArchitectureOf(file);
  if (!gguf)
    return gguf.takeError();
  llvm::Expected<GgufTensorRoles> roles =
      (*gguf)->roles(GgufMetadataReader(file));
  if (!roles)
    return roles.takeError();

  CheckpointFile cf;
  cf.path = file.path;
  cf.format = loaders::SourceFormat::GGUF;
  std::unordered_map<std::string, std::string> hfToGguf;
  for (const GgufTensorInfo &g : file.tensors) {
    GgufTensorRole role = (*roles)(g.name);
    if (role.drop)
      continue;
    std::string q = ggufQuote(g.name);
    std::string name = (*gguf)->hfName(g.name).value_or(g.name);
    auto [it, inserted] = hfToGguf.emplace(name, g.name);
    if (!inserted)
      return makeError(file.path + ": tensors " + ggufQuote(it->second) +
                       " and " + q + " both stand for " + ggufQuote(name));
    llvm::Expected<TensorInfo> t = loaders::ggufTensorStorage(file, g);
    if (!t)
      return t.takeError();
    t->name = std::move(name);
    if (int64_t h = role.unpermuteHeads) {
      int64_t rows = t->shape.empty() ? 1 : t->shape[0];
      if (rows % h != 0 || (rows / h) % 2 != 0)
        return makeError(file.path + ": tensor " + q + ": " +
                         llvm::Twine(rows) + " rows are not " + llvm::Twine(h) +
                         " heads (" + role.headsKey +
                         ") of an even head dimension");
      t->unpermuteHeads = h;
    }
    cf.tensors.push_back(std::move(*t));
  }
  return cf;
}

llvm::Expected<CheckpointFile> readGgufCheckpoint(llvm::StringRef path) {
  llvm::Expected<GgufFile> f = loaders::readGgufFile(path);
  if (!f)
    return f.takeError();
  return ggufCheckpointFile(*f);
}

} // namespace qopt::models
