"""DeepSeek model tables for mlc_reference.py, written from mlc-llm's sources.

deepseek_v2 / deepseek_v3 (deepseek_v2/deepseek_v2_model.py,
deepseek_v2_loader.py) and deepseek (deepseek/deepseek_model.py,
deepseek_loader.py) at mlc-ai/mlc-llm 79d603f0, in the reference's own
`Param` rows; registered into mlc_archs' tables. Nothing here was taken
from quant-opt's C++.
"""

import mlc_archs as a
import mlc_reference as ref

Param = ref.Param
ConvertError = ref.ConvertError
_rope_theta, _norm, _experts = a._rope_theta, a._norm, a._experts
_no_preshard, _dims, _qkv, _gate_up = a._no_preshard, a._dims, a._qkv, a._gate_up
_unused_none = a._unused_none
ARCHITECTURES, HF_ARCHITECTURE_NAMES = a.ARCHITECTURES, a.HF_ARCHITECTURE_NAMES


# ---------------------------------------------------------------------------
# deepseek_v2 / deepseek_v3 (deepseek_v2_model.py / deepseek_v2_loader.py)
# ---------------------------------------------------------------------------

def _kv_b_split(nkv, nope, v, rank, part):
    """The loader's numpy: kv_b_proj.reshape(nkv, nope + v, rank), split on
    axis 1 at nope; part 0 (w_uk) is then transposed (0, 2, 1)."""
    def combine(pieces):
        _, shape, _, x = pieces[0]
        if shape != [nkv * (nope + v), rank]:
            raise ConvertError(f"kv_b_proj shape {shape} does not split into "
                               f"{nkv} x ({nope} + {v}) x {rank}")

        def at(h, row, r):  # x.reshape(nkv, nope + v, rank)[h, row, r]
            return x[(h * (nope + v) + row) * rank + r]
        if part == 0:  # [nkv, nope, rank] -> transpose -> [nkv, rank, nope]
            return [nkv, rank, nope], [at(h, n, r) for h in range(nkv)
                                       for r in range(rank) for n in range(nope)]
        return [nkv, v, rank], [at(h, nope + j, r) for h in range(nkv)
                                for j in range(v) for r in range(rank)]
    return combine


def deepseek_v2_params(cfg, t, arch):
    ref._require(cfg, [
        "vocab_size", "hidden_size", "intermediate_size", "moe_intermediate_size",
        "num_hidden_layers", "num_attention_heads", "num_key_value_heads",
        "n_shared_experts", "n_routed_experts", "num_experts_per_tok", "norm_topk_prob",
        "first_k_dense_replace", "moe_layer_freq", "routed_scaling_factor", "scoring_func",
        "topk_method", "n_group", "topk_group", "attention_bias", "kv_lora_rank",
        "qk_rope_head_dim", "v_head_dim", "qk_nope_head_dim", "rms_norm_eps"], arch)
    _rope_theta(cfg, arch)
    ref._context_window(cfg, arch)
    if cfg.get("quantization_config") is not None:
        raise ConvertError("FP8 block-quantized checkpoints need the block-scale modes")
    h, inter, vocab = cfg["hidden_size"], cfg["intermediate_size"], cfg["vocab_size"]
    nh, nkv = cfg["num_attention_heads"], cfg["num_key_value_heads"]
    rank, rope, v = cfg["kv_lora_rank"], cfg["qk_rope_head_dim"], cfg["v_head_dim"]
    nope, q_rank = cfg["qk_nope_head_dim"], cfg.get("q_lora_rank")
    moe_inter, e = cfg["moe_intermediate_size"], cfg["n_routed_experts"]
    shared = cfg["n_shared_experts"] * moe_inter
    bias = bool(cfg["attention_bias"])
    ref._divisible(nh, t, "num_attention_heads")
    ps = [Param("model.embed_tokens.weight", [vocab, h], ["model.embed_tokens.weight"],
                kind="embedding")]

    def gated(prefix, size):
        s = ref._divisible(size, t, prefix + " intermediate size")
        return [Param(f"{prefix}.gate_up_proj.weight", [2 * size, h],
                      [f"{prefix}.gate_proj.weight", f"{prefix}.up_proj.weight"],
                      kind="linear", shard=(0, [s, s])),
                Param(f"{prefix}.down_proj.weight", [h, size], [f"{prefix}.down_proj.weight"],
                      kind="linear", shard=(1, None))]

    for layer in range(cfg["num_hidden_layers"]):
        p = f"model.layers.{layer}"
        a = f"{p}.self_attn"
        if q_rank is None:
            ps.append(Param(f"{a}.q_proj.weight", [nh * (nope + rope), h],
                            [f"{a}.q_proj.weight"], kind="linear", shard=(0, None)))
        else:
            ps.append(Param(f"{a}.q_a_proj.weight", [q_rank, h], [f"{a}.q_a_proj.weight"],
                            kind="linear"))
            if bias:
                ps.append(_norm(f"{a}.q_a_proj.bias", q_rank))
            ps.append(_norm(f"{a}.q_a_layernorm.weight", q_rank))
            ps.append(Param(f"{a}.q_b_proj.weight", [nh * (nope + rope), q_rank],
                            [f"{a}.q_b_proj.weight"], kind="linear", shard=(0, None)))
        ps.append(Param(f"{a}.kv_a_proj_with_mqa.weight", [rank + rope, h],
                        [f"{a}.kv_a_proj_with_mqa.weight"], kind="linear"))
        if bias:
            ps.append(_norm(f"{a}.kv_a_proj_with_mqa.bias", rank + rope))
        ps.append(_norm(f"{a}.kv_a_layernorm.weight", rank))
        kv_b = f"{a}.kv_b_proj.weight"
        # The loader maps w_uk and w_uv in its layer loop, kv_b_proj.weight in
        # the final pass over the remaining parameters.
        ps.append(Param(f"{a}.w_uk", [nh, rank, nope], [kv_b],
                        combine=_kv_b_split(nkv, nope, v, rank, 0), shard=(0, None)))
        ps.append(Param(f"{a}.w_uv", [nh, v, rank], [kv_b],
                        combine=_kv_b_split(nkv, nope, v, rank, 1), shard=(0, None)))
        ps.append(Param(kv_b, [nh * (nope + v), rank], [kv_b], kind="linear",
                        shard=(0, None)))
        ps.append(Param(f"{a}.o_proj.weight", [h, nh * v], [f"{a}.o_proj.weight"],
                        kind="linear", shard=(1, None)))
        if bias:
            ps.append(_norm(f"{a}.o_proj.bias", h))
        mlp = f"{p}.mlp"
        if layer >= cfg["first_k_dense_replace"] and layer % cfg["moe_layer_freq"] == 0:
            # DeepseekV2MoE's gate: nn.Linear(..., out_dtype="float32")
            ps.append(Param(f"{mlp}.gate.weight", [e, h], [f"{mlp}.gate.weight"],
                            kind="linear", out_dtype="float32"))
            if cfg["topk_method"] == "noaux_tc":
                ps.append(Param(f"{mlp}.e_score_correction_bias", [e],
                                [f"{mlp}.gate.e_score_correction_bias"]))
            ps += gated(f"{mlp}.shared_experts", shared)
            ps += _experts(mlp, e, h, moe_inter, t)
        else:
            ps += gated(mlp, inter)
        for n in ("input_layernorm", "post_attention_layernorm"):
            ps.append(_norm(f"{p}.{n}.weight", h))
    ps.append(_norm("model.norm.weight", h))
    ps.append(Param("lm_head.weight", [vocab, h], ["lm_head.weight"], kind="linear"))
    return ps


