"""Quantization modes of the reference (mlc-quantization.md 1).

Part of mlc_reference.py (the test oracle), which re-exports every name;
written from the same sources and sharing no code with the C++.
"""

import hashlib
import json
import math
import os
import struct

from mlc_numerics import *  # noqa: F401,F403
from mlc_checkpoints import *  # noqa: F401,F403


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
