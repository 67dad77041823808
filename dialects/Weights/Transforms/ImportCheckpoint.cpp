//===- ImportCheckpoint.cpp - Checkpoint headers into weights IR -*- C++ -*-===//
//
// Reads config.json and the headers of the checkpoint files (never the
// weights) and appends a weights.model with one weights.source per tensor.
//
//===----------------------------------------------------------------------===//

#include "dialects/Weights/Transforms/Passes.h"
#include "dialects/Weights/Transforms/Utils.h"
#include "qopt/Loaders/Checkpoint.h"
#include "qopt/Loaders/Gguf.h"
#include "qopt/Models/Gguf.h"

#include "mlir/IR/Builders.h"
#include "mlir/IR/BuiltinOps.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/Path.h"

namespace mlir::qopt::weights {
#define GEN_PASS_DEF_IMPORTCHECKPOINT
#include "dialects/Weights/Transforms/Passes.h.inc"
} // namespace mlir::qopt::weights

using namespace mlir;
using namespace mlir::qopt::weights;
namespace loaders = ::qopt::loaders;
namespace models = ::qopt::models;

static std::optional<loaders::SourceFormat> parseFormat(StringRef s) {
  if (s == "auto")
    return loaders::SourceFormat::Auto;
  if (s == "huggingface-safetensor")
    return loaders::SourceFormat::HFSafetensors;
  if (s == "huggingface-torch")
    return loaders::SourceFormat::HFTorch;
  if (s == "gguf")
    return loaders::SourceFormat::GGUF;
  if (s == "awq")
    return loaders::SourceFormat::AWQ;
  return std::nullopt;
}

static bool isGgufFile(StringRef path) {
  return llvm::sys::fs::is_regular_file(path) &&
         (path.ends_with(".gguf") || loaders::hasGgufMagic(path));
}

/// The GGUF file whose metadata stands for config.json, or "": CONFIG when
/// it is a GGUF file, else (CONFIG a directory without config.json) the GGUF
/// source file or the one `*.gguf` of the source directory.
static std::string ggufConfigFile(StringRef configPath, StringRef sourcePath,
                                  loaders::SourceFormat format) {
  if (format != loaders::SourceFormat::Auto &&
      format != loaders::SourceFormat::GGUF)
    return "";
  if (isGgufFile(configPath))
    return configPath.str();
  llvm::SmallString<256> json(configPath);
  llvm::sys::path::append(json, "config.json");
  if (!llvm::sys::fs::is_directory(configPath) || llvm::sys::fs::exists(json))
    return "";
  if (isGgufFile(sourcePath))
    return sourcePath.str();
  if (!llvm::sys::fs::is_directory(sourcePath))
    return "";
  std::vector<std::string> found;
  std::error_code ec;
  for (llvm::sys::fs::directory_iterator it(sourcePath, ec), end;
       it != end && !ec; it.increment(ec))
    if (StringRef(it->path()).ends_with(".gguf") && isGgufFile(it->path()))
      found.push_back(it->path());
  return found.size() == 1 ? found.front() : "";
}

/// config.json rebuilt from a GGUF file's metadata.
static llvm::Expected<models::ModelConfig> readGgufConfig(StringRef path) {
  llvm::Expected<loaders::GgufFile> file = loaders::readGgufFile(path);
  if (!file)
    return file.takeError();
  llvm::Expected<nlohmann::json> json = models::ggufModelConfig(*file);
  if (!json)
    return json.takeError();
  return models::ModelConfig(std::move(*json), path.str());
}

/// `file` relative to `root` when it lies under it, else `file` unchanged.
static std::string relativeTo(StringRef file, StringRef root) {
  StringRef rest = file;
  if (root.empty() || !rest.consume_front(root))
    return file.str();
  if (!root.ends_with("/") && !rest.consume_front("/"))
    return file.str();
  return rest.str();
}

/// The config checks of models::checkModelConfig (GGUF metadata becomes a
/// config too) and models::checkConfigAgainstCheckpoint.
static llvm::Error checkConfigAgainst(const ::qopt::models::ModelConfig &cfg,
                                      const ::qopt::loaders::Checkpoint &ckpt) {
  if (llvm::Error err = ::qopt::models::checkModelConfig(cfg))
    return err;
  uint64_t tensors = 0, elements = 0;
  for (const auto &[path, file] : ckpt.files)
    for (const ::qopt::loaders::TensorInfo &t : file.tensors) {
      ++tensors;
      elements += uint64_t(t.numElements());
    }
  return ::qopt::models::checkConfigAgainstCheckpoint(cfg, tensors, elements);
}

