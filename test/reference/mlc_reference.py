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


class ConvertError(Exception):
    """A problem with the input; printed as `error: ...` and exit status 1."""


# ===========================================================================
# 1. Scalar numerics
# ===========================================================================

_PACK_F16 = struct.Struct("<e")
_PACK_F32 = struct.Struct("<f")
_U16 = struct.Struct("<H")
_U32 = struct.Struct("<I")

INF = float("inf")
NAN = float("nan")

# Lookup tables: 16-bit pattern -> exact Python float.
F16_TO_FLOAT = [_PACK_F16.unpack(_U16.pack(i))[0] for i in range(65536)]
BF16_TO_FLOAT = [_PACK_F32.unpack(_U32.pack(i << 16))[0] for i in range(65536)]


def is_nan(x):
    return x != x


def f16_bits(x):
    """float16 bit pattern of x, round to nearest, ties to even.

    struct's 'e' format rounds half-to-even but raises OverflowError when the
    rounded magnitude does not fit; IEEE rounding then gives infinity.
    """
    try:
        return _U16.unpack(_PACK_F16.pack(x))[0]
    except OverflowError:
        return 0xFC00 if x < 0 else 0x7C00


def round_f16(x):
    """x rounded to the nearest float16 value (returned as a Python float)."""
    return F16_TO_FLOAT[f16_bits(x)]


def f32_bits(x):
    """float32 bit pattern of x, round to nearest, ties to even (C cast)."""
    try:
        return _U32.unpack(_PACK_F32.pack(x))[0]
    except OverflowError:
        return 0xFF800000 if x < 0 else 0x7F800000


def round_f32(x):
    return _PACK_F32.unpack(_U32.pack(f32_bits(x)))[0]


def bf16_bits(x):
    """bfloat16 bit pattern of x: first to float32, then round to nearest even
    on the bit pattern (what ml_dtypes' astype and TVM's bf16 legalisation do).
    Overflow naturally carries into the infinity pattern."""
    u = f32_bits(x)
    if is_nan(x):
        return (u >> 16) | 0x0040
    return ((u + 0x7FFF + ((u >> 16) & 1)) >> 16) & 0xFFFF


def round_bf16(x):
    return BF16_TO_FLOAT[bf16_bits(x)]


# The tensor-cache writer's float32 -> bfloat16 file encoding (tensor-cache.md 3).
_BF16_ENCODE_LIMIT = _PACK_F32.unpack(_U32.pack(0x7F7F0000))[0]


def f32_to_bf16_file_encoding(x):
    """16-bit pattern stored on disk for one float32 value (x is exactly a
    float32 value)."""
    u = f32_bits(x)
    if -_BF16_ENCODE_LIMIT < x < _BF16_ENCODE_LIMIT:
        return (u + 0x7FFF + ((u >> 16) & 1)) >> 16
    return u >> 16


def divide(a, b):
    """IEEE division a / b in doubles (Python raises on division by zero)."""
    if b == 0:
        if a == 0 or is_nan(a):
            return NAN
        negative = (a < 0) != (math.copysign(1.0, b) < 0)
        return -INF if negative else INF
    return a / b


def round_to_integer(x, rounding):
    """Round a float to an integral float: 'even' = ties to even,
    'away' = ties away from zero. NaN and infinities pass through."""
    if is_nan(x) or x in (INF, -INF):
        return x
    if abs(x) >= 2.0 ** 52:  # already an integer
        return x
    if rounding == "even":
        return float(round(x))  # Python's round() on a float is half-to-even
    return math.copysign(math.floor(abs(x) + 0.5), x)


def clamp_like_tvm(x, low, high):
    """max(x, low) then min(., high), each a select on a comparison, so a NaN
    ends up as `low` (mlc-quantization.md 2.2, all-zero group)."""
    x = x if x > low else low
    x = x if x < high else high
    return x


class FloatType:
    """One of the model dtypes: how to round a double into it."""

    def __init__(self, name, itemsize, rounder):
        self.name = name  # TVM dtype name
        self.itemsize = itemsize  # bytes per element in memory
        self.round = rounder


FLOAT16 = FloatType("float16", 2, round_f16)
BFLOAT16 = FloatType("bfloat16", 2, round_bf16)
FLOAT32 = FloatType("float32", 4, round_f32)
FLOAT_TYPES = {"float16": FLOAT16, "bfloat16": BFLOAT16, "float32": FLOAT32}

ITEMSIZE = {"float16": 2, "bfloat16": 2, "float32": 4, "uint32": 4,
            "float8_e4m3fn": 1, "float8_e5m2": 1}


