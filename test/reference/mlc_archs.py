"""More model tables for mlc_reference.py, written from mlc-llm's sources.

Each function below restates one architecture's `<arch>_model.py` (which
parameters exist, their shapes and `shard_strategy`) and `<arch>_loader.py`
(which Hugging Face tensors feed them) at mlc-ai/mlc-llm 79d603f0, in the
reference's own `Param` rows. Nothing here was taken from quant-opt's C++.

Shard strategies: `ShardSingleDim(dim, segs)` is written (dim, per-shard
segs); where MLC's strategy cannot apply to the tensors the loader gives
(segments that do not add up to the parameter, or a parameter whose
per-shard shape is the full shape), presharding is refused, as MLC would
fail.
"""

import mlc_reference as ref

Param = ref.Param
ConvertError = ref.ConvertError


def _dims(cfg, t, arch, kv_key="num_key_value_heads"):
    """(h, nq, nkv, d, [q, k, v] per shard, inter, vocab, layers)."""
    h, nq, nkv, d, segs = ref._attention_dims(cfg, t, kv_key)
    inter = cfg["intermediate_size"]
    ref._divisible(inter, t, "intermediate_size")
    return h, nq, nkv, d, segs, inter, cfg["vocab_size"], cfg["num_hidden_layers"]


def _no_preshard(t, arch, why):
    if t > 1:
        raise ConvertError(f"{arch} cannot be pre-sharded as MLC defines it: {why}")


def _rope_theta(cfg, arch):
    if cfg.get("rope_theta") is None and (cfg.get("rope_parameters") or {}).get(
            "rope_theta") is None:
        raise ConvertError(f"config.json: missing required field 'rope_theta' for {arch}")


def _qkv(p, names, h, nq, nkv, d, segs, target, bias=False, out="o_proj",
         hf_out="o_proj", out_bias=False):
    """MLC's fused q/k/v `target` (+bias) and the output projection."""
    a = f"{p}.self_attn"
    rows = (nq + 2 * nkv) * d
    ps = [Param(f"{a}.{target}.weight", [rows, h],
                [f"{a}.{n}.weight" for n in names], kind="linear", shard=(0, segs))]
    if bias:
        ps.append(Param(f"{a}.{target}.bias", [rows],
                        [f"{a}.{n}.bias" for n in names], shard=(0, segs)))
    ps.append(Param(f"{a}.{out}.weight", [h, nq * d], [f"{a}.{hf_out}.weight"],
                    kind="linear", shard=(1, None)))
    if out_bias:
        ps.append(Param(f"{a}.{out}.bias", [h], [f"{a}.{hf_out}.bias"]))
    return ps


def _gate_up(p, h, inter, t):
    i = inter // t
    return [Param(f"{p}.mlp.gate_up_proj.weight", [2 * inter, h],
                  [f"{p}.mlp.gate_proj.weight", f"{p}.mlp.up_proj.weight"],
                  kind="linear", shard=(0, [i, i])),
            Param(f"{p}.mlp.down_proj.weight", [h, inter], [f"{p}.mlp.down_proj.weight"],
                  kind="linear", shard=(1, None))]


def _experts(mlp, e, h, moe_inter, t):
    """MixtralExperts moe_gate_up_proj / moe_down_proj from experts.N.*."""
    mi = moe_inter // t
    gate_up = []
    for j in range(e):
        gate_up += [f"{mlp}.experts.{j}.gate_proj.weight", f"{mlp}.experts.{j}.up_proj.weight"]
    return [Param(f"{mlp}.moe_gate_up_proj.weight", [e, 2 * moe_inter, h], gate_up,
                  kind="experts", shard=(1, [mi, mi])),
            Param(f"{mlp}.moe_down_proj.weight", [e, h, moe_inter],
                  [f"{mlp}.experts.{j}.down_proj.weight" for j in range(e)],
                  kind="experts", shard=(2, None))]


def _norm(name, size, combine="concat"):
    return Param(name, [size], [name], combine=combine)


def _positive(cfg, key, arch):
    v = cfg.get(key) or 0
    if not isinstance(v, int) or v <= 0:
        raise ConvertError(f"config.json: field '{key}' must be a positive integer for {arch}")
    return v


# ---------------------------------------------------------------------------
# qwen3_moe (qwen3_moe_model.py / qwen3_moe_loader.py)
# ---------------------------------------------------------------------------

