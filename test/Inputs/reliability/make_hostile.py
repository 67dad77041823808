#!/usr/bin/env python3
"""Writes hostile or unlucky inputs for the reliability tests (stdlib only).

  make_hostile.py KIND OUT_DIR [ARG]

Every kind starts from a small random llama (test/reference/make_checkpoint.py
layout: hidden 64, 2 layers, fp32 or fp16) and breaks one thing:
  value       fp32 checkpoint whose layer-0 q_proj weight element INDEX (flat)
              holds VALUE, ARG "INDEX=VALUE" (VALUE: a float, nan, inf, -inf)
  poke        changes OUT_DIR/model.safetensors in place: ARG
              "TENSOR:INDEX=VALUE" (any float dtype)
  deep-config config.json with a value nested ARG (default 50000) levels deep
  config-set  config.json with KEY=JSON (ARG) set
  st-many     model.safetensors whose header also lists ARG (default 100000)
              empty extra tensors
  dup-index   a 2-shard index where one tensor is listed by both shards
  many-names  an index naming the one shard ARG (default 1001) ways
  codecs-bomb pytorch_model.bin whose pickle repeats _codecs.encode on a
              growing string (the classic memory bomb)
  gguf-blocks a 1 KB GGUF whose llama.block_count is ARG (default 10**7)
  big         a larger fp16 checkpoint (hidden 1024, 8 layers: 160 MB) for
              the signal tests (weights repeat one random block: fast);
              ARG "medium": hidden 512 (40 MB, a 2-shard q0f16 cache)
"""
import io
import json
import os
import struct
import sys
import zipfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "reference"))
import make_checkpoint as mc  # noqa: E402


class Args:
    arch = "llama"
    hidden = 64
    intermediate = 96
    layers = 2
    heads = 4
    kv_heads = 2
    vocab = 40
    dtype = "F32"
    shards = 1
    tied = False
    zero_group = False
    head_dim = 0
    experts = 0
    bias = False
    context = 128
    prefix = ""
    mask = False
    drop = []
    set = []
    seed = 7


def base(out, **kw):
    a = Args()
    a.out = out
    for k, v in kw.items():
        setattr(a, k, v)
    mc.random_checkpoint(a)
    return a


def set_value(out, arg):
    index, _, value = arg.partition("=")
    base(out)
    path = os.path.join(out, "model.safetensors")
    tensors = mc.read_safetensors(path)
    fixed = []
    for name, dtype, shape, data in tensors:
        if name == "model.layers.0.self_attn.q_proj.weight":
            vals = mc.from_bits(data, dtype)
            vals[int(index)] = float(value)
            data = mc.to_bits(vals, dtype)
        fixed.append((name, dtype, shape, data))
    mc.write_safetensors(path, fixed)


def poke(out, arg):
    target, _, rest = arg.partition(":")
    index, _, value = rest.partition("=")
    path = os.path.join(out, "model.safetensors")
    fixed = []
    for name, dtype, shape, data in mc.read_safetensors(path):
        if name == target:
            vals = mc.from_bits(data, dtype)
            vals[int(index)] = float(value)
            data = mc.to_bits(vals, dtype)
        fixed.append((name, dtype, shape, data))
    mc.write_safetensors(path, fixed)


