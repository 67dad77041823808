#!/usr/bin/env python3
"""Writes calibration statistics of a small Llama checkpoint (stdlib only).

  make_calibration.py MODEL_DIR OUT [--tokens 256] [--seed 0] [--dead]
      [--no-hessian] [--drop WEIGHT]

From the model's config.json (llama), draws synthetic layer inputs x (values
multiples of 1/8, a few channels four times larger) for every linear layer
and writes the same statistics in three formats:

  OUT.stats.safetensors  our STATS (HELPERS contract, docs/calibration.md):
                         W.imatrix F32 [K], W.count I64 [1], W.hessian F32
                         [K, K] per MLC weight name, in layer order
  OUT.imatrix.gguf       llama.cpp's GGUF importance matrix, written from the
                         format's description: general.type = "imatrix",
                         imatrix.datasets, imatrix.chunk_count/chunk_size,
                         tensors <ggml name>.in_sum2 F32 [1, K] (the sums of
                         x^2) and <ggml name>.counts F32 [1, 1]
  OUT.imatrix.dat        llama.cpp's legacy format: int32 entry count; per
                         entry int32 name length, name, int32 ncall, int32
                         nval, nval float32 = mean(x^2) * ncall; then int32
                         chunk count, int32 length + dataset name

With T a power of two and x multiples of 1/8, every statistic is exact in
float32, so the three files describe exactly the same importances.
--dead makes input channel 3 of the down projection's input always zero
(a column GPTQ must treat as dead). --no-hessian leaves the Hessians out of
STATS; --drop leaves an MLC weight (and its ggml names) out of every file.
"""
import argparse
import json
import os
import random
import struct

# HF/llama.cpp name of each MLC input, per layer: (MLC weight, ggml names
# sharing that input, K key).
def layer_inputs(cfg, i):
    hidden = cfg["hidden_size"]
    heads = cfg["num_attention_heads"]
    head_dim = cfg.get("head_dim") or hidden // heads
    inter = cfg["intermediate_size"]
    p = f"model.layers.{i}."
    b = f"blk.{i}."
    return [
        (p + "self_attn.qkv_proj.weight",
         [b + "attn_q.weight", b + "attn_k.weight", b + "attn_v.weight"], hidden),
        (p + "self_attn.o_proj.weight", [b + "attn_output.weight"], heads * head_dim),
        (p + "mlp.gate_up_proj.weight",
         [b + "ffn_gate.weight", b + "ffn_up.weight"], hidden),
        (p + "mlp.down_proj.weight", [b + "ffn_down.weight"], inter),
    ]


