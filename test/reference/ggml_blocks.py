"""ggml block formats for the GGUF test writer (make_gguf.py, which
re-exports every name): the ggml type table, float32/float16 rounding, the
deliberately simple reference quantizers (max based scales; not llama.cpp's
search) and the dequantizers written from the format's formulas, with
float32 rounding after each operation. Stdlib only.
"""
import math
import struct

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
# ggml types
# --------------------------------------------------------------------------

# name: (ggml type value, block size, bytes per block)
GGML = {
    "F32": (0, 1, 4), "F16": (1, 1, 2), "Q4_0": (2, 32, 18),
    "Q4_1": (3, 32, 20), "Q5_0": (6, 32, 22), "Q5_1": (7, 32, 24),
    "Q8_0": (8, 32, 34), "Q2_K": (10, 256, 84), "Q3_K": (11, 256, 110),
    "Q4_K": (12, 256, 144), "Q5_K": (13, 256, 176), "Q6_K": (14, 256, 210),
    "BF16": (30, 1, 2),
}
GGML_NAME = {v[0]: k for k, v in GGML.items()}


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
