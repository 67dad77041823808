//===- Eagle.cpp - EAGLE speculative-decoding head as MLC lays it out -*- C++ -*-===//
//
// mlc-llm python/mlc_llm/model/eagle/{eagle_model,eagle_loader}.py (model type
// eagle; EAGLE's own checkpoints, whose config.json is a Llama config, so
// the type is given with --model-type eagle). MLC's EagleForCausalLM is a
// Llama decoder without `model.`: `embed_tokens` (symbolic vocabulary),
// `layers.L.*` with Llama's fusions (qkv_proj, gate_up_proj) and shard
// strategies, no `input_layernorm` in layer 0, no final norm or lm_head, and
// `fc` [H, 2H] (+ bias unless config `bias` is false). Unused: each layer's
// `self_attn.rotary_emb.inv_freq`.
//
//===----------------------------------------------------------------------===//

#include "ArchitectureBuilders.h"
#include "GroupBArchitectures.h"

using namespace qopt::models;
using build::layer;

static llvm::Expected<ModelDef> buildEagle(const ModelConfig &cfg, int64_t tp) {
  const char *arch = "eagle";
  llvm::Expected<build::TransformerDims> d = build::readDecoderConfig(
      cfg, arch, tp,
      {"hidden_size", "intermediate_size", "num_attention_heads",
       "num_hidden_layers", "rms_norm_eps", "vocab_size"},
      /*needsRope=*/false);
  if (!d)
    return d.takeError();
  if (d->hidden % d->heads != 0)
    return build::configError(cfg, "hidden_size " + llvm::Twine(d->hidden) +
                                       " is not a multiple of "
                                       "num_attention_heads " +
                                       llvm::Twine(d->heads) + " (eagle)");

  ModelDef m = build::startModel(arch, {"no-quant", "group-quant", "ft-quant"});
  m.shardDivisors = d->shardDivisors();
  build::addCopy(m, "embed_tokens.weight", {-1, d->hidden},
                 ParamKind::Embedding);
  auto at = [](int64_t i, llvm::StringRef rest) {
    return layer(i, rest, "layers.");
  };
  for (int64_t i = 0; i < d->layers; ++i) {
    auto src = [&](llvm::StringRef rest) { return MapExpr::src(at(i, rest)); };
    build::addParam(m, at(i, "self_attn.qkv_proj.weight"),
                    {d->qkvRows(), d->hidden}, ParamKind::Linear,
                    MapExpr::concat({src("self_attn.q_proj.weight"),
                                     src("self_attn.k_proj.weight"),
                                     src("self_attn.v_proj.weight")}),
                    d->qkvShard());
    build::addCopy(m, at(i, "self_attn.o_proj.weight"),
                   {d->hidden, d->heads * d->headDim}, ParamKind::Linear,
                   ShardStrategy{1, {}});
    build::addParam(m, at(i, "mlp.gate_up_proj.weight"),
                    {2 * d->intermediate, d->hidden}, ParamKind::Linear,
                    MapExpr::concat({src("mlp.gate_proj.weight"),
                                     src("mlp.up_proj.weight")}),
                    d->gateUpShard());
    build::addCopy(m, at(i, "mlp.down_proj.weight"),
                   {d->hidden, d->intermediate}, ParamKind::Linear,
                   ShardStrategy{1, {}});
    if (i != 0)
      build::addCopy(m, at(i, "input_layernorm.weight"), {d->hidden},
                     ParamKind::Norm);
    build::addCopy(m, at(i, "post_attention_layernorm.weight"), {d->hidden},
                   ParamKind::Norm);
    m.unusedSources.push_back(at(i, "self_attn.rotary_emb.inv_freq"));
  }
  build::addCopy(m, "fc.weight", {d->hidden, 2 * d->hidden}, ParamKind::Linear);
  if (cfg.getBool("bias", true))
    build::addCopy(m, "fc.bias", {d->hidden}, ParamKind::Bias);
  return m;
}

Architecture qopt::models::makeEagleArchitecture() {
  return {"eagle", {}, {"eagle"}, buildEagle};
}
