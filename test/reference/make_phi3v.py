#!/usr/bin/env python3
"""Writes a Phi-3-vision checkpoint (Phi3VForCausalLM) for tests, stdlib only.

  make_phi3v.py OUT [--hidden 64] [--intermediate 128] [--layers 2]
      [--heads 4] [--kv-heads 2] [--vocab 40] [--dtype BF16] [--shards 2]
      [--t5] [--no-vision] [--config-only]

Names and config.json are those of microsoft/Phi-3-vision-128k-instruct
(its remote modeling_phi3_v.py / image_embedding_phi3_v.py): the Phi-3 text
model under `model.` with fused `qkv_proj` / `gate_up_proj`, `lm_head.weight`,
and `model.vision_embed_tokens.`: `img_processor.vision_model.*` (a
transformers CLIPVisionModel built from the fixed CLIP ViT-L/14-336
configuration, whatever config.json says), `glb_GN` [1, 1, 4096], `sub_GN`
[1, 1, 1, 4096] and the projector `img_projection.0` [H, 4096] / `.2`
[H, H] (+ biases). config.json carries `img_processor` and `embd_layer` as
the release does (transformers 4 spelling; --t5: `dtype`, `rope_parameters`).

The text model, the separators and the projector get random values (as
make_checkpoint.py's), shrunk by the size options. The vision tower cannot
be shrunk (the consumer, like mlc-llm, builds the real ViT-L: 303,507,456
parameters), so its 392 tensors have real shapes but cheap contents made
of one PERIOD-long table of random values (1021, a prime, so that no row
length is a multiple of it). Tensor `name` holds the table's elements
starting at index crc32(name) % PERIOD and repeating with period PERIOD,
except the 144 Linear weights [N, K]: their rows repeat every ROWS (8),
row r being the table rotated by crc32(name/r) % PERIOD, times 2^(r % 3 - 1)
(different scales per row), and repeated to K elements; the flat tensor
repeats every 8 K elements. Writing them costs a few seconds, and a
consumer can check them by their period (mlc_phi3v.py; q4f16_ft's output
of such a Linear repeats every 8 rows, mlc_ft_periodic.py).
--no-vision leaves the vision tensors out (for config-error tests that stop
before any tensor is read); --config-only writes config.json alone.
"""
import argparse
import json
import math
import os
import random
import sys
import zlib

import make_checkpoint as mc

PERIOD = 1021
ROWS = 8
VISION = {"hidden": 1024, "intermediate": 4096, "layers": 24, "patch": 14,
          "image": 336}


