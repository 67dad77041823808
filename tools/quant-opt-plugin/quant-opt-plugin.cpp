//===- quant-opt-plugin.cpp - quant-opt for a stock mlir-opt ----*- C++ -*-===//
//
// QuantOptPlugin.so: the weights dialect, the quant-opt passes and the
// qopt-convert pipeline for an unmodified `mlir-opt` of the same LLVM:
//
//   mlir-opt --load-dialect-plugin=QuantOptPlugin.so \
//     --pass-pipeline='builtin.module(qopt-convert{config=... output=...})'
//   mlir-opt --load-pass-plugin=QuantOptPlugin.so ...
//
// The plugin links MLIR and LLVM as the shared libMLIR.so and libLLVM.so,
// the libraries mlir-opt itself uses, so there is one MLIRContext type
// registry and one command-line registry in the process. Linking the static
// libMLIR*.a instead would give the plugin its own copies of both.
//
//===----------------------------------------------------------------------===//

#include "qopt/InitAll.h"

#include "mlir/IR/DialectRegistry.h"
#include "mlir/Tools/Plugins/DialectPlugin.h"
#include "mlir/Tools/Plugins/PassPlugin.h"
#include "llvm/Config/llvm-config.h"
#include "llvm/Support/Compiler.h"

#include <mutex>

/// Pass registration may run through both entry points in one process.
static void registerPassesOnce() {
  static std::once_flag once;
  std::call_once(once, [] { ::qopt::registerAllPasses(); });
}

/// --load-dialect-plugin: the dialects quant-opt's IR uses, and the passes.
extern "C" LLVM_ATTRIBUTE_WEAK ::mlir::DialectPluginLibraryInfo
mlirGetDialectPluginInfo() {
  return {MLIR_PLUGIN_API_VERSION, "QuantOpt", LLVM_VERSION_STRING,
          [](::mlir::DialectRegistry *registry) {
            ::qopt::registerAllDialects(*registry);
            registerPassesOnce();
          }};
}

/// --load-pass-plugin: the passes and pipelines (they load the weights
/// dialect they produce).
extern "C" LLVM_ATTRIBUTE_WEAK ::mlir::PassPluginLibraryInfo
mlirGetPassPluginInfo() {
  return {MLIR_PLUGIN_API_VERSION, "QuantOptPasses", LLVM_VERSION_STRING,
          [] { registerPassesOnce(); }};
}
