# Recomputes one tensor's relative Frobenius error for accuracy.test from the
# source checkpoint and the cache records alone, and compares it with the
# value `quant-opt convert --stats-json` reported.
#
#   accuracy.test.py MODEL_DIR CACHE_DIR STATS_JSON PARAM MODE
#
# The source tensor is read from MODEL_DIR/model.safetensors and cast to
# float16 (the model dtype). MODE q4f16_1: `<base>.q_weight` uint32 words of
# eight 4-bit values, least significant nibble first, `<base>.q_scale`
# float16 per group of 32: w = (q - 7) * scale (exact in double and in
# float32). MODE mnn-asym4: `<base>.q_weight` uint8 rows of 4-bit codes, high
# nibble first, `<base>.q_scale` and `<base>.q_zero` float16 per block:
# w = f32(f32(u * scale) + min). Error = sqrt(sum (w - wq)^2 / sum w^2).
import json
import math
import os
import struct
import sys

F16 = struct.Struct("<e")


def f32(x):
    return struct.unpack("<f", struct.pack("<f", x))[0]


def to_f16(x):
    return F16.unpack(F16.pack(x))[0]


def load_source(model_dir, name):
    raw = open(os.path.join(model_dir, "model.safetensors"), "rb").read()
    (n,) = struct.unpack("<Q", raw[:8])
    info = json.loads(raw[8:8 + n])[name]
    b, e = info["data_offsets"]
    data = raw[8 + n + b:8 + n + e]
    count = math.prod(info["shape"])
    if info["dtype"] == "BF16":
        vals = [struct.unpack("<f", struct.pack("<I", h << 16))[0]
                for h in struct.unpack(f"<{count}H", data)]
    elif info["dtype"] == "F16":
        vals = list(struct.unpack(f"<{count}e", data))
    else:
        vals = list(struct.unpack(f"<{count}f", data))
    return info["shape"], [to_f16(v) for v in vals]


def load_record(cache_dir, name):
    index = json.load(open(os.path.join(cache_dir, "tensor-cache.json")))
    for shard in index["records"]:
        for r in shard["records"]:
            if r["name"] == name:
                data = open(os.path.join(cache_dir, shard["dataPath"]), "rb").read()
                return r["shape"], data[r["byteOffset"]:r["byteOffset"] + r["nbytes"]]
    raise SystemExit(f"no record {name}")


def dequant_q4f16_1(cache_dir, base, rows, k):
    (_, words), qw = load_record(cache_dir, base + ".q_weight")
    (_, groups), qs = load_record(cache_dir, base + ".q_scale")
    w = struct.unpack(f"<{rows * words}I", qw)
    s = struct.unpack(f"<{rows * groups}e", qs)
    out = []
    for r in range(rows):
        for i in range(k):
            q = (w[r * words + i // 8] >> (4 * (i % 8))) & 15
            out.append((q - 7) * s[r * groups + i // 32])
    return out


def dequant_mnn_asym4(cache_dir, base, rows, k):
    (_, nbytes), qw = load_record(cache_dir, base + ".q_weight")
    (_, blocks), qs = load_record(cache_dir, base + ".q_scale")
    _, qz = load_record(cache_dir, base + ".q_zero")
    s = struct.unpack(f"<{rows * blocks}e", qs)
    z = struct.unpack(f"<{rows * blocks}e", qz)
    size = k // blocks
    out = []
    for r in range(rows):
        for i in range(k):
            byte = qw[r * nbytes + i // 2]
            u = byte >> 4 if i % 2 == 0 else byte & 15
            j = r * blocks + i // size
            out.append(f32(f32(u * s[j]) + z[j]))
    return out


def main(model_dir, cache_dir, stats_path, param, mode):
    (rows, k), w = load_source(model_dir, param)
    base = param[:-len(".weight")]
    deq = {"q4f16_1": dequant_q4f16_1, "mnn-asym4": dequant_mnn_asym4}[mode]
    wq = deq(cache_dir, base, rows, k)
    signal = sum(x * x for x in w)
    noise = sum((x - y) * (x - y) for x, y in zip(w, wq))
    ours = math.sqrt(noise / signal)
    stats = json.load(open(stats_path))["Accuracy"]["Tensors"]
    theirs = next(t["RelativeFrobenius"] for t in stats if t["name"] == param)
    rel = abs(ours - theirs) / ours
    print(f"{param}: python {ours:.12f}, stats-json {theirs:.12f}")
    assert rel <= 1e-9, (ours, theirs, rel)
    print("ok")


if __name__ == "__main__":
    main(*sys.argv[1:])
