#!/usr/bin/env python3
"""Deliberately simple reference implementation of `mlc_llm convert_weight`.

This is the test oracle for quant-opt's byte-identity tests. It was written
only from the project's fact sheets (tensor-cache.md, mlc-quantization.md,
mlc-models.md, source-formats.md sections 1 and 1.6) and shares no code with
the C++ implementation. It uses the Python standard library only.

Usage:
  python3 mlc_reference.py MODEL_DIR --quantization MODE -o OUT_DIR
      [--rounding even|away] [--tensor-parallel-shards N]

Everything is done element by element with plain Python floats (IEEE
doubles). Every floating-point result that the real converter computes in a
narrower type (float16, bfloat16, float32) is rounded to that type right
after the operation, exactly as the sheets describe.
"""

import argparse
import copy
import hashlib
import json
import math
import os
import struct
import sys

# Sections 1, 2, 4 and 7 live in their own modules; every name is
# re-exported here, so `import mlc_reference as ref` sees them all.
from mlc_numerics import *  # noqa: E402,F401,F403
from mlc_checkpoints import *  # noqa: E402,F401,F403
from mlc_quantization import *  # noqa: E402,F401,F403
from mlc_tensor_cache import *  # noqa: E402,F401,F403


# ===========================================================================
# 3. Model tables (mlc-models.md 2): MLC params and their HF sources
# ===========================================================================

class Param:
    """One MLC parameter.

    name:    MLC name
    shape:   full shape; None for a symbolic dim taken from the source
    sources: HF tensor names
    combine: 'concat' (flat concatenation = concat/stack along leading axes),
             'transpose' (2-D), 'plus_one' (Gemma norms: x + 1 in source dtype)
             or a function of the loaded pieces (mlc_archs.py)
    kind:    'linear', 'embedding', 'experts' or 'other'
    shard:   None or (dim, per-shard segment lengths or None)
    out_dtype: a linear's nn.Linear out_dtype (None: the model dtype);
             only q4f16_ft looks at it (mlc_ft.py)
    """

    def __init__(self, name, shape, sources, kind="other", combine="concat",
                 shard=None, out_dtype=None):
        self.name = name
        self.shape = shape
        self.sources = sources
        self.kind = kind
        self.combine = combine
        self.shard = shard
        self.out_dtype = out_dtype


def _require(cfg, keys, arch):
    for key in keys:
        if key not in cfg or cfg[key] is None:
            raise ConvertError(f"config.json: missing required field '{key}' for {arch}")


def _context_window(cfg, arch):
    for key in ("context_window_size", "max_position_embeddings", "max_sequence_length"):
        if cfg.get(key):
            return cfg[key]
    raise ConvertError(f"config.json: no context window size for {arch}")


def _divisible(value, t, what):
    if value % t != 0:
        raise ConvertError(f"{what} ({value}) is not divisible by tensor_parallel_shards {t}")
    return value // t


def _attention_dims(cfg, t, nkv_key="num_key_value_heads"):
    h = cfg["hidden_size"]
    nq = cfg["num_attention_heads"]
    nkv = cfg.get(nkv_key) or nq
    d = cfg.get("head_dim") or h // nq
    q = _divisible(nq, t, "num_attention_heads") * d
    k = _divisible(nkv, t, "num_key_value_heads") * d
    return h, nq, nkv, d, [q, k, k]


