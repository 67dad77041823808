//===- SchemeChecks.h - Checks shared by the quantization schemes -*- C++ -*-===//
//
// Private to dialects/Weights/IR: what every QuantSchemeAttrInterface
// implementation checks of its input before inferring its outputs.
//
//===----------------------------------------------------------------------===//

#ifndef QOPT_DIALECTS_WEIGHTS_IR_SCHEMECHECKS_H
#define QOPT_DIALECTS_WEIGHTS_IR_SCHEMECHECKS_H

#include "mlir/IR/BuiltinTypes.h"
#include "llvm/Support/raw_ostream.h"

#include <string>

namespace mlir::qopt::weights {

/// Fails with the scheme's message when `input`'s element type is not the
/// type the scheme quantizes (`expressed`).
inline LogicalResult checkExpressedInput(RankedTensorType input,
                                         Type expressed, std::string &error) {
  if (input.getElementType() == expressed)
    return success();
  llvm::raw_string_ostream os(error);
  os << "input element type " << input.getElementType()
     << " does not match the scheme's expressed type " << expressed;
  return failure();
}

} // namespace mlir::qopt::weights

#endif // QOPT_DIALECTS_WEIGHTS_IR_SCHEMECHECKS_H