def statistics(rng, k, tokens, dead):
    """(imatrix [K], hessian [K*K]) of synthetic inputs, exact floats."""
    big = {rng.randrange(k) for _ in range(max(1, k // 16))}
    xs = []
    for _ in range(tokens):
        row = []
        for c in range(k):
            v = rng.randint(-16, 16) / 8.0
            if c in big:
                v *= 4
            if dead is not None and c == dead:
                v = 0.0
            row.append(v)
        xs.append(row)
    h = [0.0] * (k * k)
    for row in xs:
        for a in range(k):
            ra = row[a]
            if ra == 0.0:
                continue
            base = a * k
            for b in range(k):
                h[base + b] += ra * row[b]
    h = [v / tokens for v in h]
    return [h[c * k + c] for c in range(k)], h


def write_safetensors(path, tensors, metadata):
    """tensors: list of (name, dtype, shape, bytes) in file order."""
    header = {"__metadata__": metadata}
    offset = 0
    for name, dtype, shape, data in tensors:
        header[name] = {"dtype": dtype, "shape": shape,
                        "data_offsets": [offset, offset + len(data)]}
        offset += len(data)
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * ((8 - len(text) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text)
        for _, _, _, data in tensors:
            f.write(data)


def gguf_string(s):
    b = s.encode()
    return struct.pack("<Q", len(b)) + b


def write_gguf_imatrix(path, entries, tokens, dataset):
    """entries: list of (ggml name, imatrix list). GGUF v3, alignment 32."""
    kv = []
    kv.append(gguf_string("general.type") + struct.pack("<I", 8) +
              gguf_string("imatrix"))
    kv.append(gguf_string("imatrix.datasets") + struct.pack("<II", 9, 8) +
              struct.pack("<Q", 1) + gguf_string(dataset))
    kv.append(gguf_string("imatrix.chunk_count") + struct.pack("<I", 4) +
              struct.pack("<I", 1))
    kv.append(gguf_string("imatrix.chunk_size") + struct.pack("<I", 4) +
              struct.pack("<I", tokens))
    tensors = []
    for name, imatrix in sorted(entries):
        k = len(imatrix)
        sums = struct.pack("<%df" % k, *[v * tokens for v in imatrix])
        tensors.append((name + ".in_sum2", [k, 1], sums))
        tensors.append((name + ".counts", [1, 1], struct.pack("<f", tokens)))
    infos = b""
    data = b""
    for name, ne, payload in tensors:
        infos += gguf_string(name) + struct.pack("<I", len(ne))
        infos += b"".join(struct.pack("<Q", d) for d in ne)
        infos += struct.pack("<IQ", 0, len(data))
        data += payload + b"\0" * ((32 - len(payload) % 32) % 32)
    head = b"GGUF" + struct.pack("<IQQ", 3, len(tensors), len(kv))
    head += b"".join(kv) + infos
    head += b"\0" * ((32 - len(head) % 32) % 32)
    with open(path, "wb") as f:
        f.write(head + data)


def write_legacy_imatrix(path, entries, dataset, ncall=2):
    out = struct.pack("<i", len(entries))
    for name, imatrix in sorted(entries):
        b = name.encode()
        out += struct.pack("<i", len(b)) + b
        out += struct.pack("<ii", ncall, len(imatrix))
        out += struct.pack("<%df" % len(imatrix), *[v * ncall for v in imatrix])
    d = dataset.encode()
    out += struct.pack("<i", 1) + struct.pack("<i", len(d)) + d
    with open(path, "wb") as f:
        f.write(out)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("model_dir")
    ap.add_argument("out")
    ap.add_argument("--tokens", type=int, default=256)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--dead", action="store_true")
    ap.add_argument("--no-hessian", action="store_true")
    ap.add_argument("--drop", action="append", default=[])
    args = ap.parse_args()
    with open(os.path.join(args.model_dir, "config.json")) as f:
        cfg = json.load(f)
    rng = random.Random(args.seed)
    stats_tensors = []
    imatrix_entries = []
    inputs = []
    for i in range(cfg["num_hidden_layers"]):
        inputs += layer_inputs(cfg, i)
    inputs.append(("lm_head.weight", ["output.weight"], cfg["hidden_size"]))
    for weight, ggml_names, k in inputs:
        if weight in args.drop:
            continue
        dead = 3 if args.dead and weight.endswith("down_proj.weight") else None
        imatrix, hessian = statistics(rng, k, args.tokens, dead)
        stats_tensors.append((weight + ".imatrix", "F32", [k],
                              struct.pack("<%df" % k, *imatrix)))
        stats_tensors.append((weight + ".count", "I64", [1],
                              struct.pack("<q", args.tokens)))
        if not args.no_hessian:
            stats_tensors.append((weight + ".hessian", "F32", [k, k],
                                  struct.pack("<%df" % (k * k), *hessian)))
        for name in ggml_names:
            imatrix_entries.append((name, imatrix))
    write_safetensors(args.out + ".stats.safetensors", stats_tensors,
                      {"format": "quant-opt-calibration", "version": "1",
                       "model_type": cfg.get("model_type", "llama"),
                       "tokens": str(args.tokens)})
    write_gguf_imatrix(args.out + ".imatrix.gguf", imatrix_entries,
                       args.tokens, "synthetic.txt")
    write_legacy_imatrix(args.out + ".imatrix.dat", imatrix_entries,
                         "synthetic.txt")


if __name__ == "__main__":
    main()
