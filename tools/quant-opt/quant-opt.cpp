//===- quant-opt.cpp - The quant-opt driver ---------------------*- C++ -*-===//
//
// `quant-opt convert CONFIG --quantization MODE -o OUT ...` runs the
// conversion pipeline, `quant-opt eval MODEL --text FILE ...` measures
// perplexity, `quant-opt merge-parts OUT` combines the parts of a split
// conversion; anything else behaves exactly like mlir-opt.
//
//===----------------------------------------------------------------------===//

#include "Convert.h"
#include "Eval.h"
#include "MergeParts.h"
#include "qopt/InitAll.h"
#include "qopt/Numerics/Simd.h"

#include "mlir/IR/DialectRegistry.h"
#include "mlir/Pass/PassManager.h"
#include "mlir/Tools/mlir-opt/MlirOptMain.h"
#include "mlir/Transforms/Passes.h"
#include "llvm/Support/CommandLine.h"

#include <cstring>
#include <utility>

/// `--print-ir-before-all` / `--print-ir-after-all` (as the README documents
/// them) for upstream's `--mlir-print-ir-*-all`.
static void registerPrintIRAliases() {
  mlir::registerPassManagerCLOptions();
  auto &opts = llvm::cl::getRegisteredOptions();
  static constexpr std::pair<const char *, const char *> aliases[] = {
      {"print-ir-before-all", "Alias for --mlir-print-ir-before-all"},
      {"print-ir-after-all", "Alias for --mlir-print-ir-after-all"}};
  for (auto [name, desc] : aliases) {
    llvm::cl::Option *target = opts.lookup(std::string("mlir-") + name);
    if (!target)
      continue;
    // Registered with the command line for the life of the process.
    new llvm::cl::alias(llvm::StringRef(name), llvm::cl::desc(desc),
                        llvm::cl::aliasopt(*target));
  }
}

/// "AVX2 (this CPU runs: AVX2 SSE4 SSSE3 SCALAR)": the numerics' SIMD
/// target (docs/simd.md).
static std::string simdReport() {
  std::string s = qopt::numerics::simdTargetName() + " (this CPU runs:";
  for (const std::string &t : qopt::numerics::simdRunnableTargets())
    s += " " + t;
  return s + ")";
}

int main(int argc, char **argv) {
  if (argc >= 2 && std::strcmp(argv[1], "convert") == 0)
    return qopt::runConvert(argc - 1, argv + 1);
  if (argc >= 2 && std::strcmp(argv[1], "eval") == 0)
    return qopt::runEval(argc - 1, argv + 1);
  if (argc >= 2 && std::strcmp(argv[1], "merge-parts") == 0)
    return qopt::runMergeParts(argc - 1, argv + 1);

  // One line naming the SIMD target the numerics dispatch to (also in
  // --version), for scripts such as bench/run.sh.
  if (argc == 2 && std::strcmp(argv[1], "--qopt-simd-report") == 0) {
    llvm::outs() << simdReport() << "\n";
    return 0;
  }

  qopt::registerAllPasses();
  // The upstream passes mlir-opt users expect on any IR.
  mlir::registerCanonicalizerPass();
  mlir::registerCSEPass();
  mlir::registerSymbolDCEPass();
  registerPrintIRAliases();
  // `quant-opt --version` names the SIMD code the numerics dispatch to.
  llvm::cl::AddExtraVersionPrinter([](llvm::raw_ostream &os) {
    os << "  SIMD kernels: " << simdReport() << "\n";
  });
  mlir::DialectRegistry registry;
  qopt::registerAllDialects(registry);
  return mlir::asMainReturnCode(mlir::MlirOptMain(
      argc, argv,
      "quant-opt: a compiler for model weights (mlir-opt driver; see also "
      "`quant-opt convert --help`)\n",
      registry));
}
