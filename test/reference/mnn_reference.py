#!/usr/bin/env python3
"""Deliberately simple reference of MNN's RTN weight quantization (test oracle).

Written from MNN's published weight quantization (grouping, symmetric,
asymmetric, storage) and its tensor-cache records as docs/mnn-format.md
describes them, sharing no code with the C++ implementation. Standard
library only; plain loops over Python floats, every float32 operation rounded
to float32 right after it (for + - * / of float32 operands, rounding the exact
double result to float32 is the correctly rounded float32 result).

Usage:
  python3 mnn_reference.py MODEL_DIR CACHE_DIR --bits B [--asymmetric]
                           [--block N]
      Recomputes, from the safetensors checkpoint in MODEL_DIR (a Llama),
      every record `quant-opt convert --quantization mnn` must write with
      those flags and compares it byte for byte with the cache in CACHE_DIR
      (names, dtypes, shapes and bytes; no record missing, none extra).
      Prints "ok: ..." or the first differences and exits 1.
  python3 mnn_reference.py MODEL_DIR --views IR_FILE --bits B [--asymmetric]
                           [--block N]
      Checks the weights.quant_view ops that qopt-lower-to-quant-types
      {materialize-scales=1} wrote into IR_FILE: one per MNN weight, its
      upstream type (storage i<b><-T:T> symmetric / u<b> asymmetric with an
      offset operand, per-axis "0" when channel-wise, sub-channel
      {0:1, 1:K/blocks} when block-wise, zero points 0) and every scale,
      equal to the float16 q_scale (1 where that is 0).
  python3 mnn_reference.py --selftest
      Checks hand-worked values (rounding, packing, blocks) and exits 1 on
      a failure.

HQQ is not covered (its result is checked by its accuracy instead).

The quantizer, per row of K input values (after the source weight is cast to
the model dtype, float16), per block:
  block-wise iff block >= 16, block % 16 == 0 and K % block == 0, else one
  block per row (channel-wise); no padding.
  symmetric:  T = 2^(b-1) - 1, scale = f32(absmax / T),
              q = clamp(round(f32(w / scale)), -2^(b-1), T), u = q + 2^(b-1);
              if scale <= 1e-6f: u = 2^(b-1) for the block.
  asymmetric: scale = f32(f32(max - min) / (2^b - 1)),
              u = clamp(round(f32(f32(w - min) / scale)), 0, 2^b - 1);
              if scale <= 1e-6f: u = 0 for the block.
  round = half away from zero (MNN's C++ round()).
Records: `<base>.q_weight` uint8 [rows, ceil(K * b / 8)], the row's codes as
one MSB-first bit stream (code 0 first, each code's most significant bit
first, unused low bits of the last byte 0); `<base>.q_scale` float16
[rows, blocks] = f16(scale); asymmetric: `<base>.q_zero` float16
[rows, blocks] = f16(min). Everything else (embeddings, norms) is float16.
"""

import argparse
import json
import math
import os
import re
import struct
import sys

_F16 = struct.Struct("<e")
_F32 = struct.Struct("<f")
_U16 = struct.Struct("<H")
_U32 = struct.Struct("<I")


def f32(x):
    """x rounded to float32 (nearest, ties to even)."""
    return _F32.unpack(_F32.pack(x))[0]


def f16_bits(x):
    """float16 bits of x (nearest, ties to even; overflow to infinity)."""
    try:
        return _U16.unpack(_F16.pack(x))[0]
    except OverflowError:
        return 0xFC00 if x < 0 else 0x7C00


def f16_value(bits):
    return _F16.unpack(_U16.pack(bits))[0]


def bf16_value(bits):
    return _F32.unpack(_U32.pack(bits << 16))[0]


EPS = f32(1e-6)  # MNN compares the float32 scale with 1e-6f


def round_away(x):
    """C's round(): nearest integer, halves away from zero."""
    a = abs(x)
    n = math.floor(a)
    if a - n >= 0.5:
        n += 1
    return -n if x < 0 else n


def clamp(v, lo, hi):
    return lo if v < lo else hi if v > hi else v


def blocks_per_row(k, block):
    if block >= 16 and block % 16 == 0 and k % block == 0:
        return k // block
    return 1


def quantize_block(w, bits, asymmetric):
    """(codes, scale, min) of one block of float32 values."""
    if asymmetric:
        lo, hi = min(w), max(w)
        scale = f32(f32(hi - lo) / ((1 << bits) - 1))
        if scale <= EPS:
            return [0] * len(w), scale, lo
        top = (1 << bits) - 1
        codes = [clamp(round_away(f32(f32(x - lo) / scale)), 0, top) for x in w]
        return codes, scale, lo
    t = (1 << (bits - 1)) - 1
    scale = f32(max(abs(x) for x in w) / t)
    off = 1 << (bits - 1)
    if scale <= EPS:
        return [off] * len(w), scale, 0.0
    codes = [clamp(round_away(f32(x / scale)), -off, t) + off for x in w]
    return codes, scale, 0.0


