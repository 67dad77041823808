"""Model tables of the issue-16 group A architectures for mlc_reference.py,
written from mlc-llm's sources at mlc-ai/mlc-llm 79d603f0 (never from
quant-opt's C++): phi and phi-msft (phi/phi_model.py, phi_loader.py),
internlm2, qwen (Qwen-1), minicpm, chatglm, gpt_neox and gptj, each restating the
`<arch>_model.py` parameters (names, shapes, `shard_strategy`) and the
`<arch>_loader.py` mapping (which Hugging Face tensors feed them, and how).

Presharding that MLC's own strategy cannot carry out is refused with the
reason, as in mlc_archs.py.
"""

import mlc_reference as ref

Param = ref.Param
ConvertError = ref.ConvertError


def _no_preshard(t, arch, why):
    if t > 1:
        raise ConvertError(f"{arch} cannot be pre-sharded as MLC defines it: {why}")


def _div(value, t, what):
    return ref._divisible(value, t, what)


# ---------------------------------------------------------------------------
# phi / phi-msft (phi_model.py: Phi1Config, PhiConfig, PhiForCausalLM;
# phi_loader.py: phi1_huggingface, huggingface)
# ---------------------------------------------------------------------------

def _field(cfg, key, default):
    """A dataclass field: the default when absent, None read as 0."""
    if key not in cfg:
        return default
    return cfg[key] or 0


def phi_params(cfg, t, arch):
    msft = arch == "phi-msft"
    if msft:
        keys = ("n_embd", "n_inner", "n_layer", "n_head", "n_head_kv")
        defaults = (2560, 0, 32, 32, 0)
    else:
        ref._context_window(cfg, arch)
        keys = ("hidden_size", "intermediate_size", "num_hidden_layers",
                "num_attention_heads", "num_key_value_heads")
        defaults = (2048, 8192, 24, 32, 0)
    vocab = _field(cfg, "vocab_size", 51200)
    h, inner, layers, nq, nkv = (_field(cfg, k, v) for k, v in zip(keys, defaults))
    nkv = nkv or nq          # __post_init__
    inner = inner or 4 * h
    d = _field(cfg, "head_dim", 0) or h // nq
    if d * nq != h:
        raise ConvertError("config.json: head_dim x heads must equal the hidden size")
    q = _div(nq, t, keys[3]) * d
    k = _div(nkv, t, keys[4]) * d
    _div(inner, t, keys[1])
    rows = (nq + 2 * nkv) * d

    def p(name, shape, source, kind="other", shard=None, sources=None):
        return Param(name, shape, sources or [source], kind=kind, shard=shard)

    ps = []
    if msft:
        ps.append(p("transformer.embd.weight", [vocab, h], "transformer.embd.wte.weight",
                    "embedding"))
    else:
        ps += [p("lm_head.linear.weight", [None, h], "lm_head.weight", "linear"),
               p("lm_head.linear.bias", [None], "lm_head.bias"),
               p("lm_head.ln.weight", [h], "model.final_layernorm.weight"),
               p("lm_head.ln.bias", [h], "model.final_layernorm.bias"),
               p("transformer.embd.weight", [vocab, h], "model.embed_tokens.weight",
                 "embedding")]
    for layer in range(layers):
        m = f"transformer.h.{layer}"
        s = f"model.layers.{layer}"

        def hf(phi_name, mlc_rest):
            return f"{m}.{mlc_rest}" if msft else f"{s}.{phi_name}"

        ps.append(p(f"{m}.ln.weight", [h], hf("input_layernorm.weight", "ln.weight")))
        ps.append(p(f"{m}.ln.bias", [h], hf("input_layernorm.bias", "ln.bias")))
        for suffix, shape, kind in (("weight", [rows, h], "linear"), ("bias", [rows], "other")):
            srcs = ([f"{m}.mixer.Wqkv.{suffix}"] if msft else
                    [f"{s}.self_attn.{n}.{suffix}" for n in ("q_proj", "k_proj", "v_proj")])
            ps.append(p(f"{m}.mixer.Wqkv.{suffix}", shape, None, kind, (0, [q, k, k]),
                        sources=srcs))
        ps.append(p(f"{m}.mixer.out_proj.weight", [h, nq * d],
                    hf("self_attn.dense.weight", "mixer.out_proj.weight"), "linear", (1, None)))
        ps.append(p(f"{m}.mixer.out_proj.bias", [h],
                    hf("self_attn.dense.bias", "mixer.out_proj.bias")))
        ps.append(p(f"{m}.mlp.fc1.weight", [inner, h], hf("mlp.fc1.weight", "mlp.fc1.weight"),
                    "linear", (0, None)))
        ps.append(p(f"{m}.mlp.fc1.bias", [inner], hf("mlp.fc1.bias", "mlp.fc1.bias"),
                    shard=(0, None)))
        ps.append(p(f"{m}.mlp.fc2.weight", [h, inner], hf("mlp.fc2.weight", "mlp.fc2.weight"),
                    "linear", (1, None)))
        ps.append(p(f"{m}.mlp.fc2.bias", [h], hf("mlp.fc2.bias", "mlp.fc2.bias")))
    if msft:
        ps += [p("lm_head.ln.weight", [h], "lm_head.ln.weight"),
               p("lm_head.ln.bias", [h], "lm_head.ln.bias"),
               p("lm_head.linear.weight", [None, h], "lm_head.linear.weight", "linear"),
               p("lm_head.linear.bias", [None], "lm_head.linear.bias")]
    return ps