def qwen3_moe_params(cfg, t, arch):
    ref._require(cfg, ["hidden_act", "hidden_size", "intermediate_size", "attention_bias",
                       "num_attention_heads", "num_hidden_layers", "num_key_value_heads",
                       "rms_norm_eps", "vocab_size"], arch)
    _rope_theta(cfg, arch)
    ref._context_window(cfg, arch)
    h, nq, nkv, d, segs, inter, vocab, layers = _dims(cfg, t, arch)
    e = _positive(cfg, "num_experts", arch)
    moe_inter = _positive(cfg, "moe_intermediate_size", arch)
    if cfg.get("decoder_sparse_step") != 1:
        raise ConvertError("config.json: decoder_sparse_step must be 1 for qwen3_moe")
    ref._divisible(moe_inter, t, "moe_intermediate_size")
    if cfg.get("quantization_config") is not None:
        raise ConvertError("FP8 block-quantized checkpoints need the block-scale modes")
    bias = bool(cfg["attention_bias"])
    ps = [Param("model.embed_tokens.weight", [vocab, h], ["model.embed_tokens.weight"],
                kind="embedding")]
    for layer in range(layers):
        p = f"model.layers.{layer}"
        ps += _qkv(p, ["q_proj", "k_proj", "v_proj"], h, nq, nkv, d, segs, "c_attn",
                   bias=bias, out_bias=bias)
        ps.append(_norm(f"{p}.self_attn.q_norm.weight", d))
        ps.append(_norm(f"{p}.self_attn.k_norm.weight", d))
        # the router is an nn.Linear named `gate` (kept in model dtype if E <= 256)
        ps.append(Param(f"{p}.mlp.gate.weight", [e, h], [f"{p}.mlp.gate.weight"],
                        kind="linear"))
        ps += _experts(f"{p}.mlp", e, h, moe_inter, t)
        for n in ("input_layernorm", "post_attention_layernorm"):
            ps.append(_norm(f"{p}.{n}.weight", h))
    ps.append(_norm("model.norm.weight", h))
    ps.append(Param("lm_head.weight", [vocab, h], ["lm_head.weight"], kind="linear"))
    return ps


# ---------------------------------------------------------------------------
# qwen2_moe (qwen2_moe_model.py / qwen2_moe_loader.py)
# ---------------------------------------------------------------------------

def qwen2_moe_params(cfg, t, arch):
    ref._require(cfg, ["hidden_act", "hidden_size", "intermediate_size", "num_attention_heads",
                       "num_hidden_layers", "num_key_value_heads", "rms_norm_eps",
                       "vocab_size"], arch)
    _rope_theta(cfg, arch)
    ref._context_window(cfg, arch)
    h, nq, nkv, d, segs, inter, vocab, layers = _dims(cfg, t, arch)
    e = _positive(cfg, "num_experts", arch)
    moe_inter = _positive(cfg, "moe_intermediate_size", arch)
    shared = _positive(cfg, "shared_expert_intermediate_size", arch)
    if cfg.get("decoder_sparse_step") != 1:
        raise ConvertError("config.json: decoder_sparse_step must be 1 for qwen2_moe")
    ref._divisible(moe_inter, t, "moe_intermediate_size")
    si = ref._divisible(shared, t, "shared_expert_intermediate_size")
    ps = [Param("model.embed_tokens.weight", [vocab, h], ["model.embed_tokens.weight"],
                kind="embedding")]
    for layer in range(layers):
        p = f"model.layers.{layer}"
        ps += _qkv(p, ["q_proj", "k_proj", "v_proj"], h, nq, nkv, d, segs, "c_attn", bias=True)
        se = f"{p}.mlp.shared_expert"
        ps.append(Param(f"{se}.gate_up_proj.weight", [2 * shared, h],
                        [f"{se}.gate_proj.weight", f"{se}.up_proj.weight"],
                        kind="linear", shard=(0, [si, si])))
        ps.append(Param(f"{se}.down_proj.weight", [h, shared], [f"{se}.down_proj.weight"],
                        kind="linear", shard=(1, None)))
        ps.append(Param(f"{p}.mlp.shared_expert_gate.weight", [1, h],
                        [f"{p}.mlp.shared_expert_gate.weight"], kind="linear"))
        ps.append(Param(f"{p}.mlp.gate.weight", [e, h], [f"{p}.mlp.gate.weight"],
                        kind="linear"))
        ps += _experts(f"{p}.mlp", e, h, moe_inter, t)
        for n in ("input_layernorm", "post_attention_layernorm"):
            ps.append(_norm(f"{p}.{n}.weight", h))
    ps.append(_norm("model.norm.weight", h))
    ps.append(Param("lm_head.weight", [vocab, h], ["lm_head.weight"], kind="linear"))
    return ps


