#!/usr/bin/env python3
"""Turns a small bf16/f16/f32 checkpoint into an FP8 block-quantized one
(stdlib only), as DeepSeek-V3 and Qwen3-FP8 checkpoints are stored, and
writes its dequantized bfloat16 twin.

  make_fp8.py IN_DIR FP8_OUT BF16_OUT [--block 128 128]
      [--activation-scales]

FP8_OUT: every linear weight of the decoder layers (`*_proj*.weight`,
2-D, experts included, DeepSeek's kv_a_proj_with_mqa too; not the MoE router `mlp.gate`, not the embedding nor
lm_head) becomes F8_E4M3 codes plus `<name>_scale_inv` F32 of shape
[ceil(N / block[0]), ceil(K / block[1])], and config.json gets
`quantization_config` {"quant_method": "fp8", "fmt": "e4m3",
"activation_scheme": "dynamic" (or --activation-scheme),
"weight_block_size": block}. Names under `language_model.` (a multimodal
checkpoint's text model) count as the decoder layers too. --per-tensor:
one scale per weight (its whole tensor as the block) and no
weight_block_size. The codes are
rounded by hand to the OCP float8 e4m3fn format (bias 7, no infinities,
largest finite 448, round to nearest even) from w / s with
s = float32(max |w| of the block / 448).

BF16_OUT: the same checkpoint with each such weight replaced by what
DeepSeek-V3's fp8_cast_bf16.py writes: weight_dequant's float32 product
code * scale_inv rounded to bfloat16 (no scales, no quantization_config).

--activation-scales adds, for a Qwen3 checkpoint, the float32 tensors
mlc_llm's qwen3 loader reads under their MLC names for the static-activation
mode: `model.layers.<i>.self_attn.c_attn.activation_scale` [ceil(H / bk)],
`...self_attn.o_proj.activation_scale` [ceil(nq * d / bk)],
`...mlp.gate_up_proj.activation_scale` [ceil(H / bk)] and
`...mlp.down_proj.activation_scale` [ceil(I / bk)].

--projection-activation-scales SHAPE adds, after each FP8 weight, its
projection's own `<module>.activation_scale` (what mlc_llm's ministral3
loader reads; as HF checkpoints with static activation store them), of
SHAPE `scalar` ([]), `one` ([1]), `blocks` ([ceil(K / bk)]; bk = 128 with
--per-tensor), `half` ([ceil(K / bk) / 2]) or `three` ([3]); q/k/v share
their values, and gate/up theirs. --activation-differ close multiplies
k_proj's and up_proj's by 1 + 2^-20 (np.allclose still holds: relative
9.5e-7 < 1e-5), `far` by 1 + 2^-12 (2.4e-4: not close), `close-tiny`
scales every value by 2^-23 and k_proj's and up_proj's by 1 + 2^-4 (at
most 2.8e-9 apart, under atol 1e-8: close, and apart in the bfloat16
encoding of float32 records), `nan` makes every q_proj's and k_proj's
scale NaN (never close, not even to itself); `first-scalar`
stores q_proj's and gate_proj's as 0-d tensors of the same value (the
others keep SHAPE). --activation-scale-dtype: F32 (default), BF16 or F16.
"""
import argparse
import json
import math
import os
import struct

from make_checkpoint import from_bits, save, read_safetensors, to_bits


def f32(x):
    return struct.unpack("<f", struct.pack("<f", x))[0]


def e4m3fn_encode(x):
    """float -> e4m3fn code, round to nearest even, saturating at 448."""
    sign = 0x80 if math.copysign(1.0, x) < 0 else 0
    a = abs(x)
    if a >= 448.0:
        return sign | 0x7E
    if a < 2.0 ** -6:  # subnormal: multiples of 2^-9
        m = round(a / 2.0 ** -9)  # Python rounds halves to even
        return sign | m  # m == 8 is the smallest normal, code 0x08
    e = math.floor(math.log2(a))
    if 2.0 ** e > a:  # guard log2 rounding
        e -= 1
    step = 2.0 ** (e - 3)
    m = round(a / step)  # 8..16
    if m == 16:
        e, m = e + 1, 8
    if e > 8:
        return sign | 0x7E
    return sign | ((e + 7) << 3) | (m - 8)


def e4m3fn_decode(c):
    sign = -1.0 if c & 0x80 else 1.0
    e, m = (c >> 3) & 0xF, c & 7
    if e == 0:
        return sign * m * 2.0 ** -9
    return sign * (1 + m / 8.0) * 2.0 ** (e - 7)


def is_fp8_linear(name, shape):
    # `language_model.`: a multimodal checkpoint's text model (Ministral 3)
    return (name.startswith(("model.layers.", "layers.",
                             "language_model.model.layers."))
            and name.endswith(".weight")
            and "_proj" in name and len(shape) == 2)


