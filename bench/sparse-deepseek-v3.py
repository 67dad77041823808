#!/usr/bin/env python3
"""Writes a DeepSeek-V3-shaped checkpoint whose tensor data are holes.

The config.json carries DeepSeek-V3's published dimensions (671B
parameters: 61 layers, the first 3 dense, 256 routed experts and one shared
expert per MoE layer, multi-head latent attention); the tensors carry the
names and shapes transformers' checkpoints use (modeling_deepseek.py),
stored as BF16 (the layout of the BF16 conversions of the FP8 release).
The safetensors files are sparse: each holds a real header and a hole of
the size the header announces, so the whole 1.3 TB checkpoint takes a few
MB of disk. `quant-opt convert --dry-run` plans it without reading data.

  bench/sparse-deepseek-v3.py OUT [--layers N] [--files F] [--fp8]

With --fp8 the layout is that of the FP8 release: every linear weight of
the layers (`*_proj*.weight`, experts included) is F8_E4M3 with an F32
`<name>_scale_inv` of 128 x 128 blocks, and config.json has the release's
quantization_config.
"""
import argparse
import json
import os
import struct

CONFIG = {
    "architectures": ["DeepseekV3ForCausalLM"], "model_type": "deepseek_v3",
    "vocab_size": 129280, "hidden_size": 7168, "intermediate_size": 18432,
    "moe_intermediate_size": 2048, "num_hidden_layers": 61,
    "num_attention_heads": 128, "num_key_value_heads": 128,
    "n_shared_experts": 1, "n_routed_experts": 256, "num_experts_per_tok": 8,
    "norm_topk_prob": True, "first_k_dense_replace": 3, "moe_layer_freq": 1,
    "routed_scaling_factor": 2.5, "scoring_func": "sigmoid",
    "topk_method": "noaux_tc", "n_group": 8, "topk_group": 4,
    "attention_bias": False, "q_lora_rank": 1536, "kv_lora_rank": 512,
    "qk_rope_head_dim": 64, "qk_nope_head_dim": 128, "v_head_dim": 128,
    "rms_norm_eps": 1e-6, "rope_theta": 10000, "max_position_embeddings": 163840,
    "tie_word_embeddings": False, "torch_dtype": "bfloat16",
}


def tensors(c):
    h, nh = c["hidden_size"], c["num_attention_heads"]
    qr, kr = c["q_lora_rank"], c["kv_lora_rank"]
    nope, rope, v = c["qk_nope_head_dim"], c["qk_rope_head_dim"], c["v_head_dim"]
    mi, e = c["moe_intermediate_size"], c["n_routed_experts"]
    yield "model.embed_tokens.weight", [c["vocab_size"], h]
    for l in range(c["num_hidden_layers"]):
        p = "model.layers.%d." % l
        a = p + "self_attn."
        yield from ((p + "input_layernorm.weight", [h]),
                    (p + "post_attention_layernorm.weight", [h]),
                    (a + "q_a_proj.weight", [qr, h]), (a + "q_a_layernorm.weight", [qr]),
                    (a + "q_b_proj.weight", [nh * (nope + rope), qr]),
                    (a + "kv_a_proj_with_mqa.weight", [kr + rope, h]),
                    (a + "kv_a_layernorm.weight", [kr]),
                    (a + "kv_b_proj.weight", [nh * (nope + v), kr]),
                    (a + "o_proj.weight", [h, nh * v]))
        m = p + "mlp."
        if l < c["first_k_dense_replace"]:
            i = c["intermediate_size"]
            yield from ((m + "gate_proj.weight", [i, h]), (m + "up_proj.weight", [i, h]),
                        (m + "down_proj.weight", [h, i]))
            continue
        yield m + "gate.weight", [e, h]
        yield m + "gate.e_score_correction_bias", [e]
        for x in range(e):
            ex = "%sexperts.%d." % (m, x)
            yield from ((ex + "gate_proj.weight", [mi, h]), (ex + "up_proj.weight", [mi, h]),
                        (ex + "down_proj.weight", [h, mi]))
        s = m + "shared_experts."
        yield from ((s + "gate_proj.weight", [mi, h]), (s + "up_proj.weight", [mi, h]),
                    (s + "down_proj.weight", [h, mi]))
    yield "model.norm.weight", [h]
    yield "lm_head.weight", [c["vocab_size"], h]


def fp8_tensors(entries):
    """The FP8 release: linears of the layers as codes plus block scales."""
    for name, shape in entries:
        if name.startswith("model.layers.") and "_proj" in name and len(shape) == 2:
            yield name, shape, "F8_E4M3"
            yield name + "_scale_inv", [-(-shape[0] // 128), -(-shape[1] // 128)], "F32"
        else:
            yield name, shape, "BF16"


SIZE = {"BF16": 2, "F8_E4M3": 1, "F32": 4}


def write_sparse(path, entries):
    header, offset = {}, 0
    for name, shape, dtype in sorted(entries):
        n = SIZE[dtype]
        for d in shape:
            n *= d
        header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [offset, offset + n]}
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
    ap.add_argument("--layers", type=int, default=61)
    ap.add_argument("--files", type=int, default=163)
    ap.add_argument("--fp8", action="store_true")
    a = ap.parse_args()
    c = dict(CONFIG, num_hidden_layers=a.layers)
    if a.fp8:
        c["quantization_config"] = {"activation_scheme": "dynamic", "fmt": "e4m3",
                                    "quant_method": "fp8", "weight_block_size": [128, 128]}
    os.makedirs(a.out, exist_ok=True)
    with open(os.path.join(a.out, "config.json"), "w") as f:
        json.dump(c, f, indent=2)
    all_tensors = [(n, s, "BF16") for n, s in tensors(c)]
    if a.fp8:
        all_tensors = list(fp8_tensors(tensors(c)))
    per = -(-len(all_tensors) // a.files)
    weight_map = {}
    for i in range(a.files):
        part = all_tensors[i * per:(i + 1) * per]
        if not part:
            break
        fname = "model-%05d-of-%05d.safetensors" % (i + 1, a.files)
        write_sparse(os.path.join(a.out, fname), part)
        weight_map.update({n: fname for n, _, _ in part})
    with open(os.path.join(a.out, "model.safetensors.index.json"), "w") as f:
        json.dump({"metadata": {}, "weight_map": weight_map}, f)
    print("%d tensors in %d files" % (len(all_tensors), min(a.files, -(-len(all_tensors) // per))))


if __name__ == "__main__":
    main()
