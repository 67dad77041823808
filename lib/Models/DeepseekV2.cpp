//===- DeepseekV2.cpp - DeepSeek-V2/V3 as MLC lays them out ----*- C++ -*-===//
//
// mlc-llm python/mlc_llm/model/deepseek_v2/{deepseek_v2_model,
// deepseek_v2_loader}.py, registered for the model types deepseek_v2 and
// deepseek_v3. Multi-head latent attention: q_proj (or q_a_proj,
// q_a_layernorm, q_b_proj with q_lora_rank), kv_a_proj_with_mqa,
// kv_a_layernorm, kv_b_proj copied, and kv_b_proj split per head into
// `w_uk` [nh, kv_lora_rank, qk_nope] (the nope rows, transposed) and `w_uv`
// [nh, v_head, kv_lora_rank] (the v rows), plain parameters never quantized.
// Layers from first_k_dense_replace (every moe_layer_freq-th) are MoE: the
// router `mlp.gate`, the shared experts fused into
// `mlp.shared_experts.gate_up_proj`, the routed experts stacked into
// `mlp.moe_gate_up_proj` / `mlp.moe_down_proj`, and with topk_method
// noaux_tc `mlp.e_score_correction_bias` (HF `mlp.gate.e_score_correction_
// bias`); the others a dense gated MLP. `lm_head` is always a parameter.
// FP8 block-quantized checkpoints need the block-scale modes.
//
//===----------------------------------------------------------------------===//

#include "ArchitectureBuilders.h"

using namespace qopt::models;
using build::layer;

