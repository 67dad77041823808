//===- Records.cpp - A model's tensor-cache records -----------*- C++ -*-===//

#include "dialects/Weights/Transforms/Records.h"

#include "dialects/Weights/IR/WeightsEvaluation.h"

#include "llvm/ADT/DenseSet.h"

using namespace mlir;
using namespace mlir::qopt::weights;
namespace tc = ::qopt::tensorcache;
using ::qopt::numerics::DType;

LogicalResult
mlir::qopt::weights::collectRecords(ModelOp model,
                                    std::vector<tc::RecordSpec> &records,
                                    std::vector<Operation *> &ops) {
  for (Operation &op : model.getBody().front()) {
    RankedTensorType type;
    StringRef name;
    if (auto p = dyn_cast<ParamOp>(op)) {
      type = cast<RankedTensorType>(p.getValue().getType());
      name = p.getName();
    } else if (auto e = dyn_cast<ExternalParamOp>(op)) {
      type = cast<RankedTensorType>(e.getType());
      name = e.getSymName();
    } else {
      continue;
    }
    std::optional<DType> dt = fromMlirType(type.getElementType());
    if (!dt)
      return op.emitError("parameter '")
             << name << "' has element type " << type.getElementType()
             << ", which a tensor cache cannot hold";
    records.push_back(
        {name.str(),
         std::vector<int64_t>(type.getShape().begin(), type.getShape().end()),
         *dt});
    ops.push_back(&op);
  }
  return success();
}

LogicalResult mlir::qopt::weights::checkAllBuilt(ModelOp model) {
  auto missing = model.getBody().front().getOps<MissingOp>();
  if (missing.empty())
    return success();
  MissingOp first = *missing.begin();
  return model.emitError("parameter '")
         << first.getParam() << "' was not built: source tensor '"
         << *first.getTensors().getAsValueRange<StringAttr>().begin()
         << "' is not in the checkpoint (run qopt-verify-parameters for all)";
}

std::optional<tc::PartSpec> mlir::qopt::weights::parsePartSpec(StringRef text) {
  auto [i, n] = text.split('/');
  uint32_t index, count;
  if (i.getAsInteger(10, index) || n.getAsInteger(10, count) || index < 1 ||
      index > count)
    return std::nullopt;
  return tc::PartSpec{index, count};
}

InFlightDiagnostic mlir::qopt::weights::emitInvalidPart(ModelOp model,
                                                        StringRef text) {
  return model.emitError("invalid part '")
         << text << "': expected I/N with 1 <= I <= N (for example 2/8)";
}

std::vector<bool>
mlir::qopt::weights::recordsInPart(const std::vector<tc::RecordSpec> &records,
                                   tc::PartSpec spec, uint64_t shardCapBytes) {
  tc::ShardPlan plan = tc::planShards(records, shardCapBytes);
  std::vector<uint32_t> owner =
      tc::assignShardsToParts(plan.shardBytes, spec.count);
  std::vector<bool> in(records.size());
  for (size_t i = 0; i < records.size(); ++i) {
    uint32_t shard = plan.placements[i].shard;
    in[i] = shard < owner.size() && owner[shard] == spec.index - 1;
  }
  return in;
}

void mlir::qopt::weights::eraseWithUnusedDefinitions(
    ArrayRef<Operation *> dropped) {
  SmallVector<Operation *> work(dropped.begin(), dropped.end());
  // An op reached twice (two results used, one input read twice) is erased
  // once; its pointer is not followed again.
  llvm::DenseSet<Operation *> erased;
  while (!work.empty()) {
    Operation *op = work.pop_back_val();
    if (erased.contains(op) || !op->use_empty())
      continue;
    for (Value operand : op->getOperands())
      if (Operation *def = operand.getDefiningOp())
        work.push_back(def);
    erased.insert(op);
    op->erase();
  }
}