def pack_row(codes, bits):
    """MSB-first bit stream of one row, padded with 0 bits to whole bytes."""
    out = bytearray((len(codes) * bits + 7) // 8)
    pos = 0
    for c in codes:
        for i in range(bits - 1, -1, -1):
            if (c >> i) & 1:
                out[pos >> 3] |= 0x80 >> (pos & 7)
            pos += 1
    return bytes(out)


def quantize_rows(values, rows, k, bits, asymmetric, block):
    """(q_weight bytes, q_scale bytes, q_zero bytes or None, blocks)."""
    nb = blocks_per_row(k, block)
    size = k // nb
    qw, qs, qz = bytearray(), bytearray(), bytearray()
    for r in range(rows):
        row = values[r * k:(r + 1) * k]
        codes = []
        for b in range(nb):
            c, scale, lo = quantize_block(row[b * size:(b + 1) * size], bits,
                                          asymmetric)
            codes += c
            qs += _U16.pack(f16_bits(scale))
            qz += _U16.pack(f16_bits(lo))
        qw += pack_row(codes, bits)
    return bytes(qw), bytes(qs), (bytes(qz) if asymmetric else None), nb


# ---------------------------------------------------------------------------
# Files
# ---------------------------------------------------------------------------

def read_safetensors(model_dir):
    """name -> (shape, exact float values) of model.safetensors."""
    path = os.path.join(model_dir, "model.safetensors")
    with open(path, "rb") as f:
        raw = f.read()
    (n,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8:8 + n])
    tensors = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        begin, end = info["data_offsets"]
        data = raw[8 + n + begin:8 + n + end]
        shape = info["shape"]
        count = math.prod(shape)
        if info["dtype"] == "F16":
            vals = [f16_value(b) for b in struct.unpack(f"<{count}H", data)]
        elif info["dtype"] == "BF16":
            vals = [bf16_value(b) for b in struct.unpack(f"<{count}H", data)]
        elif info["dtype"] == "F32":
            vals = list(struct.unpack(f"<{count}f", data))
        else:
            raise SystemExit(f"{path}: {name}: unsupported dtype {info['dtype']}")
        tensors[name] = (shape, vals)
    return tensors


def read_cache(cache_dir):
    """name -> (dtype, shape, bytes) of a tensor cache."""
    with open(os.path.join(cache_dir, "tensor-cache.json")) as f:
        index = json.load(f)
    out = {}
    for shard in index["records"]:
        with open(os.path.join(cache_dir, shard["dataPath"]), "rb") as f:
            data = f.read()
        for r in shard["records"]:
            off = r["byteOffset"]
            out[r["name"]] = (r["dtype"], r["shape"],
                              data[off:off + r["nbytes"]])
    return out


def mlc_llama_params(tensors):
    """MLC name -> (shape, values): q/k/v and gate/up fused by rows."""
    fused = {"self_attn.qkv_proj": ("q_proj", "k_proj", "v_proj"),
             "mlp.gate_up_proj": ("gate_proj", "up_proj")}
    out = {}
    for name, (shape, vals) in tensors.items():
        if "rotary_emb.inv_freq" in name:
            continue
        merged = False
        for target, parts in fused.items():
            prefix = target.split(".")[0] + "."
            for p in parts:
                suffix = prefix + p + ".weight"
                if name.endswith(suffix):
                    merged = True
                    key = name[:-len(suffix)] + target + ".weight"
                    out.setdefault(key, {})[p] = (shape, vals)
        if not merged:
            out[name] = (shape, vals)
    params = {}
    for name, v in out.items():
        if isinstance(v, dict):
            target = next(t for t in fused if name.endswith(t + ".weight"))
            parts = [v[p] for p in fused[target]]
            rows = sum(s[0] for s, _ in parts)
            params[name] = ([rows] + parts[0][0][1:],
                            [x for _, vals in parts for x in vals])
        else:
            params[name] = v
    return params


