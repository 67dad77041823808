//===- Dialects.cpp - C API of the weights dialect ---------------*- C++ -*-===//

#include "qopt-c/Dialects.h"
#include "qopt/InitAll.h"

#include "mlir/CAPI/Registration.h"

MLIR_DEFINE_CAPI_DIALECT_REGISTRATION(Weights, weights,
                                      mlir::qopt::weights::WeightsDialect)

void qoptRegisterAllDialects(MlirDialectRegistry registry) {
  ::qopt::registerAllDialects(*unwrap(registry));
}
