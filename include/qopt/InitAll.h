//===- InitAll.h - Register quant-opt's dialects and passes -*- C++ -*-===//
//
// For other compilers embedding quant-opt: link QOptWeightsTransforms and
// call these, or add passes directly (`createQuantizeWeights({...})`).
//
//===----------------------------------------------------------------------===//

#ifndef QOPT_INITALL_H
#define QOPT_INITALL_H

#include "dialects/Weights/IR/WeightsDialect.h"
#include "dialects/Weights/Transforms/Passes.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/Quant/IR/Quant.h"
#include "mlir/IR/DialectRegistry.h"

namespace qopt {

inline void registerAllDialects(mlir::DialectRegistry &registry) {
  registry.insert<mlir::qopt::weights::WeightsDialect,
                  mlir::quant::QuantDialect, mlir::func::FuncDialect>();
}

inline void registerAllPasses() {
  mlir::qopt::weights::registerWeightsPasses();
  mlir::qopt::weights::registerWeightsPipelines();
}

} // namespace qopt

#endif // QOPT_INITALL_H
