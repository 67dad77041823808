#!/usr/bin/env python3
"""Writes small checkpoints in safetensors for tests (stdlib only).

Either random weights with chosen dimensions, or a re-encoding of an existing
single-file safetensors checkpoint into another dtype and/or split into an
index + several shards, as transformers' save_pretrained lays them out.

  make_checkpoint.py random OUT [--arch llama] --hidden 72 --intermediate 96 \
      --layers 2 --heads 4 --kv-heads 2 --vocab 40 --dtype F16 [--shards 2] \
      [--tied] [--zero-group] [--head-dim D] [--experts E] [--bias] \
      [--context N] [--prefix transformer.] [--mask] [--drop KEY] \
      [--set KEY=JSON]
  make_checkpoint.py recode IN_DIR OUT --dtype f32 [--shards 3]

`random --arch A` uses the HF tensor names and config.json keys transformers
writes for each of the ten architectures (mlc-models.md section 2) and for
those in hf_archs.py ([--moe-intermediate F] [--shared-intermediate S]
[--inv-freq] [--t5]).
"""
import argparse
import json
import math
import os
import random
import shutil
import struct
import sys

import hf_archs
import hf_archs_new  # issue 16 group B
import hf_archs_rwkv  # issue 16, the remaining types (qwen3-embedding, rwkv5/6)

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


ARCHES = ("llama", "mistral", "mixtral", "qwen2", "qwen3", "phi3", "gemma",
          "gemma2", "starcoder2", "gpt2")

HF_CLASS = {
    "llama": "LlamaForCausalLM", "mistral": "MistralForCausalLM",
    "mixtral": "MixtralForCausalLM", "qwen2": "Qwen2ForCausalLM",
    "qwen3": "Qwen3ForCausalLM", "phi3": "Phi3ForCausalLM",
    "gemma": "GemmaForCausalLM", "gemma2": "Gemma2ForCausalLM",
    "starcoder2": "Starcoder2ForCausalLM", "gpt2": "GPT2LMHeadModel",
}


def hf_shapes(a):
    if a.arch in hf_archs.ARCHES:
        return hf_archs.hf_shapes(a)
    if a.arch in hf_archs_new.ARCHES:
        return hf_archs_new.hf_shapes(a)
    if a.arch in hf_archs_rwkv.ARCHES:
        return hf_archs_rwkv.hf_shapes(a, hf_shapes)
    """{HF tensor name: shape} as transformers names them for `a.arch`
    (mlc-models.md 2, the HF column)."""
    h, i, nq, nkv, v = a.hidden, a.intermediate, a.heads, a.kv_heads, a.vocab
    d = a.head_dim or h // nq
    arch = a.arch
    shapes = {}
    if arch == "gpt2":
        i = i or 4 * h  # n_inner null -> 4 * n_embd
        pre = a.prefix
        shapes[pre + "wte.weight"] = [v, h]
        shapes[pre + "wpe.weight"] = [a.context, h]
        shapes[pre + "ln_f.weight"] = [h]
        shapes[pre + "ln_f.bias"] = [h]
        for l in range(a.layers):
            p = "%sh.%d." % (pre, l)
            shapes.update({
                p + "ln_1.weight": [h], p + "ln_1.bias": [h],
                p + "ln_2.weight": [h], p + "ln_2.bias": [h],
                p + "attn.c_attn.weight": [h, 3 * h], p + "attn.c_attn.bias": [3 * h],
                p + "attn.c_proj.weight": [h, h], p + "attn.c_proj.bias": [h],
                p + "mlp.c_fc.weight": [h, i], p + "mlp.c_fc.bias": [i],
                p + "mlp.c_proj.weight": [i, h], p + "mlp.c_proj.bias": [h],
            })
            if a.mask:  # the causal-mask buffer older checkpoints carry
                shapes[p + "attn.bias"] = [1, 1, a.context, a.context]
        return shapes
    shapes["model.embed_tokens.weight"] = [v, h]
    shapes["model.norm.weight"] = [h]
    if arch == "starcoder2":
        shapes["model.norm.bias"] = [h]
    has_head = arch in ("llama", "mixtral", "qwen2", "qwen3", "phi3") and not a.tied
    if arch == "mistral" or has_head:
        shapes["lm_head.weight"] = [v, h]
    for l in range(a.layers):
        p = "model.layers.%d." % l
        shapes[p + "input_layernorm.weight"] = [h]
        shapes[p + "post_attention_layernorm.weight"] = [h]
        shapes[p + "self_attn.o_proj.weight"] = [h, nq * d]
        if arch == "phi3":
            shapes[p + "self_attn.qkv_proj.weight"] = [(nq + 2 * nkv) * d, h]
            shapes[p + "mlp.gate_up_proj.weight"] = [2 * i, h]
            shapes[p + "mlp.down_proj.weight"] = [h, i]
            continue
        shapes[p + "self_attn.q_proj.weight"] = [nq * d, h]
        shapes[p + "self_attn.k_proj.weight"] = [nkv * d, h]
        shapes[p + "self_attn.v_proj.weight"] = [nkv * d, h]
        if arch == "qwen2" or (arch in ("qwen3", "starcoder2") and a.bias):
            shapes[p + "self_attn.q_proj.bias"] = [nq * d]
            shapes[p + "self_attn.k_proj.bias"] = [nkv * d]
            shapes[p + "self_attn.v_proj.bias"] = [nkv * d]
        if arch in ("qwen3", "starcoder2") and a.bias:
            shapes[p + "self_attn.o_proj.bias"] = [h]
        if arch == "qwen3":
            shapes[p + "self_attn.q_norm.weight"] = [d]
            shapes[p + "self_attn.k_norm.weight"] = [d]
        if arch == "gemma2":
            shapes[p + "pre_feedforward_layernorm.weight"] = [h]
            shapes[p + "post_feedforward_layernorm.weight"] = [h]
        if arch == "starcoder2":
            shapes[p + "input_layernorm.bias"] = [h]
            shapes[p + "post_attention_layernorm.bias"] = [h]
            shapes[p + "mlp.c_fc.weight"] = [i, h]
            shapes[p + "mlp.c_proj.weight"] = [h, i]
            if a.bias:
                shapes[p + "mlp.c_fc.bias"] = [i]
                shapes[p + "mlp.c_proj.bias"] = [h]
        elif arch == "mixtral":
            moe = p + "block_sparse_moe."
            shapes[moe + "gate.weight"] = [a.experts, h]
            for e in range(a.experts):
                shapes[moe + "experts.%d.w1.weight" % e] = [i, h]
                shapes[moe + "experts.%d.w2.weight" % e] = [h, i]
                shapes[moe + "experts.%d.w3.weight" % e] = [i, h]
        else:
            shapes[p + "mlp.gate_proj.weight"] = [i, h]
            shapes[p + "mlp.up_proj.weight"] = [i, h]
            shapes[p + "mlp.down_proj.weight"] = [h, i]
    return shapes


