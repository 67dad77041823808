"""Scalar numerics of the reference: float16/bfloat16/float32 rounding,
float8 formats, the input error type.

Part of mlc_reference.py (the test oracle), which re-exports every name;
written from the same sources and sharing no code with the C++.
"""

import hashlib
import json
import math
import os
import struct



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
            "float8_e4m3fn": 1, "float8_e5m2": 1, "int8": 1}


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
