#!/usr/bin/env python3
"""Writes the dequantized or the mirrored weights of a cache as a checkpoint.

  accuracy-mirror.py SOURCE_DIR CACHE_DIR OUT_DIR [--mirror]

For every tensor of the Llama checkpoint SOURCE_DIR (float16 or float32
model.safetensors), the values w' that the tensor cache CACHE_DIR holds for it
(dequantized: MLC group quantization q4/q3 with float16 scales, w = (q - M) *
scale; MNN-style records, w = (u - 2^(b-1)) * scale or u * scale + min; plain
float16), fused MLC parameters (qkv_proj, gate_up_proj) split back by rows.
OUT_DIR gets config.json and a float32 model.safetensors holding w' (so that
`quant-opt eval OUT_DIR` reproduces `quant-opt eval SOURCE --cache CACHE_DIR`
exactly: a check of this script), or with --mirror 2w - w', the source
reflected through the quantization error e = w' - w.

Why: on a small model evaluated off its exact training minimum, the change
of the loss under a perturbation e is g.e + e'He/2 + ...: the first-order
term g.e has a random sign and can dominate the second. The mean of the
increases at w + e and w - e cancels every odd term, leaving the curvature
cost of the error, which is what a better quantizer should lower.
Standard library only.
"""

import json
import math
import os
import shutil
import struct
import sys


def read_safetensors(path):
    raw = open(path, "rb").read()
    (n,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8:8 + n])
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        b, e = info["data_offsets"]
        count = math.prod(info["shape"])
        # float16, or float32 (a checkpoint this script wrote: the AWQ
        # bench mirrors around the folded float16 weights written so).
        code = {"F16": "e", "F32": "f"}[info["dtype"]]
        out[name] = (info["shape"],
                     struct.unpack(f"<{count}{code}", raw[8 + n + b:8 + n + e]))
    return out


def write_safetensors(path, tensors):
    header, blobs, off = {}, [], 0
    for name in sorted(tensors):
        shape, vals = tensors[name]
        blob = struct.pack(f"<{len(vals)}f", *vals)
        header[name] = {"dtype": "F32", "shape": shape,
                        "data_offsets": [off, off + len(blob)]}
        blobs.append(blob)
        off += len(blob)
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * (-len(h) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h)
        for b in blobs:
            f.write(b)


def read_cache(d):
    index = json.load(open(os.path.join(d, "tensor-cache.json")))
    out = {}
    for shard in index["records"]:
        data = open(os.path.join(d, shard["dataPath"]), "rb").read()
        for r in shard["records"]:
            o = r["byteOffset"]
            out[r["name"]] = (r["dtype"], r["shape"], data[o:o + r["nbytes"]])
    return out


def f32(x):
    return struct.unpack("<f", struct.pack("<f", x))[0]


def dequantize(cache, base, rows, k):
    """float32 values [rows, k] of MLC parameter `base`(.weight)."""
    if base + ".weight" in cache:
        dt, shape, data = cache[base + ".weight"]
        assert dt == "float16" and math.prod(shape) == rows * k, (base, shape)
        return list(struct.unpack(f"<{rows * k}e", data))
    qdt, qshape, qdata = cache[base + ".q_weight"]
    sdt, sshape, sdata = cache[base + ".q_scale"]
    assert sdt == "float16" and qshape[0] == rows and sshape[0] == rows
    scales = struct.unpack(f"<{rows * sshape[1]}e", sdata)
    out = []
    if qdt == "uint32":  # MLC group quantization, NK
        words, groups = qshape[1], sshape[1]
        # K is padded to whole groups: int4 groups of 32 in 4 words, int3
        # groups of 40 in 4 words of 10.
        if groups == -(-k // 32) and words == groups * 4 and words * 8 >= k:
            bits, per, gsize = 4, 8, 32
        else:
            bits, per, gsize = 3, 10, 40
        assert groups == -(-k // gsize) and words == groups * 4, base
        m = (1 << (bits - 1)) - 1
        w = struct.unpack(f"<{rows * words}I", qdata)
        for r in range(rows):
            for i in range(k):
                q = (w[r * words + i // per] >> (bits * (i % per))) & ((1 << bits) - 1)
                out.append(f32((q - m) * scales[r * groups + i // gsize]))
        return out
    assert qdt == "uint8", (base, qdt)
    nbytes, blocks = qshape[1], sshape[1]
    bits = nbytes * 8 // k
    assert -(-k * bits // 8) == nbytes, base
    zero = None
    if base + ".q_zero" in cache:
        zero = struct.unpack(f"<{rows * blocks}e", cache[base + ".q_zero"][2])
    size = k // blocks
    off = 1 << (bits - 1)
    for r in range(rows):
        row = qdata[r * nbytes:(r + 1) * nbytes]
        acc = int.from_bytes(row, "big")
        total = nbytes * 8
        for i in range(k):
            u = (acc >> (total - bits * (i + 1))) & ((1 << bits) - 1)
            j = r * blocks + i // size
            if zero is None:
                out.append(f32((u - off) * scales[j]))
            else:
                out.append(f32(f32(u * scales[j]) + zero[j]))
    return out


FUSED = {"self_attn.qkv_proj": ("q_proj", "k_proj", "v_proj"),
         "mlp.gate_up_proj": ("gate_proj", "up_proj")}


def main(argv):
    mirror = "--mirror" in argv
    src, cache_dir, out_dir = [a for a in argv if a != "--mirror"]
    tensors = read_safetensors(os.path.join(src, "model.safetensors"))
    cache = read_cache(cache_dir)
    result = {}
    done = set()
    for name, (shape, vals) in tensors.items():
        if name in done:
            continue
        members = [(name, shape, vals)]
        base = name[:-len(".weight")]
        for target, parts in FUSED.items():
            prefix = target.split(".")[0] + "."
            for p in parts:
                if name.endswith(prefix + p + ".weight"):
                    stem = name[:-len(prefix + p + ".weight")]
                    base = stem + target
                    members = [(stem + prefix + q + ".weight",)
                               + tensors[stem + prefix + q + ".weight"]
                               for q in parts]
        rows = sum(m[1][0] for m in members)
        k = 1 if len(shape) == 1 else shape[1]
        deq = dequantize(cache, base, rows, k)
        at = 0
        for mname, mshape, mvals in members:
            n = len(mvals)
            d = deq[at:at + n]
            at += n
            if mirror:
                d = [f32(2 * w - q) for w, q in zip(mvals, d)]
            result[mname] = (mshape, d)
            done.add(mname)
    os.makedirs(out_dir, exist_ok=True)
    shutil.copy(os.path.join(src, "config.json"), out_dir)
    write_safetensors(os.path.join(out_dir, "model.safetensors"), result)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