static llvm::Expected<ModelDef> buildDeepseek(const ModelConfig &cfg,
                                              int64_t tp, const char *arch) {
  if (llvm::Error e = cfg.require(
          {"vocab_size", "hidden_size", "intermediate_size",
           "moe_intermediate_size", "num_hidden_layers", "num_attention_heads",
           "num_key_value_heads", "n_shared_experts", "n_routed_experts",
           "num_experts_per_tok", "norm_topk_prob", "first_k_dense_replace",
           "moe_layer_freq", "routed_scaling_factor", "scoring_func",
           "topk_method", "n_group", "topk_group", "attention_bias",
           "kv_lora_rank", "qk_rope_head_dim", "v_head_dim",
           "qk_nope_head_dim", "rms_norm_eps"},
          arch))
    return std::move(e);
  if (llvm::Error e = build::requireRopeTheta(cfg, arch))
    return std::move(e);
  if (llvm::Error e = build::requireContextWindow(cfg, arch))
    return std::move(e);
  if (llvm::Error e = build::refuseFp8Checkpoint(cfg, arch))
    return std::move(e);
  build::TransformerDims d;
  d.tp = tp;
  d.hidden = cfg.getInt("hidden_size", 0);
  d.intermediate = cfg.getInt("intermediate_size", 0);
  d.heads = cfg.getInt("num_attention_heads", 0);
  d.kvHeads = cfg.getInt("num_key_value_heads", 0);
  d.layers = cfg.getInt("num_hidden_layers", 0);
  d.vocab = cfg.getInt("vocab_size", 0);
  int64_t moeFfn = cfg.getInt("moe_intermediate_size", 0);
  int64_t shared = cfg.getInt("n_shared_experts", 0) * moeFfn;
  int64_t experts = cfg.getInt("n_routed_experts", 0);
  int64_t firstDense = cfg.getInt("first_k_dense_replace", 0);
  int64_t freq = cfg.getInt("moe_layer_freq", 0);
  int64_t rank = cfg.getInt("kv_lora_rank", 0);
  int64_t rope = cfg.getInt("qk_rope_head_dim", 0);
  int64_t vDim = cfg.getInt("v_head_dim", 0);
  int64_t nope = cfg.getInt("qk_nope_head_dim", 0);
  int64_t qRank = cfg.getInt("q_lora_rank", 0); // null: no q LoRA
  for (auto [key, v] : {std::pair{"hidden_size", d.hidden},
                        {"intermediate_size", d.intermediate},
                        {"num_attention_heads", d.heads},
                        {"num_hidden_layers", d.layers},
                        {"vocab_size", d.vocab},
                        {"moe_intermediate_size", moeFfn},
                        {"n_routed_experts", experts},
                        {"moe_layer_freq", freq},
                        {"kv_lora_rank", rank},
                        {"v_head_dim", vDim},
                        {"qk_nope_head_dim", nope}})
    if (v <= 0)
      return build::configError(cfg, llvm::Twine("field '") + key +
                                         "' must be a positive integer (" +
                                         arch + ")");
  // The loader reshapes kv_b_proj by num_key_value_heads; the parameters
  // have num_attention_heads heads.
  if (d.kvHeads != d.heads)
    return build::configError(
        cfg, "num_key_value_heads must equal num_attention_heads (" +
                 llvm::Twine(arch) + ": MLC splits kv_b_proj by the former "
                                     "into parameters of the latter)");
  for (auto [what, v] : {std::pair{"num_attention_heads", d.heads},
                         {"intermediate_size", d.intermediate},
                         {"moe_intermediate_size", moeFfn},
                         {"n_shared_experts x moe_intermediate_size", shared}})
    if (auto q = build::divide(v, tp,
                               std::string("tensor-parallel-shards: ") + what);
        !q)
      return q.takeError();
  bool bias = cfg.getBool("attention_bias", false);
  bool noauxTc = cfg.getString("topk_method", "") == "noaux_tc";
  int64_t h = d.hidden, nh = d.heads, qHead = nope + rope;

  // mlc_llm's model table: deepseek_v3 takes the block-scale modes,
  // deepseek_v2 not.
  ModelDef m = build::startModel(arch, {"no-quant", "group-quant", "ft-quant"});
  if (llvm::StringRef(arch) == "deepseek_v3")
    m.quantizationKinds.push_back("block-scale-quant");
  build::addEmbedTokens(m, d, /*symbolicVocab=*/false);
  auto copy = [&](const std::string &name, std::vector<int64_t> shape,
                  ParamKind kind, std::optional<ShardStrategy> shard = {}) {
    build::addCopy(m, name, std::move(shape), kind, std::move(shard));
  };
  for (int64_t i = 0; i < d.layers; ++i) {
    auto at = [&](llvm::StringRef rest) {
      return layer(i, "self_attn." + rest.str());
    };
    if (qRank <= 0) {
      copy(at("q_proj.weight"), {nh * qHead, h}, ParamKind::Linear,
           ShardStrategy{0, {}});
    } else {
      copy(at("q_a_proj.weight"), {qRank, h}, ParamKind::Linear);
      if (bias)
        copy(at("q_a_proj.bias"), {qRank}, ParamKind::Bias);
      copy(at("q_a_layernorm.weight"), {qRank}, ParamKind::Norm);
      copy(at("q_b_proj.weight"), {nh * qHead, qRank}, ParamKind::Linear,
           ShardStrategy{0, {}});
    }
    copy(at("kv_a_proj_with_mqa.weight"), {rank + rope, h}, ParamKind::Linear);
    if (bias)
      copy(at("kv_a_proj_with_mqa.bias"), {rank + rope}, ParamKind::Bias);
    copy(at("kv_a_layernorm.weight"), {rank}, ParamKind::Norm);
    // kv_b_proj [nh (nope + v), rank]: head h's rows h (nope + v) + j.
    // w_uk[h, r, n] = kv_b[h (nope + v) + n, r]; w_uv[h, j, r] =
    // kv_b[h (nope + v) + nope + j, r]. Defined before kv_b_proj.weight:
    // MLC's loader maps them first, so they are emitted first.
    std::string kvB = at("kv_b_proj.weight");
    int64_t headRows = (nope + vDim) * rank;
    build::addParam(m, at("w_uk"), {nh, rank, nope}, ParamKind::Other,
                    MapExpr::view(kvB, 0, {nh, rank, nope}, {headRows, 1, rank}),
                    ShardStrategy{0, {}});
    build::addParam(m, at("w_uv"), {nh, vDim, rank}, ParamKind::Other,
                    MapExpr::view(kvB, nope * rank, {nh, vDim, rank},
                                  {headRows, rank, 1}),
                    ShardStrategy{0, {}});
    copy(kvB, {nh * (nope + vDim), rank}, ParamKind::Linear,
         ShardStrategy{0, {}});
    copy(at("o_proj.weight"), {h, nh * vDim}, ParamKind::Linear,
         ShardStrategy{1, {}});
    if (bias)
      copy(at("o_proj.bias"), {h}, ParamKind::Bias);

    std::string mlp = layer(i, "mlp.");
    auto gatedMLP = [&](const std::string &prefix, int64_t ffn) {
      int64_t f = ffn / tp;
      build::addParam(m, prefix + "gate_up_proj.weight", {2 * ffn, h},
                      ParamKind::Linear,
                      MapExpr::concat({MapExpr::src(prefix + "gate_proj.weight"),
                                       MapExpr::src(prefix + "up_proj.weight")}),
                      ShardStrategy{0, {f, f}});
      copy(prefix + "down_proj.weight", {h, ffn}, ParamKind::Linear,
           ShardStrategy{1, {}});
    };
    if (i >= firstDense && i % freq == 0) {
      copy(mlp + "gate.weight", {experts, h},
           build::routerKind(experts, /*float32Out=*/true));
      if (noauxTc)
        build::addParam(m, mlp + "e_score_correction_bias", {experts},
                        ParamKind::Other,
                        MapExpr::src(mlp + "gate.e_score_correction_bias"));
      gatedMLP(mlp + "shared_experts.", shared);
      build::addStackedExperts(m, d,
                               {mlp + "experts", mlp + "moe_gate_up_proj.weight",
                                mlp + "moe_down_proj.weight", "gate_proj",
                                "up_proj", "down_proj", experts, moeFfn});
    } else {
      gatedMLP(mlp, d.intermediate);
    }
    build::addLayerNorms(m, d, i,
                         {"input_layernorm", "post_attention_layernorm"});
  }
  build::addFinalNormAndHead(m, d, /*tied=*/false);
  return m;
}

Architecture qopt::models::makeDeepseekV2Architecture() {
  return {"deepseek_v2",
          {"DeepseekV2ForCausalLM"},
          {"deepseek_v2"},
          [](const ModelConfig &cfg, int64_t tp) {
            return buildDeepseek(cfg, tp, "deepseek_v2");
          }};
}

Architecture qopt::models::makeDeepseekV3Architecture() {
  return {"deepseek_v3",
          {"DeepseekV3ForCausalLM"},
          {"deepseek_v3"},
          [](const ModelConfig &cfg, int64_t tp) {
            return buildDeepseek(cfg, tp, "deepseek_v3");
          }};
}