def llama_like_params(cfg, t, arch):
    """llama, mistral, mixtral, gemma, gemma2."""
    if arch in ("gemma", "gemma2"):
        _require(cfg, ["hidden_size", "intermediate_size", "num_attention_heads",
                       "num_key_value_heads", "head_dim", "num_hidden_layers",
                       "rms_norm_eps", "vocab_size"], arch)
        if cfg.get("attention_bias"):
            raise ConvertError("config.json: gemma requires attention_bias = false")
    else:
        _require(cfg, ["hidden_size", "intermediate_size", "num_attention_heads",
                       "num_hidden_layers", "rms_norm_eps", "vocab_size"], arch)
    _context_window(cfg, arch)
    h, nq, nkv, d, qkv_segs = _attention_dims(cfg, t)
    inter = cfg["intermediate_size"]
    i_shard = _divisible(inter, t, "intermediate_size")
    vocab = cfg["vocab_size"]
    norm = "plus_one" if arch in ("gemma", "gemma2") else "concat"
    if arch in ("gemma", "gemma2"):
        tied = True
    elif arch == "mistral":
        tied = False
    else:
        tied = bool(cfg.get("tie_word_embeddings", False))

    ps = [Param("model.embed_tokens.weight", [None, h], ["model.embed_tokens.weight"],
                kind="embedding")]
    for layer in range(cfg["num_hidden_layers"]):
        p = f"model.layers.{layer}"
        ps.append(Param(f"{p}.self_attn.qkv_proj.weight", [(nq + 2 * nkv) * d, h],
                        [f"{p}.self_attn.q_proj.weight", f"{p}.self_attn.k_proj.weight",
                         f"{p}.self_attn.v_proj.weight"],
                        kind="linear", shard=(0, qkv_segs)))
        ps.append(Param(f"{p}.self_attn.o_proj.weight", [h, nq * d],
                        [f"{p}.self_attn.o_proj.weight"], kind="linear", shard=(1, None)))
        if arch == "mixtral":
            _require(cfg, ["num_local_experts", "num_experts_per_tok"], arch)
            e = cfg["num_local_experts"]
            experts = f"{p}.block_sparse_moe.experts"
            ps.append(Param(f"{p}.moe.gate.weight", [e, h],
                            [f"{p}.block_sparse_moe.gate.weight"], kind="linear"))
            w1_w3 = []
            for j in range(e):
                w1_w3 += [f"{experts}.{j}.w1.weight", f"{experts}.{j}.w3.weight"]
            ps.append(Param(f"{p}.moe.e1_e3.weight", [e, 2 * inter, h], w1_w3,
                            kind="experts", shard=(1, [i_shard, i_shard])))
            ps.append(Param(f"{p}.moe.e2.weight", [e, h, inter],
                            [f"{experts}.{j}.w2.weight" for j in range(e)],
                            kind="experts", shard=(2, None)))
        else:
            ps.append(Param(f"{p}.mlp.gate_up_proj.weight", [2 * inter, h],
                            [f"{p}.mlp.gate_proj.weight", f"{p}.mlp.up_proj.weight"],
                            kind="linear", shard=(0, [i_shard, i_shard])))
            ps.append(Param(f"{p}.mlp.down_proj.weight", [h, inter],
                            [f"{p}.mlp.down_proj.weight"], kind="linear", shard=(1, None)))
        norms = ["input_layernorm", "post_attention_layernorm"]
        if arch == "gemma2":
            norms += ["pre_feedforward_layernorm", "post_feedforward_layernorm"]
        for n in norms:
            ps.append(Param(f"{p}.{n}.weight", [h], [f"{p}.{n}.weight"], combine=norm))
    ps.append(Param("model.norm.weight", [h], ["model.norm.weight"], combine=norm))
    if not tied:
        ps.append(Param("lm_head.weight", [vocab, h], ["lm_head.weight"], kind="linear"))
    return ps


