//===- WeightsOps.h - Weights dialect ops and attributes ----*- C++ -*-===//

#ifndef QOPT_DIALECTS_WEIGHTS_IR_WEIGHTSOPS_H
#define QOPT_DIALECTS_WEIGHTS_IR_WEIGHTSOPS_H

#include "dialects/Weights/IR/WeightsDialect.h"
#include "dialects/Weights/IR/WeightsEvaluation.h"
#include "mlir/Bytecode/BytecodeOpInterface.h"
#include "mlir/IR/BuiltinAttributes.h"
#include "mlir/IR/BuiltinTypes.h"
#include "mlir/IR/OpImplementation.h"
#include "mlir/IR/RegionKindInterface.h"
#include "mlir/IR/SymbolTable.h"
#include "llvm/ADT/STLFunctionalExtras.h"
#include "mlir/Interfaces/SideEffectInterfaces.h"

#include <string>
#include <utility>

#include "dialects/Weights/IR/WeightsEnums.h.inc"
#include "dialects/Weights/IR/WeightsInterfaces.h.inc"
#include "dialects/Weights/IR/WeightsOpInterfaces.h.inc"

#define GET_ATTRDEF_CLASSES
#include "dialects/Weights/IR/WeightsAttrs.h.inc"

#define GET_OP_CLASSES
#include "dialects/Weights/IR/WeightsOps.h.inc"

#endif // QOPT_DIALECTS_WEIGHTS_IR_WEIGHTSOPS_H
