#!/usr/bin/env python3
"""Writes the seed corpus of the fuzz targets (stdlib only).

  make_corpus.py OUT_DIR     # OUT_DIR/{safetensors,pickle,torchzip,gguf,
                             #          config,index}/

The committed test/fuzz/corpus/ was made with it. Seeds are small valid
files (so the fuzzer starts past the magic and the counts) plus a few broken
ones: truncated, lying lengths, duplicate keys. The `regression-*` files are
inputs on which a target found a bug (see
test/unittests/Loaders/FuzzRegressionTest.cpp); they are kept by hand.
"""
import json
import os
import random
import struct
import sys
import zipfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "reference"))
import make_gguf  # noqa: E402

random.seed(7)


def put(out, sub, name, data):
    d = os.path.join(out, sub)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


def safetensors(header, data):
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * ((-len(text)) % 8)
    return struct.pack("<Q", len(text)) + text + data


def st_seeds(out):
    put(out, "safetensors", "two-tensors", safetensors(
        {"__metadata__": {"format": "pt"},
         "a": {"dtype": "F16", "shape": [2, 3], "data_offsets": [0, 12]},
         "b": {"dtype": "BF16", "shape": [4], "data_offsets": [12, 20]}},
        bytes(range(20))))
    put(out, "safetensors", "scalar-and-empty", safetensors(
        {"s": {"dtype": "F32", "shape": [], "data_offsets": [0, 4]},
         "e": {"dtype": "I64", "shape": [0, 5], "data_offsets": [4, 4]},
         "f8": {"dtype": "F8_E4M3", "shape": [2, 2], "data_offsets": [4, 8]}},
        b"\0\0\x80?abcd"))
    good = safetensors({"w": {"dtype": "F32", "shape": [2, 2],
                              "data_offsets": [0, 16]}}, bytes(16))
    put(out, "safetensors", "truncated", good[:-3])
    entry = b'{"dtype":"U8","shape":[1],"data_offsets":[0,1]}'
    dup = b'{"w":' + entry + b',"w":' + entry + b'}'
    put(out, "safetensors", "duplicate-key",
        struct.pack("<Q", len(dup)) + dup + b"x")
    put(out, "safetensors", "huge-length", struct.pack("<Q", 1 << 62) + b"{}")


def pickle_bytes():
    """A protocol-2 state dict with two tensors, as torch.save writes it."""
    p = bytearray(b"\x80\x02")
    p += b"ccollections\nOrderedDict\nq\x00)Rq\x01"
    for i, (name, shape) in enumerate([("w", (2, 3)), ("b", (3,))]):
        p += b"X" + struct.pack("<I", len(name)) + name.encode()
        p += b"ctorch._utils\n_rebuild_tensor_v2\n("
        p += b"(X\x07\x00\x00\x00storagectorch\nFloatStorage\n"
        key = str(i).encode()
        p += b"X" + struct.pack("<I", len(key)) + key
        p += b"X\x03\x00\x00\x00cpuJ" + struct.pack("<i", 6) + b"tQ"
        p += b"J\x00\x00\x00\x00("
        for d in shape:
            p += b"J" + struct.pack("<i", d)
        p += b"t("
        stride = [3, 1] if len(shape) == 2 else [1]
        for s in stride:
            p += b"J" + struct.pack("<i", s)
        p += b"t\x89ccollections\nOrderedDict\n)RtR"
        p += b"s"
    p += b"."
    return bytes(p)


def torch_zip(pkl, storages, prefix="archive"):
    import io
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_STORED) as z:
        z.writestr(prefix + "/data.pkl", pkl)
        z.writestr(prefix + "/byteorder", "little")
        for key, data in storages:
            z.writestr(prefix + "/data/" + key, data)
        z.writestr(prefix + "/version", "3\n")
    return buf.getvalue()


def torch_seeds(out):
    pkl = pickle_bytes()
    put(out, "pickle", "state-dict", pkl)
    put(out, "pickle", "global-os-system", b"\x80\x02cos\nsystem\nX\x02\x00"
        b"\x00\x00lsR.")
    put(out, "pickle", "deep-marks", b"\x80\x02" + b"(" * 64 + b"t" * 64 + b".")
    fixture = os.path.join(HERE, "..", "Inputs", "llama-fp32-bin",
                           "pytorch_model.bin")
    if os.path.exists(fixture):
        with zipfile.ZipFile(fixture) as z:
            put(out, "pickle", "llama-data-pkl",
                z.read("pytorch_model/data.pkl"))
    zipped = torch_zip(pkl, [("0", bytes(24)), ("1", bytes(24))])
    put(out, "torchzip", "two-tensors", zipped)
    put(out, "torchzip", "truncated", zipped[:-10])
    put(out, "torchzip", "short-storage",
        torch_zip(pkl, [("0", bytes(8)), ("1", bytes(24))]))


