//===- CalibrationOps.cpp - Calibration statistics in the IR ---*- C++ -*-===//
//
// weights.calibration (a reference to one statistic of the model's
// calibration file, read when evaluated), the calibration operands of
// weights.quantize and #weights.gptq, and the cache of the states ops
// prepare once per evaluation (the opened file, GPTQ factors).
// docs/calibration.md describes the flow.
//
//===----------------------------------------------------------------------===//

#include "dialects/Weights/IR/WeightsOps.h"
#include "qopt/Loaders/Calibration.h"

#include "llvm/Support/Path.h"

#include <cstring>

using namespace mlir;
using namespace mlir::qopt::weights;
namespace num = ::qopt::numerics;
namespace loaders = ::qopt::loaders;
using num::DType;

/// Slots of the prepared states, per key.
enum : unsigned { kSlotCalibrationFile = 0, kSlotGptqFactors = 1 };

//===----------------------------------------------------------------------===//
// PreparedStateCache
//===----------------------------------------------------------------------===//

llvm::Expected<std::shared_ptr<const void>> PreparedStateCache::get(
    const void *key, unsigned slot,
    llvm::function_ref<llvm::Expected<std::shared_ptr<const void>>()> make) {
  std::shared_ptr<Entry> entry;
  {
    std::lock_guard<std::mutex> lock(mutex);
    auto it = llvm::find_if(entries, [&](const std::shared_ptr<Entry> &e) {
      return e->key == key && e->slot == slot;
    });
    if (it != entries.end()) {
      entry = *it;
      entries.erase(it);
    } else {
      entry = std::make_shared<Entry>();
      entry->key = key;
      entry->slot = slot;
    }
    entries.push_front(entry);
    while (entries.size() > std::max<size_t>(capacity, 1))
      entries.pop_back();
  }
  std::lock_guard<std::mutex> lock(entry->mutex);
  if (!entry->state) {
    llvm::Expected<std::shared_ptr<const void>> made = make();
    if (!made)
      return made.takeError();
    entry->state = std::move(*made);
  }
  return entry->state;
}

//===----------------------------------------------------------------------===//
// ModelOp
//===----------------------------------------------------------------------===//

std::string ModelOp::resolveCalibrationPath(StringRef override) {
  if (!override.empty())
    return override.str();
  if (std::optional<StringRef> own = getCalibrationFile())
    return own->str();
  return {};
}

//===----------------------------------------------------------------------===//
// CalibrationOp
//===----------------------------------------------------------------------===//

LogicalResult CalibrationOp::verify() {
  auto type = cast<RankedTensorType>(getType());
  if (!type.getElementType().isF32())
    return emitOpError("statistics are f32, got ") << type.getElementType();
  int64_t rank = type.getRank();
  if (getStatistic() == Statistic::Importance) {
    if (rank != 1 && rank != 2)
      return emitOpError("an importance is [K] or [E, K], got ") << type;
  } else if ((rank != 2 && rank != 3) ||
             type.getDimSize(rank - 1) != type.getDimSize(rank - 2)) {
    return emitOpError("a hessian is [K, K] or [E, K, K], got ") << type;
  }
  auto model = (*this)->getParentOfType<ModelOp>();
  if (!model || !model.getCalibrationFile())
    return emitOpError("needs an enclosing weights.model with a "
                       "calibration_file");
  return success();
}

bool CalibrationOp::isRowLocal() { return false; }

llvm::Error CalibrationOp::evaluateRows(EvaluationContext &ctx, int64_t,
                                        int64_t,
                                        SmallVectorImpl<RowBuffer> &results) {
  ModelOp model = (*this)->getParentOfType<ModelOp>();
  std::string path =
      model.resolveCalibrationPath(ctx.getOptions().calibrationFile);
  auto file = ctx.getPrepared<loaders::CalibrationFile>(
      model.getOperation(), kSlotCalibrationFile,
      [&]() -> llvm::Expected<std::shared_ptr<const loaders::CalibrationFile>> {
        return loaders::CalibrationFile::open(path);
      });
  if (!file)
    return makeEvaluationError(*this, llvm::toString(file.takeError()));
  std::vector<float> values;
  bool importance = getStatistic() == Statistic::Importance;
  if (llvm::Error e = importance ? (*file)->readImportance(getEntry(), values)
                                 : (*file)->readHessian(getEntry(), values))
    return makeEvaluationError(*this, llvm::toString(std::move(e)));
  auto type = cast<RankedTensorType>(getType());
  if (int64_t(values.size()) != type.getNumElements())
    return makeEvaluationError(
        *this, path + ": entry '" + getEntry() + "' holds " +
                   llvm::Twine(values.size()) + " values, the op expects " +
                   llvm::Twine(type.getNumElements()));
  RowBuffer out = RowBuffer::allocate(DType::F32, type.getShape());
  std::memcpy(out.data.data(), values.data(), values.size() * 4);
  results.push_back(std::move(out));
  return llvm::Error::success();
}

//===----------------------------------------------------------------------===//
// GptqAttr
//===----------------------------------------------------------------------===//

