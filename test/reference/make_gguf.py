#!/usr/bin/env python3
"""Writes GGUF files for tests (stdlib only), following the project's fact
sheet (shared/spec/source-formats.md section 3) and nothing else.

  make_gguf.py from-hf MODEL_DIR OUT.gguf [--type T] [--map GGUF_PART=T ...]
      [--dequantized OUT_F32.gguf] [--version 3] [--alignment N]
      [--no-vocab-key] [--tokens] [--drop-key KEY] [--set KEY=TYPE:VALUE]
      [--no-permute]
  make_gguf.py hostile KIND OUT.gguf
  make_gguf.py dump FILE.gguf

`from-hf` converts a single-file safetensors Llama checkpoint the way
llama.cpp's convert_hf_to_gguf.py lays it out: llama.* metadata keys (3.7),
llama.cpp tensor names (3.5), dims reversed (3.2), q_proj/k_proj rows
permuted (3.6), 1-D tensors and norms as F32, 2-D weights as `--type`
(F32, F16, BF16 or a block type) unless a `--map PART=TYPE` names it: PART
is the GGUF name (`output.weight`), the name without `.weight`
(`blk.0.ffn_down`) or the tensor kind (`ffn_down`, every layer).

Block types are written with deliberately simple reference quantizers (max
based scales; not llama.cpp's search): Q4_0, Q4_1, Q5_0, Q5_1, Q8_0, Q2_K,
Q3_K, Q4_K, Q5_K, Q6_K. `--dequantized` also writes the same model with
every block-quantized tensor replaced by its float32 dequantization, computed
here from the sheet's formulas (3.4) with float32 rounding after each
operation. Converting both files must give the same tensor cache.

`hostile` writes malformed files for error tests; `dump` prints the tensor
table (name, type, ne, offset) for cross-checks.
"""
import argparse
import json
import math
import os
import struct
import sys

# --------------------------------------------------------------------------
# Scalars
# --------------------------------------------------------------------------


def f32(x):
    """Rounds a Python float to float32 (nearest even)."""
    return struct.unpack("<f", struct.pack("<f", x))[0]


def f16_bits(x):
    return struct.unpack("<H", struct.pack("<e", x))[0]


def f16(x):
    return struct.unpack("<e", struct.pack("<e", x))[0]


def half_at(b, off):
    return struct.unpack_from("<e", b, off)[0]


def round_half_away(x):
    return int(math.floor(abs(x) + 0.5)) * (1 if x >= 0 else -1)


def nearest(x):
    """Round half to even (Python's round)."""
    return int(round(x))


def clamp(v, lo, hi):
    return max(lo, min(hi, v))


# --------------------------------------------------------------------------
# GGUF writing
# --------------------------------------------------------------------------

UINT8, INT8, UINT16, INT16, UINT32, INT32, FLOAT32, BOOL, STRING, ARRAY, \
    UINT64, INT64, FLOAT64 = range(13)
SCALAR_FMT = {UINT8: "<B", INT8: "<b", UINT16: "<H", INT16: "<h",
              UINT32: "<I", INT32: "<i", FLOAT32: "<f", BOOL: "<B",
              UINT64: "<Q", INT64: "<q", FLOAT64: "<d"}

# name: (ggml type value, block size, bytes per block)
GGML = {
    "F32": (0, 1, 4), "F16": (1, 1, 2), "Q4_0": (2, 32, 18),
    "Q4_1": (3, 32, 20), "Q5_0": (6, 32, 22), "Q5_1": (7, 32, 24),
    "Q8_0": (8, 32, 34), "Q2_K": (10, 256, 84), "Q3_K": (11, 256, 110),
    "Q4_K": (12, 256, 144), "Q5_K": (13, 256, 176), "Q6_K": (14, 256, 210),
    "BF16": (30, 1, 2),
}
GGML_NAME = {v[0]: k for k, v in GGML.items()}


def gguf_string(s):
    b = s.encode() if isinstance(s, str) else s
    return struct.pack("<Q", len(b)) + b


def encode_value(vtype, value):
    if vtype == STRING:
        return gguf_string(value)
    if vtype == ARRAY:
        etype, items = value
        out = struct.pack("<IQ", etype, len(items))
        for it in items:
            out += encode_value(etype, it)
        return out
    return struct.pack(SCALAR_FMT[vtype], value)