def qwen_params(cfg, t, arch):
    """qwen2 and qwen3."""
    required = ["hidden_act", "hidden_size", "intermediate_size", "num_attention_heads",
                "num_hidden_layers", "num_key_value_heads", "rms_norm_eps", "vocab_size"]
    if arch == "qwen3":
        required.append("attention_bias")
    _require(cfg, required, arch)
    _context_window(cfg, arch)
    h, nq, nkv, d, qkv_segs = _attention_dims(cfg, t)
    inter = cfg["intermediate_size"]
    i_shard = _divisible(inter, t, "intermediate_size")
    vocab = cfg["vocab_size"]
    qkv_bias = arch == "qwen2" or bool(cfg.get("attention_bias"))
    ps = [Param("model.embed_tokens.weight", [vocab, h], ["model.embed_tokens.weight"],
                kind="embedding")]
    for layer in range(cfg["num_hidden_layers"]):
        p = f"model.layers.{layer}"
        a = f"{p}.self_attn"
        ps.append(Param(f"{a}.c_attn.weight", [(nq + 2 * nkv) * d, h],
                        [f"{a}.q_proj.weight", f"{a}.k_proj.weight", f"{a}.v_proj.weight"],
                        kind="linear", shard=(0, qkv_segs)))
        if qkv_bias:
            ps.append(Param(f"{a}.c_attn.bias", [(nq + 2 * nkv) * d],
                            [f"{a}.q_proj.bias", f"{a}.k_proj.bias", f"{a}.v_proj.bias"],
                            shard=(0, qkv_segs)))
        ps.append(Param(f"{a}.o_proj.weight", [h, nq * d], [f"{a}.o_proj.weight"],
                        kind="linear", shard=(1, None)))
        if arch == "qwen3" and cfg.get("attention_bias"):
            ps.append(Param(f"{a}.o_proj.bias", [h], [f"{a}.o_proj.bias"]))
        if arch == "qwen3":
            ps.append(Param(f"{a}.q_norm.weight", [d], [f"{a}.q_norm.weight"]))
            ps.append(Param(f"{a}.k_norm.weight", [d], [f"{a}.k_norm.weight"]))
        ps.append(Param(f"{p}.mlp.gate_up_proj.weight", [2 * inter, h],
                        [f"{p}.mlp.gate_proj.weight", f"{p}.mlp.up_proj.weight"],
                        kind="linear", shard=(0, [i_shard, i_shard])))
        ps.append(Param(f"{p}.mlp.down_proj.weight", [h, inter],
                        [f"{p}.mlp.down_proj.weight"], kind="linear", shard=(1, None)))
        for n in ("input_layernorm", "post_attention_layernorm"):
            ps.append(Param(f"{p}.{n}.weight", [h], [f"{p}.{n}.weight"]))
    ps.append(Param("model.norm.weight", [h], ["model.norm.weight"]))
    if not cfg.get("tie_word_embeddings", False):
        ps.append(Param("lm_head.weight", [vocab, h], ["lm_head.weight"], kind="linear"))
    return ps


def phi3_params(cfg, t, arch):
    _require(cfg, ["model_type", "hidden_size", "vocab_size", "num_hidden_layers",
                   "num_attention_heads", "intermediate_size", "rms_norm_eps",
                   "num_key_value_heads", "max_position_embeddings"], arch)
    h, nq, nkv, d, qkv_segs = _attention_dims(cfg, t)
    inter = cfg["intermediate_size"]
    i_shard = _divisible(inter, t, "intermediate_size")
    vocab = cfg["vocab_size"]
    ps = [Param("transformer.embd.weight", [vocab, h], ["model.embed_tokens.weight"],
                kind="embedding")]
    for layer in range(cfg["num_hidden_layers"]):
        p = f"transformer.h.{layer}"
        s = f"model.layers.{layer}"
        ps.append(Param(f"{p}.ln.weight", [h], [f"{s}.input_layernorm.weight"]))
        ps.append(Param(f"{p}.mixer.qkv_proj.weight", [(nq + 2 * nkv) * d, h],
                        [f"{s}.self_attn.qkv_proj.weight"], kind="linear",
                        shard=(0, qkv_segs)))
        ps.append(Param(f"{p}.mixer.out_proj.weight", [h, nq * d],
                        [f"{s}.self_attn.o_proj.weight"], kind="linear", shard=(1, None)))
        ps.append(Param(f"{p}.mlp.gate_up_proj.weight", [2 * inter, h],
                        [f"{s}.mlp.gate_up_proj.weight"], kind="linear",
                        shard=(0, [i_shard, i_shard])))
        ps.append(Param(f"{p}.mlp.down_proj.weight", [h, inter],
                        [f"{s}.mlp.down_proj.weight"], kind="linear", shard=(1, None)))
        ps.append(Param(f"{p}.post_attention_layernorm.weight", [h],
                        [f"{s}.post_attention_layernorm.weight"]))
    ps.append(Param("transformer.norm.weight", [h], ["model.norm.weight"]))
    if not cfg.get("tie_word_embeddings", False):
        ps.append(Param("lm_head.weight", [vocab, h], ["lm_head.weight"], kind="linear"))
    return ps


