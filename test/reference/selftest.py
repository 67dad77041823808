#!/usr/bin/env python3
"""Self-test of mlc_reference.py against values worked out by hand.

Run: python3 selftest.py   (exit status 0 = all checks passed)
"""

import hashlib
import json
import os
import struct
import sys
import tempfile

sys.dont_write_bytecode = True  # keep the source tree clean
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import mlc_reference as R  # noqa: E402

FAILURES = []


def check(what, got, want):
    if got != want:
        FAILURES.append(f"{what}: got {got!r}, want {want!r}")


def hexes(values):
    return [hex(v) for v in values]


# ---------------------------------------------------------------------------
# float16 rounding
# ---------------------------------------------------------------------------
# Between 2048 and 4096 the float16 spacing is 2, so 2049 and 2051 are ties:
# 2049 -> 2048 (mantissa 0, even), 2051 -> 2052 (mantissa 2, even).
# 2048 = 2^11: exponent field 11 + 15 = 26 -> 0x6800; 2052 -> 0x6802.
check("f16(2049)", hex(R.f16_bits(2049.0)), "0x6800")
check("f16(2051)", hex(R.f16_bits(2051.0)), "0x6802")
check("f16(-2051)", hex(R.f16_bits(-2051.0)), "0xe802")
# 65504 is the largest finite half; 65520 is the tie with 65536 -> infinity.
check("f16(65519.99)", hex(R.f16_bits(65519.99)), "0x7bff")
check("f16(65520)", hex(R.f16_bits(65520.0)), "0x7c00")
check("f16(-1e6)", hex(R.f16_bits(-1e6)), "0xfc00")
# 1/7 = 0.125 * 1.142857...; mantissa 0.142857 * 1024 = 146.29 -> 146 = 0x92,
# exponent field -3 + 15 = 12 -> 0x3000 | 0x92.
check("f16(1/7)", hex(R.f16_bits(1 / 7)), "0x3092")
check("round_f16(1/7)", R.round_f16(1 / 7), 0.125 * (1 + 146 / 1024))

# bfloat16 (arithmetic rounding) and the tensor-cache float32 file encoding
# 0x3F808000 is exactly halfway between bf16 0x3F80 and 0x3F81 -> even 0x3F80;
# 0x3F818000 is halfway between 0x3F81 and 0x3F82 -> even 0x3F82.
f32 = lambda bits: struct.unpack("<f", struct.pack("<I", bits))[0]  # noqa: E731
check("bf16 tie down", hex(R.bf16_bits(f32(0x3F808000))), "0x3f80")
check("bf16 tie up", hex(R.bf16_bits(f32(0x3F818000))), "0x3f82")
check("file enc 1.0", hex(R.f32_to_bf16_file_encoding(1.0)), "0x3f80")
check("file enc tie", hex(R.f32_to_bf16_file_encoding(f32(0x3F818000))), "0x3f82")
# FLT_MAX = 0x7F7FFFFF is >= the 0x7F7F0000 limit -> truncated, not rounded to inf.
check("file enc FLT_MAX", hex(R.f32_to_bf16_file_encoding(f32(0x7F7FFFFF))), "0x7f7f")
check("file enc -inf", hex(R.f32_to_bf16_file_encoding(float("-inf"))), "0xff80")
check("bf16 FLT_MAX (arith)", hex(R.bf16_bits(f32(0x7F7FFFFF))), "0x7f80")

# ---------------------------------------------------------------------------
# fp8
# ---------------------------------------------------------------------------
# e4m3fn: 16 = 2^4 -> exponent field 4 + 7 = 11 = 0b1011 -> 0x58; spacing in
# [16, 32) is 2, so 17 is a tie -> 16 (0x58), 19 is a tie -> 20 (0x5A).
check("e4m3(17)", hex(R.float_to_fp8(17.0, R.E4M3FN)), "0x58")
check("e4m3(19)", hex(R.float_to_fp8(19.0, R.E4M3FN)), "0x5a")
check("e4m3(448)", hex(R.float_to_fp8(448.0, R.E4M3FN)), "0x7e")
check("e4m3(1000) saturates", hex(R.float_to_fp8(1000.0, R.E4M3FN)), "0x7e")
# smallest subnormal is 2^-9 (code 1); 2^-10 is the tie between 0 and 2^-9 -> 0.
check("e4m3(-2^-9)", hex(R.float_to_fp8(-2.0 ** -9, R.E4M3FN)), "0x81")
check("e4m3(2^-10)", hex(R.float_to_fp8(2.0 ** -10, R.E4M3FN)), "0x0")
# e5m2: 1.0 -> exponent field 15 -> 0x3C; 1.125 ties between 1.0 and 1.25 -> 0x3C.
check("e5m2(1.125)", hex(R.float_to_fp8(1.125, R.E5M2)), "0x3c")
check("e5m2(1.25)", hex(R.float_to_fp8(1.25, R.E5M2)), "0x3d")
check("e5m2(57344)", hex(R.float_to_fp8(57344.0, R.E5M2)), "0x7b")
check("e5m2(1e6) saturates", hex(R.float_to_fp8(1e6, R.E5M2)), "0x7b")