def write_gguf(path, kvs, tensors, version=3, alignment=None):
    """kvs: list of (key, type, value); tensors: list of (name, ne, type
    name, bytes). Offsets are sequential, each tensor padded to ALIGNMENT."""
    align = alignment or 32
    out = bytearray(b"GGUF")
    out += struct.pack("<IQQ", version, len(tensors), len(kvs))
    for key, vtype, value in kvs:
        out += gguf_string(key) + struct.pack("<I", vtype)
        out += encode_value(vtype, value)
    offset = 0
    for name, ne, tname, data in tensors:
        out += gguf_string(name) + struct.pack("<I", len(ne))
        out += b"".join(struct.pack("<Q", d) for d in ne)
        out += struct.pack("<IQ", GGML[tname][0], offset)
        offset += len(data) + (-len(data)) % align
    out += b"\0" * ((-len(out)) % align)
    for _, _, _, data in tensors:
        out += data + b"\0" * ((-len(data)) % align)
    with open(path, "wb") as f:
        f.write(out)


# --------------------------------------------------------------------------
# Reference quantizers (simple, max based) and dequantizers (sheet 3.4)
# --------------------------------------------------------------------------


def q8_0(x):
    amax = max(abs(v) for v in x)
    d = amax / 127
    ident = 1 / d if d else 0
    q = [clamp(round_half_away(v * ident), -128, 127) for v in x]
    return struct.pack("<H", f16_bits(d)) + struct.pack("<32b", *q)


def q4_0(x):
    mx = max(x, key=abs)  # signed, first on ties
    d = mx / -8
    ident = 1 / d if d else 0
    q = [min(15, int(v * ident + 8.5)) for v in x]
    qs = bytes(q[j] | q[j + 16] << 4 for j in range(16))
    return struct.pack("<H", f16_bits(d)) + qs


def q5_0(x):
    mx = max(x, key=abs)
    d = mx / -16
    ident = 1 / d if d else 0
    q = [min(31, int(v * ident + 16.5)) for v in x]
    h = 0
    for j in range(32):
        h |= (q[j] >> 4) << j
    qs = bytes((q[j] & 15) | (q[j + 16] & 15) << 4 for j in range(16))
    return struct.pack("<HI", f16_bits(d), h) + qs


def _asym(x, nmax):
    lo, hi = min(x), max(x)
    d = (hi - lo) / nmax
    df, mf = f16(d), f16(lo)
    q = [clamp(nearest((v - mf) / df), 0, nmax) if df else 0 for v in x]
    return d, lo, q


def q4_1(x):
    d, m, q = _asym(x, 15)
    qs = bytes(q[j] | q[j + 16] << 4 for j in range(16))
    return struct.pack("<HH", f16_bits(d), f16_bits(m)) + qs


def q5_1(x):
    d, m, q = _asym(x, 31)
    h = 0
    for j in range(32):
        h |= (q[j] >> 4) << j
    qs = bytes((q[j] & 15) | (q[j + 16] & 15) << 4 for j in range(16))
    return struct.pack("<HHI", f16_bits(d), f16_bits(m), h) + qs


def _super_scales(scales, mins, bits):
    """Quantizes per-sub-block scales and mins to `bits`-bit integers with
    one f16 d and dmin each."""
    top = (1 << bits) - 1
    d = max(scales) / top
    dmin = max(mins) / top
    df, dminf = f16(d), f16(dmin)
    ls = [clamp(nearest(s / df), 0, top) if df else 0 for s in scales]
    lm = [clamp(nearest(m / dminf), 0, top) if dminf else 0 for m in mins]
    return d, dmin, df, dminf, ls, lm


def _sub_asym(xs, nmax):
    """Per sub-block (scale, positive min) so that x ~ scale*q - min."""
    mn = max(0.0, -min(xs))
    return (max(xs) + mn) / nmax, mn


def _requant_asym(x, sc, mn, nmax):
    return [clamp(nearest((v + mn) / sc), 0, nmax) if sc else 0 for v in x]


