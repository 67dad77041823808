//===- AttachCalibration.cpp - Statistics for quantized weights -*- C++ -*-===//
//
// Finds the calibration statistics of every quantized weight's input in a
// statistics file and references them from the IR (weights.calibration
// operands of weights.quantize); the values are read at serialization.
// docs/calibration.md, "In the IR".
//
//===----------------------------------------------------------------------===//

#include "dialects/Weights/Transforms/Passes.h"
#include "dialects/Weights/Transforms/Utils.h"
#include "qopt/Loaders/Calibration.h"
#include "qopt/Models/Gguf.h"

#include "mlir/IR/Builders.h"
#include "llvm/ADT/SetVector.h"
#include "llvm/ADT/StringMap.h"

#include <cmath>

namespace mlir::qopt::weights {
#define GEN_PASS_DEF_ATTACHCALIBRATION
#include "dialects/Weights/Transforms/Passes.h.inc"
} // namespace mlir::qopt::weights

using namespace mlir;
using namespace mlir::qopt::weights;
namespace loaders = ::qopt::loaders;
namespace weights = ::mlir::qopt::weights;

/// The checkpoint tensors `v` is built from, in operand order.
static void collectSourceKeys(Value v, llvm::SetVector<StringRef> &keys) {
  Operation *def = v.getDefiningOp();
  if (!def)
    return;
  if (auto s = dyn_cast<SourceOp>(def)) {
    keys.insert(s.getKey());
    return;
  }
  for (Value operand : def->getOperands())
    collectSourceKeys(operand, keys);
}

static std::string shapeString(ArrayRef<int64_t> shape) {
  std::string s = "[";
  for (auto [i, d] : llvm::enumerate(shape))
    s += (i ? ", " : "") + std::to_string(d);
  return s + "]";
}

