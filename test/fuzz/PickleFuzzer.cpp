//===- PickleFuzzer.cpp - libFuzzer target: torch.save pickles -----------===//
//
// Part of quant-opt.
//
// Runs the input through the non-executing pickle machine as a data.pkl,
// with small caps so that deep inputs stay fast.
//
//===----------------------------------------------------------------------===//

#include "FuzzUtil.h"

#include "qopt/Loaders/Pickle.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  using namespace qopt::loaders;
  PickleLimits limits;
  limits.maxStack = 1u << 12;
  limits.maxMemo = 1u << 12;
  limits.maxObjects = 1u << 14;
  llvm::StringRef bytes(reinterpret_cast<const char *>(data), size);
  qopt::fuzz::ignore(parseTorchPickle(bytes, "fuzz.bin", "data.pkl", limits));
  // The default caps too.
  qopt::fuzz::ignore(parseTorchPickle(bytes, "fuzz.bin", "data.pkl"));
  return 0;
}