def vision_shapes():
    h, i = VISION["hidden"], VISION["intermediate"]
    vm = "model.vision_embed_tokens.img_processor.vision_model."
    positions = (VISION["image"] // VISION["patch"]) ** 2 + 1
    s = {vm + "embeddings.class_embedding": [h],
         vm + "embeddings.patch_embedding.weight": [h, 3, VISION["patch"], VISION["patch"]],
         vm + "embeddings.position_embedding.weight": [positions, h]}
    for n in ("pre_layrnorm", "post_layernorm"):
        s.update({vm + n + ".weight": [h], vm + n + ".bias": [h]})
    for l in range(VISION["layers"]):
        p = "%sencoder.layers.%d." % (vm, l)
        for n in ("q_proj", "k_proj", "v_proj", "out_proj"):
            s.update({p + "self_attn.%s.weight" % n: [h, h], p + "self_attn.%s.bias" % n: [h]})
        s.update({p + "mlp.fc1.weight": [i, h], p + "mlp.fc1.bias": [i],
                  p + "mlp.fc2.weight": [h, i], p + "mlp.fc2.bias": [h]})
        for n in ("layer_norm1", "layer_norm2"):
            s.update({p + n + ".weight": [h], p + n + ".bias": [h]})
    return s


def text_shapes(a):
    h, i, nq, nkv, v = a.hidden, a.intermediate, a.heads, a.kv_heads, a.vocab
    d = h // nq
    e = "model.vision_embed_tokens."
    s = {"model.embed_tokens.weight": [v, h], "model.norm.weight": [h],
         "lm_head.weight": [v, h],
         e + "glb_GN": [1, 1, 4 * VISION["hidden"]],
         e + "sub_GN": [1, 1, 1, 4 * VISION["hidden"]],
         e + "img_projection.0.weight": [h, 4 * VISION["hidden"]],
         e + "img_projection.0.bias": [h],
         e + "img_projection.2.weight": [h, h], e + "img_projection.2.bias": [h]}
    for l in range(a.layers):
        p = "model.layers.%d." % l
        s.update({p + "self_attn.qkv_proj.weight": [(nq + 2 * nkv) * d, h],
                  p + "self_attn.o_proj.weight": [h, nq * d],
                  p + "mlp.gate_up_proj.weight": [2 * i, h],
                  p + "mlp.down_proj.weight": [h, i],
                  p + "input_layernorm.weight": [h],
                  p + "post_attention_layernorm.weight": [h]})
    return s


def config(a):
    d = a.hidden // a.heads
    long_factor = [1.0 + 0.25 * k for k in range(d // 2)]
    short_factor = [1.0] * (d // 2)
    c = {"_name_or_path": "Phi-3-vision-128k-instruct",
         "architectures": ["Phi3VForCausalLM"], "model_type": "phi3_v",
         "attention_dropout": 0.0, "bos_token_id": 1, "eos_token_id": 2,
         "embd_layer": {"embedding_cls": "image", "hd_transform_order": "sub_glb",
                        "projection_cls": "mlp", "use_hd_transform": True,
                        "with_learnable_separator": True},
         "embd_pdrop": 0.0, "hidden_act": "silu", "hidden_size": a.hidden,
         "img_processor": {"image_dim_out": VISION["hidden"],
                           "model_name": "openai/clip-vit-large-patch14-336",
                           "name": "clip_vision_model", "num_img_tokens": 144},
         "initializer_range": 0.02, "intermediate_size": a.intermediate,
         "max_position_embeddings": 131072, "num_attention_heads": a.heads,
         "num_hidden_layers": a.layers, "num_key_value_heads": a.kv_heads,
         "original_max_position_embeddings": 4096, "resid_pdrop": 0.0,
         "rms_norm_eps": 1e-05, "sliding_window": 131072,
         "tie_word_embeddings": False, "use_cache": True, "vocab_size": a.vocab}
    scaling = {"long_factor": long_factor, "short_factor": short_factor}
    dtype = {"BF16": "bfloat16", "F16": "float16", "F32": "float32"}[a.dtype]
    if a.t5:
        c["rope_parameters"] = dict(scaling, rope_type="longrope", rope_theta=10000.0)
        c["dtype"] = dtype
    else:
        c["rope_scaling"] = dict(scaling, type="su")
        c["rope_theta"] = 10000.0
        c["torch_dtype"] = dtype
    return c


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("out")
    p.add_argument("--hidden", type=int, default=64)
    p.add_argument("--intermediate", type=int, default=128)
    p.add_argument("--layers", type=int, default=2)
    p.add_argument("--heads", type=int, default=4)
    p.add_argument("--kv-heads", type=int, default=2)
    p.add_argument("--vocab", type=int, default=40)
    p.add_argument("--dtype", choices=["BF16", "F16", "F32"], default="BF16")
    p.add_argument("--shards", type=int, default=2)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--t5", action="store_true")
    p.add_argument("--no-vision", action="store_true")
    p.add_argument("--config-only", action="store_true")
    a = p.parse_args()
    if a.config_only:
        os.makedirs(a.out, exist_ok=True)
        with open(os.path.join(a.out, "config.json"), "w") as f:
            json.dump(config(a), f, indent=2)
        return 0

    rng = random.Random(a.seed)
    tensors = []
    for name, shape in sorted(text_shapes(a).items()):
        n = math.prod(shape)
        centre = 1.0 if name.endswith("norm.weight") else 0.0
        vals = [centre + rng.gauss(0, 0.02) for _ in range(n)]
        tensors.append((name, a.dtype, shape, mc.to_bits(vals, a.dtype)))
    if not a.no_vision:
        size = mc.SIZES[a.dtype]
        values = [rng.gauss(0, 0.02) for _ in range(PERIOD)]
        table = mc.to_bits(values, a.dtype)
        scaled = [mc.to_bits([v * 2.0 ** (r % 3 - 1) for v in values], a.dtype)
                  for r in range(3)]

        def rotated(t, name):
            start = (zlib.crc32(name.encode()) % PERIOD) * size
            return t[start:] + t[:start]

        for name, shape in sorted(vision_shapes().items()):
            n = math.prod(shape)
            if len(shape) == 2 and ".encoder." in name:  # a Linear's weight
                k = shape[1]
                period = b"".join(
                    (rotated(scaled[r % 3], "%s/%d" % (name, r)) * (k // PERIOD + 1))[:k * size]
                    for r in range(ROWS))
            else:
                period = rotated(table, name)
            data = (period * (n * size // len(period) + 1))[:n * size]
            tensors.append((name, a.dtype, shape, data))
    mc.save(a.out, config(a), tensors, a.shards)
    return 0


if __name__ == "__main__":
    sys.exit(main())
