//===- Medusa.cpp - Medusa heads as MLC lays them out ----------*- C++ -*-===//
//
// mlc-llm python/mlc_llm/model/medusa/{medusa_model,medusa_loader}.py (model
// type medusa): `medusa_num_heads` heads, each `medusa_num_layers` ResBlocks
// (`medusa_head.<h>.<l>.linear.weight` [H, H] and `.bias` [H]) and a final
// Linear `medusa_head.<h>.<medusa_num_layers>.weight` [vocab_size, H], read
// under the same names. MLC registers Medusa without group or FT
// quantization: only the q0 modes convert it. No parameter has a shard
// strategy, so pre-shards hold the full tensors.
//
//===----------------------------------------------------------------------===//

#include "ArchitectureBuilders.h"
#include "GroupBArchitectures.h"

using namespace qopt::models;

static llvm::Expected<ModelDef> buildMedusa(const ModelConfig &cfg, int64_t) {
  const char *arch = "medusa";
  if (llvm::Error e = cfg.require({"medusa_num_heads", "medusa_num_layers",
                                   "hidden_size", "vocab_size"},
                                  arch))
    return std::move(e);
  llvm::Expected<int64_t> heads = build::positiveInt(cfg, "medusa_num_heads", arch);
  if (!heads)
    return heads.takeError();
  int64_t layers = cfg.getInt("medusa_num_layers", -1);
  if (layers < 0)
    return build::configError(cfg, "field 'medusa_num_layers' must be a "
                                   "non-negative integer (medusa)");
  llvm::Expected<int64_t> h = build::positiveInt(cfg, "hidden_size", arch);
  if (!h)
    return h.takeError();
  llvm::Expected<int64_t> v = build::positiveInt(cfg, "vocab_size", arch);
  if (!v)
    return v.takeError();

  ModelDef m = build::startModel(arch, {"no-quant"});
  for (int64_t x = 0; x < *heads; ++x) {
    std::string p = "medusa_head." + std::to_string(x) + ".";
    for (int64_t l = 0; l < layers; ++l) {
      std::string r = p + std::to_string(l) + ".linear.";
      build::addCopy(m, r + "weight", {*h, *h}, ParamKind::Linear);
      build::addCopy(m, r + "bias", {*h}, ParamKind::Bias);
    }
    build::addCopy(m, p + std::to_string(layers) + ".weight", {*v, *h},
                   ParamKind::Linear);
  }
  return m;
}

Architecture qopt::models::makeMedusaArchitecture() {
  return {"medusa", {}, {"medusa"}, buildMedusa};
}
