"""Hugging Face checkpoints of issue 16's remaining model types for
make_checkpoint.py, as the Hub's checkpoints name them.

qwen3-embedding: Qwen/Qwen3-Embedding-* are saved from transformers' bare
Qwen3Model, so every tensor of a Qwen3ForCausalLM checkpoint is there without
its leading `model.` (`embed_tokens.weight`, `layers.0.self_attn.q_proj.weight`,
`norm.weight`); config.json keeps model_type `qwen3`. An untied `lm_head.weight`
(not in the Hub's tied checkpoints) keeps its name.

rwkv5 / rwkv6: RWKV/rwkv-5-world-* and RWKV/v6-Finch-*-HF, written by their
remote modeling code (modeling_rwkv5.py / modeling_rwkv6.py, classes
Rwkv5ForCausalLM / Rwkv6ForCausalLM): `rwkv.embeddings.weight`,
`rwkv.blocks.N.{pre_ln (layer 0 only), ln1, ln2}.{weight,bias}`,
`rwkv.blocks.N.attention.*` (rwkv5: time_decay and time_faaaa [heads,
head_size], time_mix_{gate,key,value,receptance} [1, 1, H]; rwkv6:
time_maa_{x,w,k,v,r,g} [1, 1, H], time_maa_w1 [H, 5 * 32], time_maa_w2
[5, 32, H], time_decay [1, 1, H], time_decay_w1 [H, 64], time_decay_w2
[64, H], time_faaaa [heads, head_size]; both: key, value, receptance, gate,
output [H, H] and the GroupNorm ln_x.{weight,bias} [H]),
`rwkv.blocks.N.feed_forward.*` (time_mix_key / time_mix_receptance, rwkv6
time_maa_k / time_maa_r, [1, 1, H]; key [I, H], receptance [H, H], value
[H, I]), `rwkv.ln_out.{weight,bias}`, `head.weight` [V, H]. --head-dim is
head_size (default 16), --intermediate I (rwkv6: H / 2 * 7 as its checkpoints
have it). config.json as the Hub has it: model_type, architectures,
attention_hidden_size, head_size, intermediate_size (rwkv5: null unless
given), model_version "5_2" (rwkv5), rescale_every (2 here),
layer_norm_epsilon, and `torch_dtype` (or, with --t5, transformers 5's
`dtype`).

Values (rwkv only): the rescaled weights (layer >= rescale_every) start with
values whose division by 2**t is subnormal, a rounding tie, or underflows
to zero in float16 and bfloat16 (bf16/f32 checkpoints: also values that
become float16 subnormals when cast, then round again when divided); rwkv5's time_decay spans exp's whole range (0 and 1
results, subnormal float32 results, overflow to inf).
"""

import copy

ARCHES = ("qwen3-embedding", "rwkv5", "rwkv6")
RWKV = ("rwkv5", "rwkv6")

# float16 / bfloat16 values whose halving or quartering rounds: the smallest
# subnormal (a tie to 0), 3 of them (a tie to 2), the smallest normal (to a
# subnormal), normals with their last bits set (ties among subnormals).
_F16_SPECIAL = [2.0 ** -24, 3 * 2.0 ** -24, 2.0 ** -14, (1 + 2.0 ** -10) * 2.0 ** -14,
                (1 + 3 * 2.0 ** -10) * 2.0 ** -14, -3 * 2.0 ** -24, -2.0 ** -14, 61440.0]
_BF16_SPECIAL = [2.0 ** -133, 3 * 2.0 ** -133, 2.0 ** -126, (1 + 2.0 ** -7) * 2.0 ** -126,
                 (1 + 3 * 2.0 ** -7) * 2.0 ** -126, 7e-6, -6.2e-5, 3e-7]
# rwkv5 time_decay: exp(-exp(x)) of 1 (x = -104), of 0 (x >= 4.7: exp(x) >=
# 104), a float32 subnormal (x = 4.6), inf inside (x = 88.8), and ordinary
# values.
_TIME_DECAY_SPECIAL = [-104.0, 4.7, 4.6, 4.55, 88.8, 0.0, -20.0, 1.0, 2.5, -8.0]


def _as_qwen3(a):
    b = copy.copy(a)
    b.arch = "qwen3"
    return b