# ---------------------------------------------------------------------------
# float -> fp8 (round to nearest even, saturating to the largest finite value)
# ---------------------------------------------------------------------------

class Fp8Format:
    def __init__(self, name, exponent_bits, mantissa_bits, bias, max_finite,
                 nan_code):
        self.name = name
        self.exponent_bits = exponent_bits
        self.mantissa_bits = mantissa_bits
        self.bias = bias
        self.max_finite = max_finite
        self.nan_code = nan_code


E4M3FN = Fp8Format("float8_e4m3fn", 4, 3, 7, 448.0, 0x7F)
E5M2 = Fp8Format("float8_e5m2", 5, 2, 15, 57344.0, 0x7E)


def float_to_fp8(x, fmt):
    """Byte code of x in the fp8 format `fmt`."""
    if is_nan(x):
        return fmt.nan_code
    sign = 0x80 if math.copysign(1.0, x) < 0 else 0
    a = abs(x)
    min_normal_exp = 1 - fmt.bias
    if a == 0:
        return sign
    # Exponent of the leading bit of a (a = m * 2**e, 0.5 <= m < 1).
    if a == INF:
        rounded = INF
    else:
        _, e = math.frexp(a)
        exp = max(e - 1, min_normal_exp)
        quantum = 2.0 ** (exp - fmt.mantissa_bits)
        steps = a / quantum  # exact: scaling by a power of two
        rounded = round_to_integer(steps, "even") * quantum
    if rounded > fmt.max_finite:
        rounded = fmt.max_finite  # saturate
    if rounded == 0:
        return sign
    _, e = math.frexp(rounded)
    exp = e - 1
    if exp < min_normal_exp:  # subnormal
        mantissa = int(rounded / 2.0 ** (min_normal_exp - fmt.mantissa_bits))
        return sign | mantissa
    mantissa = int((rounded / 2.0 ** exp - 1.0) * 2 ** fmt.mantissa_bits)
    return sign | ((exp + fmt.bias) << fmt.mantissa_bits) | mantissa


# ===========================================================================
# 2. Tensors and source checkpoints (safetensors)
# ===========================================================================

class Tensor:
    """A dense tensor: shape (list of ints), TVM dtype name and a flat C-order
    list of values (floats for float types, ints for uint32 and fp8 codes)."""

    def __init__(self, shape, dtype, values):
        self.shape = list(shape)
        self.dtype = dtype
        self.values = values
        if numel(self.shape) != len(values):
            raise AssertionError("tensor size mismatch")


def numel(shape):
    n = 1
    for d in shape:
        n *= d
    return n


SAFETENSORS_ITEMSIZE = {
    "BOOL": 1, "U8": 1, "I8": 1, "I16": 2, "U16": 2, "I32": 4, "U32": 4,
    "I64": 8, "U64": 8, "F16": 2, "BF16": 2, "F32": 4, "F64": 8, "C64": 8,
    "F8_E4M3": 1, "F8_E5M2": 1, "F8_E4M3FNUZ": 1, "F8_E5M2FNUZ": 1,
    "F8_E8M0": 1,
}


class SafetensorsFile:
    """Header of one safetensors file; tensor data is read on demand."""

    def __init__(self, path):
        self.path = path
        self.entries = {}  # name -> (dtype, shape, begin, end)
        with open(path, "rb") as f:
            raw = f.read()
        self.raw = raw
        if len(raw) < 8:
            raise ConvertError(f"{path}: file too small for a safetensors header")
        (n,) = struct.unpack("<Q", raw[:8])
        if n > 100000000 or 8 + n > len(raw):
            raise ConvertError(f"{path}: invalid safetensors header length {n}")
        try:
            header = json.loads(raw[8:8 + n].decode("utf-8"))
        except (UnicodeDecodeError, ValueError) as e:
            raise ConvertError(f"{path}: invalid safetensors header: {e}")
        if not isinstance(header, dict):
            raise ConvertError(f"{path}: safetensors header is not a JSON object")
        self.data_start = 8 + n
        spans = []
        for name, info in header.items():
            if name == "__metadata__":
                continue
            try:
                dtype = info["dtype"]
                shape = [int(d) for d in info["shape"]]
                begin, end = (int(o) for o in info["data_offsets"])
            except (KeyError, TypeError, ValueError):
                raise ConvertError(f"{path}: tensor '{name}': malformed header entry")
            if dtype not in SAFETENSORS_ITEMSIZE:
                raise ConvertError(f"{path}: tensor '{name}': unsupported dtype {dtype}")
            if any(d < 0 for d in shape):
                raise ConvertError(f"{path}: tensor '{name}': negative dimension")
            if end - begin != numel(shape) * SAFETENSORS_ITEMSIZE[dtype]:
                raise ConvertError(f"{path}: tensor '{name}': data_offsets do not match shape")
            self.entries[name] = (dtype, shape, begin, end)
            spans.append((begin, end, name))
        expected = 0
        for begin, end, name in sorted(spans):
            if begin != expected:
                raise ConvertError(f"{path}: tensor '{name}': invalid data offsets")
            expected = end
        if self.data_start + expected != len(raw):
            raise ConvertError(f"{path}: file not fully covered by the tensors in its header")

    def names(self):
        """Tensor names as safetensors' keys() yields them: sorted."""
        return sorted(self.entries)

    def numel(self, name):
        return numel(self.entries[name][1])

    def load(self, name):
        """(shape, source dtype code, list of exact float values)."""
        dtype, shape, begin, end = self.entries[name]
        data = self.raw[self.data_start + begin:self.data_start + end]
        count = numel(shape)
        if dtype == "F16":
            bits = struct.unpack(f"<{count}H", data)
            values = [F16_TO_FLOAT[b] for b in bits]
        elif dtype == "BF16":
            bits = struct.unpack(f"<{count}H", data)
            values = [BF16_TO_FLOAT[b] for b in bits]
        elif dtype == "F32":
            values = list(struct.unpack(f"<{count}f", data))
        elif dtype == "F64":
            values = list(struct.unpack(f"<{count}d", data))
        else:
            raise ConvertError(
                f"{self.path}: tensor '{name}': dtype {dtype} is not a float type")
        return shape, dtype, values


