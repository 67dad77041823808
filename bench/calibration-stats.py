#!/usr/bin/env python3
"""Synthetic calibration statistics for a bench checkpoint (stdlib only).

  calibration-stats.py MODEL_DIR OUT.safetensors [--layers N]
      [--hessian-layers N] [--hessian-max-k K] [--only-hessians]
      [--hessian-lm-head]

Writes a STATS file (docs/calibration.md) for the llama checkpoint of
`qopt-bench-gen`: for the first N layers (default all) and lm_head, a
positive importance per input channel (a smooth pattern with a few
channels 30x larger, like real activations' outlier channels); for the
first --hessian-layers layers (and lm_head with --hessian-lm-head),
Hessians of inputs with K <= --hessian-max-k:
diagonally dominant (so positive definite) with a small symmetric
off-diagonal pattern and the importance on the diagonal. Timing only: the
numbers are not statistics of any text.
"""
import argparse
import array
import json
import os
import struct


def importance(k):
    out = array.array("f", [0.5 + ((c * 37) % 101) / 101.0 for c in range(k)])
    for c in range(0, k, 97):
        out[c] *= 30.0
    return out


def hessian(imp):
    k = len(imp)
    off = [((i * 13) % 7 - 3) * 1e-5 for i in range(2 * k)]
    h = array.array("f")
    for i in range(k):
        row = array.array("f", off[i:i + k])
        row[i] = imp[i] + 1e-5 * 3 * k
        h.extend(row)
    return h


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("model_dir")
    ap.add_argument("out")
    ap.add_argument("--layers", type=int, default=-1)
    ap.add_argument("--hessian-layers", type=int, default=0)
    ap.add_argument("--hessian-max-k", type=int, default=1 << 30)
    ap.add_argument("--only-hessians", action="store_true",
                    help="write only the weights that get a Hessian")
    ap.add_argument("--hessian-lm-head", action="store_true",
                    help="give lm_head a Hessian too (--gptq then covers it)")
    a = ap.parse_args()
    cfg = json.load(open(os.path.join(a.model_dir, "config.json")))
    hidden, inter = cfg["hidden_size"], cfg["intermediate_size"]
    heads = cfg["num_attention_heads"]
    hd = cfg.get("head_dim") or hidden // heads
    layers = cfg["num_hidden_layers"] if a.layers < 0 else a.layers
    tensors = []
    for i in range(layers):
        p = "model.layers.%d." % i
        for w, k in ((p + "self_attn.qkv_proj.weight", hidden),
                     (p + "self_attn.o_proj.weight", heads * hd),
                     (p + "mlp.gate_up_proj.weight", hidden),
                     (p + "mlp.down_proj.weight", inter)):
            with_h = i < a.hessian_layers and k <= a.hessian_max_k
            if a.only_hessians and not with_h:
                continue
            imp = importance(k)
            tensors.append((w + ".imatrix", "F32", [k], imp.tobytes()))
            tensors.append((w + ".count", "I64", [1], struct.pack("<q", 4096)))
            if with_h:
                tensors.append((w + ".hessian", "F32", [k, k],
                                hessian(imp).tobytes()))
    lm_h = a.hessian_lm_head and hidden <= a.hessian_max_k
    if not a.only_hessians or lm_h:
        imp = importance(hidden)
        tensors.append(("lm_head.weight.imatrix", "F32", [hidden],
                        imp.tobytes()))
        tensors.append(("lm_head.weight.count", "I64", [1],
                        struct.pack("<q", 4096)))
        if lm_h:
            tensors.append(("lm_head.weight.hessian", "F32", [hidden, hidden],
                            hessian(imp).tobytes()))
    header = {"__metadata__": {"format": "quant-opt-calibration", "version": "1",
                               "model_type": "llama", "tokens": "4096"}}
    off = 0
    for name, dt, shape, data in tensors:
        header[name] = {"dtype": dt, "shape": shape,
                        "data_offsets": [off, off + len(data)]}
        off += len(data)
    text = json.dumps(header).encode()
    text += b" " * ((8 - len(text) % 8) % 8)
    with open(a.out, "wb") as f:
        f.write(struct.pack("<Q", len(text)) + text)
        for _, _, _, data in tensors:
            f.write(data)


if __name__ == "__main__":
    main()
