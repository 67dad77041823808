//===- MergeParts.cpp - `quant-opt merge-parts` -----------------*- C++ -*-===//
//
// The last step of a conversion split with `quant-opt convert --part I/N`:
// checks the N part manifests and the shard files, then writes
// tensor-cache.json as a single run would (docs/distributed.md).
//
//===----------------------------------------------------------------------===//

#include "MergeParts.h"
#include "qopt/TensorCache/TensorCache.h"

#include "llvm/ADT/StringRef.h"
#include "llvm/Support/raw_ostream.h"

#include <string>

static const char *kUsage = R"(usage: quant-opt merge-parts OUTPUT [--threads N]

Combines the parts of a conversion split with `quant-opt convert ... --part
I/N -o OUTPUT`: checks that OUTPUT/.quant-opt-parts holds the manifests of
all N parts, that they were planned alike (same model, quantization, records,
shard layout) and that every shard file has the size and md5 its part
recorded; then writes tensor-cache.json (byte-identical to a single run) and
removes the manifests. On any error nothing is written.

  --threads N     threads hashing the shards (default: all cores)
)";

static int usageError(const std::string &msg) {
  llvm::errs() << "quant-opt merge-parts: " << msg << "\n"
               << "run 'quant-opt merge-parts --help' for usage\n";
  return 2;
}

int ::qopt::runMergeParts(int argc, char **argv) {
  std::string out;
  unsigned threads = 0;
  for (int i = 1; i < argc; ++i) {
    llvm::StringRef arg = argv[i];
    if (arg == "-h" || arg == "--help") {
      llvm::outs() << kUsage;
      return 0;
    }
    if (arg == "--threads") {
      if (i + 1 >= argc || llvm::StringRef(argv[i + 1]).getAsInteger(10, threads))
        return usageError("--threads needs a count");
      ++i;
    } else if (arg.starts_with("-")) {
      return usageError("unknown option '" + arg.str() + "'");
    } else if (out.empty()) {
      out = arg.str();
    } else {
      return usageError("unexpected argument '" + arg.str() + "'");
    }
  }
  if (out.empty())
    return usageError("missing OUTPUT (the directory the parts wrote to)");
  if (llvm::Error err = ::qopt::tensorcache::mergeParts(out, threads)) {
    llvm::errs() << "quant-opt merge-parts: error: "
                 << llvm::toString(std::move(err)) << "\n";
    return 1;
  }
  llvm::outs() << "Merged parts into " << out << "\n";
  return 0;
}