# ---------------------------------------------------------------------------
# gemma3 / gemma3_text (gemma3_model.py / gemma3_loader.py)
# ---------------------------------------------------------------------------

def gemma3_params(cfg, t, arch):
    text = cfg.get("text_config")
    is_text_model = text is None
    tc = cfg if is_text_model else text
    ref._require(tc, ["hidden_size", "intermediate_size", "num_hidden_layers"], arch)
    act = tc.get("hidden_activation", "gelu_pytorch_tanh")
    if act is None:
        act = tc.get("hidden_act")
    if act not in ("gelu", "gelu_pytorch_tanh"):
        raise ConvertError("config.json: gemma3 supports only GeLU activations")
    if tc.get("attention_bias"):
        raise ConvertError("config.json: gemma3 requires attention_bias = false")
    _no_preshard(t, arch, "q_norm/k_norm [head_dim] are sharded on dim 0")
    h, inter, layers = tc["hidden_size"], tc["intermediate_size"], tc["num_hidden_layers"]
    nq = tc.get("num_attention_heads", 8)
    nkv = tc.get("num_key_value_heads", 4)
    d = tc.get("head_dim", 256)
    mlc = "language_model."

    def hf(name):  # the loader's name_transform
        return name[len(mlc):] if is_text_model else name

    def copy(name, shape, kind="other", shard=None):
        return Param(name, shape, [hf(name)], kind=kind, shard=shard)

    def plus_one(name, size):
        return Param(name, [size], [hf(name)], combine="plus_one")

    ps = [copy(f"{mlc}model.embed_tokens.weight", [None, h], kind="embedding")]
    for layer in range(layers):
        p = f"{mlc}model.layers.{layer}"
        a = f"{p}.self_attn"
        ps.append(copy(f"{a}.q_proj.weight", [nq * d, h], "linear", (0, None)))
        ps.append(copy(f"{a}.k_proj.weight", [nkv * d, h], "linear", (0, None)))
        ps.append(copy(f"{a}.v_proj.weight", [nkv * d, h], "linear", (0, None)))
        ps.append(copy(f"{a}.o_proj.weight", [h, nq * d], "linear", (1, None)))
        ps.append(Param(f"{p}.mlp.gate_up_proj.weight", [2 * inter, h],
                        [hf(f"{p}.mlp.gate_proj.weight"), hf(f"{p}.mlp.up_proj.weight")],
                        kind="linear", shard=(0, [inter, inter])))
        ps.append(copy(f"{p}.mlp.down_proj.weight", [h, inter], "linear", (1, None)))
        for n in ("input_layernorm", "post_attention_layernorm",
                  "pre_feedforward_layernorm", "post_feedforward_layernorm"):
            ps.append(plus_one(f"{p}.{n}.weight", h))
        ps.append(plus_one(f"{a}.k_norm.weight", d))
        ps.append(plus_one(f"{a}.q_norm.weight", d))
    ps.append(plus_one(f"{mlc}model.norm.weight", h))
    return ps


# ---------------------------------------------------------------------------
# make_standard_hf_loader families
# ---------------------------------------------------------------------------

def olmo_params(cfg, t, arch):
    ref._require(cfg, ["vocab_size", "hidden_size", "num_attention_heads",
                       "intermediate_size", "num_hidden_layers"], arch)
    ref._context_window(cfg, arch)
    if arch == "olmo2":
        _no_preshard(t, arch, "q_norm/k_norm have per-shard shapes but no shard strategy")
    h, nq, nkv, d, segs, inter, vocab, layers = _dims(cfg, t, arch)
    ps = [Param("model.embed_tokens.weight", [vocab, h], ["model.embed_tokens.weight"],
                kind="embedding")]
    for layer in range(layers):
        p = f"model.layers.{layer}"
        ps += _qkv(p, ["q_proj", "k_proj", "v_proj"], h, nq, nkv, d, segs, "qkv_proj")
        ps += _gate_up(p, h, inter, t)
        if arch == "olmo2":  # olmo's LayerNorms have no weights
            ps.append(_norm(f"{p}.self_attn.q_norm.weight", nq * d))
            ps.append(_norm(f"{p}.self_attn.k_norm.weight", nkv * d))
            ps.append(_norm(f"{p}.post_attention_layernorm.weight", h))
            ps.append(_norm(f"{p}.post_feedforward_layernorm.weight", h))
    if arch == "olmo2":
        ps.append(_norm("model.norm.weight", h))
    if not cfg.get("tie_word_embeddings", False):
        ps.append(Param("lm_head.weight", [vocab, h], ["lm_head.weight"], kind="linear"))
    return ps