def big(out, medium=False):
    """hidden 1024, 8 layers, fp16 (medium: hidden 512, 40 MB); every tensor
    is one 64 KB block of small random values repeated (building 80M values
    one by one in Python takes minutes)."""
    import random
    rng = random.Random(1)
    block = struct.pack("<32768e", *[rng.gauss(0, 0.02) for _ in range(32768)])
    h, inter, layers, vocab = (512, 1024, 8, 512) if medium else (1024, 2048, 8, 512)
    shapes = {"model.embed_tokens.weight": [vocab, h], "lm_head.weight": [vocab, h],
              "model.norm.weight": [h]}
    for i in range(layers):
        p = "model.layers.%d." % i
        for n, shp in (("self_attn.q_proj", [h, h]), ("self_attn.k_proj", [h, h]),
                       ("self_attn.v_proj", [h, h]), ("self_attn.o_proj", [h, h]),
                       ("mlp.gate_proj", [inter, h]), ("mlp.up_proj", [inter, h]),
                       ("mlp.down_proj", [h, inter])):
            shapes[p + n + ".weight"] = shp
        shapes[p + "input_layernorm.weight"] = [h]
        shapes[p + "post_attention_layernorm.weight"] = [h]
    tensors = []
    for name, shp in shapes.items():
        n = 1
        for d in shp:
            n *= d
        data = (block * (n * 2 // len(block) + 1))[:n * 2]
        tensors.append((name, "F16", shp, data))
    a = Args()
    a.hidden, a.intermediate, a.layers, a.heads, a.kv_heads = h, inter, layers, 8, 8
    a.vocab, a.dtype = vocab, "F16"
    mc.save(out, mc.hf_config(a), tensors, 1)


def main(kind, out, arg):
    os.makedirs(out, exist_ok=True)
    if kind == "value":
        set_value(out, arg)
    elif kind == "poke":
        poke(out, arg)
    elif kind == "deep-config":
        base(out)
        depth = int(arg or 50000)
        with open(os.path.join(out, "config.json")) as f:
            cfg = json.load(f)
        text = json.dumps(cfg)[:-1] + ', "deep": ' + "[" * depth + "]" * depth + "}"
        with open(os.path.join(out, "config.json"), "w") as f:
            f.write(text)
    elif kind == "config-set":
        key, _, value = arg.partition("=")
        base(out, set=[key + "=" + value])
    elif kind == "st-many":
        base(out)
        path = os.path.join(out, "model.safetensors")
        tensors = mc.read_safetensors(path)
        n = int(arg or 100000)
        end = sum(len(t[3]) for t in tensors)
        extra = [("extra.%06d" % i, "F32", [0], b"") for i in range(n)]
        # Zero-byte tensors sit at the end of the buffer.
        header, offset, blobs = {}, 0, []
        for name, dtype, shape, data in sorted(tensors):
            header[name] = {"dtype": dtype, "shape": shape,
                            "data_offsets": [offset, offset + len(data)]}
            offset += len(data)
            blobs.append(data)
        for name, dtype, shape, _ in extra:
            header[name] = {"dtype": dtype, "shape": shape,
                            "data_offsets": [end, end]}
        text = json.dumps(header, separators=(",", ":")).encode()
        text += b" " * ((8 - len(text) % 8) % 8)
        with open(path, "wb") as f:
            f.write(struct.pack("<Q", len(text)) + text + b"".join(blobs))
    elif kind == "dup-index":
        base(out, shards=2)
        with open(os.path.join(out, "model.safetensors.index.json")) as f:
            idx = json.load(f)
        wm = idx["weight_map"]
        # Put the tensor of shard 1 into shard 2's file too.
        first = sorted(k for k, v in wm.items() if v.startswith("model-00001"))[0]
        p1 = os.path.join(out, "model-00001-of-00002.safetensors")
        p2 = os.path.join(out, "model-00002-of-00002.safetensors")
        t1 = [t for t in mc.read_safetensors(p1) if t[0] == first]
        mc.write_safetensors(p2, mc.read_safetensors(p2) + t1)
    elif kind == "many-names":
        base(out)
        n = int(arg or 1001)
        path = os.path.join(out, "model.safetensors")
        tensors = mc.read_safetensors(path)
        tensors += [("unused.%d" % i, "F32", [1], b"\0\0\0\0")
                    for i in range(len(tensors), n)]
        mc.write_safetensors(path, tensors)
        # './' a times then './/' b times: n distinct spellings of one file.
        names = ["./" * (i % 32) + ".//" * (i // 32) + "model.safetensors"
                 for i in range(n)]
        wm = {}
        for i, (name, _, _, _) in enumerate(sorted(tensors)):
            wm[name] = names[i % n]
        for i in range(len(tensors), n):
            wm["unused.%d" % i] = names[i]
        with open(os.path.join(out, "model.safetensors.index.json"), "w") as f:
            json.dump({"metadata": {}, "weight_map": wm}, f)
    elif kind == "codecs-bomb":
        base(out)
        # PROTO 2; memo 0 = _codecs.encode, 1 = a 512 KB str, 2 = 'latin1';
        # then encode(s, 'latin1') again and again (each call makes a new
        # 512 KB bytes object from 8 bytes of pickle), results popped.
        p = bytearray(b"\x80\x02")
        p += b"c_codecs\nencode\nq\x00"
        p += b"X" + struct.pack("<I", 1 << 19) + b"A" * (1 << 19) + b"q\x01"
        p += b"X\x06\x00\x00\x00latin1q\x02"
        p += b"(" + b"h\x00h\x01h\x02\x86R" * 60000 + b"t"
        p += b"}."
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w", zipfile.ZIP_STORED) as z:
            z.writestr("archive/data.pkl", bytes(p))
            z.writestr("archive/version", b"3\n")
        with open(os.path.join(out, "pytorch_model.bin"), "wb") as f:
            f.write(buf.getvalue())
        os.remove(os.path.join(out, "model.safetensors"))
    elif kind == "gguf-blocks":
        sys.path.insert(0, os.path.join(HERE, "..", "..", "reference"))
        import make_gguf as mg
        n = int(arg or 10 ** 7)
        kvs = [("general.architecture", mg.STRING, "llama"),
               ("llama.block_count", mg.UINT32, n),
               ("llama.embedding_length", mg.UINT32, 64),
               ("llama.feed_forward_length", mg.UINT32, 96),
               ("llama.attention.head_count", mg.UINT32, 4),
               ("llama.attention.head_count_kv", mg.UINT32, 2),
               ("llama.context_length", mg.UINT32, 128),
               ("llama.rope.freq_base", mg.FLOAT32, 10000.0),
               ("llama.attention.layer_norm_rms_epsilon", mg.FLOAT32, 1e-6)]
        data = struct.pack("<64f", *([0.5] * 64))
        mg.write_gguf(os.path.join(out, "model.gguf"), kvs,
                      [("token_embd.weight", [64, 1], "F32", data)])
    elif kind == "big":
        big(out, medium=arg == "medium")
    else:
        sys.exit("unknown kind " + kind)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], sys.argv[3] if len(sys.argv) > 3 else "")
