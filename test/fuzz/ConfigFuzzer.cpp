//===- ConfigFuzzer.cpp - libFuzzer target: config.json ------------------===//
//
// Part of quant-opt.
//
// Reads the input as a model's config.json (size, nesting and field checks),
// detects the architecture, checks the sizes against a small checkpoint
// (64 tensors, 16M elements: the check that runs before planning) and, when
// they pass, builds the parameter list as the map pass does.
//
//===----------------------------------------------------------------------===//

#include "FuzzUtil.h"

#include "qopt/Models/ModelDef.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  using namespace qopt::models;
  const std::string &path = qopt::fuzz::writeScratch(data, size, ".json");
  llvm::Expected<ModelConfig> cfg = readModelConfig(path);
  if (!cfg) {
    llvm::consumeError(cfg.takeError());
    return 0;
  }
  if (llvm::Error err = checkConfigAgainstCheckpoint(*cfg, 64, 16u << 20)) {
    llvm::consumeError(std::move(err));
    return 0;
  }
  llvm::Expected<const Architecture *> arch = detectArchitecture(*cfg, "auto");
  if (!arch) {
    llvm::consumeError(arch.takeError());
    return 0;
  }
  for (int64_t tp : {1, 2})
    qopt::fuzz::ignore((*arch)->build(*cfg, tp));
  return 0;
}