def _layer_norm_with_bias(name, h):
    return [_norm(f"{name}.weight", h), _norm(f"{name}.bias", h)]


def stablelm_params(cfg, t, arch):
    ref._require(cfg, ["vocab_size", "hidden_size", "num_hidden_layers", "num_attention_heads",
                       "num_key_value_heads", "layer_norm_eps", "partial_rotary_factor",
                       "intermediate_size"], arch)
    _rope_theta(cfg, arch)
    ref._context_window(cfg, arch)
    h, nq, nkv, d, segs, inter, vocab, layers = _dims(cfg, t, arch)
    bias = bool(cfg.get("use_qkv_bias", False))
    ps = [Param("model.embed_tokens.weight", [vocab, h], ["model.embed_tokens.weight"],
                kind="embedding")]
    for layer in range(layers):
        p = f"model.layers.{layer}"
        ps += _qkv(p, ["q_proj", "k_proj", "v_proj"], h, nq, nkv, d, segs, "qkv_proj",
                   bias=bias)
        ps += _gate_up(p, h, inter, t)
        ps += _layer_norm_with_bias(f"{p}.input_layernorm", h)
        ps += _layer_norm_with_bias(f"{p}.post_attention_layernorm", h)
    ps += _layer_norm_with_bias("model.norm", h)
    ps.append(Param("lm_head.weight", [vocab, h], ["lm_head.weight"], kind="linear"))
    return ps


def internlm_params(cfg, t, arch):
    ref._require(cfg, ["vocab_size", "hidden_size", "num_hidden_layers", "num_attention_heads",
                       "rms_norm_eps", "intermediate_size", "bias", "use_cache",
                       "pad_token_id", "bos_token_id", "eos_token_id"], arch)
    ref._context_window(cfg, arch)
    bias = bool(cfg["bias"])
    if bias:
        _no_preshard(t, arch, "o_proj.bias [hidden] is sharded on dim 0")
    # InternLMAttention: 3 x num_attention_heads heads, no grouped kv.
    h, nq, _, d, _, inter, vocab, layers = _dims(cfg, t, arch)
    q = nq // t * d
    ps = [Param("model.embed_tokens.weight", [vocab, h], ["model.embed_tokens.weight"],
                kind="embedding")]
    for layer in range(layers):
        p = f"model.layers.{layer}"
        ps += _qkv(p, ["q_proj", "k_proj", "v_proj"], h, nq, nq, d, [q, q, q], "wqkv_pack",
                   bias=bias, out_bias=bias)
        ps += _gate_up(p, h, inter, t)
        for n in ("input_layernorm", "post_attention_layernorm"):
            ps.append(_norm(f"{p}.{n}.weight", h))
    ps.append(_norm("model.norm.weight", h))
    ps.append(Param("lm_head.weight", [vocab, h], ["lm_head.weight"], kind="linear"))
    return ps


def cohere_params(cfg, t, arch):
    ref._require(cfg, ["hidden_size", "vocab_size", "num_hidden_layers", "num_attention_heads",
                       "num_key_value_heads", "intermediate_size", "layer_norm_eps"], arch)
    ref._context_window(cfg, arch)
    _no_preshard(t, arch, "gate_proj/up_proj segments [i, i] exceed their rows")
    h, nq, nkv, d, segs, inter, vocab, layers = _dims(cfg, t, arch)
    ps = [Param("model.embed_tokens.weight", [None, h], ["model.embed_tokens.weight"],
                kind="embedding")]
    for layer in range(layers):
        p = f"model.layers.{layer}"
        # cohere_loader's name_transform: MLC out_proj <- HF o_proj
        ps += _qkv(p, ["q_proj", "k_proj", "v_proj"], h, nq, nkv, d, segs, "qkv_proj",
                   out="out_proj", hf_out="o_proj")
        for n in ("gate_proj", "up_proj"):
            ps.append(Param(f"{p}.mlp.{n}.weight", [inter, h], [f"{p}.mlp.{n}.weight"],
                            kind="linear"))
        ps.append(Param(f"{p}.mlp.down_proj.weight", [h, inter],
                        [f"{p}.mlp.down_proj.weight"], kind="linear"))
        ps.append(_norm(f"{p}.input_layernorm.weight", h))
    ps.append(_norm("model.norm.weight", h))
    return ps