def starcoder2_params(cfg, t, arch):
    _require(cfg, ["vocab_size", "hidden_size", "num_hidden_layers", "num_attention_heads",
                   "num_key_value_heads", "hidden_act", "norm_epsilon", "intermediate_size",
                   "use_bias", "use_cache", "bos_token_id", "eos_token_id"], arch)
    _context_window(cfg, arch)
    h, nq, nkv, d, qkv_segs = _attention_dims(cfg, t)
    inter = cfg["intermediate_size"]
    _divisible(inter, t, "intermediate_size")
    vocab = cfg["vocab_size"]
    bias = bool(cfg["use_bias"])
    ps = [Param("lm_head.weight", [vocab, h], ["model.embed_tokens.weight"], kind="linear"),
          Param("model.embed_tokens.weight", [vocab, h], ["model.embed_tokens.weight"],
                kind="embedding")]
    for layer in range(cfg["num_hidden_layers"]):
        p = f"model.layers.{layer}"
        a = f"{p}.self_attn"
        ps.append(Param(f"{a}.wqkv_pack.weight", [(nq + 2 * nkv) * d, h],
                        [f"{a}.q_proj.weight", f"{a}.k_proj.weight", f"{a}.v_proj.weight"],
                        kind="linear", shard=(0, qkv_segs)))
        if bias:
            ps.append(Param(f"{a}.wqkv_pack.bias", [(nq + 2 * nkv) * d],
                            [f"{a}.q_proj.bias", f"{a}.k_proj.bias", f"{a}.v_proj.bias"],
                            shard=(0, qkv_segs)))
        ps.append(Param(f"{a}.o_proj.weight", [h, nq * d], [f"{a}.o_proj.weight"],
                        kind="linear", shard=(1, None)))
        if bias:
            ps.append(Param(f"{a}.o_proj.bias", [h], [f"{a}.o_proj.bias"]))
        ps.append(Param(f"{p}.mlp.c_fc.weight", [inter, h], [f"{p}.mlp.c_fc.weight"],
                        kind="linear", shard=(0, None)))
        if bias:
            ps.append(Param(f"{p}.mlp.c_fc.bias", [inter], [f"{p}.mlp.c_fc.bias"],
                            shard=(0, None)))
        ps.append(Param(f"{p}.mlp.c_proj.weight", [h, inter], [f"{p}.mlp.c_proj.weight"],
                        kind="linear", shard=(1, None)))
        if bias:
            # mlc-models.md 4 lists c_proj.bias with dim 0; reproduced as written.
            ps.append(Param(f"{p}.mlp.c_proj.bias", [h], [f"{p}.mlp.c_proj.bias"],
                            shard=(0, None)))
        for n in ("input_layernorm", "post_attention_layernorm"):
            ps.append(Param(f"{p}.{n}.weight", [h], [f"{p}.{n}.weight"]))
            ps.append(Param(f"{p}.{n}.bias", [h], [f"{p}.{n}.bias"]))
    ps.append(Param("model.norm.weight", [h], ["model.norm.weight"]))
    ps.append(Param("model.norm.bias", [h], ["model.norm.bias"]))
    return ps


