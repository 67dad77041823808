//===- ConvertContexts.h - The MLIR contexts of a conversion ---*- C++ -*-===//

#ifndef QOPT_TOOLS_QUANT_OPT_CONVERTCONTEXTS_H
#define QOPT_TOOLS_QUANT_OPT_CONVERTCONTEXTS_H

#include "dialects/Weights/Transforms/Passes.h"

#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/MLIRContext.h"
#include "mlir/IR/OwningOpRef.h"

#include <memory>

namespace qopt {

/// The context a conversion runs in: without MLIR's multithreading (see
/// ConvertContexts.cpp), all dialects loaded, diagnostics printed as
/// `quant-opt: error: <file>: tensor '<name>': ...`.
std::unique_ptr<mlir::MLIRContext>
makeContext(const mlir::DialectRegistry &registry);

/// A part after its plan stage (qopt-select-part) ran on `module`: moves the
/// IR to a fresh context (`ctx` is replaced) and serializes it there.
/// Returns the exit code.
int runInFreshContext(mlir::OwningOpRef<mlir::ModuleOp> &module,
                      std::unique_ptr<mlir::MLIRContext> &ctx,
                      const mlir::DialectRegistry &registry,
                      const mlir::qopt::weights::ConvertPipelineOptions &opts);

/// A whole conversion after its plan stage ran on `module`: in one piece, or
/// as `count` segments (0: one per 2,500 checkpoint tensors); `config` is
/// the CONFIG argument (the location of each segment's module). Returns the
/// exit code.
int runSegments(mlir::OwningOpRef<mlir::ModuleOp> &module,
                std::unique_ptr<mlir::MLIRContext> &ctx,
                const mlir::DialectRegistry &registry,
                mlir::qopt::weights::ConvertPipelineOptions &opts,
                unsigned count, llvm::StringRef config);

} // namespace qopt

#endif // QOPT_TOOLS_QUANT_OPT_CONVERTCONTEXTS_H