def expected_records(model_dir, bits, asymmetric, block):
    """name -> (dtype, shape, bytes) that the cache must hold."""
    params = mlc_llama_params(read_safetensors(model_dir))
    records = {}
    count = 0
    for name, (shape, vals) in params.items():
        w = [f16_value(f16_bits(x)) for x in vals]  # the model dtype
        if len(shape) == 2 and name.endswith(".weight") and \
                "embed_tokens" not in name:
            rows, k = shape
            qw, qs, qz, nb = quantize_rows(w, rows, k, bits, asymmetric, block)
            base = name[:-len(".weight")]
            records[base + ".q_weight"] = ("uint8", [rows, len(qw) // rows], qw)
            records[base + ".q_scale"] = ("float16", [rows, nb], qs)
            if asymmetric:
                records[base + ".q_zero"] = ("float16", [rows, nb], qz)
            count += 1
        else:
            data = b"".join(_U16.pack(f16_bits(x)) for x in w)
            records[name] = ("float16", shape, data)
    return records, count


def compare(model_dir, cache_dir, bits, asymmetric, block):
    want, count = expected_records(model_dir, bits, asymmetric, block)
    got = read_cache(cache_dir)
    errors = []
    for name in sorted(set(want) | set(got)):
        if name not in got:
            errors.append(f"missing record {name}")
        elif name not in want:
            errors.append(f"unexpected record {name}")
        else:
            wd, ws, wb = want[name]
            gd, gs, gb = got[name]
            if (wd, ws) != (gd, list(gs)):
                errors.append(f"{name}: {gd} {gs}, expected {wd} {ws}")
            elif wb != gb:
                at = next(i for i in range(len(wb)) if wb[i] != gb[i])
                errors.append(f"{name}: byte {at} is {gb[at]:#04x}, "
                              f"expected {wb[at]:#04x}")
    if errors:
        for e in errors[:20]:
            print("mismatch:", e)
        return 1
    mnn = sum(1 for n in want if n.endswith((".q_weight", ".q_scale",
                                             ".q_zero")))
    print(f"ok: {count} MNN weights ({mnn} records) and "
          f"{len(want) - mnn} float16 records match")
    return 0


# ---------------------------------------------------------------------------
# Upstream quant types (qopt-lower-to-quant-types{materialize-scales=1})
# ---------------------------------------------------------------------------

_VIEW = re.compile(r'weights\.quant_view "([^"]+)" = %[^,]+, %[^ ]+'
                   r'( offset %[^ ]+)? : .*-> tensor<([0-9x]+)x'
                   r'!quant\.uniform<(i\d+<-\d+:\d+>|u\d+):f16:(\d+|\{[^}]*\}), (.*)>>$')


def expected_view(shape, scale_bits, bits, asymmetric, nb):
    """(storage, axes, scales) the view of one weight must carry.

    Storage: symmetric i<b><-T:T> (the signed code q = u - 2^(b-1)),
    asymmetric u<b> (the stored code, range [0, 2^b - 1], the default).
    Axes: channel-wise 2-D -> per-axis on axis 0 ("0"); block-wise ->
    sub-channel "{0:1, 1:K/blocks}". Scales: the stored float16 scales,
    row-major; a scale of 0 (an all-zero-code block) is written as 1.
    """
    rows, k = shape
    t = (1 << (bits - 1)) - 1
    storage = f"u{bits}" if asymmetric else f"i{bits}<-{t}:{t}>"
    axes = "0" if nb == 1 else f"{{0:1, 1:{k // nb}}}"
    scales = [f16_value(b) or 1.0 for b in scale_bits]
    return storage, axes, scales


def check_views(model_dir, ir_file, bits, asymmetric, block):
    """Compares the materialized views in IR_FILE with the reference."""
    want, count = expected_records(model_dir, bits, asymmetric, block)
    views = {}
    for line in open(ir_file):
        m = _VIEW.search(line.strip())
        if m:
            views[m.group(1)] = m.groups()[1:]
    errors = []
    for name in sorted(n for n in want if n.endswith(".q_scale")):
        base = name[:-len(".q_scale")]
        weight = base + ".weight"
        if weight not in views:
            errors.append(f"no weights.quant_view for {weight}")
            continue
        offset, dims, storage, axes, text = views.pop(weight)
        _, sshape, sdata = want[name]
        rows, nb = sshape
        k = int(dims.split("x")[1])
        bits_list = [_U16.unpack_from(sdata, 2 * i)[0]
                     for i in range(rows * nb)]
        ws, wa, wscales = expected_view([rows, k], bits_list, bits,
                                        asymmetric, nb)
        if dims != f"{rows}x{k}" or storage != ws or axes != wa or \
                bool(offset) != asymmetric:
            errors.append(f"{weight}: {dims} {storage} {axes} offset="
                          f"{bool(offset)}, expected {rows}x{k} {ws} {wa} "
                          f"offset={asymmetric}")
            continue
        got = [float(x) for x in re.findall(r"[-+]?[0-9.]+(?:[eE][-+]?\d+)?",
                                           text)]
        if len(got) != len(wscales):
            errors.append(f"{weight}: {len(got)} scales, expected "
                          f"{len(wscales)}")
            continue
        # Per-axis scales print as shortest doubles (4.1913986206054688E-4),
        # sub-channel ones with 6 significant digits: either names the
        # float16 value exactly.
        bad = [i for i, (g, w) in enumerate(zip(got, wscales))
               if f16_value(f16_bits(g)) != w]
        if bad:
            i = bad[0]
            errors.append(f"{weight}: scale {i} is {got[i]!r}, expected "
                          f"{wscales[i]!r} ({len(bad)} differ)")
    for extra in views:
        errors.append(f"unexpected weights.quant_view for {extra}")
    if errors:
        for e in errors[:20]:
            print("mismatch:", e)
        return 1
    print(f"ok: {count} views match the reference scales")
    return 0


# ---------------------------------------------------------------------------
# Self-test: values worked by hand
# ---------------------------------------------------------------------------

def selftest():
    failures = 0

    def check(what, got, want):
        nonlocal failures
        if got != want:
            failures += 1
            print(f"FAIL {what}: got {got!r}, want {want!r}")

    check("round 2.5", round_away(2.5), 3)
    check("round -2.5", round_away(-2.5), -3)
    check("round 0.49999997", round_away(f32(0.49999997)), 0)
    check("round -0.5", round_away(-0.5), -1)
    # docs/mnn-format.md section 4 worked examples.
    check("pack 2", pack_row([3, 0, 1, 2, 2, 1], 2), bytes([0xC6, 0x90]))
    check("pack 3", pack_row([7, 0, 5, 2, 3], 3), bytes([0xE2, 0xA6]))
    check("pack 4", pack_row([15, 0, 9, 6, 3], 4), bytes([0xF0, 0x96, 0x30]))
    check("pack 5", pack_row([31, 0, 17, 10], 5), bytes([0xF8, 0x22, 0xA0]))
    check("pack 8", pack_row([255, 0, 128, 1], 8), bytes([255, 0, 128, 1]))
    check("blocks 96/64", blocks_per_row(96, 64), 1)
    check("blocks 96/48", blocks_per_row(96, 48), 2)
    check("blocks 96/8", blocks_per_row(96, 8), 1)
    check("blocks 11008/256", blocks_per_row(11008, 256), 43)
    # Symmetric 4 bits: absmax 7 -> scale 1; 2.5 rounds away to 3 (u = 11),
    # -0.5 to -1 (u = 7), -7 to -7 (u = 1).
    check("sym4", quantize_block([7.0, 2.5, -0.5, -7.0], 4, False),
          ([15, 11, 7, 1], 1.0, 0.0))
    # Asymmetric 2 bits on [-1, 2]: scale 1, (w - min) = 0, 1.5, 3 ->
    # 0, 2 (1.5 away), 3.
    check("asym2", quantize_block([-1.0, 0.5, 2.0], 2, True),
          ([0, 2, 3], 1.0, -1.0))
    # A constant block: scale 0 -> codes of q = 0 / of the min.
    check("sym const", quantize_block([0.0, 0.0], 3, False), ([4, 4], 0.0, 0.0))
    check("asym const", quantize_block([0.25, 0.25], 3, True),
          ([0, 0], 0.0, 0.25))
    # float16 storage of the scale 1/7 (0x3092 = 0.142822265625).
    qw, qs, qz, nb = quantize_rows([1.0] + [0.0] * 15, 1, 16, 4, False, 0)
    check("scale f16", (qs, nb), (_U16.pack(0x3092), 1))
    check("codes", qw, bytes([0xF8]) + bytes([0x88] * 7))
    if failures:
        print(f"{failures} self-test failure(s)")
        return 1
    print("selftest ok")
    return 0


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("model_dir", nargs="?")
    ap.add_argument("cache_dir", nargs="?")
    ap.add_argument("--bits", type=int, default=8)
    ap.add_argument("--asymmetric", action="store_true")
    ap.add_argument("--block", type=int, default=0)
    ap.add_argument("--selftest", action="store_true")
    ap.add_argument("--views", metavar="IR_FILE",
                    help="check the weights.quant_view ops of IR_FILE "
                         "(materialized scales) instead of a cache")
    a = ap.parse_args(argv)
    if a.selftest:
        return selftest()
    if a.views:
        if not a.model_dir:
            ap.error("MODEL_DIR is required")
        return check_views(a.model_dir, a.views, a.bits, a.asymmetric,
                           a.block)
    if not a.model_dir or not a.cache_dir:
        ap.error("MODEL_DIR and CACHE_DIR are required")
    if not 2 <= a.bits <= 8:
        ap.error("--bits must be in [2, 8]")
    return compare(a.model_dir, a.cache_dir, a.bits, a.asymmetric, a.block)


if __name__ == "__main__":
    sys.exit(main())
