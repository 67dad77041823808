"""Model tables of the issue-16 group A architectures for mlc_reference.py,
written from mlc-llm's sources at mlc-ai/mlc-llm 79d603f0 (never from
quant-opt's C++): phi and phi-msft (phi/phi_model.py, phi_loader.py),
internlm2, qwen (Qwen-1), minicpm, chatglm and gpt_neox, each restating the
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
}

# phi-msft configs also name PhiForCausalLM: found by model_type only.
HF_ARCHITECTURE_NAMES = {"PhiForCausalLM": "phi"}