def gpt2_params(cfg, t, arch):
    _require(cfg, ["vocab_size", "n_embd", "n_layer", "n_head", "layer_norm_epsilon"], arch)
    h = cfg["n_embd"]
    n_head = cfg["n_head"]
    inner = cfg.get("n_inner") or 4 * h
    context = cfg.get("context_window_size") or cfg.get("n_positions")
    if not context:
        raise ConvertError("config.json: no context window size (n_positions) for gpt2")
    d = h // n_head
    q = _divisible(n_head, t, "n_head") * d
    _divisible(inner, t, "n_inner")
    vocab = cfg["vocab_size"]
    ps = [Param("lm_head.weight", [vocab, h], ["wte.weight"], kind="linear"),
          Param("transformer.wte.weight", [vocab, h], ["wte.weight"], kind="embedding"),
          Param("transformer.wpe.weight", [context, h], ["wpe.weight"], kind="embedding")]
    for layer in range(cfg["n_layer"]):
        m = f"transformer.h.{layer}"
        s = f"h.{layer}"
        for n in ("ln_1", "ln_2"):
            ps.append(Param(f"{m}.{n}.weight", [h], [f"{s}.{n}.weight"]))
            ps.append(Param(f"{m}.{n}.bias", [h], [f"{s}.{n}.bias"]))
        ps.append(Param(f"{m}.attn.c_attn.weight", [3 * h, h], [f"{s}.attn.c_attn.weight"],
                        kind="linear", combine="transpose", shard=(0, [q, q, q])))
        ps.append(Param(f"{m}.attn.c_attn.bias", [3 * h], [f"{s}.attn.c_attn.bias"],
                        shard=(0, [q, q, q])))
        ps.append(Param(f"{m}.attn.c_proj.weight", [h, h], [f"{s}.attn.c_proj.weight"],
                        kind="linear", combine="transpose", shard=(1, None)))
        ps.append(Param(f"{m}.attn.c_proj.bias", [h], [f"{s}.attn.c_proj.bias"]))
        ps.append(Param(f"{m}.mlp.c_fc.weight", [inner, h], [f"{s}.mlp.c_fc.weight"],
                        kind="linear", combine="transpose", shard=(0, None)))
        ps.append(Param(f"{m}.mlp.c_fc.bias", [inner], [f"{s}.mlp.c_fc.bias"],
                        shard=(0, None)))
        ps.append(Param(f"{m}.mlp.c_proj.weight", [h, inner], [f"{s}.mlp.c_proj.weight"],
                        kind="linear", combine="transpose", shard=(1, None)))
        ps.append(Param(f"{m}.mlp.c_proj.bias", [h], [f"{s}.mlp.c_proj.bias"]))
    ps.append(Param("transformer.ln_f.weight", [h], ["ln_f.weight"]))
    ps.append(Param("transformer.ln_f.bias", [h], ["ln_f.bias"]))
    return ps


def _unused_inv_freq(name):
    return name.endswith("rotary_emb.inv_freq")


def _unused_gpt2(name):
    parts = name.split(".")
    return len(parts) == 4 and parts[0] == "h" and parts[2:] == ["attn", "bias"]


def _unused_none(name):
    return False


# model_type -> (param table builder, unused-name predicate, accepts per-tensor fp8)
ARCHITECTURES = {
    "llama": (llama_like_params, _unused_inv_freq, True),
    "mistral": (llama_like_params, _unused_inv_freq, False),
    "mixtral": (llama_like_params, _unused_inv_freq, True),
    "gemma": (llama_like_params, _unused_none, False),
    "gemma2": (llama_like_params, _unused_none, False),
    "qwen2": (qwen_params, _unused_inv_freq, False),
    "qwen3": (qwen_params, _unused_none, False),
    "phi3": (phi3_params, _unused_none, False),
    "starcoder2": (starcoder2_params, _unused_none, False),
    "gpt2": (gpt2_params, _unused_gpt2, False),
}

HF_ARCHITECTURE_NAMES = {
    "LlamaForCausalLM": "llama", "MistralForCausalLM": "mistral",
    "MixtralForCausalLM": "mixtral", "GemmaForCausalLM": "gemma",
    "Gemma2ForCausalLM": "gemma2", "Qwen2ForCausalLM": "qwen2",
    "Qwen3ForCausalLM": "qwen3", "Phi3ForCausalLM": "phi3",
    "Starcoder2ForCausalLM": "starcoder2", "GPT2LMHeadModel": "gpt2",
}