ARCHITECTURES["deepseek_v2"] = (deepseek_v2_params, _unused_none, False)
ARCHITECTURES["deepseek_v3"] = (deepseek_v2_params, _unused_none, False)
HF_ARCHITECTURE_NAMES["DeepseekV2ForCausalLM"] = "deepseek_v2"
HF_ARCHITECTURE_NAMES["DeepseekV3ForCausalLM"] = "deepseek_v3"


# ---------------------------------------------------------------------------
# deepseek (v1, DeepSeek-MoE: deepseek_model.py / deepseek_loader.py)
# ---------------------------------------------------------------------------

def deepseek_params(cfg, t, arch):
    ref._require(cfg, ["vocab_size", "hidden_size", "intermediate_size", "moe_intermediate_size",
                       "num_hidden_layers", "num_attention_heads", "num_key_value_heads",
                       "n_shared_experts", "n_routed_experts", "moe_layer_freq",
                       "first_k_dense_replace", "hidden_act", "norm_topk_prob",
                       "attention_bias", "rms_norm_eps", "use_cache", "bos_token_id",
                       "eos_token_id"], arch)
    ref._context_window(cfg, arch)
    if cfg["attention_bias"]:
        raise ConvertError("deepseek: the loader maps no wqkv_pack.bias")
    _no_preshard(t, arch, "shared experts are split per shard without a strategy")
    h, nq, nkv, d, segs, inter, vocab, layers = _dims(cfg, t, arch)
    e, mi = cfg["n_routed_experts"], cfg["moe_intermediate_size"]
    shared = cfg["n_shared_experts"] * mi
    ps = [Param("model.embed_tokens.weight", [vocab, h], ["model.embed_tokens.weight"],
                kind="embedding")]
    for layer in range(layers):
        p = f"model.layers.{layer}"
        ps += _qkv(p, ["q_proj", "k_proj", "v_proj"], h, nq, nkv, d, segs, "wqkv_pack")
        mlp = f"{p}.mlp"
        if layer >= cfg["first_k_dense_replace"] and layer % cfg["moe_layer_freq"] == 0:
            ps.append(Param(f"{mlp}.gate.weight", [e, h], [f"{mlp}.gate.weight"], kind="linear"))
            if shared:
                se = f"{mlp}.shared_experts"
                ps.append(Param(f"{se}.gate_up_proj.weight", [2 * shared, h],
                                [f"{se}.gate_proj.weight", f"{se}.up_proj.weight"],
                                kind="linear"))
                ps.append(Param(f"{se}.down_proj.weight", [h, shared],
                                [f"{se}.down_proj.weight"], kind="linear"))
            ps += _experts(mlp, e, h, mi, t)
        else:
            ps += _gate_up(p, h, inter, t)
        for n in ("input_layernorm", "post_attention_layernorm"):
            ps.append(_norm(f"{p}.{n}.weight", h))
    ps.append(_norm("model.norm.weight", h))
    ps.append(Param("lm_head.weight", [vocab, h], ["lm_head.weight"], kind="linear"))
    return ps


ARCHITECTURES["deepseek"] = (deepseek_params, _unused_none, False)
HF_ARCHITECTURE_NAMES["DeepseekForCausalLM"] = "deepseek"