namespace {
struct AttachCalibrationPass
    : public ::mlir::qopt::weights::impl::AttachCalibrationBase<
          AttachCalibrationPass> {
  using Base::Base;

  void runOnOperation() override {
    Operation *root = getOperation();
    if (file.getValue().empty()) {
      root->emitError("qopt-attach-calibration needs a file");
      return signalPassFailure();
    }
    if (!importance && !gptq) {
      root->emitError("qopt-attach-calibration: choose importance, gptq or "
                      "both");
      return signalPassFailure();
    }
    if (gptq && (!(gptqDamp >= 0) || !std::isfinite(gptqDamp) ||
                 gptqBlock <= 0)) {
      root->emitError("gptq-damp must be a finite non-negative number and "
                      "gptq-block positive, got ")
          << gptqDamp.getValue() << " and " << gptqBlock.getValue();
      return signalPassFailure();
    }
    auto opened = loaders::CalibrationFile::open(file.getValue());
    if (!opened) {
      root->emitError(llvm::toString(opened.takeError()));
      return signalPassFailure();
    }
    stats = std::move(*opened);
    if (gptq && stats->getFormat() != loaders::CalibrationFormat::Stats) {
      root->emitError("GPTQ needs Hessians; ")
          << file.getValue()
          << " is a llama.cpp importance matrix, which holds none (run "
             "quant-opt calibrate --hessian)";
      return signalPassFailure();
    }
    // llama.cpp entries by the Hugging Face name they stand for: imatrix
    // files name tensors as GGUF files do, which the model definitions
    // translate (docs/gguf.md); llama.cpp names every llama-like model's
    // tensors as llama's.
    if (stats->getFormat() != loaders::CalibrationFormat::Stats)
      for (const loaders::CalibrationEntry &e : stats->getEntries())
        if (std::optional<std::string> hf =
                ::qopt::models::ggufToHfName("llama", e.name))
          byHfName.try_emplace(*hf, &e);
    for (ModelOp model : getModels(root))
      if (failed(attach(model)))
        return signalPassFailure();
  }

  LogicalResult attach(ModelOp model) {
    if (!model.getQuantization())
      return model.emitError("model is not quantized: run "
                             "qopt-quantize-weights before "
                             "qopt-attach-calibration");
    // The same file may already be there (qopt-fold-awq-scales reads it).
    if (model.getCalibrationFile() && *model.getCalibrationFile() != file.getValue())
      return model.emitError("model already has calibration statistics (")
             << *model.getCalibrationFile() << ")";
    model.setCalibrationFileAttr(
        StringAttr::get(&getContext(), file.getValue()));
    SmallVector<QuantizeOp> ops(model.getBody().front().getOps<QuantizeOp>());
    for (QuantizeOp q : ops)
      if (failed(attachTo(q)))
        return failure();
    return success();
  }

  /// The record (a weights.param) the op yields first, or null.
  static ParamOp firstRecord(QuantizeOp q) {
    for (Operation *user : q->getUsers())
      if (auto p = dyn_cast<ParamOp>(user))
        return p;
    return {};
  }

  /// The entry of `name`'s statistics, or null; `keys` lists what was
  /// looked up.
  const loaders::CalibrationEntry *findEntry(QuantizeOp q, StringRef name,
                                             std::string &looked) {
    if (stats->getFormat() == loaders::CalibrationFormat::Stats) {
      looked = "'" + name.str() + "'";
      return stats->find(name);
    }
    llvm::SetVector<StringRef> keys;
    collectSourceKeys(q.getInput(), keys);
    for (StringRef k : keys) {
      looked += (looked.empty() ? "'" : ", '") + k.str() + "'";
      auto it = byHfName.find(k);
      if (it != byHfName.end())
        return it->second;
    }
    return nullptr;
  }

  LogicalResult attachTo(QuantizeOp q) {
    auto weight = cast<RankedTensorType>(q.getInput().getType());
    if (weight.getRank() != 2 && weight.getRank() != 3)
      return success();
    // Linear layers only (a NoQuantLinear quantized here is one: its mode
    // ignores no_quantization): an embedding is a lookup, its "input" is
    // one-hot.
    ParamOp record = firstRecord(q);
    ParamKind kind = record ? record.getKind().value_or(ParamKind::Other)
                            : ParamKind::Other;
    if (kind != ParamKind::Linear && kind != ParamKind::FinalFC &&
        kind != ParamKind::Experts && kind != ParamKind::NoQuantLinear &&
        kind != ParamKind::Float32OutLinear)
      return success();
    StringRef name = record.getOriginName();
    Location loc = q.getLoc();
    std::string error;
    for (weights::Statistic st : {weights::Statistic::Importance, weights::Statistic::Hessian}) {
      bool wanted = st == weights::Statistic::Importance ? bool(importance) : bool(gptq);
      if (wanted && failed(q.getScheme().acceptsCalibration(st, error)))
        return emitError(loc, "parameter '") << name << "': " << error;
    }
    std::string looked;
    const loaders::CalibrationEntry *entry = findEntry(q, name, looked);
    if (!entry) {
      emitWarning(loc, "parameter '")
          << name << "': no statistics in " << file.getValue() << " (looked up "
          << looked << "); quantized without them";
      return success();
    }
    int64_t rank = weight.getRank(), k = weight.getDimSize(rank - 1);
    SmallVector<int64_t> impShape;
    if (rank == 3)
      impShape.push_back(weight.getDimSize(0));
    impShape.push_back(k);
    int64_t expected = 1, got = 1;
    for (int64_t d : impShape)
      expected *= d;
    for (int64_t d : entry->importanceShape)
      got *= d;
    // The legacy format stores experts flat: only the count can be checked.
    bool flat = stats->getFormat() == loaders::CalibrationFormat::LegacyImatrix;
    if (flat ? got != expected
             : ArrayRef<int64_t>(entry->importanceShape) != ArrayRef(impShape))
      return emitError(loc, "parameter '")
             << name << "': statistics '" << entry->name << "' in "
             << file.getValue() << " have shape "
             << shapeString(entry->importanceShape) << ", the weight needs "
             << shapeString(impShape);
    OpBuilder b(q);
    Type f32 = b.getF32Type();
    Location statLoc = NameLoc::get(b.getStringAttr(entry->name),
                                    FileLineColLoc::get(b.getStringAttr(
                                                            file.getValue()),
                                                        0, 0));
    if (importance) {
      Value v = CalibrationOp::create(b, statLoc,
                                      RankedTensorType::get(impShape, f32),
                                      entry->name, weights::Statistic::Importance);
      q.getImportanceMutable().assign(
          rescaleForFoldedScales(b, statLoc, q.getInput(), v));
    }
    if (gptq) {
      if (entry->hessianShape.empty())
        return emitError(loc, "parameter '")
               << name << "': " << file.getValue() << " has no hessian for '"
               << entry->name << "' (run quant-opt calibrate --hessian)";
      SmallVector<int64_t> hShape(impShape);
      hShape.push_back(k);
      Value v = CalibrationOp::create(b, statLoc,
                                      RankedTensorType::get(hShape, f32),
                                      entry->name, weights::Statistic::Hessian);
      q.getHessianMutable().assign(
          rescaleForFoldedScales(b, statLoc, q.getInput(), v));
      q.setGptqAttr(GptqAttr::get(&getContext(), b.getF64FloatAttr(gptqDamp),
                                  gptqBlock, gptqActOrder));
    }
    return success();
  }

  std::shared_ptr<const loaders::CalibrationFile> stats;
  llvm::StringMap<const loaders::CalibrationEntry *> byHfName;
};
} // namespace
