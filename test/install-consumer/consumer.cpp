//===- consumer.cpp - quant-opt's passes from another C++ program ---------===//
//
// consumer-cxx CONFIG MODE OUTPUT: registers quant-opt's dialects, builds the
// conversion pipeline (mlir::qopt::weights::buildConvertPipeline) and runs
// it, as an ML compiler embedding the passes would.
//
//===----------------------------------------------------------------------===//

#include "qopt/InitAll.h"

#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/MLIRContext.h"
#include "mlir/Pass/PassManager.h"
#include "llvm/Support/raw_ostream.h"

int main(int argc, char **argv) {
  if (argc != 4) {
    llvm::errs() << "usage: consumer-cxx CONFIG MODE OUTPUT\n";
    return 2;
  }
  mlir::DialectRegistry registry;
  qopt::registerAllDialects(registry);
  mlir::MLIRContext ctx(registry);
  ctx.loadAllAvailableDialects();

  mlir::OwningOpRef<mlir::ModuleOp> module =
      mlir::ModuleOp::create(mlir::UnknownLoc::get(&ctx));
  mlir::PassManager pm(&ctx);
  mlir::qopt::weights::ConvertPipelineOptions options;
  options.config = argv[1];
  options.quantization = argv[2];
  options.output = argv[3];
  options.threads = 2;
  mlir::qopt::weights::buildConvertPipeline(pm, options);
  if (mlir::failed(pm.run(*module)))
    return 1;
  auto stats = (*module)->getAttrOfType<mlir::DictionaryAttr>(
      mlir::qopt::weights::kStatisticsAttrName);
  llvm::outs() << "consumer-cxx: " << stats << "\n";
  return 0;
}
