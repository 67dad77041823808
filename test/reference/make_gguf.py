#!/usr/bin/env python3
"""Writes GGUF files for tests (stdlib only), following the project's fact
description of the GGUF format (docs/gguf.md) and nothing else.

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

# The ggml types, scalars and block codecs (re-exported: make_gguf.X keeps
# working for every name).
from ggml_blocks import *  # noqa: E402,F401,F403


# --------------------------------------------------------------------------
# GGUF writing
# --------------------------------------------------------------------------

UINT8, INT8, UINT16, INT16, UINT32, INT32, FLOAT32, BOOL, STRING, ARRAY, \
    UINT64, INT64, FLOAT64 = range(13)
SCALAR_FMT = {UINT8: "<B", INT8: "<b", UINT16: "<H", INT16: "<h",
              UINT32: "<I", INT32: "<i", FLOAT32: "<f", BOOL: "<B",
              UINT64: "<Q", INT64: "<q", FLOAT64: "<d"}

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
