//===- WeightsDialect.h - Weights dialect -------------------*- C++ -*-===//

#ifndef QOPT_DIALECTS_WEIGHTS_IR_WEIGHTSDIALECT_H
#define QOPT_DIALECTS_WEIGHTS_IR_WEIGHTSDIALECT_H

#include "mlir/Dialect/Quant/IR/Quant.h"
#include "mlir/Dialect/Quant/IR/QuantTypes.h"
#include "mlir/IR/Dialect.h"

#include "dialects/Weights/IR/WeightsDialect.h.inc"

#endif // QOPT_DIALECTS_WEIGHTS_IR_WEIGHTSDIALECT_H
