//===- Records.h - A model's tensor-cache records -------------*- C++ -*-===//
//
// What qopt-select-part and qopt-serialize-tensor-cache both read from the
// IR: the records of the tensor cache in emission order (weights.param and
// weights.external_param), the part a record belongs to, and the erasure of
// the definitions only some parameters used.
//
//===----------------------------------------------------------------------===//

#ifndef QOPT_DIALECTS_WEIGHTS_TRANSFORMS_RECORDS_H
#define QOPT_DIALECTS_WEIGHTS_TRANSFORMS_RECORDS_H

#include "dialects/Weights/IR/WeightsOps.h"
#include "qopt/TensorCache/TensorCache.h"

#include <optional>
#include <vector>

namespace mlir::qopt::weights {

/// The records of `model` in emission order, and per record its op (a
/// weights.param or a weights.external_param). Fails, with the error at
/// the op, on a record of an element type no tensor cache holds.
LogicalResult
collectRecords(ModelOp model,
               std::vector<::qopt::tensorcache::RecordSpec> &records,
               std::vector<Operation *> &ops);

/// Fails, with the error at the model, when a weights.missing is left: a
/// parameter that was not built.
LogicalResult checkAllBuilt(ModelOp model);

/// "I/N" with 1 <= I <= N.
std::optional<::qopt::tensorcache::PartSpec> parsePartSpec(StringRef text);

/// The error for a malformed part option, at the model.
InFlightDiagnostic emitInvalidPart(ModelOp model, StringRef text);

/// Per record, whether part `spec` writes it (its shard is the part's).
std::vector<bool>
recordsInPart(const std::vector<::qopt::tensorcache::RecordSpec> &records,
              ::qopt::tensorcache::PartSpec spec, uint64_t shardCapBytes);

/// Erases the ops of `dropped` (parameters), then every op none of whose
/// results is used any more: the definitions only those parameters had.
void eraseWithUnusedDefinitions(ArrayRef<Operation *> dropped);

} // namespace mlir::qopt::weights

#endif // QOPT_DIALECTS_WEIGHTS_TRANSFORMS_RECORDS_H