class Checkpoint:
    """A Hugging Face safetensors checkpoint: one file or an index + shards."""

    def __init__(self, model_dir):
        index_path = os.path.join(model_dir, "model.safetensors.index.json")
        single_path = os.path.join(model_dir, "model.safetensors")
        self.files = {}  # file name -> SafetensorsFile
        self.name_to_file = {}  # torch_to_path, in its order
        if os.path.exists(index_path):
            self.single_file = False
            try:
                with open(index_path, "r", encoding="utf-8") as f:
                    index = json.load(f)
                weight_map = index["weight_map"]
            except (ValueError, KeyError, TypeError) as e:
                raise ConvertError(f"{index_path}: invalid index: {e}")
            for name, file_name in weight_map.items():
                if file_name not in self.files:
                    path = os.path.join(model_dir, file_name)
                    if not os.path.exists(path):
                        raise ConvertError(f"{index_path}: shard file {file_name} not found")
                    self.files[file_name] = SafetensorsFile(path)
                if name not in self.files[file_name].entries:
                    raise ConvertError(
                        f"{self.files[file_name].path}: tensor '{name}' listed in the index is missing")
                self.name_to_file[name] = file_name
        elif os.path.exists(single_path):
            self.single_file = True
            self.files["model.safetensors"] = SafetensorsFile(single_path)
            for name in self.files["model.safetensors"].names():
                self.name_to_file[name] = "model.safetensors"
        else:
            raise ConvertError(
                f"{model_dir}: neither model.safetensors nor model.safetensors.index.json found")

    def names_in_walk_order(self):
        """mlc-models.md 3 steps 1-2: group names by file (files in order of
        first appearance), keeping torch_to_path order within a file."""
        file_order = []
        for name, file_name in self.name_to_file.items():
            if file_name not in file_order:
                file_order.append(file_name)
        result = []
        for file_name in file_order:
            for name, fn in self.name_to_file.items():
                if fn == file_name:
                    result.append(name)
        return result

    def load(self, name):
        file_name = self.name_to_file[name]
        return self.files[file_name].load(name)

    def file_param_count(self, file_name, is_unused):
        f = self.files[file_name]
        return sum(f.numel(n) for n in f.names() if not is_unused(n))


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
    """

    def __init__(self, name, shape, sources, kind="other", combine="concat",
                 shard=None):
        self.name = name
        self.shape = shape
        self.sources = sources
        self.kind = kind
        self.combine = combine
        self.shard = shard


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


def detect_architecture(cfg):
    model_type = cfg.get("model_type")
    if model_type in ARCHITECTURES:
        return model_type
    for name in cfg.get("architectures") or []:
        if name in HF_ARCHITECTURE_NAMES:
            return HF_ARCHITECTURE_NAMES[name]
    raise ConvertError(f"config.json: unsupported model_type {model_type!r}")


# ===========================================================================
# 4. Quantization modes (mlc-quantization.md 1)
# ===========================================================================

def _group(bits, group_size, dtype, layout, emb=True, fc=True):
    return {"kind": "group", "bits": bits, "group_size": group_size,
            "model_dtype": dtype, "layout": layout,
            "quantize_embedding": emb, "quantize_final_fc": fc}


def _fp8(fmt, use_scale, calibration):
    return {"kind": "fp8", "format": fmt, "use_scale": use_scale,
            "calibration_placeholder": calibration, "model_dtype": "float16",
            "quantize_embedding": False, "quantize_final_fc": False}


QUANTIZATIONS = {
    "q0f16": {"kind": "none", "model_dtype": "float16"},
    "q0bf16": {"kind": "none", "model_dtype": "bfloat16"},
    "q0f32": {"kind": "none", "model_dtype": "float32"},
    "q3f16_0": _group(3, 40, "float16", "KN"),
    "q3f16_1": _group(3, 40, "float16", "NK"),
    "q4f16_0": _group(4, 32, "float16", "KN"),
    "q4f16_1": _group(4, 32, "float16", "NK"),
    "q4bf16_0": _group(4, 32, "bfloat16", "KN"),
    "q4bf16_1": _group(4, 32, "bfloat16", "NK"),
    "q4f32_1": _group(4, 32, "float32", "NK"),
    "q4f16_2": _group(4, 32, "float16", "NK", emb=False, fc=False),
    "e4m3_e4m3_f16": _fp8(E4M3FN, True, True),
    "e4m3_e4m3_f16_max_calibrate": _fp8(E4M3FN, True, False),
    "e5m2_e5m2_f16": _fp8(E5M2, False, False),
}

FINAL_FC_MODULES = ("head", "lm_head", "lm_head.linear", "embed_out")


def quantization_kind(param, mode):
    """'group', 'fp8' or None (emit the param in model_dtype) (sheet 2.6, 6)."""
    if mode["kind"] == "none" or not param.name.endswith(".weight"):
        return None
    module = param.name[:-len(".weight")]
    if param.kind == "linear":
        if module in FINAL_FC_MODULES and not mode["quantize_final_fc"]:
            return None
        out_features = param.shape[0]
        if module.endswith("gate") and out_features is not None and out_features <= 256:
            return None  # MoE gate
        return mode["kind"]
    if param.kind == "embedding":
        return mode["kind"] if mode["quantize_embedding"] else None
    if param.kind == "experts":
        return mode["kind"]
    return None


def group_quantize(weight, mode, rounding):
    """Group quantization along the last axis, NK layout (sheet 2.2-2.4).
    Returns (q_weight, q_scale) tensors."""
    ftype = FLOAT_TYPES[mode["model_dtype"]]
    bits = mode["bits"]
    group = mode["group_size"]
    per_word = 32 // bits  # elements per uint32
    words_per_group = group // per_word
    max_int = 2 ** (bits - 1) - 1
    k = weight.shape[-1]
    rows = numel(weight.shape[:-1])
    groups = (k + group - 1) // group
    words = []
    scales = []
    for row in range(rows):
        row_values = weight.values[row * k:(row + 1) * k]
        for g in range(groups):
            chunk = row_values[g * group:(g + 1) * group]  # the last may be short
            max_abs = max(abs(x) for x in chunk)
            scale = ftype.round(divide(max_abs, float(max_int)))
            scales.append(scale)
            codes = []
            for x in chunk:
                v = ftype.round(divide(x, scale))
                v = ftype.round(v + max_int)
                v = round_to_integer(v, rounding)
                v = clamp_like_tvm(v, 0.0, float(2 * max_int))
                codes.append(int(v))
            codes += [0] * (group - len(codes))  # padding positions hold 0
            for w in range(words_per_group):
                word = 0
                for r in range(per_word):
                    word |= codes[w * per_word + r] << (r * bits)
                words.append(word)
    lead = weight.shape[:-1]
    q_weight = Tensor(lead + [groups * words_per_group], "uint32", words)
    q_scale = Tensor(lead + [groups], ftype.name, scales)
    return q_weight, q_scale


def transpose_2d(t):
    rows, cols = t.shape
    values = []
    for c in range(cols):
        for r in range(rows):
            values.append(t.values[r * cols + c])
    return Tensor([cols, rows], t.dtype, values)


def fp8_quantize(weight, mode):
    """Per-tensor FP8 (sheet 6). Returns the list of output (suffix, tensor)."""
    fmt = mode["format"]
    outputs = []
    if mode["use_scale"]:
        max_abs = max(abs(x) for x in weight.values)
        scale = max(round_f16(max_abs / fmt.max_finite),
                    round_f16(1.0 / (fmt.max_finite * 512)))
        scale = round_f32(scale)  # float16 -> float32 is exact
        codes = [float_to_fp8(round_f32(x / scale), fmt) for x in weight.values]
        outputs.append(("q_weight", Tensor(weight.shape, fmt.name, codes)))
        outputs.append(("q_scale", Tensor([1], "float32", [scale])))
        if mode["calibration_placeholder"]:
            # Uninitialised memory in MLC; our documented choice is 1.0.
            outputs.append(("q_calibration_scale", Tensor([1], "float32", [1.0])))
    else:
        codes = [float_to_fp8(x, fmt) for x in weight.values]
        outputs.append(("q_weight", Tensor(weight.shape, fmt.name, codes)))
    return outputs


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
    return Tensor(shape, ftype.name, [ftype.round(x) for x in values])


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


def convert_param(param, tensor, mode, rounding, shards):
    """All (name, tensor) outputs of one MLC param, in emission order."""
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
# 7. Tensor cache writer (tensor-cache.md 2-5)
# ===========================================================================

SHARD_CAP = 32 * 2 ** 20


def tensor_bytes(t):
    """On-disk bytes of a tensor (float32 is written bf16-encoded)."""
    n = len(t.values)
    if t.dtype == "float16":
        return struct.pack(f"<{n}H", *[f16_bits(x) for x in t.values])
    if t.dtype == "bfloat16":
        return struct.pack(f"<{n}H", *[bf16_bits(x) for x in t.values])
    if t.dtype == "float32":
        return struct.pack(f"<{n}H", *[f32_to_bf16_file_encoding(x) for x in t.values])
    if t.dtype == "uint32":
        return struct.pack(f"<{n}I", *t.values)
    if t.dtype in ("float8_e4m3fn", "float8_e5m2"):
        return bytes(t.values)
    raise AssertionError(f"unknown dtype {t.dtype}")


class TensorCacheWriter:
    def __init__(self, out_dir):
        self.out_dir = out_dir
        self.shards = []  # shard records in commit order
        self.pending_data = bytearray()
        self.pending_records = []
        self.counter = 0
        self.param_size = 0
        self.param_bytes = 0
        self.has_float32 = False

    def _commit(self, data, records):
        name = f"params_shard_{self.counter}.bin"
        self.counter += 1
        with open(os.path.join(self.out_dir, name), "wb") as f:
            f.write(data)
        self.shards.append({
            "dataPath": name,
            "format": "raw-shard",
            "nbytes": len(data),
            "records": records,
            "md5sum": hashlib.md5(bytes(data)).hexdigest(),
        })

    def add(self, name, t):
        data = tensor_bytes(t)
        self.param_size += 1
        self.param_bytes += len(t.values) * ITEMSIZE[t.dtype]
        if t.dtype == "float32":
            self.has_float32 = True
        record = {"name": name, "shape": list(t.shape), "dtype": t.dtype,
                  "format": "f32-to-bf16", "nbytes": len(data)}
        if len(self.pending_data) + len(data) >= SHARD_CAP:
            if 2 * len(data) >= SHARD_CAP:
                record["byteOffset"] = 0
                self._commit(data, [record])  # out of band; pending stays
                return
            if self.pending_data:
                self._commit(self.pending_data, self.pending_records)
                self.pending_data = bytearray()
                self.pending_records = []
        record["byteOffset"] = len(self.pending_data)
        self.pending_records.append(record)
        self.pending_data += data

    def finish(self, total_params):
        if self.pending_data:
            self._commit(self.pending_data, self.pending_records)
        if total_params == 0:
            raise ConvertError("the checkpoint holds no parameters")
        cache = {
            "metadata": {
                "ParamSize": self.param_size,
                "ParamBytes": float(self.param_bytes),
                "BitsPerParam": self.param_bytes * 8.0 / total_params,
            },
            "records": self.shards,
        }
        with open(os.path.join(self.out_dir, "tensor-cache.json"), "w") as f:
            json.dump(cache, f, indent=4)
        if self.has_float32:
            b16 = copy.deepcopy(cache)
            for shard in b16["records"]:
                for record in shard["records"]:
                    if record["dtype"] == "float32":
                        record["dtype"] = "bfloat16"
                        record["format"] = "raw"
            with open(os.path.join(self.out_dir, "tensor-cache-b16.json"), "w") as f:
                json.dump(b16, f, indent=4)
        return cache


# ===========================================================================
# 8. Driver
# ===========================================================================

def convert(model_dir, quantization, out_dir, rounding="even", shards=1):
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
    arch = detect_architecture(cfg)
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
    args = parser.parse_args(argv)
    try:
        convert(args.model_dir, args.quantization, args.output, args.rounding,
                args.tensor_parallel_shards)
    except ConvertError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
