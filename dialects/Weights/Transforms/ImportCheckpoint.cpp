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
                                      const loaders::CheckpointScan &scan) {
  if (llvm::Error err = ::qopt::models::checkModelConfig(cfg))
    return err;
  return ::qopt::models::checkConfigAgainstCheckpoint(cfg, scan.fileTensors,
                                                      scan.fileElements);
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

    llvm::Expected<loaders::CheckpointLocation> where =
        loaders::locateCheckpoint(sourcePath, *format);
    // Loader errors name the checkpoint file themselves.
    if (!where)
      return fail(UnknownLoc::get(ctx), where.takeError());

    OpBuilder b = OpBuilder::atBlockEnd(module.getBody());
    auto model = ModelOp::create(b, modelLoc, (*arch)->name, (*arch)->name,
                                 jsonToAttr(ctx, cfg->raw()));
    // Files are named relative to the checkpoint's directory, held once on
    // the model: the IR stays valid when the checkpoint moves.
    std::string root = llvm::sys::path::parent_path(where->path).str();
    Block &body = model.getBody().front();
    b.setInsertionPointToEnd(&body);
    // The IR is built from one file's header at a time (the loader frees
    // each header after this call), so the headers' records of a checkpoint
    // with tens of thousands of tensors are never held together with the IR
    // built from them. Sources are created file by file and put in
    // torch_to_path order afterwards: the first and last op built for each
    // position.
    std::vector<std::pair<Operation *, Operation *>> built;
    bool inOrder = true;
    llvm::Expected<loaders::CheckpointScan> scan = loaders::scanCheckpoint(
        *where, models::ggufCheckpointFile,
        [&](loaders::CheckpointFile &file,
            ArrayRef<loaders::MappedTensor> mapped) -> llvm::Error {
          StringAttr fileAttr = b.getStringAttr(relativeTo(file.path, root));
          Location fileLoc = FileLineColLoc::get(ctx, file.path, 0, 0);
          for (const loaders::MappedTensor &m : mapped) {
            if (built.size() <= m.position)
              built.resize(m.position + 1);
            else
              inOrder = false;
            // The file holding the bytes (the header's own file, but for
            // a reader that says otherwise).
            StringAttr bytesAttr =
                m.tensor->file == file.path
                    ? fileAttr
                    : b.getStringAttr(relativeTo(m.tensor->file, root));
            built[m.position] = buildSource(b, *m.tensor, bytesAttr, fileLoc);
          }
          return llvm::Error::success();
        });
    if (!scan) {
      model.erase();
      return fail(UnknownLoc::get(ctx), scan.takeError());
    }
    // Sizes from the config are checked against the tensors actually present
    // before anything is planned from them (docs/reliability.md).
    if (llvm::Error err = checkConfigAgainst(*cfg, *scan)) {
      model.erase();
      return fail(modelLoc, std::move(err));
    }
    for (const std::string &w : scan->warnings)
      emitWarning(UnknownLoc::get(ctx)) << w;
    if (where->isIndex || scan->mappedTensors != 0)
      model.setCheckpointRootAttr(b.getStringAttr(root));
    if (where->isIndex)
      model.setSourceIndexAttr(
          b.getStringAttr(relativeTo(where->path, root)));
    if (!inOrder)
      for (auto [first, last] : built)
        for (Operation *op = first, *next; op; op = next) {
          next = op == last ? nullptr : op->getNextNode();
          op->moveBefore(&body, body.end());
        }
  }

  /// The weights.source of `t` (and the ops decoding a GGUF tensor's stored
  /// form): its first and last op.
  static std::pair<Operation *, Operation *>
  buildSource(OpBuilder &b, const loaders::TensorInfo &t, StringAttr file,
              Location fileLoc) {
    MLIRContext *ctx = b.getContext();
    Location loc = NameLoc::get(b.getStringAttr(t.name), fileLoc);
    auto type = RankedTensorType::get(t.shape, toMlirType(ctx, t.dtype));
    auto op = SourceOp::create(b, loc, type, file, b.getStringAttr(t.name),
                               int64_t(t.offset), DenseI64ArrayAttr());
    if (!t.strides.empty())
      op.setStridesAttr(b.getDenseI64ArrayAttr(t.strides));
    // GGUF: the stored form, decoded by ops (docs/gguf.md).
    Value v = op.getResult();
    if (!t.encoding.empty()) {
      const loaders::GgmlTypeInfo *info = loaders::ggmlTypeByName(t.encoding);
      SmallVector<int64_t> shape(t.shape.begin(), t.shape.end());
      shape.back() = shape.back() / info->typeSize * info->blockSize;
      v = DequantizeGgmlOp::create(b, loc,
                                   RankedTensorType::get(shape, b.getF32Type()),
                                   v, b.getStringAttr(t.encoding));
    }
    if (t.unpermuteHeads != 0)
      v = UnpermuteHeadsOp::create(b, loc, v.getType(), v,
                                   b.getI64IntegerAttr(t.unpermuteHeads));
    return {op.getOperation(), v.getDefiningOp()};
  }
};
} // namespace
