//===- InternLM2.cpp - InternLM2ForCausalLM as MLC lays it out -*- C++ -*-===//
//
// mlc-llm python/mlc_llm/model/internlm2/{internlm2_model,
// internlm2_loader}.py. The checkpoint's `attention.wqkv` stores, for each
// of the nkv key/value groups, the group's g = nq / nkv query heads, then
// its key head, then its value head ([nkv, g + 2, d, H]); MLC's loader
// (_convert_wqkv_layout) re-lays it out as [all q; all k; all v]. Here that
// is a concatenation of contiguous row blocks of the one tensor
// (build::rowBlocks): per group g d query rows, then per group the d key
// rows, then the d value rows. `attention.wqkv.bias` (config `bias`) is
// copied without that re-layout, as MLC's loader copies it. `feed_forward.
// gate_up_proj` = concat(w1, w3); everything else copied under its own
// name (`model.tok_embeddings`, `attention.wo`, `feed_forward.w2`,
// `attention_norm`, `ffn_norm`, `model.norm`, `output`).
//
//===----------------------------------------------------------------------===//

#include "ArchitectureBuilders.h"

using namespace qopt::models;
using build::layer;

static llvm::Expected<ModelDef> buildInternLM2(const ModelConfig &cfg,
                                               int64_t tp) {
  const char *arch = "internlm2";
  llvm::Expected<build::TransformerDims> d = build::readDecoderConfig(
      cfg, arch, tp,
      {"vocab_size", "hidden_size", "num_hidden_layers", "num_attention_heads",
       "num_key_value_heads", "rms_norm_eps", "intermediate_size", "bias",
       "use_cache", "pad_token_id", "bos_token_id", "eos_token_id"},
      /*needsRope=*/true);
  if (!d)
    return d.takeError();
  int64_t h = d->hidden, hd = d->headDim;
  // The loader re-lays wqkv out with head_dim = hidden / heads.
  if (hd * d->heads != h)
    return build::configError(cfg, "head_dim x num_attention_heads must equal "
                                   "hidden_size (internlm2)");
  int64_t groups = d->kvHeads, g = d->heads / groups;
  bool bias = cfg.getBool("bias", false);

  ModelDef m = build::startModel(arch, {"no-quant", "group-quant", "ft-quant"});
  m.shardDivisors = d->shardDivisors();
  auto copy = [&](const std::string &name, std::vector<int64_t> shape,
                  ParamKind kind, std::optional<ShardStrategy> shard = {}) {
    build::addCopy(m, name, std::move(shape), kind, std::move(shard));
  };
  copy("model.tok_embeddings.weight", {d->vocab, h}, ParamKind::Embedding);
  // Row blocks of wqkv in MLC's order: q of every group, k, v.
  std::vector<std::pair<int64_t, int64_t>> blocks;
  int64_t groupRows = (g + 2) * hd;
  for (int64_t j = 0; j < groups; ++j)
    blocks.push_back({j * groupRows, g * hd});
  for (int64_t part : {g, g + 1})
    for (int64_t j = 0; j < groups; ++j)
      blocks.push_back({j * groupRows + part * hd, hd});
  for (int64_t i = 0; i < d->layers; ++i) {
    std::string wqkv = layer(i, "attention.wqkv.weight");
    build::addParam(m, wqkv, {d->qkvRows(), h}, ParamKind::Linear,
                    build::rowBlocks(wqkv, h, /*oneD=*/false, blocks),
                    d->qkvShard());
    if (bias)
      copy(layer(i, "attention.wqkv.bias"), {d->qkvRows()}, ParamKind::Bias,
           d->qkvShard());
    copy(layer(i, "attention.wo.weight"), {h, d->heads * hd}, ParamKind::Linear,
         ShardStrategy{1, {}});
    if (bias)
      copy(layer(i, "attention.wo.bias"), {h}, ParamKind::Bias);
    std::string ff = layer(i, "feed_forward.");
    build::addParam(m, ff + "gate_up_proj.weight", {2 * d->intermediate, h},
                    ParamKind::Linear,
                    MapExpr::concat({MapExpr::src(ff + "w1.weight"),
                                     MapExpr::src(ff + "w3.weight")}),
                    d->gateUpShard());
    copy(ff + "w2.weight", {h, d->intermediate}, ParamKind::Linear,
         ShardStrategy{1, {}});
    copy(layer(i, "attention_norm.weight"), {h}, ParamKind::Norm);
    copy(layer(i, "ffn_norm.weight"), {h}, ParamKind::Norm);
  }
  copy("model.norm.weight", {h}, ParamKind::Norm);
  copy("output.weight", {d->vocab, h}, ParamKind::Linear);
  return m;
}

Architecture qopt::models::makeInternLM2Architecture() {
  return {"internlm2", {"InternLM2ForCausalLM"}, {"internlm2"}, buildInternLM2};
}