# ---------------------------------------------------------------------------
# Group quantization, q4f16_1: one row, one 32-element group -> 4 words
# ---------------------------------------------------------------------------
# Group A: max |w| = 7 -> scale = f16(7 / 7) = 1.0 (0x3C00), so q = round(w + 7).
#   idx 0..14 : w = -7..7          -> q = 0..14
#   idx 15    : w = 0.5  -> 7.5    -> even 8,  away 8
#   idx 16    : w = -0.5 -> 6.5    -> even 6,  away 7
#   idx 17    : w = 1.5  -> 8.5    -> even 8,  away 9
#   idx 18    : w = 2.5  -> 9.5    -> even 10, away 10
#   idx 19    : w = -6.75 -> 0.25  -> 0
#   idx 20    : w = 3.25 -> 10.25  -> 10
#   idx 21..31: w = 0    -> 7
# Nibble r of a word holds element 8j + r (element 0 in the low nibble), so
# reading each word's hex digits right to left gives q in element order:
#   word0 = q[7..0]   = 7 6 5 4 3 2 1 0  -> 0x76543210
#   word1 = q[15..8]  = 8 E D C B A 9 8  -> 0x8EDCBA98
#   word2 = q[23..16] = 7 7 7 A 0 A 8 6  -> 0x777A0A86 (away: 7 7 7 A 0 A 9 7 -> 0x777A0A97)
#   word3 = all 7                       -> 0x77777777
GROUP_A = [float(v) for v in range(-7, 8)] + [0.5, -0.5, 1.5, 2.5, -6.75, 3.25] + [0.0] * 11
MODE = R.QUANTIZATIONS["q4f16_1"]
for rounding, word2 in (("even", 0x777A0A86), ("away", 0x777A0A97)):
    q_weight, q_scale = R.group_quantize(R.Tensor([1, 32], "float16", GROUP_A), MODE, rounding)
    check(f"group A words ({rounding})", hexes(q_weight.values),
          hexes([0x76543210, 0x8EDCBA98, word2, 0x77777777]))
    check(f"group A shapes ({rounding})", (q_weight.shape, q_scale.shape), ([1, 4], [1, 1]))
    check(f"group A scale ({rounding})", R.tensor_bytes(q_scale), b"\x00\x3c")

# Group B shows the float16 steps: max |w| = 1 -> scale = f16(1/7) = 0.142822265625.
#   w = 1.0 : 1 / 0.142822265625 = 7.0017 -> f16 (spacing 2^-8 in [4,8)) = 7.0 -> +7 = 14
#   w = -1.0: -7.0 -> 0
#   w = 0.5 : 3.50085 -> f16 (spacing 2^-9 in [2,4)) = 3.5 -> + 7 = 10.5, a tie
#             that exact arithmetic would not have: even 10 (0xA), away 11 (0xB)
#   other 29 elements 0 -> 7.
#   word0 = 7 7 7 7 7 A 0 E -> 0x77777A0E (away 0x77777B0E); words 1-3 0x77777777.
GROUP_B = [1.0, -1.0, 0.5] + [0.0] * 29
for rounding, word0 in (("even", 0x77777A0E), ("away", 0x77777B0E)):
    q_weight, q_scale = R.group_quantize(R.Tensor([1, 32], "float16", GROUP_B), MODE, rounding)
    check(f"group B words ({rounding})", hexes(q_weight.values),
          hexes([word0, 0x77777777, 0x77777777, 0x77777777]))
    check(f"group B scale ({rounding})", R.tensor_bytes(q_scale), b"\x92\x30")

# All-zero group: scale 0, 0/0 = NaN, clamp turns NaN into 0 -> words 0.
q_weight, q_scale = R.group_quantize(R.Tensor([1, 32], "float16", [0.0] * 32), MODE, "even")
check("zero group words", q_weight.values, [0, 0, 0, 0])
check("zero group scale", R.tensor_bytes(q_scale), b"\x00\x00")

# q3f16_1: 40-element group, 10 elements per word at 3 bits each, so a word
# written in octal lists q[9..0]. max |w| = 3 -> scale 1.0, q = w + 3.
#   idx 0..6: w = -3..3 -> q = 0..6; others 0 -> 3
#   word0 = 0o3336543210, words 1-3 = 0o3333333333 (bits 30-31 zero)
GROUP_C = [float(v) for v in range(-3, 4)] + [0.0] * 33
q_weight, q_scale = R.group_quantize(R.Tensor([1, 40], "float16", GROUP_C),
                                     R.QUANTIZATIONS["q3f16_1"], "even")
check("q3 words", [oct(v) for v in q_weight.values],
      [oct(0o3336543210)] + [oct(0o3333333333)] * 3)

# A short last group: K = 33 with q4 -> 2 groups, 8 words; the padding
# positions of the last group contribute 0 bits. Element 32 = 7.0, so
# group 2 has scale 1 and q = 14 in its first nibble only.
q_weight, q_scale = R.group_quantize(R.Tensor([1, 33], "float16", GROUP_A + [7.0]), MODE, "even")
check("short group shape", (q_weight.shape, q_scale.shape), ([1, 8], [1, 2]))
check("short group words", hexes(q_weight.values[4:]), hexes([0xE, 0, 0, 0]))

