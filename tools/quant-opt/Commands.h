//===- Commands.h - quant-opt subcommands -----------------------*- C++ -*-===//
//
// `quant-opt convert` (alias `convert_weight`), `quant-opt eval` and
// `quant-opt merge-parts` are llvm::cl subcommands; their options live in
// Convert.cpp, Eval.cpp and MergeParts.cpp.
//
//===----------------------------------------------------------------------===//

#ifndef QOPT_TOOLS_QUANTOPT_COMMANDS_H
#define QOPT_TOOLS_QUANTOPT_COMMANDS_H

#include "llvm/Support/CommandLine.h"

namespace qopt {
/// The `convert` subcommand (registered on first use).
llvm::cl::SubCommand &convertCommand();
/// The `eval` subcommand.
llvm::cl::SubCommand &evalCommand();
/// The `merge-parts` subcommand.
llvm::cl::SubCommand &mergePartsCommand();
/// The `tokenize` subcommand (Tokenize.cpp).
llvm::cl::SubCommand &tokenizeCommand();
llvm::cl::OptionCategory &tokenizeCategory();
/// The option category of each subcommand (what its --help lists).
llvm::cl::OptionCategory &convertCategory();
llvm::cl::OptionCategory &evalCategory();
llvm::cl::OptionCategory &mergePartsCategory();

/// Run after llvm::cl parsed the command line; return the exit code.
int runConvert();
int runEval();
int runMergeParts();
int runTokenize();
} // namespace qopt

#endif // QOPT_TOOLS_QUANTOPT_COMMANDS_H