def quantize_blocks(values, shape, block, scale_dtype="F32"):
    """-> (codes, scales [ceil(N/bn) * ceil(K/bk)], dequantized bf16 values)."""
    n, k = shape
    bn, bk = block
    rows, cols = -(-n // bn), -(-k // bk)
    scales = []
    for br in range(rows):
        for bc in range(cols):
            amax = max(abs(values[r * k + c])
                       for r in range(br * bn, min(n, (br + 1) * bn))
                       for c in range(bc * bk, min(k, (bc + 1) * bk)))
            s = f32(amax / 448.0) if amax > 0 else f32(1.0 / 448.0)
            if scale_dtype == "BF16":  # the scale as stored
                s = from_bits(to_bits([s], "BF16"), "BF16")[0]
            scales.append(s)
    codes, deq = [], []
    for r in range(n):
        for c in range(k):
            s = scales[(r // bn) * cols + c // bk]
            code = e4m3fn_encode(values[r * k + c] / s)
            codes.append(code)
            # weight_dequant: the float32 product (exact in a double, then
            # rounded to float32); to_bits rounds it to bfloat16.
            deq.append(f32(e4m3fn_decode(code) * s))
    return bytes(codes), scales, deq


def projection_activation_scale(a, name, k, bk):
    """(name, dtype, shape, bytes) of `<module>.activation_scale`."""
    module = name[:-len(".weight")]
    proj = module.rsplit(".", 1)[1]
    layer = int(module.split("layers.")[1].split(".")[0])
    group = {"q_proj": 0, "k_proj": 0, "v_proj": 0, "o_proj": 1,
             "gate_proj": 2, "up_proj": 2, "down_proj": 3}[proj]
    n = -(-k // bk)
    shape = {"scalar": [], "one": [1], "blocks": [n], "half": [n // 2],
             "three": [3]}[a.projection_activation_scales]
    if a.activation_differ == "first-scalar" and proj in ("q_proj",
                                                          "gate_proj"):
        shape = []
    count = max(1, math.prod(shape))
    vals = [0.0625 + 0.03125 * ((3 * layer + 5 * group + x) % 11)
            for x in range(count)]
    if a.activation_differ == "first-scalar" and proj in ("q_proj",
                                                          "gate_proj"):
        vals = vals[:1]
    if a.activation_differ == "close-tiny":
        vals = [v * 2.0 ** -23 for v in vals]
    if a.activation_differ == "nan" and proj in ("q_proj", "k_proj"):
        vals = [math.nan] * len(vals)
    exponent = {"close": -20, "far": -12, "close-tiny": -4}.get(
        a.activation_differ)
    if proj in ("k_proj", "up_proj") and exponent is not None:
        vals = [f32(v * (1 + 2.0 ** exponent)) for v in vals]
    return (module + ".activation_scale", a.activation_scale_dtype, shape,
            to_bits(vals, a.activation_scale_dtype))


def main():
    p = argparse.ArgumentParser()
    p.add_argument("input")
    p.add_argument("fp8_out")
    p.add_argument("bf16_out")
    p.add_argument("--block", type=int, nargs=2, default=[128, 128])
    p.add_argument("--activation-scales", action="store_true")
    p.add_argument("--per-tensor", choices=["scalar", "one"],
                   help="one scale per weight (max |w| / 448), stored as a "
                        "0-d tensor (scalar) or of shape [1] (one), and no "
                        "weight_block_size, as Ministral 3 FP8 checkpoints")
    p.add_argument("--activation-scheme", choices=["dynamic", "static"],
                   default="dynamic",
                   help="quantization_config.activation_scheme (Ministral 3 "
                        "FP8 checkpoints say static)")
    p.add_argument("--scale-dtype", choices=["F32", "BF16"], default="F32",
                   help="dtype of weight_scale_inv (BF16: scales rounded "
                        "to bfloat16 before use)")
    p.add_argument("--projection-activation-scales",
                   choices=["scalar", "one", "blocks", "half", "three"])
    p.add_argument("--activation-differ",
                   choices=["close", "far", "close-tiny", "nan",
                            "first-scalar"])
    p.add_argument("--activation-scale-dtype", choices=["F32", "BF16", "F16"],
                   default="F32")
    a = p.parse_args()
    with open(os.path.join(a.input, "config.json")) as f:
        config = json.load(f)
    fp8, twin = [], []
    for name, dtype, shape, data in read_safetensors(
            os.path.join(a.input, "model.safetensors")):
        if not is_fp8_linear(name, shape):
            fp8.append((name, dtype, shape, data))
            twin.append((name, dtype, shape, data))
            continue
        block = shape if a.per_tensor else a.block
        codes, scales, deq = quantize_blocks(from_bits(data, dtype), shape,
                                             block, a.scale_dtype)
        fp8.append((name, "F8_E4M3", shape, codes))
        scale_shape = {"scalar": [], "one": [1]}.get(
            a.per_tensor,
            [-(-shape[0] // a.block[0]), -(-shape[1] // a.block[1])])
        fp8.append((name + "_scale_inv", a.scale_dtype, scale_shape,
                    to_bits(scales, a.scale_dtype)))
        twin.append((name, "BF16", shape, to_bits(deq, "BF16")))
        if a.projection_activation_scales:
            fp8.append(projection_activation_scale(
                a, name, shape[1], 128 if a.per_tensor else a.block[1]))
    if a.activation_scales:
        h = config["hidden_size"]
        d = config.get("head_dim") or h // config["num_attention_heads"]
        inner = {"self_attn.c_attn": h,
                 "self_attn.o_proj": config["num_attention_heads"] * d,
                 "mlp.gate_up_proj": h,
                 "mlp.down_proj": config["intermediate_size"]}
        for i in range(config["num_hidden_layers"]):
            for j, (module, k) in enumerate(inner.items()):
                n = -(-k // a.block[1])
                vals = [0.5 + 0.125 * ((i + j + x) % 7) for x in range(n)]
                fp8.append((f"model.layers.{i}.{module}.activation_scale",
                            "F32", [n], to_bits(vals, "F32")))
    save(a.bf16_out, config, twin, 1)
    config = dict(config)
    config["quantization_config"] = {
        "activation_scheme": a.activation_scheme, "fmt": "e4m3",
        "quant_method": "fp8",
        "weight_block_size": list(a.block)}
    if a.per_tensor:
        del config["quantization_config"]["weight_block_size"]
    save(a.fp8_out, config, fp8, 1)


if __name__ == "__main__":
    main()