# ---------------------------------------------------------------------------
# internlm2 (internlm2_model.py / internlm2_loader.py)
# ---------------------------------------------------------------------------

def _rope_theta(cfg, arch):
    if cfg.get("rope_theta") is None and (cfg.get("rope_parameters") or {}).get(
            "rope_theta") is None:
        raise ConvertError(f"config.json: missing required field 'rope_theta' for {arch}")


def _internlm2_wqkv(nq, nkv, h):
    """_convert_wqkv_layout: reshape to [-1, 2 + g, d, H], split into the
    g query heads, the key and the value of each group, each flattened to
    rows, concatenated q, k, v."""
    g = nq // nkv
    d = h // nq

    def combine(pieces):
        _, shape, _, values = pieces[0]
        cols = shape[1]
        groups = shape[0] // ((2 + g) * d)
        q, k, v = [], [], []
        for j in range(groups):
            for part in range(2 + g):
                target = q if part < g else (k if part == g else v)
                for r in range(d):
                    row = (j * (2 + g) + part) * d + r
                    target.extend(values[row * cols:(row + 1) * cols])
        return list(shape), q + k + v
    return combine


def internlm2_params(cfg, t, arch):
    ref._require(cfg, ["vocab_size", "hidden_size", "num_hidden_layers", "num_attention_heads",
                       "num_key_value_heads", "rms_norm_eps", "intermediate_size", "bias",
                       "use_cache", "pad_token_id", "bos_token_id", "eos_token_id"], arch)
    _rope_theta(cfg, arch)
    ref._context_window(cfg, arch)
    h, nq, nkv = cfg["hidden_size"], cfg["num_attention_heads"], cfg["num_key_value_heads"]
    inter, vocab, layers = cfg["intermediate_size"], cfg["vocab_size"], cfg["num_hidden_layers"]
    d = h // nq
    q = _div(nq, t, "num_attention_heads") * d
    k = _div(nkv, t, "num_key_value_heads") * d
    i = _div(inter, t, "intermediate_size")
    rows = (nq + 2 * nkv) * d
    bias = bool(cfg["bias"])
    ps = [Param("model.tok_embeddings.weight", [vocab, h], ["model.tok_embeddings.weight"],
                kind="embedding")]
    for layer in range(layers):
        p = f"model.layers.{layer}"
        ps.append(Param(f"{p}.attention.wqkv.weight", [rows, h], [f"{p}.attention.wqkv.weight"],
                        kind="linear", combine=_internlm2_wqkv(nq, nkv, h), shard=(0, [q, k, k])))
        if bias:  # copied as it is: the loader re-lays out only the weight
            ps.append(Param(f"{p}.attention.wqkv.bias", [rows], [f"{p}.attention.wqkv.bias"],
                            shard=(0, [q, k, k])))
        ps.append(Param(f"{p}.attention.wo.weight", [h, nq * d], [f"{p}.attention.wo.weight"],
                        kind="linear", shard=(1, None)))
        if bias:
            ps.append(Param(f"{p}.attention.wo.bias", [h], [f"{p}.attention.wo.bias"]))
        ff = f"{p}.feed_forward"
        ps.append(Param(f"{ff}.gate_up_proj.weight", [2 * inter, h],
                        [f"{ff}.w1.weight", f"{ff}.w3.weight"], kind="linear",
                        shard=(0, [i, i])))
        ps.append(Param(f"{ff}.w2.weight", [h, inter], [f"{ff}.w2.weight"], kind="linear",
                        shard=(1, None)))
        for n in ("attention_norm", "ffn_norm"):
            ps.append(Param(f"{p}.{n}.weight", [h], [f"{p}.{n}.weight"]))
    ps.append(Param("model.norm.weight", [h], ["model.norm.weight"]))
    # `output` is not one of the final-FC names of MLC's quantizer.
    ps.append(Param("output.weight", [vocab, h], ["output.weight"], kind="linear"))
    return ps