# The architectures added from mlc-llm's own sources live in mlc_archs.py;
# it reads this module's helpers under the name `mlc_reference`, also when
# this file runs as a script.
sys.modules.setdefault("mlc_reference", sys.modules[__name__])
import mlc_archs  # noqa: E402

ARCHITECTURES.update(mlc_archs.ARCHITECTURES)
HF_ARCHITECTURE_NAMES.update(mlc_archs.HF_ARCHITECTURE_NAMES)

# Issue 16, group A (phi, phi-msft, internlm2, qwen, minicpm, chatglm,
# gpt_neox): mlc_archs_more.py.
import mlc_archs_more  # noqa: E402

ARCHITECTURES.update(mlc_archs_more.ARCHITECTURES)
HF_ARCHITECTURE_NAMES.update(mlc_archs_more.HF_ARCHITECTURE_NAMES)

# Issue 16's group B (ministral3, llama4, ...) lives in mlc_archs_new.py.
import mlc_archs_new  # noqa: E402

ARCHITECTURES.update(mlc_archs_new.ARCHITECTURES)
HF_ARCHITECTURE_NAMES.update(mlc_archs_new.HF_ARCHITECTURE_NAMES)

# Issue 16, the remaining types (qwen3-embedding): mlc_archs_rwkv.py.
import mlc_archs_rwkv  # noqa: E402

ARCHITECTURES.update(mlc_archs_rwkv.ARCHITECTURES)


def detect_architecture(cfg):
    model_type = cfg.get("model_type")
    if model_type in ARCHITECTURES:
        return model_type
    for name in cfg.get("architectures") or []:
        if name in HF_ARCHITECTURE_NAMES:
            return HF_ARCHITECTURE_NAMES[name]
    raise ConvertError(f"config.json: unsupported model_type {model_type!r}")


# ===========================================================================
# 5. Presharding (mlc-models.md 4)
# ===========================================================================

def shard_tensor(t, dim, segs, shards, what):
    """Split t along `dim` into `shards` pieces; segs are per-shard segment
    lengths (None = one segment). Returns the list of shard tensors."""
    n = t.shape[dim]
    if segs is None:
        segs = [_divisible(n, shards, f"{what}: dimension {dim}")]
    if sum(segs) * shards != n:
        raise ConvertError(f"{what}: dimension {dim} of size {n} cannot be split into "
                           f"{shards} shards of segments {segs}")
    outer = numel(t.shape[:dim])
    inner = numel(t.shape[dim + 1:])
    result = []
    for s in range(shards):
        values = []
        for o in range(outer):
            offset = 0
            for seg in segs:
                for r in range(offset + s * seg, offset + (s + 1) * seg):
                    start = (o * n + r) * inner
                    values.extend(t.values[start:start + inner])
                offset += seg * shards
        shape = list(t.shape)
        shape[dim] = sum(segs)
        result.append(Tensor(shape, t.dtype, values))
    return result


# ===========================================================================
# 6. The conversion: load, map, quantize, emit in order
# ===========================================================================

