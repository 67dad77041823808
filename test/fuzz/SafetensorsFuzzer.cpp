//===- SafetensorsFuzzer.cpp - libFuzzer target: safetensors -------------===//
//
// Part of quant-opt.
//
// Parses the input as a .safetensors file and reads every tensor the header
// accepts (up to kMaxReadBytes each).
//
//===----------------------------------------------------------------------===//

#include "FuzzUtil.h"

#include "qopt/Loaders/Safetensors.h"
#include "qopt/Loaders/TensorReader.h"

#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  using namespace qopt::loaders;
  const std::string &path =
      qopt::fuzz::writeScratch(data, size, ".safetensors");
  llvm::Expected<CheckpointFile> cf = readSafetensorsHeader(path);
  if (!cf) {
    llvm::consumeError(cf.takeError());
    return 0;
  }
  TensorReader reader(4096);
  std::vector<char> buf;
  for (const TensorInfo &t : cf->tensors) {
    if (t.contiguousBytes() > qopt::fuzz::kMaxReadBytes)
      continue;
    buf.resize(t.contiguousBytes() + 1);
    qopt::fuzz::ignore(reader.read(t, buf.data()));
    if (!t.shape.empty() && t.shape[0] > 1)
      qopt::fuzz::ignore(reader.readRows(t, 1, t.shape[0], buf.data()));
  }
  return 0;
}
