#!/usr/bin/env python3
"""Writes a Qwen3-30B-A3B-shaped checkpoint whose tensor data are holes.

config.json carries Qwen3-30B-A3B's published dimensions (30.5B parameters:
48 layers, 128 experts of 768 per layer, 32 query and 4 key/value heads of
128, hidden 2048, vocabulary 151936, untied); the tensors carry the names
and shapes of transformers' Qwen3MoeForCausalLM, BF16, over 16 files as on
the Hub. The safetensors files are sparse (a real header and a hole), so
the 61 GB checkpoint takes a few MB of disk; converting it reads zeros.

  bench/sparse-qwen3-30b-a3b.py OUT [--layers N] [--files F]
"""
import argparse
import json
import os
import struct

CONFIG = {
    "architectures": ["Qwen3MoeForCausalLM"], "model_type": "qwen3_moe",
    "vocab_size": 151936, "hidden_size": 2048, "intermediate_size": 6144,
    "moe_intermediate_size": 768, "num_hidden_layers": 48,
    "num_attention_heads": 32, "num_key_value_heads": 4, "head_dim": 128,
    "num_experts": 128, "num_experts_per_tok": 8, "norm_topk_prob": True,
    "decoder_sparse_step": 1, "mlp_only_layers": [], "attention_bias": False,
    "hidden_act": "silu", "rms_norm_eps": 1e-6, "rope_theta": 1000000.0,
    "max_position_embeddings": 40960, "tie_word_embeddings": False,
    "torch_dtype": "bfloat16",
}


def tensors(c):
    h, d = c["hidden_size"], c["head_dim"]
    nq, nkv = c["num_attention_heads"], c["num_key_value_heads"]
    mi, e = c["moe_intermediate_size"], c["num_experts"]
    yield "model.embed_tokens.weight", [c["vocab_size"], h]
    for l in range(c["num_hidden_layers"]):
        p = "model.layers.%d." % l
        a = p + "self_attn."
        yield from ((p + "input_layernorm.weight", [h]),
                    (p + "post_attention_layernorm.weight", [h]),
                    (a + "q_proj.weight", [nq * d, h]), (a + "k_proj.weight", [nkv * d, h]),
                    (a + "v_proj.weight", [nkv * d, h]), (a + "o_proj.weight", [h, nq * d]),
                    (a + "q_norm.weight", [d]), (a + "k_norm.weight", [d]),
                    (p + "mlp.gate.weight", [e, h]))
        for x in range(e):
            ex = "%smlp.experts.%d." % (p, x)
            yield from ((ex + "gate_proj.weight", [mi, h]), (ex + "up_proj.weight", [mi, h]),
                        (ex + "down_proj.weight", [h, mi]))
    yield "model.norm.weight", [h]
    yield "lm_head.weight", [c["vocab_size"], h]


def write_sparse(path, entries):
    header, offset = {}, 0
    for name, shape in sorted(entries):
        n = 2
        for dim in shape:
            n *= dim
        header[name] = {"dtype": "BF16", "shape": shape, "data_offsets": [offset, offset + n]}
        offset += n
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * ((8 - len(text) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text)
        f.truncate(8 + len(text) + offset)  # the data: one hole


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("out")
    ap.add_argument("--layers", type=int, default=48)
    ap.add_argument("--files", type=int, default=16)
    a = ap.parse_args()
    c = dict(CONFIG, num_hidden_layers=a.layers)
    os.makedirs(a.out, exist_ok=True)
    with open(os.path.join(a.out, "config.json"), "w") as f:
        json.dump(c, f, indent=2)
    all_tensors = list(tensors(c))
    per = -(-len(all_tensors) // a.files)
    weight_map = {}
    for i in range(a.files):
        part = all_tensors[i * per:(i + 1) * per]
        if not part:
            break
        fname = "model-%05d-of-%05d.safetensors" % (i + 1, a.files)
        write_sparse(os.path.join(a.out, fname), part)
        weight_map.update({n: fname for n, _ in part})
    with open(os.path.join(a.out, "model.safetensors.index.json"), "w") as f:
        json.dump({"metadata": {}, "weight_map": weight_map}, f)
    print("%d tensors in %d files" % (len(all_tensors), min(a.files, -(-len(all_tensors) // per))))


if __name__ == "__main__":
    main()