LogicalResult GptqAttr::verify(function_ref<InFlightDiagnostic()> emitError,
                               FloatAttr damp, int64_t blockSize, bool) {
  double d = damp.getValueAsDouble();
  if (!(d >= 0) || !std::isfinite(d))
    return emitError() << "gptq damp must be a finite non-negative number, got "
                       << d;
  if (blockSize <= 0)
    return emitError() << "gptq block_size must be positive, got "
                       << blockSize;
  return success();
}

//===----------------------------------------------------------------------===//
// QuantizeOp's calibration operands
//===----------------------------------------------------------------------===//

LogicalResult QuantizeOp::verifyCalibration() {
  auto weight = cast<RankedTensorType>(getInput().getType());
  int64_t rank = weight.getRank();
  bool any = getImportance() || getHessian();
  if (any && rank != 2 && rank != 3)
    return emitOpError("calibration statistics need a 2-D weight [N, K] or "
                       "stacked experts [E, N, K], got ")
           << weight;
  if (bool(getHessian()) != bool(getGptqAttr()))
    return emitOpError(getHessian() ? "a hessian operand needs the gptq "
                                      "attribute"
                                    : "the gptq attribute needs a hessian "
                                      "operand");
  // [K] / [K, K], with the experts' axis in front for [E, N, K].
  SmallVector<int64_t> lead;
  if (rank == 3)
    lead.push_back(weight.getDimSize(0));
  int64_t k = rank ? weight.getDimSize(rank - 1) : 0;
  auto check = [&](Value v, Statistic stat,
                   ArrayRef<int64_t> tail) -> LogicalResult {
    SmallVector<int64_t> shape(lead);
    shape.append(tail.begin(), tail.end());
    auto expected = RankedTensorType::get(shape, Float32Type::get(getContext()));
    if (v.getType() != expected)
      return emitOpError() << stringifyStatistic(stat) << " must be "
                           << expected << " for a weight of type " << weight
                           << ", got " << v.getType();
    std::string error;
    if (failed(getScheme().acceptsCalibration(stat, error)))
      return emitOpError(error);
    return success();
  };
  if (Value v = getImportance())
    if (failed(check(v, Statistic::Importance, {k})))
      return failure();
  if (Value v = getHessian())
    if (failed(check(v, Statistic::Hessian, {k, k})))
      return failure();
  return success();
}

bool QuantizeOp::readsOperandRows(unsigned index) { return index == 0; }

/// The GPTQ factors of every matrix of the op's Hessian.
using GptqFactors = std::vector<num::GptqFactor>;

llvm::Error QuantizeOp::quantizeInput(EvaluationContext &ctx, int64_t r0,
                                      int64_t r1, const RowBuffer &input,
                                      SmallVectorImpl<RowBuffer> &results) {
  QuantSchemeAttrInterface scheme = getScheme();
  auto weightType = cast<RankedTensorType>(getInput().getType());
  if (!getImportance() && !getHessian()) {
    if (llvm::Error e = scheme.quantizeRows(ctx, weightType, input, results))
      return makeEvaluationError(*this, llvm::toString(std::move(e)));
    return llvm::Error::success();
  }
  // Stacked experts: rows [r0, r1) are experts, each its own matrix.
  bool experts = weightType.getRank() == 3;
  CalibrationInput calib;
  calib.matrices = experts ? r1 - r0 : 1;
  RowBuffer importance;
  if (Value v = getImportance()) {
    auto rows = experts ? ctx.getRows(v, r0, r1) : ctx.getAllRows(v);
    if (!rows)
      return rows.takeError();
    importance = std::move(*rows);
    calib.importance = reinterpret_cast<const float *>(importance.bytes());
  }
  std::shared_ptr<const GptqFactors> factors;
  if (GptqAttr g = getGptqAttr()) {
    calib.gptqOptions.damp = g.getDamp().getValueAsDouble();
    calib.gptqOptions.blockSize = g.getBlockSize();
    calib.gptqOptions.actOrder = g.getActOrder();
    auto prepared = ctx.getPrepared<GptqFactors>(
        getOperation(), kSlotGptqFactors,
        [&]() -> llvm::Expected<std::shared_ptr<const GptqFactors>> {
          auto h = ctx.getAllRows(getHessian());
          if (!h)
            return h.takeError();
          int64_t k = h->shape.back();
          int64_t count = experts ? h->shape.front() : 1;
          auto out = std::make_shared<GptqFactors>(size_t(count));
          const auto *values = reinterpret_cast<const float *>(h->bytes());
          for (int64_t m = 0; m < count; ++m) {
            std::string why = num::prepareGptq(values + m * k * k, k,
                                               calib.gptqOptions, (*out)[m]);
            if (!why.empty())
              return makeEvaluationError(
                  *this, "GPTQ" +
                             (experts ? " (expert " + llvm::Twine(m) + ")"
                                      : llvm::Twine()) +
                             ": " + why);
          }
          return out;
        });
    if (!prepared)
      return prepared.takeError();
    factors = std::move(*prepared);
    for (int64_t m = 0; m < calib.matrices; ++m)
      calib.gptq.push_back(&(*factors)[size_t(experts ? r0 + m : 0)]);
  }
  if (llvm::Error e = scheme.quantizeRowsCalibrated(ctx, weightType, input,
                                                    calib, results))
    return makeEvaluationError(*this, llvm::toString(std::move(e)));
  return llvm::Error::success();
}