def load_param(param, ckpt, ftype):
    """Build the MLC param (cast to model dtype) from its HF tensors."""
    if getattr(param, "dtype", None):  # a dtype of its own (mlc_archs_more.py)
        ftype = FLOAT_TYPES[param.dtype]
    pieces = []
    for src in param.sources:
        if src not in ckpt.name_to_file:
            raise ConvertError(f"tensor '{src}' needed for '{param.name}' "
                               f"is not in the checkpoint")
        shape, src_dtype, values = ckpt.load(src)
        pieces.append((src, shape, src_dtype, values))
    expected = param.shape

    def mismatch(src, shape):
        return ConvertError(f"tensor '{src}': shape {shape} does not fit "
                            f"'{param.name}' of shape {expected}")

    if callable(param.combine):
        # A transform of its own (mlc_archs.py): (shape, values) from the
        # loaded (name, shape, dtype, values) pieces.
        shape, values = param.combine(pieces)
        if len(shape) != len(expected) or any(
                w is not None and g != w for g, w in zip(shape, expected)):
            raise mismatch(pieces[0][0], pieces[0][1])
    elif param.combine == "transpose":
        src, shape, _, values = pieces[0]
        if len(shape) != 2 or [shape[1], shape[0]] != expected:
            raise mismatch(src, shape)
        t = transpose_2d(Tensor(shape, "any", values))
        shape, values = t.shape, t.values
    elif param.combine == "plus_one" or (len(pieces) == 1
                                          and len(pieces[0][1]) == len(expected)):
        src, shape, src_dtype, values = pieces[0]
        if len(shape) != len(expected):
            raise mismatch(src, shape)
        for got, want in zip(shape, expected):
            if want is not None and got != want:
                raise mismatch(src, shape)
        if param.combine == "plus_one":
            # Gemma: (x + 1) computed in the source dtype, then cast.
            source_round = {"F16": round_f16, "BF16": round_bf16,
                            "F32": round_f32, "F64": float}[src_dtype]
            values = [source_round(x + 1.0) for x in values]
    else:
        # Concatenation along axis 0 (qkv, gate_up); for MoE experts also
        # stacking on a new axis 0. In C order both are plain concatenation
        # of the flat data in source order.
        values = []
        stacked = 1 if param.kind == "experts" else 0
        for src, shape, _, v in pieces:
            if (len(shape) + stacked != len(expected)
                    or list(shape[1:]) != expected[1 + stacked:]):
                raise mismatch(src, shape)
            values.extend(v)
        shape = list(expected)
        if numel(shape) != len(values):
            raise ConvertError(f"'{param.name}': sources {param.sources} do not add "
                               f"up to shape {expected}")
    values = [ftype.round(x) for x in values]
    if getattr(param, "after_cast", None):  # a step after astype (mlc_archs_rwkv.py)
        values = param.after_cast(values, ftype)
    return Tensor(shape, ftype.name, values)


def emission_order(params, ckpt):
    """mlc-models.md 3 step 3."""
    users = {}  # HF name -> MLC params using it, in mapping insertion order
    for p in params:
        for src in p.sources:
            users.setdefault(src, []).append(p)
    order = []
    seen = set()
    for name in ckpt.names_in_walk_order():
        for p in users.get(name, []):
            if p.name not in seen:
                seen.add(p.name)
                order.append(p)
    for p in params:
        if p.name not in seen:
            missing = [s for s in p.sources if s not in ckpt.name_to_file]
            raise ConvertError(f"tensor '{missing[0]}' needed for '{p.name}' "
                               f"is not in the checkpoint")
    return order


def count_total_params(order, ckpt, is_unused):
    """Simulate MLC's HuggingFaceLoader statistics (tensor-cache.md 7)."""
    if ckpt.single_file:
        return ckpt.file_param_count("model.safetensors", is_unused)
    total = 0
    cached = set()
    for p in order:
        required = {ckpt.name_to_file[s] for s in p.sources}
        to_load = required - cached
        to_unload = cached - required
        if to_load:
            cached -= to_unload
        for file_name in sorted(to_load):
            total += ckpt.file_param_count(file_name, is_unused)
            cached.add(file_name)
    return total


# q4f16_ft (FasterTransformer int4 layout) lives in mlc_ft.py.
import mlc_ft  # noqa: E402
QUANTIZATIONS["q4f16_ft"] = {"kind": "ft", "model_dtype": "float16"}


