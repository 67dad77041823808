//===- MergeLora.cpp - Merge a PEFT LoRA adapter ----------------*- C++ -*-===//
//
// Reads a PEFT adapter directory (adapter_config.json + the headers of
// adapter_model.safetensors or adapter_model.bin) and replaces the uses of
// each adapted base weight with `weights.merge_lora`, so that mapping,
// casting and quantization see the merged weight. The adapter's bytes are
// read by the executor, a row block at a time.
//
//===----------------------------------------------------------------------===//

#include "dialects/Weights/Transforms/Passes.h"
#include "dialects/Weights/Transforms/Utils.h"
#include "qopt/Loaders/Checkpoint.h"

#include "mlir/IR/Builders.h"
#include "mlir/IR/BuiltinOps.h"
#include "llvm/ADT/MapVector.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/MemoryBuffer.h"
#include "llvm/Support/Path.h"
#include "llvm/Support/Regex.h"

#include <cmath>

namespace mlir::qopt::weights {
#define GEN_PASS_DEF_MERGELORA
#include "dialects/Weights/Transforms/Passes.h.inc"
} // namespace mlir::qopt::weights

using namespace mlir;
using namespace mlir::qopt::weights;
namespace loaders = ::qopt::loaders;

namespace {
/// What adapter_config.json says, as far as the merge needs it.
struct AdapterConfig {
  int64_t r = 0;
  double alpha = 0;
  bool fanInFanOut = false;
  bool rslora = false;
  /// target_modules: a list of names (matching a module or its last
  /// components), or a regular expression matched against the whole name.
  std::vector<std::string> targets;
  std::optional<std::string> targetRegex;
  bool allLinear = false;
};

/// The lora_A / lora_B tensors of one adapted module.
struct LoraModule {
  const loaders::TensorInfo *a = nullptr, *b = nullptr;
};

struct MergeLoraPass
    : public ::mlir::qopt::weights::impl::MergeLoraBase<MergeLoraPass> {
  using Base::Base;

  void runOnOperation() override {
    ModuleOp module = getOperation();
    if (adapter.getValue().empty()) {
      module.emitError("qopt-merge-lora needs 'adapter' (a PEFT adapter "
                       "directory)");
      return signalPassFailure();
    }
    for (ModelOp model : module.getOps<ModelOp>())
      if (failed(merge(model)))
        return signalPassFailure();
  }

  Location fileLoc(StringRef file, unsigned line = 0, unsigned col = 0) {
    return FileLineColLoc::get(&getContext(), file, line, col);
  }
  Location tensorLoc(StringRef file, StringRef tensor) {
    return NameLoc::get(StringAttr::get(&getContext(), tensor), fileLoc(file));
  }

  FailureOr<AdapterConfig> readConfig(StringRef path) {
    auto buffer = llvm::MemoryBuffer::getFile(path, /*IsText=*/true);
    if (!buffer)
      return emitError(fileLoc(path))
             << "cannot read the LoRA adapter config: "
             << buffer.getError().message();
    StringRef text = (*buffer)->getBuffer();
    nlohmann::json json;
    loaders::detail::JsonFailure jsonFailure;
    if (!loaders::detail::parseJson(text, loaders::detail::JsonLimits(), json,
                                    jsonFailure)) {
      if (jsonFailure.kind == loaders::detail::JsonFailure::Syntax) {
        // "line L, column C" -> the location itself.
        unsigned line = 0, col = 0;
        std::string pos = loaders::detail::jsonPosition(text, jsonFailure.byte);
        std::sscanf(pos.c_str(), "line %u, column %u", &line, &col);
        return emitError(fileLoc(path, line, col)) << "not valid JSON";
      }
      if (jsonFailure.kind == loaders::detail::JsonFailure::DuplicateKey)
        return emitError(fileLoc(path)) << "duplicate key '" << jsonFailure.key
                                        << "'";
      return emitError(fileLoc(path)) << "JSON too large or too deep";
    }
    if (!json.is_object())
      return emitError(fileLoc(path)) << "expected a JSON object";
    AdapterConfig c;
    auto field = [&](const char *k) -> const nlohmann::json * {
      auto it = json.find(k);
      return it == json.end() || it->is_null() ? nullptr : &*it;
    };
    if (auto *t = field("peft_type"); t && (!t->is_string() || *t != "LORA"))
      return emitError(fileLoc(path))
             << "peft_type " << t->dump() << " is not supported; only LORA";
    auto *r = field("r");
    if (!r || !r->is_number_integer() || r->get<int64_t>() <= 0)
      return emitError(fileLoc(path)) << "'r' must be a positive integer";
    c.r = r->get<int64_t>();
    auto *alpha = field("lora_alpha");
    if (!alpha || !alpha->is_number())
      return emitError(fileLoc(path)) << "'lora_alpha' must be a number";
    c.alpha = alpha->get<double>();
    auto boolean = [&](const char *k, bool &out) -> LogicalResult {
      auto *v = field(k);
      if (!v)
        return success();
      if (!v->is_boolean())
        return emitError(fileLoc(path)) << "'" << k << "' must be true or false";
      out = v->get<bool>();
      return success();
    };
    bool dora = false;
    if (failed(boolean("fan_in_fan_out", c.fanInFanOut)) ||
        failed(boolean("use_rslora", c.rslora)) ||
        failed(boolean("use_dora", dora)))
      return failure();
    if (dora)
      return emitError(fileLoc(path))
             << "use_dora: DoRA adapters are not supported (their merge "
                "rescales each column by a magnitude vector)";
    for (const char *k : {"rank_pattern", "alpha_pattern"})
      if (auto *v = field(k); v && !(v->is_object() && v->empty()))
        return emitError(fileLoc(path))
               << "'" << k << "' (per-module rank or alpha) is not supported";
    if (auto *v = field("bias"); v && *v != "none")
      return emitError(fileLoc(path))
             << "bias " << v->dump() << " is not supported; only \"none\"";
    if (auto *v = field("modules_to_save"); v && !(v->is_array() && v->empty()))
      return emitError(fileLoc(path))
             << "'modules_to_save' (fully trained modules) is not supported";
    if (auto *t = field("target_modules")) {
      if (t->is_string()) {
        if (*t == "all-linear")
          c.allLinear = true;
        else
          c.targetRegex = t->get<std::string>();
      } else if (t->is_array()) {
        for (const nlohmann::json &e : *t) {
          if (!e.is_string())
            return emitError(fileLoc(path))
                   << "'target_modules' must hold strings";
          c.targets.push_back(e.get<std::string>());
        }
      } else {
        return emitError(fileLoc(path))
               << "'target_modules' must be a list or a string";
      }
    } else {
      c.allLinear = true; // Not given: accept what the file holds.
    }
    return c;
  }

  static bool isTarget(const AdapterConfig &c, StringRef module) {
    if (c.allLinear)
      return true;
    if (c.targetRegex)
      return llvm::Regex("^(" + *c.targetRegex + ")$").match(module);
    for (const std::string &t : c.targets)
      if (module == t || module.ends_with("." + t))
        return true;
    return false;
  }

  LogicalResult merge(ModelOp model) {
    llvm::SmallString<256> dir(adapter.getValue());
    llvm::SmallString<256> configPath(dir);
    llvm::sys::path::append(configPath, "adapter_config.json");
    if (!llvm::sys::fs::is_directory(dir))
      return emitError(fileLoc(dir))
             << "LoRA adapter directory does not exist";
    FailureOr<AdapterConfig> cfg = readConfig(configPath);
    if (failed(cfg))
      return failure();

    std::string weightsPath;
    for (const char *name : {"adapter_model.safetensors", "adapter_model.bin"}) {
      llvm::SmallString<256> p(dir);
      llvm::sys::path::append(p, name);
      if (llvm::sys::fs::exists(p)) {
        weightsPath = p.str().str();
        break;
      }
    }
    if (weightsPath.empty())
      return emitError(fileLoc(dir))
             << "no adapter_model.safetensors or adapter_model.bin in the "
                "LoRA adapter directory";
    auto file = loaders::readCheckpointFile(weightsPath,
                                            loaders::SourceFormat::Auto);
    if (!file)
      return emitError(fileLoc(weightsPath))
             << llvm::toString(file.takeError());

    // base_model.model.<module>.lora_{A,B}.weight, in file order.
    llvm::MapVector<StringRef, LoraModule> modules;
    for (const loaders::TensorInfo &t : file->tensors) {
      StringRef name = t.name;
      Location loc = tensorLoc(weightsPath, name);
      if (name.contains("lora_magnitude_vector"))
        return emitError(loc) << "DoRA magnitude vectors are not supported";
      if (name.contains("lora_embedding_"))
        return emitError(loc)
               << "LoRA on embeddings (lora_embedding_A/B) is not supported";
      StringRef rest = name;
      bool isA = rest.consume_back(".lora_A.weight");
      bool isB = !isA && rest.consume_back(".lora_B.weight");
      if ((!isA && !isB) || !rest.consume_front("base_model.model."))
        return emitError(loc) << "unexpected tensor in a LoRA adapter (expected "
                                 "base_model.model.<module>.lora_A.weight or "
                                 "lora_B.weight)";
      LoraModule &m = modules[rest];
      (isA ? m.a : m.b) = &t;
    }
    if (modules.empty())
      return emitError(fileLoc(weightsPath)) << "the LoRA adapter holds no "
                                                "lora_A / lora_B tensors";

    Block &body = model.getBody().front();
    llvm::StringMap<SourceOp> sources;
    for (SourceOp s : body.getOps<SourceOp>())
      sources[s.getKey()] = s;
    MLIRContext *ctx = &getContext();
    double scale = cfg->rslora ? cfg->alpha / std::sqrt(double(cfg->r))
                               : cfg->alpha / double(cfg->r);
    for (auto &[module, m] : modules) {
      std::string aName = "base_model.model." + module.str() + ".lora_A.weight";
      std::string bName = "base_model.model." + module.str() + ".lora_B.weight";
      if (!m.a || !m.b)
        return emitError(tensorLoc(weightsPath, m.a ? aName : bName))
               << "LoRA module '" << module << "' has "
               << (m.a ? "lora_A" : "lora_B") << " but no "
               << (m.a ? "lora_B" : "lora_A");
      if (!isTarget(*cfg, module))
        return emitError(tensorLoc(weightsPath, aName))
               << "LoRA module '" << module
               << "' is not in target_modules of adapter_config.json";
      auto isFloat = [](const loaders::TensorInfo &t) {
        using ::qopt::numerics::DType;
        return t.dtype == DType::F16 || t.dtype == DType::BF16 ||
               t.dtype == DType::F32;
      };
      for (const loaders::TensorInfo *t : {m.a, m.b})
        if (t->shape.size() != 2 || !isFloat(*t))
          return emitError(tensorLoc(weightsPath, t->name))
                 << "expected a 2-D f16, bf16 or f32 tensor, got "
                 << loaders::formatShape(t->shape) << " "
                 << ::qopt::numerics::tvmName(t->dtype);
      if (m.a->shape[0] != cfg->r || m.b->shape[1] != cfg->r)
        return emitError(tensorLoc(weightsPath, m.a->shape[0] != cfg->r
                                                    ? aName
                                                    : bName))
               << "rank mismatch: lora_A is "
               << loaders::formatShape(m.a->shape) << " and lora_B is "
               << loaders::formatShape(m.b->shape)
               << ", but adapter_config.json says r = " << cfg->r;
      std::string baseName = module.str() + ".weight";
      SourceOp base = sources.lookup(baseName);
      if (!base)
        return emitError(tensorLoc(weightsPath, aName))
               << "LoRA module '" << module << "': the base checkpoint has no "
               << "tensor '" << baseName << "'";
      auto baseType = cast<RankedTensorType>(base.getType());
      int64_t out = m.b->shape[0], in = m.a->shape[1];
      SmallVector<int64_t> expected =
          cfg->fanInFanOut ? SmallVector<int64_t>{in, out}
                           : SmallVector<int64_t>{out, in};
      if (baseType.getShape() != ArrayRef<int64_t>(expected)) {
        InFlightDiagnostic d = emitError(tensorLoc(weightsPath, bName))
                               << "shape mismatch: lora_B "
                               << loaders::formatShape(m.b->shape)
                               << " @ lora_A "
                               << loaders::formatShape(m.a->shape)
                               << (cfg->fanInFanOut ? ", transposed," : "")
                               << " is " << loaders::formatShape(
                                                std::vector<int64_t>(
                                                    expected.begin(),
                                                    expected.end()))
                               << ", but base weight '" << baseName << "' is "
                               << loaders::formatShape(std::vector<int64_t>(
                                      baseType.getShape().begin(),
                                      baseType.getShape().end()));
        d.attachNote(base.getLoc()) << "base weight";
        return failure();
      }

      OpBuilder b(ctx);
      b.setInsertionPointAfter(base);
      auto source = [&](const loaders::TensorInfo &t) {
        auto type = RankedTensorType::get(t.shape, toMlirType(ctx, t.dtype));
        auto op = SourceOp::create(b, tensorLoc(t.file, t.name), type,
                                   b.getStringAttr(t.file),
                                   b.getStringAttr(t.name),
                                   int64_t(t.offset),
                                   DenseI64ArrayAttr());
        if (!t.strides.empty())
          op.setStridesAttr(b.getDenseI64ArrayAttr(t.strides));
        return op;
      };
      SourceOp a = source(*m.a), bsrc = source(*m.b);
      Location loc = b.getFusedLoc({base.getLoc(), a.getLoc(), bsrc.getLoc()});
      auto merged = MergeLoraOp::create(b, loc, base, a, bsrc, scale,
                                        cfg->fanInFanOut);
      if (failed(merged.verify()))
        return failure();
      base.getResult().replaceAllUsesExcept(merged.getResult(), merged);
    }
    return success();
  }
};
} // namespace