# ---------------------------------------------------------------------------
# Tensor cache JSON text (json.dump indent=4, float repr, no trailing newline)
# ---------------------------------------------------------------------------
with tempfile.TemporaryDirectory() as out:
    writer = R.TensorCacheWriter(out)
    writer.add("a", R.Tensor([2], "float16", [1.0, -2.0]))  # bytes 00 3c 00 c0
    writer.add("b", R.Tensor([1], "float32", [1.0]))  # 4 bytes counted, 80 3f stored
    writer.finish(total_params=3)
    shard_bytes = b"\x00\x3c\x00\xc0\x80\x3f"
    with open(os.path.join(out, "params_shard_0.bin"), "rb") as f:
        check("shard bytes", f.read(), shard_bytes)
    md5 = hashlib.md5(shard_bytes).hexdigest()
    # ParamBytes = 2*2 + 1*4 = 8 -> "8.0"; BitsPerParam = 64/3 -> repr 21.333333333333332
    record_b = """                {
                    "name": "b",
                    "shape": [
                        1
                    ],
                    "dtype": "%s",
                    "format": "%s",
                    "nbytes": 2,
                    "byteOffset": 4
                }"""
    expected = """{
    "metadata": {
        "ParamSize": 2,
        "ParamBytes": 8.0,
        "BitsPerParam": 21.333333333333332
    },
    "records": [
        {
            "dataPath": "params_shard_0.bin",
            "format": "raw-shard",
            "nbytes": 6,
            "records": [
                {
                    "name": "a",
                    "shape": [
                        2
                    ],
                    "dtype": "float16",
                    "format": "f32-to-bf16",
                    "nbytes": 4,
                    "byteOffset": 0
                },
RECORD_B
            ],
            "md5sum": "MD5"
        }
    ]
}""".replace("MD5", md5)
    with open(os.path.join(out, "tensor-cache.json")) as f:
        check("tensor-cache.json", f.read(),
              expected.replace("RECORD_B", record_b % ("float32", "f32-to-bf16")))
    with open(os.path.join(out, "tensor-cache-b16.json")) as f:
        check("tensor-cache-b16.json", f.read(),
              expected.replace("RECORD_B", record_b % ("bfloat16", "raw")))

# ---------------------------------------------------------------------------
# Shard cap: a tensor of >= 16 MiB that does not fit goes out of band and the
# pending buffer gets the later shard number.
# ---------------------------------------------------------------------------
with tempfile.TemporaryDirectory() as out:
    writer = R.TensorCacheWriter(out)
    mib = 2 ** 20
    writer.add("small", R.Tensor([17 * mib], "float8_e5m2", [0] * (17 * mib)))
    writer.add("big", R.Tensor([16 * mib], "float8_e5m2", [0] * (16 * mib)))
    writer.add("tail", R.Tensor([1], "float8_e5m2", [0x3C]))
    cache = writer.finish(total_params=1)
    layout = [(s["dataPath"], [(r["name"], r["byteOffset"]) for r in s["records"]])
              for s in cache["records"]]
    check("out-of-band layout", layout,
          [("params_shard_0.bin", [("big", 0)]),
           ("params_shard_1.bin", [("small", 0), ("tail", 17 * mib)])])

# ---------------------------------------------------------------------------
# mlc_block_scale.isclose (np.isclose, rtol 1e-5, atol 1e-8, in numpy's
# types), worked by hand: float32(1e-8) = 9.99999993922529e-09 < 1e-8;
# float16(1e-8) = 0; neighbouring bfloat16 values near 1 are 2^-7 apart.
# ---------------------------------------------------------------------------
import mlc_block_scale as B  # noqa: E402

f32_atol = struct.unpack("<f", struct.pack("<f", 1e-8))[0]
nan, inf = float("nan"), float("inf")
for what, args, want in [
        ("f32 on atol", (f32_atol, "F32", 0.0, "F32"), True),
        ("f32 past atol", (1e-8, "F64", 0.0, "F32"), False),
        ("f64 on atol", (1e-8, "F64", 0.0, "F64"), True),
        ("f32 1 + 2^-17", (1 + 2 ** -17, "F32", 1.0, "F32"), True),
        ("f32 1.00001", (struct.unpack("<f", struct.pack("<f", 1.00001))[0],
                         "F32", 1.0, "F32"), False),
        ("f16 atol is 0", (2 ** -27, "F32", 0.0, "F16"), False),
        ("f32 keeps atol", (2 ** -27, "F32", 0.0, "F32"), True),
        ("bf16 neighbours", (1 + 2 ** -7, "BF16", 1.0, "BF16"), False),
        ("nan", (nan, "F32", nan, "F32"), False),
        ("inf", (inf, "F32", inf, "F32"), True),
        ("inf vs finite", (3e38, "F32", inf, "F32"), False)]:
    check(f"isclose {what}", B.isclose(*args), want)

if FAILURES:
    for failure in FAILURES:
        print("FAIL", failure)
    sys.exit(1)
print("selftest: all checks passed")
