//===- quant-opt.cpp - The quant-opt driver ---------------------*- C++ -*-===//
//
// `quant-opt convert CONFIG --quantization MODE -o OUT ...` (alias
// `convert_weight`, as mlc_llm names it) runs the conversion pipeline,
// `quant-opt eval MODEL --text FILE ...` measures perplexity: both are
// llvm::cl subcommands. Anything else behaves exactly like mlir-opt.
//
//===----------------------------------------------------------------------===//

#include "Commands.h"
#include "Version.h"
#include "qopt/InitAll.h"
#include "qopt/Numerics/Simd.h"

#include "mlir/IR/DialectRegistry.h"
#include "mlir/Pass/PassManager.h"
#include "mlir/Tools/mlir-opt/MlirOptMain.h"
#include "mlir/Transforms/Passes.h"
#include "llvm/Config/llvm-config.h"
#include "llvm/Support/CommandLine.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/raw_ostream.h"

#include <utility>
#include <vector>
#if defined(__GLIBC__)
#include <malloc.h>
#endif

namespace cl = llvm::cl;

static const char kOverview[] =
    R"(quant-opt: a compiler for model weights

  quant-opt convert CONFIG --quantization MODE -o OUTPUT [options]
      (alias: convert_weight) converts a checkpoint into an MLC-LLM tensor
      cache; see `quant-opt convert --help`
  quant-opt eval MODEL_DIR --text FILE [--cache DIR]
      perplexity of a checkpoint and of a converted cache
  quant-opt merge-parts OUTPUT
      combines the parts of a conversion split with --part I/N
  quant-opt tokenize MODEL_DIR --text FILE
      the token ids of a text with the model's own tokenizer
  quant-opt [input.mlir] [--pass-pipeline=... | --<pass> ...]
      the weights dialect and passes, driven like mlir-opt (options below)
)";

/// `--print-ir-before-all` / `--print-ir-after-all` (as the README documents
/// them) for upstream's `--mlir-print-ir-*-all`.
static void registerPrintIRAliases() {
  mlir::registerPassManagerCLOptions();
  auto &opts = cl::getRegisteredOptions();
  static constexpr std::pair<const char *, const char *> aliases[] = {
      {"print-ir-before-all", "Alias for --mlir-print-ir-before-all"},
      {"print-ir-after-all", "Alias for --mlir-print-ir-after-all"}};
  for (auto [name, desc] : aliases) {
    cl::Option *target = opts.lookup(std::string("mlir-") + name);
    if (!target)
      continue;
    // Registered with the command line for the life of the process.
    new cl::alias(llvm::StringRef(name), cl::desc(desc),
                  cl::aliasopt(*target));
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

static void printVersion(llvm::raw_ostream &os) {
  os << "quant-opt " << QOPT_VERSION << " (commit " << QOPT_GIT_COMMIT
     << ")\n"
     << "  LLVM/MLIR version " << LLVM_VERSION_STRING << "\n"
     << "  SIMD kernels: " << simdReport() << "\n";
}

/// Keeps the serialize pass's freed chunk buffers in the heap instead of
/// returning them to the kernel after every chunk (munmap + page faults on
/// the next one). A process-wide setting: the tool's to make, never the
/// libraries' (docs/design.md, "Embedding").
static void tuneMalloc() {
#if defined(__GLIBC__)
  mallopt(M_MMAP_THRESHOLD, 256 << 20);
  mallopt(M_TRIM_THRESHOLD, 512 << 20);
#endif
}

/// The subcommand `word` most likely meant (edit distance at most 2), if it
/// is not a file (mlir-opt mode takes an input file there).
static llvm::StringRef suggestCommand(llvm::StringRef word) {
  if (word.empty() || word.starts_with("-") || llvm::sys::fs::exists(word))
    return {};
  static const char *const names[] = {"convert", "convert_weight", "eval",
                                      "merge-parts", "tokenize"};
  llvm::StringRef best;
  unsigned bestDistance = 3;
  for (const char *name : names) {
    unsigned d = word.edit_distance(name, /*AllowReplacements=*/true, 3);
    if (d < bestDistance) {
      best = name;
      bestDistance = d;
    }
  }
  return best;
}

/// Hides (from --help, not from use) the options registered before main():
/// LLVM's code generation flags that come with libLLVM, hundreds of them.
/// `--help-hidden` still lists them.
static void hideLibraryOptions() {
  for (auto &entry : cl::getRegisteredOptions(cl::SubCommand::getTopLevel())) {
    cl::Option *o = entry.second;
    if (!llvm::is_contained(o->Categories, &cl::getGeneralCategory()))
      continue;
    o->setHiddenFlag(cl::Hidden);
  }
}

int main(int argc, char **argv) {
  tuneMalloc();
  // One line naming the SIMD target the numerics dispatch to (also in
  // --version), for scripts such as bench/run.sh.
  if (argc == 2 && llvm::StringRef(argv[1]) == "--qopt-simd-report") {
    llvm::outs() << simdReport() << "\n";
    return 0;
  }
  cl::SetVersionPrinter(printVersion);
  hideLibraryOptions();
  // Register the subcommands (and, through them, their options) so that
  // the top-level help lists them.
  cl::SubCommand &convert = qopt::convertCommand();
  cl::SubCommand &eval = qopt::evalCommand();
  cl::SubCommand &mergeParts = qopt::mergePartsCommand();
  cl::SubCommand &tokenize = qopt::tokenizeCommand();

  std::vector<char *> args(argv, argv + argc);
  static char convertName[] = "convert";
  if (argc >= 2 && llvm::StringRef(argv[1]) == "convert_weight")
    args[1] = convertName;
  if (argc >= 2 && (llvm::StringRef(args[1]) == "convert" ||
                    llvm::StringRef(args[1]) == "eval" ||
                    llvm::StringRef(args[1]) == "merge-parts" ||
                    llvm::StringRef(args[1]) == "tokenize")) {
    // Each subcommand's --help lists its options and the generic ones, not
    // the LLVM/MLIR flags registered at the top level.
    for (cl::SubCommand *s : {&convert, &eval, &mergeParts, &tokenize})
      cl::HideUnrelatedOptions(
          {&qopt::convertCategory(), &qopt::evalCategory(),
           &qopt::mergePartsCategory(), &qopt::tokenizeCategory()},
          *s);
    cl::ParseCommandLineOptions(int(args.size()), args.data(), kOverview);
    if (convert)
      return qopt::runConvert();
    if (mergeParts)
      return qopt::runMergeParts();
    if (tokenize)
      return qopt::runTokenize();
    return qopt::runEval();
  }
  if (argc >= 2)
    if (llvm::StringRef guess = suggestCommand(argv[1]); !guess.empty()) {
      llvm::errs() << "quant-opt: unknown command '" << argv[1]
                   << "'; did you mean '" << guess << "'?\n"
                   << "run 'quant-opt --help' for the commands\n";
      return 2;
    }

  qopt::registerAllPasses();
  // The upstream passes mlir-opt users expect on any IR.
  mlir::registerCanonicalizerPass();
  mlir::registerCSEPass();
  mlir::registerSymbolDCEPass();
  registerPrintIRAliases();
  mlir::DialectRegistry registry;
  qopt::registerAllDialects(registry);
  return mlir::asMainReturnCode(
      mlir::MlirOptMain(argc, argv, kOverview, registry));
}