def gguf_seeds(out):
    tmp = os.path.join(out, "gguf.tmp")
    meta = [("general.architecture", make_gguf.STRING, "llama"),
            ("llama.context_length", make_gguf.UINT32, 16),
            ("llama.embedding_length", make_gguf.UINT32, 32),
            ("llama.block_count", make_gguf.UINT32, 1),
            ("llama.feed_forward_length", make_gguf.UINT32, 32),
            ("llama.attention.head_count", make_gguf.UINT32, 2),
            ("llama.attention.head_count_kv", make_gguf.UINT32, 1),
            ("llama.attention.layer_norm_rms_epsilon", make_gguf.FLOAT32,
             1e-5),
            ("llama.vocab_size", make_gguf.UINT32, 4),
            ("tokenizer.ggml.tokens", make_gguf.ARRAY,
             (make_gguf.STRING, ["a", "b", "c", "d"])),
            ("tokenizer.ggml.scores", make_gguf.ARRAY,
             (make_gguf.FLOAT32, [0.0, -1.0, -2.0, -3.0]))]

    def tensor(name, ne, tname):
        n = 1
        for d in ne:
            n *= d
        vals = [random.gauss(0, 1) for _ in range(n)]
        data, _ = make_gguf.encode(vals, tname)
        return (name, ne, tname, data)

    small = [tensor("token_embd.weight", [32, 4], "Q8_0"),
             tensor("blk.0.attn_norm.weight", [32], "F32"),
             tensor("blk.0.attn_q.weight", [32, 4], "Q4_0"),
             tensor("blk.0.attn_k.weight", [32, 2], "F16"),
             tensor("blk.0.attn_v.weight", [32, 2], "Q5_0"),
             tensor("blk.0.attn_output.weight", [32, 2], "Q4_1"),
             tensor("blk.0.ffn_up.weight", [32, 2], "Q5_1"),
             tensor("blk.0.ffn_down.weight", [32, 2], "BF16")]
    make_gguf.write_gguf(tmp, meta, small)
    put(out, "gguf", "llama-small", open(tmp, "rb").read())
    for kind in ["Q2_K", "Q3_K", "Q4_K", "Q5_K", "Q6_K"]:
        make_gguf.write_gguf(tmp, meta, [
            tensor("blk.0.attn_q.weight", [256, 4], kind)], version=2)
        put(out, "gguf", "k-" + kind, open(tmp, "rb").read())
    for kind in ["truncated", "nested-array", "duplicate-key", "alignment",
                 "bad-offset", "lying-array"]:
        make_gguf.hostile(kind, tmp)
        put(out, "gguf", "hostile-" + kind, open(tmp, "rb").read())
    os.remove(tmp)


def config_seeds(out):
    import make_checkpoint as mc

    class A:
        hidden, intermediate, layers, heads, kv_heads, vocab = 64, 96, 2, 4, 2, 40
        dtype, tied, head_dim, experts, bias, context = "F16", False, 0, 4, False, 128
    for arch in mc.ARCHES:
        a = A()
        a.arch = arch
        put(out, "config", arch, json.dumps(mc.hf_config(a), indent=2).encode())
    llama = mc.hf_config(type("L", (A,), {"arch": "llama"})())
    for name, key, value in (("head-dim-zero", "head_dim", 0),
                             ("tie-yes", "tie_word_embeddings", "yes"),
                             ("huge-head-dim", "head_dim", 1 << 62),
                             ("many-layers", "num_hidden_layers", 100000)):
        c = dict(llama)
        c[key] = value
        put(out, "config", name, json.dumps(c).encode())
    put(out, "config", "deep", b'{"a": ' + b"[" * 70 + b"]" * 70 + b"}")


def index_seeds(out):
    wm = {"model.embed_tokens.weight": "model-00001-of-00002.safetensors",
          "lm_head.weight": "./model-00002-of-00002.safetensors",
          "model.norm.weight": ".//model-00002-of-00002.safetensors"}
    put(out, "index", "two-shards", json.dumps(
        {"metadata": {"total_size": 1024}, "weight_map": wm}, indent=2).encode())
    put(out, "index", "duplicate-tensor",
        b'{"weight_map": {"a": "s1.safetensors", "a": "s2.safetensors"}}')
    put(out, "index", "escapes", b'{"weight_map": {"a": "../x.bin", "b": "/etc/x"}}')
    put(out, "index", "not-strings", b'{"weight_map": {"a": 1, "b": null}}')


def main():
    out = sys.argv[1]
    st_seeds(out)
    torch_seeds(out)
    gguf_seeds(out)
    config_seeds(out)
    index_seeds(out)


if __name__ == "__main__":
    main()