def hf_config(a):
    """config.json with the keys transformers writes for `a.arch`."""
    arch = a.arch
    dtype = {"F16": "float16", "BF16": "bfloat16", "F32": "float32"}[a.dtype]
    if arch in hf_archs.ARCHES:
        return hf_archs.hf_config(a, dtype)
    if arch in hf_archs_new.ARCHES:
        return hf_archs_new.hf_config(a, dtype)
    if arch in hf_archs_rwkv.ARCHES:
        return hf_archs_rwkv.hf_config(a, hf_config)
    c = {"architectures": [HF_CLASS[arch]], "model_type": arch}
    if arch == "gpt2":
        c.update({
            "vocab_size": a.vocab, "n_embd": a.hidden, "n_layer": a.layers,
            "n_head": a.heads, "n_inner": a.intermediate or None, "n_positions": a.context,
            "n_ctx": a.context, "layer_norm_epsilon": 1e-5,
            "activation_function": "gelu_new", "torch_dtype": dtype,
        })
        return c
    c.update({
        "hidden_size": a.hidden, "intermediate_size": a.intermediate,
        "num_attention_heads": a.heads, "num_key_value_heads": a.kv_heads,
        "num_hidden_layers": a.layers, "vocab_size": a.vocab,
        "max_position_embeddings": a.context, "torch_dtype": dtype,
    })
    if arch == "starcoder2":
        c.update({"norm_epsilon": 1e-5, "use_bias": a.bias, "use_cache": True,
                  "bos_token_id": 0, "eos_token_id": 0, "rope_theta": 10000.0,
                  "hidden_act": "gelu_pytorch_tanh", "tie_word_embeddings": True})
        return c
    c["rms_norm_eps"] = 1e-6
    if a.head_dim:
        c["head_dim"] = a.head_dim
    if arch in ("llama", "mistral", "mixtral", "qwen2", "qwen3", "phi3"):
        c["tie_word_embeddings"] = a.tied  # mistral: lm_head written anyway
    if arch in ("qwen2", "qwen3", "mistral", "mixtral"):
        c.update({"hidden_act": "silu", "rope_theta": 10000.0})
    if arch == "qwen3":
        c.update({"attention_bias": a.bias, "head_dim": a.head_dim or a.hidden // a.heads})
    if arch == "mistral":
        c["sliding_window"] = 4096
    if arch == "mixtral":
        c.update({"num_local_experts": a.experts, "num_experts_per_tok": 2})
    if arch in ("gemma", "gemma2"):
        c.update({"head_dim": a.head_dim or a.hidden // a.heads,
                  "attention_bias": False, "hidden_act": "gelu_pytorch_tanh",
                  "hidden_activation": "gelu_pytorch_tanh"})
    if arch == "gemma2":
        c.update({"query_pre_attn_scalar": 32, "sliding_window": 64,
                  "final_logit_softcapping": 30.0, "attn_logit_softcapping": 50.0})
    return c


def random_checkpoint(a):
    rng = random.Random(a.seed)
    plus_one_norms = a.arch in ("gemma", "gemma2") + hf_archs.PLUS_ONE_NORMS
    tensors = []
    for name, shape in sorted(hf_shapes(a).items()):
        n = math.prod(shape)
        if name.endswith(".attn.bias") and a.arch == "gpt2":
            ctx = shape[-1]  # lower-triangular causal mask
            vals = [1.0 if c <= r else 0.0 for r in range(ctx) for c in range(ctx)]
        elif name.endswith("norm.weight") or ".ln_" in name or name.startswith("ln_"):
            # Gemma stores norm weights as offsets from 1 (MLC adds the 1).
            centre = 0.0 if plus_one_norms else 1.0
            vals = [centre + rng.gauss(0, 0.05) for _ in range(n)]
        else:
            vals = [rng.gauss(0, getattr(a, "std", 0.02)) for _ in range(n)]
        if a.zero_group and name == "model.layers.0.self_attn.q_proj.weight":
            vals[:32] = [0.0] * 32  # an all-zero quantization group
        vals = hf_archs_rwkv.values(a, name, vals, rng)  # rwkv5/6 specials
        tensors.append((name, a.dtype, shape, to_bits(vals, a.dtype)))
    config = hf_config(a)
    for key in a.drop:
        config.pop(key, None)
    for item in a.set:
        key, _, value = item.partition("=")
        config[key] = json.loads(value)
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
    r.add_argument("--std", type=float, default=0.02,
                   help="standard deviation of the random weights")
    r.add_argument("--tied", action="store_true")
    r.add_argument("--zero-group", action="store_true")
    r.add_argument("--arch", choices=ARCHES + hf_archs.ARCHES + hf_archs_new.ARCHES
                   + hf_archs_rwkv.ARCHES, default="llama")
    r.add_argument("--moe-intermediate", type=int, default=32,
                   help="qwen3_moe/qwen2_moe moe_intermediate_size")
    r.add_argument("--shared-intermediate", type=int, default=64,
                   help="qwen2_moe shared_expert_intermediate_size")
    r.add_argument("--kv-lora-rank", type=int, default=32, help="deepseek")
    r.add_argument("--q-lora-rank", type=int, default=0, help="deepseek; 0 = null")
    r.add_argument("--first-dense", type=int, default=1,
                   help="deepseek first_k_dense_replace")
    r.add_argument("--inv-freq", action="store_true",
                   help="also write the rotary_emb.inv_freq buffers (unused)")
    r.add_argument("--t5", action="store_true",
                   help="config.json as transformers 5 writes it (dtype, rope_parameters)")
    r.add_argument("--head-dim", type=int, default=0,
                   help="explicit head_dim (gemma, qwen3); 0 = hidden / heads")
    r.add_argument("--experts", type=int, default=4, help="mixtral")
    r.add_argument("--moe", action="store_true", help="minicpm: the MoE variant")
    r.add_argument("--bias", action="store_true",
                   help="qwen3 attention_bias / starcoder2 use_bias")
    r.add_argument("--context", type=int, default=128,
                   help="max_position_embeddings (gpt2: n_positions = wpe rows)")
    r.add_argument("--prefix", default="",
                   help="gpt2: prefix of every tensor name, e.g. 'transformer.'")
    r.add_argument("--mask", action="store_true",
                   help="gpt2: also write the h.L.attn.bias causal-mask buffers")
    r.add_argument("--drop", action="append", default=[], metavar="KEY",
                   help="leave KEY out of config.json (repeatable)")
    r.add_argument("--set", action="append", default=[], metavar="KEY=JSON",
                   help="set config.json KEY to a JSON value (repeatable)")
    c = sub.add_parser("recode")
    c.add_argument("input")
    c.add_argument("out")
    c.add_argument("--dtype", choices=SIZES, required=True)
    c.add_argument("--shards", type=int, default=1)
    a = p.parse_args()
    if os.path.exists(a.out):
        shutil.rmtree(a.out)
    random_checkpoint(a) if a.cmd == "random" else recode(a)


if __name__ == "__main__":
    sys.exit(main())
