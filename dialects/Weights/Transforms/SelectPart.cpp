//===- SelectPart.cpp - Keep only one part's definitions ------*- C++ -*-===//
//
// qopt-select-part{part=I/N}: the IR one part of a split conversion needs.
// Every record of another part becomes a weights.external_param (its name
// and type keep the shard plan whole); the ops only those records used are
// erased. `quant-opt convert --part` serializes the result in a fresh
// MLIR context, so that what planning uniqued for the whole checkpoint (a
// name and a location per tensor) is freed before the chunks run
// (docs/design.md, "What is alive while the chunks run").
//
//===----------------------------------------------------------------------===//

#include "dialects/Weights/IR/WeightsEvaluation.h"
#include "dialects/Weights/Transforms/Passes.h"
#include "dialects/Weights/Transforms/Records.h"
#include "dialects/Weights/Transforms/Utils.h"
#include "dialects/Weights/Transforms/WeightRange.h"

#include "mlir/IR/Builders.h"

namespace mlir::qopt::weights {
#define GEN_PASS_DEF_SELECTPART
#include "dialects/Weights/Transforms/Passes.h.inc"
} // namespace mlir::qopt::weights

using namespace mlir;
using namespace mlir::qopt::weights;
namespace tc = ::qopt::tensorcache;
namespace num = ::qopt::numerics;

/// The float type of a range check's format.
static Type typeOf(MLIRContext *ctx, num::FloatFormat f) {
  switch (f) {
  case num::FloatFormat::F16:
    return Float16Type::get(ctx);
  case num::FloatFormat::BF16:
    return BFloat16Type::get(ctx);
  default:
    return Float32Type::get(ctx);
  }
}

namespace {
struct SelectPartPass
    : public ::mlir::qopt::weights::impl::SelectPartBase<SelectPartPass> {
  using Base::Base;

  void runOnOperation() override {
    for (ModelOp model : getModels(getOperation()))
      if (failed(select(model)))
        return signalPassFailure();
  }

  LogicalResult select(ModelOp model) {
    // The serialize pass's checks, in its order.
    if (failed(checkAllBuilt(model)))
      return failure();
    std::vector<tc::RecordSpec> records;
    std::vector<Operation *> ops;
    if (failed(collectRecords(model, records, ops)))
      return failure();
    bool byRange = endRecord != 0;
    std::optional<tc::PartSpec> spec = parsePartSpec(part.getValue());
    if (byRange) {
      if (firstRecord >= endRecord || endRecord > records.size())
        return model.emitError("records [")
               << firstRecord.getValue() << ", " << endRecord.getValue()
               << ") are not a range of the model's " << records.size()
               << " records";
    } else if (!spec) {
      return emitInvalidPart(model, part.getValue());
    }
    if (shardCapBytes == 0)
      return model.emitError("shard capacity must be positive");

    // Every parameter is checked, whichever part writes it (as the
    // executor checks them): the first that cannot be evaluated fails.
    SmallVector<ParamOp> params;
    for (Operation *op : ops)
      if (auto p = dyn_cast<ParamOp>(op)) {
        Value v = p.getValue();
        if (auto selection = v.getDefiningOp<RowSelectionOpInterface>())
          v = selection.getSelectedValue();
        if (llvm::Error e = checkEvaluable(v, p)) {
          std::string prefix = "parameter '" + p.getName().str() + "': ";
          llvm::handleAllErrors(
              std::move(e),
              [&](const EvaluationError &e) {
                emitError(e.getLocation()) << prefix << e.getMessage();
              },
              [&](const llvm::ErrorInfoBase &e) {
                p.emitError() << prefix << e.message();
              });
          return failure();
        }
        params.push_back(p);
      }

    // Facts the other parts' IR held: the total source parameters, and the
    // narrowest cast on any path from a source to a record.
    Builder b(model.getContext());
    if (!model.getSourceParams()) {
      int64_t total = 0;
      model.walk([&](SourceOp s) {
        total += cast<RankedTensorType>(s.getType()).getNumElements();
      });
      model->setAttr(model.getSourceParamsAttrName(),
                     b.getI64IntegerAttr(total));
    }
    WeightRangePolicy whole =
        WeightRangePolicy::build(params, /*clamp=*/false);

    std::vector<bool> in(records.size());
    if (byRange)
      for (size_t i = firstRecord; i < endRecord; ++i)
        in[i] = true;
    else
      in = recordsInPart(records, *spec, shardCapBytes);
    SmallVector<ParamOp> kept;
    SmallVector<Operation *> dropped;
    for (size_t i = 0; i < ops.size(); ++i) {
      auto p = dyn_cast<ParamOp>(ops[i]);
      if (!p)
        continue;
      if (in[i]) {
        kept.push_back(p);
        continue;
      }
      // Located by its name alone: the parameter's location fuses those of
      // the sources it was built from, which would keep every name and
      // location of the other parts' tensors alive in the context the part
      // runs in.
      OpBuilder ob(p);
      ExternalParamOp::create(ob, NameLoc::get(p.getSymNameAttr()),
                              p.getSymNameAttr(),
                              TypeAttr::get(p.getValue().getType()));
      dropped.push_back(p);
    }
    if (dropped.empty())
      return success();
    WeightRangePolicy own = WeightRangePolicy::build(kept, /*clamp=*/false);
    for (auto [source, format] : own.targets) {
      num::FloatFormat all = whole.targets.lookup(source);
      if (all != format)
        cast<SourceOp>(source).setRangeTypeAttr(
            TypeAttr::get(typeOf(model.getContext(), all)));
    }
    eraseWithUnusedDefinitions(dropped);
    return success();
  }
};
} // namespace