def _rwkv_shapes(a):
    h, v, v6 = a.hidden, a.vocab, a.arch == "rwkv6"
    hs = a.head_dim or 16
    heads = h // hs
    inter = h // 2 * 7 if v6 else (a.intermediate or int(h * 3.5) // 32 * 32)
    s = {"rwkv.embeddings.weight": [v, h], "rwkv.ln_out.weight": [h],
         "rwkv.ln_out.bias": [h], "head.weight": [v, h]}
    for l in range(a.layers):
        p = "rwkv.blocks.%d." % l
        lns = ["ln1", "ln2"] + (["pre_ln"] if l == 0 else [])
        for n in lns:
            s[p + n + ".weight"] = [h]
            s[p + n + ".bias"] = [h]
        at = p + "attention."
        if v6:
            for x in "xwkvrg":
                s[at + "time_maa_" + x] = [1, 1, h]
            s.update({at + "time_maa_w1": [h, 5 * 32], at + "time_maa_w2": [5, 32, h],
                      at + "time_decay": [1, 1, h], at + "time_decay_w1": [h, 64],
                      at + "time_decay_w2": [64, h]})
        else:
            s[at + "time_decay"] = [heads, hs]
            for x in ("gate", "key", "value", "receptance"):
                s[at + "time_mix_" + x] = [1, 1, h]
        s[at + "time_faaaa"] = [heads, hs]
        for x in ("key", "value", "receptance", "gate", "output"):
            s[at + x + ".weight"] = [h, h]
        s[at + "ln_x.weight"] = [h]
        s[at + "ln_x.bias"] = [h]
        ff = p + "feed_forward."
        for x in (("time_maa_k", "time_maa_r") if v6 else
                  ("time_mix_key", "time_mix_receptance")):
            s[ff + x] = [1, 1, h]
        s[ff + "key.weight"] = [inter, h]
        s[ff + "receptance.weight"] = [h, h]
        s[ff + "value.weight"] = [h, inter]
    return s


def _rwkv_config(a):
    h, v6 = a.hidden, a.arch == "rwkv6"
    dtype = {"F16": "float16", "BF16": "bfloat16", "F32": "float32"}[a.dtype]
    c = {"architectures": ["Rwkv6ForCausalLM" if v6 else "Rwkv5ForCausalLM"],
         "model_type": a.arch, "attention_hidden_size": h, "hidden_size": h,
         "head_size": a.head_dim or 16, "num_hidden_layers": a.layers,
         "vocab_size": a.vocab, "layer_norm_epsilon": 1e-5, "rescale_every": 2,
         "bos_token_id": 0, "eos_token_id": 0, "context_length": 4096,
         "tie_word_embeddings": False, "use_cache": True}
    if v6:
        c.update({"intermediate_size": h // 2 * 7, "head_size_divisor": 8})
    else:
        c.update({"intermediate_size": a.intermediate or None, "model_version": "5_2"})
    c["dtype" if a.t5 else "torch_dtype"] = dtype
    return c


def hf_shapes(a, base_shapes):
    """{name: shape}; base_shapes is make_checkpoint.hf_shapes."""
    if a.arch in RWKV:
        return _rwkv_shapes(a)
    shapes = base_shapes(_as_qwen3(a))
    return {(n[len("model."):] if n.startswith("model.") else n): s
            for n, s in shapes.items()}


def hf_config(a, base_config):
    """config.json; base_config is make_checkpoint.hf_config."""
    if a.arch in RWKV:
        return _rwkv_config(a)
    return base_config(_as_qwen3(a))


def values(a, name, vals, rng):
    """The values make_checkpoint writes for tensor `name` (see above)."""
    if a.arch not in RWKV:
        return vals
    parts = name.split(".")
    if name.endswith("attention.time_decay") and a.arch == "rwkv5":
        vals = [rng.uniform(-9.0, 3.0) for _ in vals]
        vals[:len(_TIME_DECAY_SPECIAL)] = _TIME_DECAY_SPECIAL
        return vals
    if name.endswith(("attention.output.weight", "feed_forward.value.weight")) \
            and int(parts[2]) >= 2:
        special = list(_F16_SPECIAL)
        if a.dtype != "F16":
            special += _BF16_SPECIAL
        vals[:len(special)] = special
    return vals