namespace {
struct ImportCheckpointPass
    : public ::mlir::qopt::weights::impl::ImportCheckpointBase<ImportCheckpointPass> {
  using Base::Base;

  void runOnOperation() override {
    ModuleOp module = getOperation();
    MLIRContext *ctx = &getContext();
    std::string configPath = config.getValue();
    std::string sourcePath = source.getValue();
    if (configPath.empty() && sourcePath.empty()) {
      module.emitError("qopt-import-checkpoint needs a 'source' or 'config' path");
      return signalPassFailure();
    }
    if (configPath.empty())
      configPath = llvm::sys::fs::is_directory(sourcePath)
                       ? sourcePath
                       : llvm::sys::path::parent_path(sourcePath).str();
    if (sourcePath.empty() && isGgufFile(configPath) &&
        (sourceFormat.getValue() == "auto" ||
         sourceFormat.getValue() == "gguf"))
      sourcePath = configPath; // The GGUF file is config and weights.
    if (sourcePath.empty())
      sourcePath = llvm::sys::fs::is_directory(configPath)
                       ? configPath
                       : llvm::sys::path::parent_path(configPath).str();

    auto fail = [&](Location loc, llvm::Error err) {
      emitError(loc) << llvm::toString(std::move(err));
      signalPassFailure();
    };
    std::optional<loaders::SourceFormat> format = parseFormat(sourceFormat);
    if (!format) {
      module.emitError("unknown source format '")
          << sourceFormat.getValue()
          << "'; valid: auto, huggingface-safetensor, huggingface-torch, gguf, awq";
      return signalPassFailure();
    }

    std::string ggufConfig = ggufConfigFile(configPath, sourcePath, *format);
    llvm::Expected<models::ModelConfig> cfg =
        ggufConfig.empty() ? models::readModelConfig(configPath)
                           : readGgufConfig(ggufConfig);
    if (!cfg)
      return fail(module.getLoc(), cfg.takeError());
    Location modelLoc = FileLineColLoc::get(ctx, cfg->getPath(), 0, 0);
    llvm::Expected<const models::Architecture *> arch =
        models::detectArchitecture(*cfg, modelType);
    if (!arch)
      return fail(modelLoc, arch.takeError());

    llvm::Expected<loaders::Checkpoint> ckpt =
        loaders::openCheckpoint(sourcePath, *format,
                                models::ggufCheckpointFile);
    // Loader errors name the checkpoint file themselves.
    if (!ckpt)
      return fail(UnknownLoc::get(ctx), ckpt.takeError());
    // Sizes from the config are checked against the tensors actually present
    // before anything is planned from them (docs/reliability.md).
    if (llvm::Error err = checkConfigAgainst(*cfg, *ckpt))
      return fail(modelLoc, std::move(err));
    for (const std::string &w : ckpt->warnings)
      emitWarning(UnknownLoc::get(ctx)) << w;

    OpBuilder b = OpBuilder::atBlockEnd(module.getBody());
    auto model = ModelOp::create(b, modelLoc, (*arch)->name, (*arch)->name,
                                 jsonToAttr(ctx, cfg->raw()));
    // Files are named relative to the checkpoint's directory, held once on
    // the model: the IR stays valid when the checkpoint moves.
    std::string root;
    if (!ckpt->indexPath.empty())
      root = llvm::sys::path::parent_path(ckpt->indexPath).str();
    else if (!ckpt->torchToPath.empty())
      root = llvm::sys::path::parent_path(ckpt->torchToPath.front().second)
                 .str();
    if (!root.empty())
      model.setCheckpointRootAttr(b.getStringAttr(root));
    if (!ckpt->indexPath.empty())
      model.setSourceIndexAttr(
          b.getStringAttr(relativeTo(ckpt->indexPath, root)));
    b.setInsertionPointToEnd(&model.getBody().front());
    for (const auto &[name, file] : ckpt->torchToPath) {
      const loaders::TensorInfo *t = ckpt->find(name);
      Location loc = NameLoc::get(b.getStringAttr(name),
                                  FileLineColLoc::get(ctx, file, 0, 0));
      if (!t) {
        emitError(loc) << file << ": tensor '" << name
                       << "' is listed in the index but not in the file";
        return signalPassFailure();
      }
      auto type = RankedTensorType::get(t->shape, toMlirType(ctx, t->dtype));
      auto op = SourceOp::create(b, loc, type,
                                 b.getStringAttr(relativeTo(t->file, root)),
                                 b.getStringAttr(name),
                                 int64_t(t->offset),
                                 DenseI64ArrayAttr());
      if (!t->strides.empty())
        op.setStridesAttr(b.getDenseI64ArrayAttr(t->strides));
      // GGUF: the stored form, decoded by ops (docs/gguf.md).
      Value v = op.getResult();
      if (!t->encoding.empty()) {
        const loaders::GgmlTypeInfo *info =
            loaders::ggmlTypeByName(t->encoding);
        SmallVector<int64_t> shape(t->shape.begin(), t->shape.end());
        shape.back() = shape.back() / info->typeSize * info->blockSize;
        v = DequantizeGgmlOp::create(b, loc,
                                     RankedTensorType::get(shape, b.getF32Type()),
                                     v, b.getStringAttr(t->encoding));
      }
      if (t->unpermuteHeads != 0)
        v = UnpermuteHeadsOp::create(b, loc, v.getType(), v,
                                     b.getI64IntegerAttr(t->unpermuteHeads));
    }
  }
};
} // namespace
