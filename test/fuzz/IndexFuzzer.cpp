//===- IndexFuzzer.cpp - libFuzzer target: *.index.json ------------------===//
//
// Part of quant-opt.
//
// Parses the input as a sharded checkpoint's model.safetensors.index.json /
// pytorch_model.bin.index.json: JSON limits, duplicate keys, weight_map
// values, path containment and normalization.
//
//===----------------------------------------------------------------------===//

#include "FuzzUtil.h"

#include "qopt/Loaders/Checkpoint.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  using namespace qopt::loaders;
  const std::string &path = qopt::fuzz::writeScratch(data, size, ".index.json");
  qopt::fuzz::ignore(readWeightMap(path));
  return 0;
}