def nemotron_params(cfg, t, arch):
    ref._require(cfg, ["vocab_size", "max_position_embeddings", "hidden_size",
                       "intermediate_size", "num_hidden_layers", "num_attention_heads",
                       "num_key_value_heads"], arch)
    _no_preshard(t, arch, "mlp.up_proj is sharded on dim 1 but not split")
    h, nq, nkv, d, segs, inter, vocab, layers = _dims(cfg, t, arch)
    if d * nq != h:
        raise ConvertError("config.json: head_dim * num_attention_heads != hidden_size")
    bias = bool(cfg.get("mlp_bias", False))
    ps = [Param("model.embed_tokens.weight", [None, h], ["model.embed_tokens.weight"],
                kind="embedding")]
    for layer in range(layers):
        p = f"model.layers.{layer}"
        ps += _qkv(p, ["q_proj", "k_proj", "v_proj"], h, nq, nkv, d, segs, "qkv_proj")
        ps.append(Param(f"{p}.mlp.up_proj.weight", [inter, h], [f"{p}.mlp.up_proj.weight"],
                        kind="linear"))
        ps.append(Param(f"{p}.mlp.down_proj.weight", [h, inter],
                        [f"{p}.mlp.down_proj.weight"], kind="linear"))
        if bias:
            ps.append(_norm(f"{p}.mlp.up_proj.bias", inter))
            ps.append(_norm(f"{p}.mlp.down_proj.bias", h))
        ps += _layer_norm_with_bias(f"{p}.input_layernorm", h)
        ps += _layer_norm_with_bias(f"{p}.post_attention_layernorm", h)
    ps += _layer_norm_with_bias("model.norm", h)
    if not cfg.get("tie_word_embeddings", False):
        ps.append(Param("lm_head.weight", [None, h], ["lm_head.weight"], kind="linear"))
    return ps


def orion_params(cfg, t, arch):
    ref._require(cfg, ["hidden_size", "intermediate_size", "num_attention_heads",
                       "num_hidden_layers", "rms_norm_eps", "vocab_size"], arch)
    ref._context_window(cfg, arch)
    h, nq, nkv, d, segs, inter, vocab, layers = _dims(cfg, t, arch)
    ps = [Param("model.embed_tokens.weight", [None, h], ["model.embed_tokens.weight"],
                kind="embedding")]
    for layer in range(layers):
        p = f"model.layers.{layer}"
        ps += _qkv(p, ["q_proj", "k_proj", "v_proj"], h, nq, nkv, d, segs, "qkv_proj")
        ps += _gate_up(p, h, inter, t)
        ps += _layer_norm_with_bias(f"{p}.input_layernorm", h)
        ps += _layer_norm_with_bias(f"{p}.post_attention_layernorm", h)
    ps += _layer_norm_with_bias("model.norm", h)
    ps.append(Param("lm_head.weight", [None, h], ["lm_head.weight"], kind="linear"))
    return ps


def _unused_inv_freq(name):
    return name.endswith("rotary_emb.inv_freq")


def _unused_none(name):
    return False


# model_type -> (param table builder, unused-name predicate, accepts per-tensor fp8)
ARCHITECTURES = {
    "qwen3_moe": (qwen3_moe_params, _unused_none, False),
    "qwen2_moe": (qwen2_moe_params, _unused_none, False),
    "gemma3": (gemma3_params, _unused_none, False),
    "gemma3_text": (gemma3_params, _unused_none, False),
    "olmo": (olmo_params, _unused_inv_freq, True),
    "olmo2": (olmo_params, _unused_inv_freq, True),
    "stablelm": (stablelm_params, _unused_none, False),
    "internlm": (internlm_params, _unused_inv_freq, False),
    "cohere": (cohere_params, _unused_none, False),
    "nemotron": (nemotron_params, _unused_inv_freq, True),
    "orion": (orion_params, _unused_inv_freq, False),
}

HF_ARCHITECTURE_NAMES = {
    "Qwen3MoeForCausalLM": "qwen3_moe", "Qwen2MoeForCausalLM": "qwen2_moe",
    "Gemma3ForConditionalGeneration": "gemma3", "Gemma3ForCausalLM": "gemma3_text",
    "OlmoForCausalLM": "olmo", "Olmo2ForCausalLM": "olmo2",
    "StableLmForCausalLM": "stablelm", "InternLMForCausalLM": "internlm",
    "CohereForCausalLM": "cohere", "NemotronForCausalLM": "nemotron",
    "OrionForCausalLM": "orion",
}


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
            ps.append(Param(f"{mlp}.gate.weight", [e, h], [f"{mlp}.gate.weight"],
                            kind="linear"))
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