# ---------------------------------------------------------------------------
# qwen, Qwen-1 (qwen_model.py / qwen_loader.py: make_standard_hf_loader with
# layer_prefix transformer.h, no q/k/v fusion, gate_up_names (w1, w2))
# ---------------------------------------------------------------------------

def qwen1_params(cfg, t, arch):
    ref._require(cfg, ["vocab_size", "hidden_size", "num_hidden_layers", "num_attention_heads",
                       "layer_norm_epsilon", "scale_attn_weights", "kv_channels",
                       "rotary_emb_base", "intermediate_size"], arch)
    ref._context_window(cfg, arch)
    h, nq, inter = cfg["hidden_size"], cfg["num_attention_heads"], cfg["intermediate_size"]
    vocab, layers = cfg["vocab_size"], cfg["num_hidden_layers"]
    d = h // nq
    q = _div(nq, t, "num_attention_heads") * d
    i = _div(inter, t, "intermediate_size") // 2   # QWenMLP: gate_up is I/T wide
    ps = [Param("transformer.wte.weight", [vocab, h], ["transformer.wte.weight"],
                kind="embedding")]
    for layer in range(layers):
        p = f"transformer.h.{layer}"
        ps += [Param(f"{p}.attn.c_attn.weight", [3 * nq * d, h], [f"{p}.attn.c_attn.weight"],
                     kind="linear", shard=(0, [q, q, q])),
               Param(f"{p}.attn.c_attn.bias", [3 * nq * d], [f"{p}.attn.c_attn.bias"],
                     shard=(0, [q, q, q])),
               Param(f"{p}.attn.c_proj.weight", [h, nq * d], [f"{p}.attn.c_proj.weight"],
                     kind="linear", shard=(1, None)),
               Param(f"{p}.mlp.gate_up_proj.weight", [inter, h],
                     [f"{p}.mlp.w1.weight", f"{p}.mlp.w2.weight"], kind="linear",
                     shard=(0, [i, i])),
               Param(f"{p}.mlp.c_proj.weight", [h, inter // 2], [f"{p}.mlp.c_proj.weight"],
                     kind="linear", shard=(1, None)),
               Param(f"{p}.ln_1.weight", [h], [f"{p}.ln_1.weight"]),
               Param(f"{p}.ln_2.weight", [h], [f"{p}.ln_2.weight"])]
    ps.append(Param("transformer.ln_f.weight", [h], ["transformer.ln_f.weight"]))
    # Declared float32; Module.to casts every Linear weight to the model dtype.
    ps.append(Param("lm_head.weight", [vocab, h], ["lm_head.weight"], kind="linear"))
    return ps


# ---------------------------------------------------------------------------
# minicpm (minicpm_model.py / minicpm_loader.py)
# ---------------------------------------------------------------------------

def minicpm_params(cfg, t, arch):
    ref._require(cfg, ["vocab_size", "hidden_size", "num_hidden_layers", "num_attention_heads",
                       "num_key_value_heads", "hidden_act", "rms_norm_eps", "intermediate_size",
                       "scale_emb", "scale_depth", "dim_model_base", "use_cache",
                       "bos_token_id", "eos_token_id"], arch)
    ref._context_window(cfg, arch)
    h, nq, nkv = cfg["hidden_size"], cfg["num_attention_heads"], cfg["num_key_value_heads"]
    inter, vocab, layers = cfg["intermediate_size"], cfg["vocab_size"], cfg["num_hidden_layers"]
    e = cfg.get("num_experts", 0)
    if e == 0 and cfg["hidden_act"] not in ("gelu", "relu", "silu", "swish", "gelu_new"):
        raise ConvertError(f"config.json: hidden_act {cfg['hidden_act']!r} unknown to MiniCPM")
    d = h // nq
    q = _div(nq, t, "num_attention_heads") * d
    k = _div(nkv, t, "num_key_value_heads") * d
    i = _div(inter, t, "intermediate_size")
    ps = [Param("model.embed_tokens.weight", [vocab, h], ["model.embed_tokens.weight"],
                kind="embedding")]
    for layer in range(layers):
        p = f"model.layers.{layer}"
        a = f"{p}.self_attn"
        ps.append(Param(f"{a}.wqkv_pack.weight", [(nq + 2 * nkv) * d, h],
                        [f"{a}.q_proj.weight", f"{a}.k_proj.weight", f"{a}.v_proj.weight"],
                        kind="linear", shard=(0, [q, k, k])))
        ps.append(Param(f"{a}.o_proj.weight", [h, nq * d], [f"{a}.o_proj.weight"],
                        kind="linear", shard=(1, None)))
        mlp = f"{p}.mlp"
        if e == 0:
            ps.append(Param(f"{mlp}.gate_up_proj.weight", [2 * inter, h],
                            [f"{mlp}.gate_proj.weight", f"{mlp}.up_proj.weight"],
                            kind="linear", shard=(0, [i, i])))
            ps.append(Param(f"{mlp}.down_proj.weight", [h, inter], [f"{mlp}.down_proj.weight"],
                            kind="linear", shard=(1, None)))
        else:
            w1_w3 = []
            for j in range(e):
                w1_w3 += [f"{mlp}.experts.{j}.w1.weight", f"{mlp}.experts.{j}.w3.weight"]
            ps.append(Param(f"{mlp}.e1_e3.weight", [e, 2 * inter, h], w1_w3, kind="experts",
                            shard=(1, [i, i])))
            ps.append(Param(f"{mlp}.e2.weight", [e, h, inter],
                            [f"{mlp}.experts.{j}.w2.weight" for j in range(e)],
                            kind="experts", shard=(2, None)))
            ps.append(Param(f"{mlp}.gate.weight", [e, h], [f"{mlp}.gate.weight"],
                            kind="linear"))
        for n in ("input_layernorm", "post_attention_layernorm"):
            ps.append(Param(f"{p}.{n}.weight", [h], [f"{p}.{n}.weight"]))
    ps.append(Param("model.norm.weight", [h], ["model.norm.weight"]))
    if not cfg.get("tie_word_embeddings", False):
        ps.append(Param("lm_head.weight", [vocab, h], ["lm_head.weight"], kind="linear"))
    return ps


# ---------------------------------------------------------------------------
# chatglm (chatglm3/chatglm3_model.py / chatglm3_loader.py)
# ---------------------------------------------------------------------------

def chatglm_params(cfg, t, arch):
    ref._require(cfg, ["hidden_size", "num_layers", "kv_channels", "num_attention_heads",
                       "ffn_hidden_size", "layernorm_epsilon", "post_layer_norm", "rmsnorm",
                       "add_bias_linear", "add_qkv_bias", "apply_query_key_layer_scaling",
                       "multi_query_attention", "multi_query_group_num"], arch)
    if not any(cfg.get(k) for k in ("context_window_size", "max_position_embeddings",
                                    "seq_length")):
        raise ConvertError("config.json: no context window size for chatglm")
    linear_bias = bool(cfg["add_bias_linear"])
    if linear_bias:
        _no_preshard(t, arch, "dense.bias [hidden] is sharded on dim 0, "
                              "dense_4h_to_h.bias on dim 1")
    h, nq, f = cfg["hidden_size"], cfg["num_attention_heads"], cfg["ffn_hidden_size"]
    vocab = cfg.get("vocab_size") or cfg.get("padded_vocab_size")
    nkv = cfg["multi_query_group_num"] if cfg["multi_query_attention"] else nq
    d = h // nq
    q = _div(nq, t, "num_attention_heads") * d
    k = _div(nkv, t, "multi_query_group_num") * d
    _div(f, t, "ffn_hidden_size")
    rows = (nq + 2 * nkv) * d
    ps = [Param("transformer.embedding.weight", [vocab, h],
                ["transformer.embedding.word_embeddings.weight"], kind="embedding")]

    def copy(name, shape, kind="other", shard=None):
        return Param(name, shape, [name], kind=kind, shard=shard)

    for layer in range(cfg["num_layers"]):
        p = f"transformer.encoder.layers.{layer}"
        a = f"{p}.self_attention"
        ps.append(copy(f"{p}.input_layernorm.weight", [h]))
        ps.append(copy(f"{a}.query_key_value.weight", [rows, h], "linear", (0, [q, k, k])))
        if linear_bias or cfg["add_qkv_bias"]:
            ps.append(copy(f"{a}.query_key_value.bias", [rows], shard=(0, [q, k, k])))
        ps.append(copy(f"{a}.dense.weight", [h, nq * d], "linear", (1, None)))
        if linear_bias:
            ps.append(copy(f"{a}.dense.bias", [h]))
        ps.append(copy(f"{p}.mlp.dense_h_to_4h.weight", [2 * f, h], "linear", (0, None)))
        if linear_bias:
            ps.append(copy(f"{p}.mlp.dense_h_to_4h.bias", [2 * f]))
        ps.append(copy(f"{p}.mlp.dense_4h_to_h.weight", [h, f], "linear", (1, None)))
        if linear_bias:
            ps.append(copy(f"{p}.mlp.dense_4h_to_h.bias", [h]))
        ps.append(copy(f"{p}.post_attention_layernorm.weight", [h]))
    if cfg["post_layer_norm"]:
        ps.append(copy("transformer.encoder.final_layernorm.weight", [h]))
        if not cfg["rmsnorm"]:
            ps.append(copy("transformer.encoder.final_layernorm.bias", [h]))
    ps.append(copy("transformer.output_layer.weight", [vocab, h], "linear"))
    return ps


# ---------------------------------------------------------------------------
# gpt_neox (gpt_neox_model.py / gpt_neox_loader.py)
# ---------------------------------------------------------------------------

def _neox_qkv(nh):
    """transform_qkv_layout: reshape to [heads, 3 d, -1], split into 3 on
    axis 1 (q, k, v of each head), concatenate on axis 0."""
    def combine(pieces):
        _, shape, _, values = pieces[0]
        cols = 1 if len(shape) == 1 else shape[1]
        d = shape[0] // (3 * nh)
        out = []
        for part in range(3):
            for head in range(nh):
                for r in range(d):
                    row = head * 3 * d + part * d + r
                    out.extend(values[row * cols:(row + 1) * cols])
        return list(shape), out
    return combine


def gpt_neox_params(cfg, t, arch):
    ref._require(cfg, ["use_parallel_residual", "hidden_size", "intermediate_size",
                       "num_attention_heads", "num_hidden_layers", "layer_norm_eps",
                       "vocab_size"], arch)
    if "rotary_pct" not in cfg and "partial_rotary_factor" not in (
            cfg.get("rope_parameters") or {}):
        raise ConvertError("config.json: missing required field 'rotary_pct' for gpt_neox")
    ref._context_window(cfg, arch)
    h, nh, inter = cfg["hidden_size"], cfg["num_attention_heads"], cfg["intermediate_size"]
    d = h // nh
    q = _div(nh, t, "num_attention_heads") * d
    _div(inter, t, "intermediate_size")
    pre = "gpt_neox"

    def copy(name, shape, kind="other", shard=None, dtype=None, out_dtype=None):
        p = Param(name, shape, [name], kind=kind, shard=shard, out_dtype=out_dtype)
        p.dtype = dtype  # ffn_out_dtype: kept in float32 by Module.to
        return p

    ps = [copy(f"{pre}.embed_in.weight", [None, h], "embedding")]
    for layer in range(cfg["num_hidden_layers"]):
        p = f"{pre}.layers.{layer}"
        qkv = f"{p}.attention.query_key_value"
        ps.append(Param(f"{qkv}.weight", [3 * h, h], [f"{qkv}.weight"], kind="linear",
                        combine=_neox_qkv(nh), shard=(0, [q, q, q])))
        ps.append(Param(f"{qkv}.bias", [3 * h], [f"{qkv}.bias"], combine=_neox_qkv(nh),
                        shard=(0, [q, q, q])))
        for n in ("input_layernorm", "post_attention_layernorm"):
            ps += [copy(f"{p}.{n}.weight", [h]), copy(f"{p}.{n}.bias", [h])]
        ps += [copy(f"{p}.attention.dense.weight", [h, h], "linear", (1, None)),
               copy(f"{p}.attention.dense.bias", [h]),
               # the MLP's Linears have out_dtype ffn_out_dtype (float32)
               copy(f"{p}.mlp.dense_h_to_4h.weight", [inter, h], "linear", (0, None),
                    out_dtype="float32"),
               copy(f"{p}.mlp.dense_h_to_4h.bias", [inter], shard=(0, None),
                    dtype="float32"),
               copy(f"{p}.mlp.dense_4h_to_h.weight", [h, inter], "linear", (1, None),
                    out_dtype="float32"),
               copy(f"{p}.mlp.dense_4h_to_h.bias", [h], dtype="float32")]
    ps += [copy(f"{pre}.final_layer_norm.weight", [h]),
           copy(f"{pre}.final_layer_norm.bias", [h]),
           copy("embed_out.weight", [None, h], "linear")]
    return ps


# ---------------------------------------------------------------------------
# gptj (gpt_j_model.py: GPTJConfig, GPTJForCausalLM; gpt_j_loader.py:
# make_standard_hf_loader(layer_prefix="transformer.h", qkv_target_name=
# "c_attn", include_gate_up=False), with its attention named `attn` as the
# model and transformers name it (the loader's `self_attn` matches neither,
# so mlc_llm's own convert_weight raises a KeyError)
# ---------------------------------------------------------------------------

def gptj_params(cfg, t, arch):
    ref._require(cfg, ["vocab_size", "n_embd", "n_layer", "n_head",
                       "layer_norm_epsilon", "rotary_dim", "activation_function"], arch)
    if not any(cfg.get(k) for k in ("context_window_size", "max_position_embeddings",
                                    "n_positions")):
        raise ConvertError("config.json: no context window size for gptj")
    if cfg["activation_function"] not in ("gelu", "relu", "silu", "swish", "gelu_new"):
        raise ConvertError(f"config.json: ACT2FN has no {cfg['activation_function']}")
    h, v = cfg["n_embd"], cfg["vocab_size"]
    head_dim = cfg.get("head_dim") or h // cfg["n_head"]
    if head_dim * cfg["n_head"] != h:
        raise ConvertError("config.json: head_dim * n_head != n_embd (gptj)")
    inner = 4 * h if cfg.get("n_inner") is None else cfg["n_inner"]
    # GPTJAttention: c_attn Linear(n_embd, 3 n_embd) and GPTJMLP's Linears
    # keep their full sizes for any shard count, while _set_tp gives c_attn
    # segments [q, k, v] of n_head / shards heads each (sum 3 n_embd /
    # shards: ShardSingleDim's assert fails) and splits fc_in / fc_out.
    _no_preshard(t, arch, "c_attn segments [q, k, v] add up to 3 n_embd / shards "
                          "but the parameter keeps 3 n_embd rows")

    def copy(name, shape, kind="other"):
        return Param(name, shape, [name], kind=kind)

    # Every parameter in the model's dtype: Module.to converts lm_head's
    # declared float32 too.
    ps = [copy("transformer.wte.weight", [v, h], "embedding")]
    for layer in range(cfg["n_layer"]):
        p = f"transformer.h.{layer}"
        ps += [copy(f"{p}.ln_1.weight", [h]), copy(f"{p}.ln_1.bias", [h]),
               Param(f"{p}.attn.c_attn.weight", [3 * h, h],
                     [f"{p}.attn.{n}.weight" for n in ("q_proj", "k_proj", "v_proj")],
                     kind="linear"),
               copy(f"{p}.attn.out_proj.weight", [h, h], "linear"),
               copy(f"{p}.mlp.fc_in.weight", [inner, h], "linear"),
               copy(f"{p}.mlp.fc_in.bias", [inner]),
               copy(f"{p}.mlp.fc_out.weight", [h, inner], "linear"),
               copy(f"{p}.mlp.fc_out.bias", [h])]
    ps += [copy("transformer.ln_f.weight", [h]), copy("transformer.ln_f.bias", [h]),
           copy("lm_head.weight", [v, h], "linear"), copy("lm_head.bias", [v])]
    return ps


def _unused_gpt_neox(name):
    parts = name.split(".")
    return (len(parts) >= 5 and parts[:2] == ["gpt_neox", "layers"]
            and parts[3] == "attention"
            and ".".join(parts[4:]) in ("rotary_emb.inv_freq", "masked_bias", "bias"))


def _unused_phi(name):
    parts = name.split(".")
    return (len(parts) == 6 and parts[:2] == ["model", "layers"]
            and parts[3:] == ["mixer", "rotary_emb", "inv_freq"])


def _unused_none(name):
    return False


# model_type -> (param table builder, unused-name predicate, accepts per-tensor fp8)
ARCHITECTURES = {
    "phi": (phi_params, _unused_phi, False),
    "phi-msft": (phi_params, _unused_none, False),
    "internlm2": (internlm2_params, _unused_none, False),
    "qwen": (qwen1_params, _unused_none, False),
    "minicpm": (minicpm_params, _unused_none, False),
    "chatglm": (chatglm_params, _unused_none, False),
    "gpt_neox": (gpt_neox_params, _unused_gpt_neox, False),
    # the loader marks nothing unused: attn.bias / masked_bias are counted
    "gptj": (gptj_params, _unused_none, False),
}

# phi-msft configs also name PhiForCausalLM: found by model_type only.
HF_ARCHITECTURE_NAMES = {"PhiForCausalLM": "phi", "InternLM2ForCausalLM": "internlm2",
                         "QWenLMHeadModel": "qwen", "MiniCPMForCausalLM": "minicpm",
                         "ChatGLMModel": "chatglm", "GPTNeoXForCausalLM": "gpt_neox",
                         "GPTJForCausalLM": "gptj"}
