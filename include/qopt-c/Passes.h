/*===- qopt-c/Passes.h - C API of quant-opt's passes --------------*- C -*-===*\
|*                                                                            *|
|* Registers the weights passes (qopt-import-checkpoint, ...,                 *|
|* qopt-serialize-tensor-cache) and the qopt-convert pipeline in MLIR's       *|
|* global pass registry, so mlirParsePassPipeline() knows them.               *|
|*                                                                            *|
\*===----------------------------------------------------------------------===*/

#ifndef QOPT_C_PASSES_H
#define QOPT_C_PASSES_H

#include "mlir-c/Support.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Registers every quant-opt pass and pipeline. Idempotent; thread-safe. */
MLIR_CAPI_EXPORTED void qoptRegisterAllPasses(void);

#ifdef __cplusplus
}
#endif

#endif /* QOPT_C_PASSES_H */