def convert_param(param, tensor, mode, rounding, shards):
    """All (name, tensor) outputs of one MLC param, in emission order."""
    if mode["kind"] == "ft":  # q4f16_ft: mlc_ft.py
        return mlc_ft.convert_param(param, tensor, shards)
    kind = quantization_kind(param, mode)
    if kind == "group":
        if param.kind == "experts" and mode["layout"] == "KN":
            raise ConvertError(f"'{param.name}': KN layout is not supported for MoE experts")
        q_weight, q_scale = group_quantize(tensor, mode, rounding)
        if mode["layout"] == "KN" and param.kind == "linear":
            q_weight = transpose_2d(q_weight)
            q_scale = transpose_2d(q_scale)
        module = param.name[:-len(".weight")]
        outputs = [(f"{module}.q_weight", q_weight, True),
                   (f"{module}.q_scale", q_scale, True)]
    elif kind == "fp8":
        module = param.name[:-len(".weight")]
        outputs = [(f"{module}.{suffix}", t, suffix == "q_weight")
                   for suffix, t in fp8_quantize(tensor, mode)]
    else:
        outputs = [(param.name, tensor, True)]

    result = []
    for name, t, shardable in outputs:
        if shards > 1 and param.shard is not None and shardable:
            dim, segs = param.shard
            for i, piece in enumerate(shard_tensor(t, dim, segs, shards, name)):
                result.append((f"{name}_shard-{i}", piece))
        else:
            result.append((name, t))
    return result


# ===========================================================================
# 8. Driver
# ===========================================================================

def convert(model_dir, quantization, out_dir, rounding="even", shards=1,
            model_type="auto"):
    if quantization not in QUANTIZATIONS:
        raise ConvertError(f"unsupported quantization {quantization!r}")
    if shards < 1:
        raise ConvertError("--tensor-parallel-shards must be >= 1")
    mode = QUANTIZATIONS[quantization]
    config_path = os.path.join(model_dir, "config.json")
    try:
        with open(config_path, "r", encoding="utf-8") as f:
            cfg = json.load(f)
    except (OSError, ValueError) as e:
        raise ConvertError(f"{config_path}: {e}")
    if not isinstance(cfg, dict):
        raise ConvertError(f"{config_path}: not a JSON object")
    arch = detect_architecture(cfg) if model_type == "auto" else model_type
    if arch not in ARCHITECTURES:
        raise ConvertError(f"unsupported model type {arch!r}")
    builder, is_unused, accepts_fp8 = ARCHITECTURES[arch]
    if mode["kind"] == "fp8" and not accepts_fp8:
        raise ConvertError(f"{quantization} is not supported for {arch}")
    if shards > 1 and mode["kind"] == "group" and mode["layout"] == "KN":
        raise ConvertError(f"{quantization}: presharding is not supported with the KN layout")
    params = builder(cfg, shards, arch)
    ckpt = Checkpoint(model_dir)
    order = emission_order(params, ckpt)
    total_params = count_total_params(order, ckpt, is_unused)

    os.makedirs(out_dir, exist_ok=True)
    writer = TensorCacheWriter(out_dir)
    ftype = FLOAT_TYPES[mode["model_dtype"]]
    for param in order:
        tensor = load_param(param, ckpt, ftype)
        for name, t in convert_param(param, tensor, mode, rounding, shards):
            writer.add(name, t)
    writer.finish(total_params)
    total_bytes = writer.param_bytes
    print(f"Parameter size after quantization: {total_bytes / 1024 ** 3:.3f} GB")
    print(f"Total parameters: {total_params:,}")
    print(f"Bits per parameter: {total_bytes * 8.0 / total_params:.3f}")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model_dir")
    parser.add_argument("--quantization", required=True)
    parser.add_argument("-o", "--output", required=True)
    parser.add_argument("--rounding", choices=["even", "away"], default="even")
    parser.add_argument("--tensor-parallel-shards", type=int, default=1)
    parser.add_argument("--model-type", default="auto")
    args = parser.parse_args(argv)
    try:
        convert(args.model_dir, args.quantization, args.output, args.rounding,
                args.tensor_parallel_shards, args.model_type)
    except ConvertError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