def q2_k(x):
    subs = [x[16 * i:16 * i + 16] for i in range(16)]
    sm = [_sub_asym(s, 3) for s in subs]
    d, dmin, df, dminf, ls, lm = _super_scales([a for a, _ in sm],
                                                [b for _, b in sm], 4)
    scales = bytes(ls[i] | lm[i] << 4 for i in range(16))
    qs = bytearray(64)
    for h in range(2):
        for j in range(4):
            for s in range(2):
                i = 8 * h + 2 * j + s
                q = _requant_asym(subs[i], f32(df * ls[i]),
                                  f32(dminf * lm[i]), 3)
                for l in range(16):
                    qs[32 * h + 16 * s + l] |= q[l] << (2 * j)
    return scales + bytes(qs) + struct.pack("<HH", f16_bits(d),
                                            f16_bits(dmin))


def q3_k(x):
    subs = [x[16 * i:16 * i + 16] for i in range(16)]
    amax = [max(abs(v) for v in s) / 4 for s in subs]
    d = max(amax) / 31
    df = f16(d)
    # Odd sub-blocks get negative scales (the sheet's scales are signed).
    sc = []
    for i, a in enumerate(amax):
        v = clamp(nearest(a / df), 0, 31) if df else 0
        sc.append(-v if i % 2 else v)
    packed = bytearray(12)
    for i in range(16):
        u = sc[i] + 32
        if i < 8:
            packed[i] |= u & 15
        else:
            packed[i - 8] |= (u & 15) << 4
        packed[8 + i % 4] |= (u >> 4) << (2 * (i // 4))
    hmask = bytearray(32)
    qs = bytearray(64)
    for h in range(2):
        for j in range(4):
            for s in range(2):
                i = 8 * h + 2 * j + s
                step = f32(df * sc[i])
                for l in range(16):
                    v = subs[i][l]
                    q = clamp(nearest(v / step), -4, 3) if step else 0
                    q2, hb = (q, 1) if q >= 0 else (q + 4, 0)
                    qs[32 * h + 16 * s + l] |= q2 << (2 * j)
                    hmask[16 * s + l] |= hb << (4 * h + j)
    return bytes(hmask) + bytes(qs) + bytes(packed) + struct.pack(
        "<H", f16_bits(d))


def _pack_k4_scales(ls, lm):
    """Inverse of get_scale_min_k4 (sheet 3.4, Q4_K)."""
    b = bytearray(12)
    for i in range(8):
        if i < 4:
            b[i] |= ls[i] & 63
            b[i + 4] |= lm[i] & 63
        else:
            b[i + 4] |= (ls[i] & 15) | (lm[i] & 15) << 4
            b[i - 4] |= (ls[i] >> 4) << 6
            b[i] |= (lm[i] >> 4) << 6
    return bytes(b)


def _q45_k(x, nmax):
    subs = [x[32 * i:32 * i + 32] for i in range(8)]
    sm = [_sub_asym(s, nmax) for s in subs]
    d, dmin, df, dminf, ls, lm = _super_scales([a for a, _ in sm],
                                                [b for _, b in sm], 6)
    q = []
    for i in range(8):
        q.append(_requant_asym(subs[i], f32(df * ls[i]), f32(dminf * lm[i]),
                               nmax))
    head = struct.pack("<HH", f16_bits(d), f16_bits(dmin)) + \
        _pack_k4_scales(ls, lm)
    return head, q


def q4_k(x):
    head, q = _q45_k(x, 15)
    qs = bytearray(128)
    for c in range(4):
        for l in range(32):
            qs[32 * c + l] = q[2 * c][l] | q[2 * c + 1][l] << 4
    return head + bytes(qs)


def q5_k(x):
    head, q = _q45_k(x, 31)
    qh = bytearray(32)
    qs = bytearray(128)
    for c in range(4):
        for l in range(32):
            a, b = q[2 * c][l], q[2 * c + 1][l]
            qs[32 * c + l] = (a & 15) | (b & 15) << 4
            qh[l] |= (a >> 4) << (2 * c) | (b >> 4) << (2 * c + 1)
    return head + bytes(qh) + bytes(qs)


def q6_k(x):
    subs = [x[16 * i:16 * i + 16] for i in range(16)]
    amax = [max(abs(v) for v in s) / 32 for s in subs]
    d = max(amax) / 127
    df = f16(d)
    sc = []
    for i, a in enumerate(amax):
        v = clamp(nearest(a / df), 0, 127) if df else 0
        sc.append(-v if i % 3 == 1 else v)
    ql = bytearray(128)
    qh = bytearray(64)
    for e in range(256):
        h, r = divmod(e, 128)
        quarter, l = divmod(r, 32)
        i = 8 * h + r // 16
        step = f32(df * sc[i])
        q = clamp(nearest(x[e] / step), -32, 31) if step else 0
        u = q + 32
        lo_index = 64 * h + l + (32 if quarter in (1, 3) else 0)
        ql[lo_index] |= (u & 15) << (4 if quarter >= 2 else 0)
        qh[32 * h + l] |= (u >> 4) << (2 * quarter)
    return bytes(ql) + bytes(qh) + struct.pack("<16b", *sc) + struct.pack(
        "<H", f16_bits(d))


QUANTIZERS = {"Q8_0": q8_0, "Q4_0": q4_0, "Q4_1": q4_1, "Q5_0": q5_0,
              "Q5_1": q5_1, "Q2_K": q2_k, "Q3_K": q3_k, "Q4_K": q4_k,
              "Q5_K": q5_k, "Q6_K": q6_k}


# Dequantizers, written from the sheet's pseudo-code. Every float operation
# is rounded to float32 right after it, as the C code computes in float.

def dq_q8_0(b):
    d = half_at(b, 0)
    return [f32(q * d) for q in struct.unpack_from("<32b", b, 2)]


def dq_q4_0(b):
    d = half_at(b, 0)
    y = [0.0] * 32
    for j in range(16):
        y[j] = f32(((b[2 + j] & 15) - 8) * d)
        y[j + 16] = f32(((b[2 + j] >> 4) - 8) * d)
    return y


def dq_q4_1(b):
    d, m = half_at(b, 0), half_at(b, 2)
    y = [0.0] * 32
    for j in range(16):
        y[j] = f32(f32((b[4 + j] & 15) * d) + m)
        y[j + 16] = f32(f32((b[4 + j] >> 4) * d) + m)
    return y


def dq_q5_0(b):
    d = half_at(b, 0)
    h = struct.unpack_from("<I", b, 2)[0]
    y = [0.0] * 32
    for j in range(16):
        y[j] = f32((((b[6 + j] & 15) | ((h >> j) & 1) << 4) - 16) * d)
        y[j + 16] = f32((((b[6 + j] >> 4) | ((h >> (j + 16)) & 1) << 4) - 16)
                        * d)
    return y


def dq_q5_1(b):
    d, m = half_at(b, 0), half_at(b, 2)
    h = struct.unpack_from("<I", b, 4)[0]
    y = [0.0] * 32
    for j in range(16):
        y[j] = f32(f32(((b[8 + j] & 15) | ((h >> j) & 1) << 4) * d) + m)
        y[j + 16] = f32(f32(((b[8 + j] >> 4) | ((h >> (j + 16)) & 1) << 4)
                            * d) + m)
    return y


def dq_q2_k(b):
    scales, qs = b[0:16], b[16:80]
    d, dmin = half_at(b, 80), half_at(b, 82)
    y = [0.0] * 256
    for h in range(2):
        for j in range(4):
            for s in range(2):
                for l in range(16):
                    k = 128 * h + 32 * j + 16 * s + l
                    i = 8 * h + 2 * j + s
                    q = (qs[32 * h + 16 * s + l] >> (2 * j)) & 3
                    y[k] = f32(f32(f32(d * (scales[i] & 15)) * q)
                               - f32(dmin * (scales[i] >> 4)))
    return y


def dq_q3_k(b):
    hmask, qs, p = b[0:32], b[32:96], b[96:108]
    d = half_at(b, 108)
    sc = []
    for i in range(16):
        low4 = (p[i] & 15) if i < 8 else (p[i - 8] >> 4)
        high2 = (p[8 + i % 4] >> (2 * (i // 4))) & 3
        sc.append((low4 | high2 << 4) - 32)
    y = [0.0] * 256
    for h in range(2):
        for j in range(4):
            for s in range(2):
                for l in range(16):
                    k = 128 * h + 32 * j + 16 * s + l
                    q2 = (qs[32 * h + 16 * s + l] >> (2 * j)) & 3
                    hb = (hmask[16 * s + l] >> (4 * h + j)) & 1
                    y[k] = f32(f32(d * sc[8 * h + 2 * j + s])
                               * (q2 - (0 if hb else 4)))
    return y


def _scale_min(i, p):
    if i < 4:
        return p[i] & 63, p[i + 4] & 63
    return ((p[i + 4] & 15) | ((p[i - 4] >> 6) << 4),
            (p[i + 4] >> 4) | ((p[i] >> 6) << 4))


def dq_q4_k(b):
    d, dmin = half_at(b, 0), half_at(b, 2)
    p, qs = b[4:16], b[16:144]
    y = [0.0] * 256
    for c in range(4):
        sc1, mn1 = _scale_min(2 * c, p)
        sc2, mn2 = _scale_min(2 * c + 1, p)
        for l in range(32):
            y[64 * c + l] = f32(f32(f32(d * sc1) * (qs[32 * c + l] & 15))
                                - f32(dmin * mn1))
            y[64 * c + 32 + l] = f32(f32(f32(d * sc2) * (qs[32 * c + l] >> 4))
                                     - f32(dmin * mn2))
    return y


def dq_q5_k(b):
    d, dmin = half_at(b, 0), half_at(b, 2)
    p, qh, qs = b[4:16], b[16:48], b[48:176]
    y = [0.0] * 256
    for c in range(4):
        sc1, mn1 = _scale_min(2 * c, p)
        sc2, mn2 = _scale_min(2 * c + 1, p)
        for l in range(32):
            q_lo = (qs[32 * c + l] & 15) + 16 * ((qh[l] >> (2 * c)) & 1)
            q_hi = (qs[32 * c + l] >> 4) + 16 * ((qh[l] >> (2 * c + 1)) & 1)
            y[64 * c + l] = f32(f32(f32(d * sc1) * q_lo) - f32(dmin * mn1))
            y[64 * c + 32 + l] = f32(f32(f32(d * sc2) * q_hi)
                                     - f32(dmin * mn2))
    return y


def dq_q6_k(b):
    d = half_at(b, 208)
    scales = struct.unpack_from("<16b", b, 192)
    y = [0.0] * 256
    for h in range(2):
        L, H, S, base = 64 * h, 128 + 32 * h, 8 * h, 128 * h
        for l in range(32):
            i = l // 16
            q1 = ((b[L + l] & 15) | ((b[H + l] >> 0) & 3) << 4) - 32
            q2 = ((b[L + l + 32] & 15) | ((b[H + l] >> 2) & 3) << 4) - 32
            q3 = ((b[L + l] >> 4) | ((b[H + l] >> 4) & 3) << 4) - 32
            q4 = ((b[L + l + 32] >> 4) | ((b[H + l] >> 6) & 3) << 4) - 32
            y[base + l] = f32(f32(d * scales[S + i + 0]) * q1)
            y[base + l + 32] = f32(f32(d * scales[S + i + 2]) * q2)
            y[base + l + 64] = f32(f32(d * scales[S + i + 4]) * q3)
            y[base + l + 96] = f32(f32(d * scales[S + i + 6]) * q4)
    return y


DEQUANTIZERS = {"Q8_0": dq_q8_0, "Q4_0": dq_q4_0, "Q4_1": dq_q4_1,
                "Q5_0": dq_q5_0, "Q5_1": dq_q5_1, "Q2_K": dq_q2_k,
                "Q3_K": dq_q3_k, "Q4_K": dq_q4_k, "Q5_K": dq_q5_k,
                "Q6_K": dq_q6_k}


def encode(values, tname):
    """(bytes, float32 values the bytes decode to)."""
    if tname == "F32":
        return struct.pack("<%df" % len(values), *values), [f32(v) for v in values]
    if tname == "F16":
        return (struct.pack("<%de" % len(values), *values),
                [f16(v) for v in values])
    if tname == "BF16":
        out = bytearray()
        back = []
        for v in values:
            u = struct.unpack("<I", struct.pack("<f", v))[0]
            u = (u + 0x7FFF + ((u >> 16) & 1)) >> 16
            out += struct.pack("<H", u)
            back.append(struct.unpack("<f", struct.pack("<I", u << 16))[0])
        return bytes(out), back
    _, block, size = GGML[tname]
    data = bytearray()
    back = []
    for i in range(0, len(values), block):
        blk = QUANTIZERS[tname](values[i:i + block])
        assert len(blk) == size, (tname, len(blk))
        data += blk
        back += DEQUANTIZERS[tname](blk)
    return bytes(data), back


# --------------------------------------------------------------------------
# Hugging Face Llama -> GGUF
# --------------------------------------------------------------------------

SIZES = {"F16": 2, "BF16": 2, "F32": 4}


def read_safetensors(path):
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
        base = 8 + n
        out = {}
        for name, info in header.items():
            if name == "__metadata__":
                continue
            b, e = info["data_offsets"]
            f.seek(base + b)
            data = f.read(e - b)
            dt = info["dtype"]
            count = len(data) // SIZES[dt]
            if dt == "F32":
                vals = list(struct.unpack("<%df" % count, data))
            elif dt == "F16":
                vals = list(struct.unpack("<%de" % count, data))
            else:
                vals = [struct.unpack("<f", struct.pack("<I", h << 16))[0]
                        for h in struct.unpack("<%dH" % count, data)]
            out[name] = (info["shape"], vals)
        return out


def permute_rows(vals, rows, cols, n_head):
    """HF -> GGUF rows (sheet 3.6): gguf_row(h*hd + 2i + j) =
    hf_row(h*hd + j*hd/2 + i)."""
    hd = rows // n_head
    out = [None] * rows
    for h in range(n_head):
        for i in range(hd // 2):
            for j in range(2):
                out[h * hd + 2 * i + j] = h * hd + j * (hd // 2) + i
    res = []
    for g in range(rows):
        src = out[g]
        res += vals[src * cols:(src + 1) * cols]
    return res


LAYER_NAMES = [
    ("input_layernorm.weight", "attn_norm.weight"),
    ("self_attn.q_proj.weight", "attn_q.weight"),
    ("self_attn.k_proj.weight", "attn_k.weight"),
    ("self_attn.v_proj.weight", "attn_v.weight"),
    ("self_attn.o_proj.weight", "attn_output.weight"),
    ("post_attention_layernorm.weight", "ffn_norm.weight"),
    ("mlp.gate_proj.weight", "ffn_gate.weight"),
    ("mlp.up_proj.weight", "ffn_up.weight"),
    ("mlp.down_proj.weight", "ffn_down.weight"),
]


def hf_to_gguf_names(layers):
    out = [("model.embed_tokens.weight", "token_embd.weight")]
    for i in range(layers):
        for hf, gg in LAYER_NAMES:
            out.append(("model.layers.%d.%s" % (i, hf), "blk.%d.%s" % (i, gg)))
    out.append(("model.norm.weight", "output_norm.weight"))
    out.append(("lm_head.weight", "output.weight"))
    return out


def parse_set(text):
    key, rest = text.split("=", 1)
    tname, value = rest.split(":", 1)
    types = {"u32": UINT32, "i32": INT32, "u64": UINT64, "i64": INT64,
             "f32": FLOAT32, "str": STRING, "bool": BOOL, "u8": UINT8,
             "i16": INT16, "f64": FLOAT64}
    if tname == "u32arr":
        return key, ARRAY, (UINT32, [int(v) for v in value.split(",")])
    vt = types[tname]
    if vt == STRING:
        return key, vt, value
    if vt in (FLOAT32, FLOAT64):
        return key, vt, float(value)
    return key, vt, int(value)


def from_hf(args):
    cfg = json.load(open(os.path.join(args.model, "config.json")))
    tensors = read_safetensors(os.path.join(args.model, "model.safetensors"))
    n_head = cfg["num_attention_heads"]
    n_kv = cfg.get("num_key_value_heads") or n_head
    theta = cfg.get("rope_theta")
    if theta is None:
        theta = cfg.get("rope_parameters", {}).get("rope_theta", 10000.0)
    head_dim = cfg.get("head_dim") or cfg["hidden_size"] // n_head
    kvs = [("general.architecture", STRING, "llama"),
           ("general.name", STRING, os.path.basename(args.model.rstrip("/")))]
    if args.alignment:
        kvs.append(("general.alignment", UINT32, args.alignment))
    kvs += [
        ("llama.context_length", UINT32, cfg["max_position_embeddings"]),
        ("llama.embedding_length", UINT32, cfg["hidden_size"]),
        ("llama.block_count", UINT32, cfg["num_hidden_layers"]),
        ("llama.feed_forward_length", UINT32, cfg["intermediate_size"]),
        ("llama.rope.dimension_count", UINT32, head_dim),
        ("llama.attention.head_count", UINT32, n_head),
        ("llama.attention.head_count_kv", UINT32, n_kv),
        ("llama.attention.layer_norm_rms_epsilon", FLOAT32,
         cfg["rms_norm_eps"]),
        ("llama.rope.freq_base", FLOAT32, theta),
    ]
    if cfg.get("head_dim"):
        kvs += [("llama.attention.key_length", UINT32, head_dim),
                ("llama.attention.value_length", UINT32, head_dim)]
    if not args.no_vocab_key:
        kvs.append(("llama.vocab_size", UINT32, cfg["vocab_size"]))
    kvs += [("general.file_type", UINT32, 0),
            ("general.quantization_version", UINT32, 2)]
    if args.tokens:
        v = cfg["vocab_size"]
        kvs += [("tokenizer.ggml.model", STRING, "llama"),
                ("tokenizer.ggml.tokens", ARRAY,
                 (STRING, ["<t%d>" % i for i in range(v)])),
                ("tokenizer.ggml.scores", ARRAY,
                 (FLOAT32, [float(-i) for i in range(v)])),
                ("tokenizer.ggml.token_type", ARRAY, (INT32, [1] * v)),
                ("tokenizer.ggml.bos_token_id", UINT32,
                 cfg.get("bos_token_id") or 1),
                ("tokenizer.ggml.eos_token_id", UINT32,
                 cfg.get("eos_token_id") or 2)]
    for s in args.set or []:
        key, vt, val = parse_set(s)
        kvs = [kv for kv in kvs if kv[0] != key] + [(key, vt, val)]
    kvs = [kv for kv in kvs if kv[0] not in (args.drop_key or [])]

    type_map = [m.split("=", 1) for m in (args.map or [])]
    out, deq = [], []
    for hf, gg in hf_to_gguf_names(cfg["num_hidden_layers"]):
        if hf not in tensors:
            continue  # tied embeddings: no lm_head
        shape, vals = tensors[hf]
        if args.no_permute:
            pass
        elif gg.endswith("attn_q.weight"):
            vals = permute_rows(vals, shape[0], shape[1], n_head)
        elif gg.endswith("attn_k.weight"):
            vals = permute_rows(vals, shape[0], shape[1], n_kv)
        ne = list(reversed(shape))
        if len(shape) == 1 or gg.endswith("_norm.weight"):
            tname = "F32"
        else:
            tname = args.type
            for part, t in type_map:
                # The whole name, the name without ".weight" or its kind.
                if part in (gg, gg.rsplit(".", 1)[0], gg.split(".")[-2]):
                    tname = t
        if ne[0] % GGML[tname][1]:
            sys.exit("error: %s: ne[0]=%d is not a multiple of the %s block "
                     "size" % (gg, ne[0], tname))
        data, back = encode(vals, tname)
        out.append((gg, ne, tname, data))
        if tname in QUANTIZERS:
            deq.append((gg, ne, "F32", struct.pack("<%df" % len(back), *back)))
        else:
            deq.append((gg, ne, tname, data))
    write_gguf(args.out, kvs, out, args.version, args.alignment)
    if args.dequantized:
        write_gguf(args.dequantized, kvs, deq, args.version, args.alignment)


# --------------------------------------------------------------------------
# Hostile files
# --------------------------------------------------------------------------


def tensor_info(name, ne, tval, offset):
    return (gguf_string(name) + struct.pack("<I", len(ne)) +
            b"".join(struct.pack("<Q", d) for d in ne) +
            struct.pack("<IQ", tval, offset))


def header(n_tensors, n_kv, version=3):
    return b"GGUF" + struct.pack("<IQQ", version, n_tensors, n_kv)


def kv(key, vtype, value):
    return gguf_string(key) + struct.pack("<I", vtype) + encode_value(vtype,
                                                                       value)


def one_tensor_file(info, data_len=64, kvs=b"", n_kv=0):
    body = header(1, n_kv) + kvs + info
    body += b"\0" * ((-len(body)) % 32)
    return body + b"\0" * data_len


def hostile(kind, out):
    ok_info = tensor_info("w", [32, 2], 0, 0)  # F32, 256 bytes
    files = {
        "truncated": one_tensor_file(ok_info, 100),
        "bad-magic": b"GGUG" + b"\0" * 60,
        "version-1": header(0, 0, version=1),
        "big-endian": b"GGUF" + struct.pack(">IQQ", 3, 0, 0),
        "lying-tensor-count": header(1 << 40, 0),
        "lying-kv-count": header(0, 1 << 40),
        "lying-string": header(0, 1) + struct.pack("<Q", 1 << 62) + b"k" +
        b"\0" * 32,
        "lying-array": header(0, 1) + gguf_string("a") +
        struct.pack("<IIQ", ARRAY, UINT32, 1 << 61) + b"\0" * 32,
        "nested-array": header(0, 1) + gguf_string("a") +
        struct.pack("<IIQ", ARRAY, ARRAY, 1) + b"\0" * 16,
        "duplicate-key": header(0, 2) + kv("a", UINT8, 1) + kv("a", UINT8, 2),
        "bad-value-type": header(0, 1) + gguf_string("a") +
        struct.pack("<I", 13) + b"\0" * 8,
        "alignment": one_tensor_file(ok_info, 256,
                                     kv("general.alignment", UINT32, 48), 1),
        "long-name": one_tensor_file(tensor_info("n" * 64, [32], 0, 0)),
        "too-many-dims": one_tensor_file(tensor_info("w", [1] * 5, 0, 0)),
        "negative-dim": one_tensor_file(tensor_info("w", [32, 1 << 63], 0, 0)),
        "overflow": one_tensor_file(tensor_info("w", [1 << 32, 1 << 32], 0,
                                                0)),
        "absurd-dims": one_tensor_file(tensor_info("w", [1 << 20, 1 << 20],
                                                   0, 0)),
        "unknown-type": one_tensor_file(tensor_info("w", [32], 4, 0)),
        "block-multiple": one_tensor_file(tensor_info("w", [48, 2], 2, 0)),
        "bad-offset": one_tensor_file(tensor_info("w", [32, 2], 0, 32), 512),
        "duplicate-tensor": header(2, 0) + tensor_info("w", [8], 0, 0) +
        tensor_info("w", [8], 0, 32) + b"\0" * 64,
    }
    with open(out, "wb") as f:
        f.write(files[kind])


# --------------------------------------------------------------------------
# Dump (for cross-checks)
# --------------------------------------------------------------------------


def dump(path):
    b = open(path, "rb").read()
    assert b[:4] == b"GGUF"
    version, nt, nkv = struct.unpack_from("<IQQ", b, 4)
    pos = 24

    def rstr(p):
        n = struct.unpack_from("<Q", b, p)[0]
        return b[p + 8:p + 8 + n].decode("utf-8", "replace"), p + 8 + n

    def rval(p, t):
        if t == STRING:
            return rstr(p)
        if t == ARRAY:
            et, n = struct.unpack_from("<IQ", b, p)
            p += 12
            items = []
            for _ in range(n):
                v, p = rval(p, et)
                items.append(v)
            return items, p
        fmt = SCALAR_FMT[t]
        return struct.unpack_from(fmt, b, p)[0], p + struct.calcsize(fmt)

    meta = {}
    for _ in range(nkv):
        k, pos = rstr(pos)
        t = struct.unpack_from("<I", b, pos)[0]
        v, pos = rval(pos + 4, t)
        meta[k] = v
    for _ in range(nt):
        name, pos = rstr(pos)
        nd = struct.unpack_from("<I", b, pos)[0]
        ne = list(struct.unpack_from("<%dQ" % nd, b, pos + 4))
        pos += 4 + 8 * nd
        t, off = struct.unpack_from("<IQ", b, pos)
        pos += 12
        print("%s %s %s %d" % (name, GGML_NAME.get(t, t), ne, off))


def main():
    ap = argparse.ArgumentParser()
    sub = ap.add_subparsers(dest="cmd", required=True)
    a = sub.add_parser("from-hf")
    a.add_argument("model")
    a.add_argument("out")
    a.add_argument("--type", default="F32", choices=sorted(GGML))
    a.add_argument("--map", action="append")
    a.add_argument("--dequantized")
    a.add_argument("--version", type=int, default=3)
    a.add_argument("--alignment", type=int)
    a.add_argument("--no-vocab-key", action="store_true")
    a.add_argument("--no-permute", action="store_true",
                   help="skip the q/k permutation (a wrong file, for tests)")
    a.add_argument("--tokens", action="store_true")
    a.add_argument("--drop-key", action="append")
    a.add_argument("--set", action="append")
    h = sub.add_parser("hostile")
    h.add_argument("kind")
    h.add_argument("out")
    d = sub.add_parser("dump")
    d.add_argument("file")
    args = ap.parse_args()
    if args.cmd == "from-hf":
        from_hf(args)
    elif args.cmd == "hostile":
        hostile(args.kind, args.out)
    else:
        dump(args.file)


if __name__ == "__main__":
    main()
