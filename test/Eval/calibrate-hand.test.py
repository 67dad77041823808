# A case worked by hand (see calibrate-hand.test).
#   make DIR     writes the tiny llama
#   check STATS  checks the statistics written for it
import json
import os
import struct
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "reference"))
from make_checkpoint import to_bits, write_safetensors  # noqa: E402

H, FFN, V, LAYERS = 4, 2, 3, 2


def make(out):
    os.makedirs(out, exist_ok=True)
    config = {"architectures": ["LlamaForCausalLM"], "model_type": "llama",
              "hidden_size": H, "intermediate_size": FFN, "num_hidden_layers": LAYERS,
              "num_attention_heads": 1, "num_key_value_heads": 1, "head_dim": 4,
              "vocab_size": V, "rms_norm_eps": 0.0, "rope_theta": 10000.0,
              "max_position_embeddings": 16, "tie_word_embeddings": False,
              "hidden_act": "silu", "torch_dtype": "float32"}
    json.dump(config, open(os.path.join(out, "config.json"), "w"))
    filler = lambda n, s: [((i * 7 + s) % 5 - 2) / 10.0 for i in range(n)]
    t = {"model.embed_tokens.weight": ([V, H], [1, 1, 1, 1, 2, -2, 2, -2, 0, 0, 0, 4]),
         "model.norm.weight": ([H], [1, 1, 1, 1]),
         "lm_head.weight": ([V, H], filler(V * H, 1))}
    for l in range(LAYERS):
        p = "model.layers.%d." % l
        t[p + "input_layernorm.weight"] = ([H], [1, 2, 1, 1])
        t[p + "post_attention_layernorm.weight"] = ([H], [1, 1, 1, 1])
        t[p + "self_attn.q_proj.weight"] = ([H, H], filler(16, 2))
        t[p + "self_attn.k_proj.weight"] = ([H, H], filler(16, 3))
        t[p + "self_attn.v_proj.weight"] = ([H, H], [1.0 if i % 5 == 0 else 0.0 for i in range(16)])
        t[p + "self_attn.o_proj.weight"] = ([H, H], filler(16, 4))
        t[p + "mlp.gate_proj.weight"] = ([FFN, H], filler(8, 5))
        t[p + "mlp.up_proj.weight"] = ([FFN, H], filler(8, 6))
        t[p + "mlp.down_proj.weight"] = ([H, FFN], filler(8, 7))
    write_safetensors(os.path.join(out, "model.safetensors"),
                      [(n, "F32", s, to_bits(v, "F32")) for n, (s, v) in t.items()])


def f32(x):
    return struct.unpack("<f", struct.pack("<f", x))[0]


def check(path):
    data = open(path, "rb").read()
    n = struct.unpack("<Q", data[:8])[0]
    header = json.loads(data[8:8 + n])
    body = data[8 + n:]
    assert n % 8 == 0, n
    assert header.pop("__metadata__") == {"format": "quant-opt-calibration", "version": "1",
                                          "model_type": "llama", "tokens": "3"}
    # Exact names, dtypes, shapes, in file order, contiguous from offset 0.
    want = []
    for l in range(LAYERS):
        p = "model.layers.%d." % l
        for w, k in (("self_attn.qkv_proj", H), ("self_attn.o_proj", H),
                     ("mlp.gate_up_proj", H), ("mlp.down_proj", FFN)):
            want.append((p + w + ".weight", k))
    want.append(("lm_head.weight", H))
    names, offset = [], 0
    for w, k in want:
        for suffix, dtype, shape in ((".hessian", "F32", [k, k]), (".imatrix", "F32", [k]),
                                     (".count", "I64", [1])):
            info = header[w + suffix]
            size = (8 if dtype == "I64" else 4) * (k * k if suffix == ".hessian" else k if suffix == ".imatrix" else 1)
            assert info == {"dtype": dtype, "shape": shape, "data_offsets": [offset, offset + size]}, (w + suffix, info)
            names.append(w + suffix)
            offset += size
    assert list(header) == names, list(header)
    assert len(body) == offset, (len(body), offset)

    def tensor(name):
        info = header[name]
        b, e = info["data_offsets"]
        code = "q" if info["dtype"] == "I64" else "f"
        return list(struct.unpack("<%d%s" % ((e - b) // struct.calcsize(code), code), body[b:e]))

    # Layer 0's q/k/v input: RMSNorm (eps 0) of the embedding rows
    # [1,1,1,1], [2,-2,2,-2], [0,0,0,4] times [1,2,1,1]:
    #   [1,2,1,1], [1,-2,1,-1], [0,0,0,2]
    imatrix = [f32(2 / 3), f32(8 / 3), f32(2 / 3), 2.0]
    hessian = [f32(2 / 3), 0.0, f32(2 / 3), 0.0,
               0.0, f32(8 / 3), 0.0, f32(4 / 3),
               f32(2 / 3), 0.0, f32(2 / 3), 0.0,
               0.0, f32(4 / 3), 0.0, 2.0]
    # With windows of one token each token attends to itself only, so with
    # v_proj = I the o_proj input is the same rows.
    for w in ("self_attn.qkv_proj", "self_attn.o_proj"):
        name = "model.layers.0." + w + ".weight"
        assert tensor(name + ".imatrix") == imatrix, (name, tensor(name + ".imatrix"))
        assert tensor(name + ".hessian") == hessian, (name, tensor(name + ".hessian"))
    for w, _ in want:
        assert tensor(w + ".count") == [3], w
        h, im = tensor(w + ".hessian"), tensor(w + ".imatrix")
        k = len(im)
        assert [h[i * k + i] for i in range(k)] == im, w  # the diagonal, bit for bit
        assert all(h[i * k + j] == h[j * k + i] for i in range(k) for j in range(k)), w
    print("hand-worked statistics ok")


if __name__ == "__main__":
    {"make": make, "check": check}[sys.argv[1]](sys.argv[2])
