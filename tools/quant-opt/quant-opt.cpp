//===- quant-opt.cpp - The quant-opt driver ---------------------*- C++ -*-===//
//
// `quant-opt convert CONFIG --quantization MODE -o OUT ...` runs the
// conversion pipeline, `quant-opt eval MODEL --text FILE ...` measures
// perplexity; anything else behaves exactly like mlir-opt.
//
//===----------------------------------------------------------------------===//

#include "Convert.h"
#include "Eval.h"
#include "qopt/InitAll.h"

#include "mlir/IR/DialectRegistry.h"
#include "mlir/Tools/mlir-opt/MlirOptMain.h"

#include <cstring>

int main(int argc, char **argv) {
  if (argc >= 2 && std::strcmp(argv[1], "convert") == 0)
    return qopt::runConvert(argc - 1, argv + 1);
  if (argc >= 2 && std::strcmp(argv[1], "eval") == 0)
    return qopt::runEval(argc - 1, argv + 1);

  qopt::registerAllPasses();
  mlir::DialectRegistry registry;
  qopt::registerAllDialects(registry);
  return mlir::asMainReturnCode(mlir::MlirOptMain(
      argc, argv,
      "quant-opt: a compiler for model weights (mlir-opt driver; see also "
      "`quant-opt convert --help`)\n",
      registry));
}
