//===- GgufFuzzer.cpp - libFuzzer target: GGUF files ---------------------===//
//
// Part of quant-opt.
//
// Parses the input as a GGUF file, builds the Llama config and the HF view,
// then reads (dequantizing and un-permuting) every tensor of up to
// kMaxReadBytes decoded bytes, whole and as a row range.
//
//===----------------------------------------------------------------------===//

#include "FuzzUtil.h"

#include "qopt/Loaders/Gguf.h"
#include "qopt/Models/Gguf.h"
#include "qopt/Loaders/TensorReader.h"

#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  using namespace qopt::loaders;
  llvm::StringRef bytes(reinterpret_cast<const char *>(data), size);
  llvm::Expected<GgufFile> f = parseGguf("fuzz.gguf", bytes);
  if (!f) {
    llvm::consumeError(f.takeError());
    return 0;
  }
  qopt::fuzz::ignore(qopt::models::ggufModelConfig(*f));
  for (const GgufTensorInfo &t : f->tensors)
    (void)qopt::models::ggufToHfName("llama", t.name);

  const std::string &path = qopt::fuzz::writeScratch(data, size, ".gguf");
  llvm::Expected<CheckpointFile> cf = qopt::models::readGgufCheckpoint(path);
  if (!cf) {
    llvm::consumeError(cf.takeError());
    return 0;
  }
  TensorReader reader(512);
  std::vector<char> buf;
  for (const TensorInfo &t : cf->tensors) {
    if (t.contiguousBytes() > qopt::fuzz::kMaxReadBytes)
      continue;
    buf.resize(t.contiguousBytes() + 1);
    qopt::fuzz::ignore(reader.read(t, buf.data()));
    if (!t.shape.empty() && t.shape[0] > 2)
      qopt::fuzz::ignore(reader.readRows(t, 1, t.shape[0] - 1, buf.data()));
  }
  return 0;
}
