//===- TorchZipFuzzer.cpp - libFuzzer target: torch.save zip files -------===//
//
// Part of quant-opt.
//
// Parses the input as a torch.save checkpoint (zip directory, local headers,
// data.pkl) and reads every tensor view it accepts (up to kMaxReadBytes).
//
//===----------------------------------------------------------------------===//

#include "FuzzUtil.h"

#include "qopt/Loaders/TensorReader.h"
#include "qopt/Loaders/TorchZip.h"

#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  using namespace qopt::loaders;
  const std::string &path = qopt::fuzz::writeScratch(data, size, ".bin");
  llvm::Expected<CheckpointFile> cf = readTorchZipHeader(path);
  if (!cf) {
    llvm::consumeError(cf.takeError());
    return 0;
  }
  TensorReader reader(256);
  std::vector<char> buf;
  for (const TensorInfo &t : cf->tensors) {
    if (t.contiguousBytes() > qopt::fuzz::kMaxReadBytes)
      continue;
    buf.resize(t.contiguousBytes() + 1);
    qopt::fuzz::ignore(reader.read(t, buf.data()));
  }
  return 0;
}
