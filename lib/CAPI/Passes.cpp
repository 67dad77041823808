//===- Passes.cpp - C API of quant-opt's passes ------------------*- C++ -*-===//

#include "qopt-c/Passes.h"
#include "qopt/InitAll.h"

#include <mutex>

void qoptRegisterAllPasses(void) {
  // Registering a pass name twice is an error in MLIR's registry.
  static std::once_flag once;
  std::call_once(once, [] { ::qopt::registerAllPasses(); });
}
