//===- WeightsDialect.cpp - Weights dialect registration ----*- C++ -*-===//

#include "dialects/Weights/IR/WeightsDialect.h"
#include "dialects/Weights/IR/WeightsOps.h"

#include "mlir/IR/DialectImplementation.h"
#include "llvm/ADT/TypeSwitch.h"

using namespace mlir;
using namespace mlir::qopt::weights;

#include "dialects/Weights/IR/WeightsDialect.cpp.inc"

#define GET_ATTRDEF_CLASSES
#include "dialects/Weights/IR/WeightsAttrs.cpp.inc"

void WeightsDialect::initialize() {
  addOperations<
#define GET_OP_LIST
#include "dialects/Weights/IR/WeightsOps.cpp.inc"
      >();
  addAttributes<
#define GET_ATTRDEF_LIST
#include "dialects/Weights/IR/WeightsAttrs.cpp.inc"
      >();
}
