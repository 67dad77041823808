#!/usr/bin/env python3
"""Writes an AutoAWQ (GEMM) checkpoint from an HF Llama checkpoint (stdlib).

  make_awq.py IN_DIR OUT_DIR [--group G] [--version gemm] [--bits B]
                             [--bad-scales]
Every decoder linear is quantized as AutoAWQ's pseudo_quantize_tensor does
(zero point, 4 bits; source-formats.md 4.2) and packed in the GEMM layout:
qweight [K, N/8] / qzeros [K/G, N/8] int32 along the output axis in the order
[0, 2, 4, 6, 1, 3, 5, 7], scales [K/G, N] fp16. Other tensors become fp16.
--bits only changes config.json (a hostile config; the data stay 4-bit);
--bad-scales writes every scales tensor transposed ([N, K/G], GEMV-like).
Also writes OUT_DIR-dequant/: a plain fp16 HF checkpoint of the weights
W = (q - z) * s that the AWQ checkpoint represents.

  make_awq.py check AWQ_DIR CACHE_DIR
checks a q4f16_autoawq tensor cache: qkv_proj / gate_up_proj records are the
AWQ tensors of q/k/v (gate/up) concatenated on axis 1, the others copied.
"""
import json
import os
import shutil
import struct
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from make_checkpoint import from_bits, read_safetensors, save, to_bits  # noqa: E402

ORDER = [0, 2, 4, 6, 1, 3, 5, 7]
LINEARS = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")


def f16(x):
    return struct.unpack("<e", struct.pack("<e", x))[0]


def quantize(w, n, k, g):
    """w: row-major [n, k] floats. Returns (q [n][k], z [n][k//g], s [n][k//g] fp16)."""
    q = [[0] * k for _ in range(n)]
    z = [[0] * (k // g) for _ in range(n)]
    s = [[0.0] * (k // g) for _ in range(n)]
    for r in range(n):
        for gi in range(k // g):
            vals = w[r * k + gi * g: r * k + (gi + 1) * g]
            mx, mn = max(vals), min(vals)
            scale = max(mx - mn, 1e-5) / 15
            zero = min(max(-round(mn / scale), 0), 15)
            s16 = f16(scale)
            s[r][gi], z[r][gi] = s16, zero
            for j, v in enumerate(vals):
                q[r][gi * g + j] = min(max(round((v + zero * s16) / s16), 0), 15)
    return q, z, s


def pack(values, rows, cols):
    """values[c][r] (output-major) -> int32 words [rows, cols/8] packed on cols."""
    out = bytearray()
    for r in range(rows):
        for c8 in range(cols // 8):
            word = 0
            for p in range(8):
                word |= values[c8 * 8 + ORDER[p]][r] << (4 * p)
            out += struct.pack("<I", word)
    return bytes(out)


def make(src, dst, group, version, bits=4, bad_scales=False):
    tensors = read_safetensors(os.path.join(src, "model.safetensors"))
    out, deq = [], []
    for name, dtype, shape, data in tensors:
        vals = from_bits(data, dtype)
        base = name[:-len(".weight")] if name.endswith(".weight") else None
        if base and base.split(".")[-1] in LINEARS:
            n, k = shape
            g = group if group > 0 else k
            q, z, s = quantize(vals, n, k, g)
            qT = [[q[r][i] for i in range(k)] for r in range(n)]  # [n][k]
            out.append((base + ".qweight", "I32", [k, n // 8], pack(qT, k, n)))
            out.append((base + ".qzeros", "I32", [k // g, n // 8], pack(z, k // g, n)))
            if bad_scales:
                out.append((base + ".scales", "F16", [n, k // g],
                            to_bits([s[r][gi] for r in range(n) for gi in range(k // g)], "F16")))
            else:
                out.append((base + ".scales", "F16", [k // g, n],
                            to_bits([s[r][gi] for gi in range(k // g) for r in range(n)], "F16")))
            w = [f16((q[r][i] - z[r][i // g]) * s[r][i // g]) for r in range(n) for i in range(k)]
            deq.append((name, "F16", shape, to_bits(w, "F16")))
        else:
            out.append((name, "F16", shape, to_bits(vals, "F16")))
            deq.append((name, "F16", shape, to_bits(vals, "F16")))
    config = json.load(open(os.path.join(src, "config.json")))
    config["torch_dtype"] = "float16"
    plain = dict(config)
    config["quantization_config"] = {"quant_method": "awq", "zero_point": True,
                                     "group_size": group, "bits": bits,
                                     "version": version,
                                     "modules_to_not_convert": None}
    for d in (dst, dst + "-dequant"):
        if os.path.exists(d):
            shutil.rmtree(d)
    save(dst, config, out, 1)
    save(dst + "-dequant", plain, deq, 1)


def load_cache(d):
    index = json.load(open(os.path.join(d, "tensor-cache.json")))
    recs = {}
    for shard in index["records"]:
        data = open(os.path.join(d, shard["dataPath"]), "rb").read()
        for r in shard["records"]:
            recs[r["name"]] = (r["shape"], r["dtype"], data[r["byteOffset"]:r["byteOffset"] + r["nbytes"]])
    return recs


def concat_cols(parts):
    """parts: list of (shape [rows, cols], itemsize, bytes) -> bytes of axis-1 concat."""
    rows = parts[0][0][0]
    out = bytearray()
    for r in range(rows):
        for shape, size, data in parts:
            w = shape[1] * size
            out += data[r * w:(r + 1) * w]
    return bytes(out)


def check(awq, cache):
    src = {n: (sh, dt, d) for n, dt, sh, d in read_safetensors(os.path.join(awq, "model.safetensors"))}
    recs = load_cache(cache)
    bad = 0
    fused = {"self_attn.qkv_proj": ["self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj"],
             "mlp.gate_up_proj": ["mlp.gate_proj", "mlp.up_proj"]}
    for name, (shape, dtype, data) in recs.items():
        base, _, leaf = name.rpartition(".")
        if leaf in ("qweight", "qzeros", "scales"):
            size = 2 if leaf == "scales" else 4
            want_dtype = "float16" if leaf == "scales" else "uint32"
            layer, _, module = base.partition(".layers.")
            idx, _, mod = module.partition(".")
            prefix = "%s.layers.%s." % (layer, idx)
            parts = fused.get(mod, [mod])
            srcs = [src[prefix + p + "." + leaf] for p in parts]
            want = concat_cols([(s[0], size, s[2]) for s in srcs])
            want_shape = [srcs[0][0][0], sum(s[0][1] for s in srcs)]
            if (shape, dtype, data) != (want_shape, want_dtype, want):
                print("record %s differs" % name)
                bad += 1
        elif name in src:
            if data != src[name][2] or dtype != "float16":
                print("record %s differs" % name)
                bad += 1
        else:
            print("unexpected record %s" % name)
            bad += 1
    print("%d records checked, %d bad" % (len(recs), bad))
    return 1 if bad else 0


def main(argv):
    if argv[0] == "check":
        return check(argv[1], argv[2])
    group, version = 128, "gemm"
    if "--group" in argv:
        group = int(argv[argv.index("--group") + 1])
    if "--version" in argv:
        version = argv[argv.index("--version") + 1]
    bits = int(argv[argv.index("--bits") + 1]) if "--bits" in argv else 4
    make(argv[0], argv[1], group, version, bits, "--bad-scales" in argv)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
