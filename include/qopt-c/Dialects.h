/*===- qopt-c/Dialects.h - C API of the weights dialect -----------*- C -*-===*\
|*                                                                            *|
|* MLIR's C conventions (mlir-c/IR.h): a dialect handle for the weights       *|
|* dialect, and one call that registers every dialect quant-opt's IR uses.    *|
|* Shipped in libQuantOptCAPI.so (CMake: QuantOpt::CAPI), together with the   *|
|* MLIR C API functions of mlir-c/IR.h, mlir-c/Pass.h and                     *|
|* mlir-c/Diagnostics.h.                                                      *|
|*                                                                            *|
\*===----------------------------------------------------------------------===*/

#ifndef QOPT_C_DIALECTS_H
#define QOPT_C_DIALECTS_H

#include "mlir-c/IR.h"

#ifdef __cplusplus
extern "C" {
#endif

/* mlirGetDialectHandle__weights__(): the `weights` dialect. */
MLIR_DECLARE_CAPI_DIALECT_REGISTRATION(Weights, weights);

/* Inserts the weights, quant and func dialects (everything quant-opt's IR
 * and passes use) into the registry. */
MLIR_CAPI_EXPORTED void qoptRegisterAllDialects(MlirDialectRegistry registry);

#ifdef __cplusplus
}
#endif

#endif /* QOPT_C_DIALECTS_H */
