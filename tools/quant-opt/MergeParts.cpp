//===- MergeParts.cpp - `quant-opt merge-parts` -----------------*- C++ -*-===//
//
// The last step of a conversion split with `quant-opt convert --part I/N`:
// checks the N part manifests and the shard files, then writes
// tensor-cache.json as a single run would (docs/distributed.md). An
// llvm::cl subcommand like convert and eval.
//
//===----------------------------------------------------------------------===//

#include "Commands.h"
#include "qopt/TensorCache/TensorCache.h"

#include "llvm/ADT/StringRef.h"
#include "llvm/Support/raw_ostream.h"

#include <string>

namespace cl = llvm::cl;

namespace qopt {
cl::SubCommand &mergePartsCommand() {
  static cl::SubCommand cmd(
      "merge-parts",
      "Combines the parts of a conversion split with `quant-opt convert ... "
      "--part I/N -o OUTPUT`: checks that OUTPUT/.quant-opt-parts holds the "
      "manifests of all N parts, planned alike (same model, quantization, "
      "records, shard layout), and that every shard file has the size and "
      "md5 its part recorded; then writes tensor-cache.json (byte-identical "
      "to a single run) and removes the manifests. On any error nothing is "
      "written");
  return cmd;
}

cl::OptionCategory &mergePartsCategory() {
  static cl::OptionCategory cat("quant-opt merge-parts options");
  return cat;
}
} // namespace qopt

namespace {
cl::SubCommand &sub() { return qopt::mergePartsCommand(); }
cl::OptionCategory &cat() { return qopt::mergePartsCategory(); }
cl::opt<std::string> outputOpt(cl::Positional, cl::sub(sub()), cl::cat(cat()),
                               cl::desc("<OUTPUT: the directory the parts "
                                        "wrote to>"));
cl::opt<unsigned> threadsOpt("threads", cl::sub(sub()), cl::cat(cat()),
                             cl::init(0), cl::value_desc("N"),
                             cl::desc("Threads hashing the shards (default 0: "
                                      "all cores)"));

int usageError(const std::string &msg) {
  llvm::errs() << "quant-opt merge-parts: " << msg << "\n"
               << "run 'quant-opt merge-parts --help' for usage\n";
  return 2;
}
} // namespace

int ::qopt::runMergeParts() {
  std::string out = outputOpt;
  if (out.empty())
    return usageError("missing OUTPUT (the directory the parts wrote to)");
  if (llvm::Error err = ::qopt::tensorcache::mergeParts(out, threadsOpt)) {
    llvm::errs() << "quant-opt merge-parts: error: "
                 << llvm::toString(std::move(err)) << "\n";
    return 1;
  }
  llvm::outs() << "Merged parts into " << out << "\n";
  return 0;
}
