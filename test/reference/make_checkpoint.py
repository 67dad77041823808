#!/usr/bin/env python3
"""Writes small Llama checkpoints in safetensors for tests (stdlib only).

Either random weights with chosen dimensions, or a re-encoding of an existing
single-file safetensors checkpoint into another dtype and/or split into an
index + several shards, as transformers' save_pretrained lays them out.

  make_checkpoint.py random OUT --hidden 72 --intermediate 96 --layers 2 \
      --heads 4 --kv-heads 2 --vocab 40 --dtype f16 [--shards 2] [--tied] \
      [--zero-group]
  make_checkpoint.py recode IN_DIR OUT --dtype f32 [--shards 3]
"""
import argparse
import json
import math
import os
import random
import shutil
import struct
import sys

SIZES = {"F16": 2, "BF16": 2, "F32": 4}


def to_bits(values, dtype):
    """Encodes Python floats as little-endian dtype bytes."""
    if dtype == "F32":
        return struct.pack("<%df" % len(values), *values)
    if dtype == "F16":
        return struct.pack("<%de" % len(values), *values)
    out = bytearray()
    for v in values:  # bf16: round-to-nearest-even on the float32 pattern
        u = struct.unpack("<I", struct.pack("<f", v))[0]
        u = (u + 0x7FFF + ((u >> 16) & 1)) >> 16
        out += struct.pack("<H", u)
    return bytes(out)


def from_bits(data, dtype):
    n = len(data) // SIZES[dtype]
    if dtype == "F32":
        return list(struct.unpack("<%df" % n, data))
    if dtype == "F16":
        return list(struct.unpack("<%de" % n, data))
    return [struct.unpack("<f", struct.pack("<I", h << 16))[0]
            for h in struct.unpack("<%dH" % n, data)]


def write_safetensors(path, tensors):
    """tensors: list of (name, dtype, shape, bytes); written sorted by name."""
    header, offset, blobs = {}, 0, []
    for name, dtype, shape, data in sorted(tensors):
        header[name] = {"dtype": dtype, "shape": shape,
                        "data_offsets": [offset, offset + len(data)]}
        offset += len(data)
        blobs.append(data)
    meta = {"__metadata__": {"format": "pt"}}
    meta.update(header)
    text = json.dumps(meta, separators=(",", ":")).encode()
    text += b" " * ((8 - len(text) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text)
        for b in blobs:
            f.write(b)


def read_safetensors(path):
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
        base = 8 + n
        out = []
        for name, info in header.items():
            if name == "__metadata__":
                continue
            b, e = info["data_offsets"]
            f.seek(base + b)
            out.append((name, info["dtype"], info["shape"], f.read(e - b)))
        return out


def save(out_dir, config, tensors, shards):
    os.makedirs(out_dir, exist_ok=True)
    with open(os.path.join(out_dir, "config.json"), "w") as f:
        json.dump(config, f, indent=2)
    tensors = sorted(tensors)
    if shards <= 1:
        write_safetensors(os.path.join(out_dir, "model.safetensors"), tensors)
        return
    per = math.ceil(len(tensors) / shards)
    weight_map, total = {}, 0
    for i in range(shards):
        part = tensors[i * per:(i + 1) * per]
        fname = "model-%05d-of-%05d.safetensors" % (i + 1, shards)
        write_safetensors(os.path.join(out_dir, fname), part)
        for name, _, _, data in part:
            weight_map[name] = fname
            total += len(data)
    with open(os.path.join(out_dir, "model.safetensors.index.json"), "w") as f:
        json.dump({"metadata": {"total_size": total}, "weight_map": weight_map},
                  f, indent=2)


def random_llama(a):
    rng = random.Random(a.seed)
    h, i, nq, nkv = a.hidden, a.intermediate, a.heads, a.kv_heads
    d = h // nq
    shapes = {"model.embed_tokens.weight": [a.vocab, h], "model.norm.weight": [h]}
    if not a.tied:
        shapes["lm_head.weight"] = [a.vocab, h]
    for l in range(a.layers):
        p = "model.layers.%d." % l
        shapes.update({
            p + "self_attn.q_proj.weight": [nq * d, h],
            p + "self_attn.k_proj.weight": [nkv * d, h],
            p + "self_attn.v_proj.weight": [nkv * d, h],
            p + "self_attn.o_proj.weight": [h, nq * d],
            p + "mlp.gate_proj.weight": [i, h],
            p + "mlp.up_proj.weight": [i, h],
            p + "mlp.down_proj.weight": [h, i],
            p + "input_layernorm.weight": [h],
            p + "post_attention_layernorm.weight": [h],
        })
    tensors = []
    for name, shape in sorted(shapes.items()):
        n = math.prod(shape)
        if name.endswith("norm.weight"):
            vals = [1.0 + rng.gauss(0, 0.05) for _ in range(n)]
        else:
            vals = [rng.gauss(0, 0.02) for _ in range(n)]
        if a.zero_group and name == "model.layers.0.self_attn.q_proj.weight":
            vals[:32] = [0.0] * 32  # an all-zero quantization group
        tensors.append((name, a.dtype, shape, to_bits(vals, a.dtype)))
    config = {
        "architectures": ["LlamaForCausalLM"], "model_type": "llama",
        "hidden_size": h, "intermediate_size": i, "num_attention_heads": nq,
        "num_key_value_heads": nkv, "num_hidden_layers": a.layers,
        "vocab_size": a.vocab, "rms_norm_eps": 1e-6,
        "max_position_embeddings": 128, "tie_word_embeddings": a.tied,
        "torch_dtype": {"F16": "float16", "BF16": "bfloat16", "F32": "float32"}[a.dtype],
    }
    save(a.out, config, tensors, a.shards)


def recode(a):
    src = os.path.join(a.input, "model.safetensors")
    tensors = []
    for name, dtype, shape, data in read_safetensors(src):
        vals = from_bits(data, dtype)
        tensors.append((name, a.dtype, shape, to_bits(vals, a.dtype)))
    with open(os.path.join(a.input, "config.json")) as f:
        config = json.load(f)
    save(a.out, config, tensors, a.shards)


def main():
    p = argparse.ArgumentParser()
    sub = p.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("random")
    r.add_argument("out")
    r.add_argument("--hidden", type=int, default=64)
    r.add_argument("--intermediate", type=int, default=96)
    r.add_argument("--layers", type=int, default=2)
    r.add_argument("--heads", type=int, default=4)
    r.add_argument("--kv-heads", type=int, default=2)
    r.add_argument("--vocab", type=int, default=40)
    r.add_argument("--dtype", choices=SIZES, default="F16")
    r.add_argument("--shards", type=int, default=1)
    r.add_argument("--seed", type=int, default=0)
    r.add_argument("--tied", action="store_true")
    r.add_argument("--zero-group", action="store_true")
    c = sub.add_parser("recode")
    c.add_argument("input")
    c.add_argument("out")
    c.add_argument("--dtype", choices=SIZES, required=True)
    c.add_argument("--shards", type=int, default=1)
    a = p.parse_args()
    if os.path.exists(a.out):
        shutil.rmtree(a.out)
    random_llama(a) if a.cmd == "random" else recode(a)


if __name__ == "__main__":
    sys.exit(main())
