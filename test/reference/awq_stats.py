#!/usr/bin/env python3
"""Writes a synthetic calibration STATS file (quant-opt's safetensors
contract, docs/calibration.md) for a llama-style checkpoint, standard
library only, for the AWQ tests:

  awq_stats.py MODEL_DIR -o STATS [--hessian] [--drop NAME] [--k-off NAME]

For every linear of the MLC model (qkv_proj, o_proj, gate_up_proj,
down_proj per layer, and lm_head), keyed by its MLC weight name W:
  W.imatrix  F32 [K]     = m_k^2, m_k = 0.05 + u_k (u from a fixed LCG in
                           [0, 1)), times 25 on every 37th channel (outlier
                           channels, as real activations have);
  W.count    I64 [1]     = 1000;
  W.hessian  F32 [K, K]  = (--hessian) m_i m_j (0.8 [i == j] + 0.2): a
                           positive definite matrix whose diagonal is the
                           imatrix.
--drop NAME leaves out tensor NAME; --k-off NAME writes NAME with one
channel too many. They are not statistics of any real text: AWQ's folding
keeps the model's function for any positive scales, which is what the tests
check with them.
"""
import argparse
import json
import os
import struct


def lcg(seed):
    state = seed
    while True:
        state = (state * 6364136223846793005 + 1442695040888963407) % (1 << 64)
        yield (state >> 11) / float(1 << 53)


def linears(cfg):
    h = cfg["hidden_size"]
    heads = cfg["num_attention_heads"]
    hd = cfg.get("head_dim") or h // heads
    inter = cfg["intermediate_size"]
    # MLC's names (qwen2/qwen3 call the fused q/k/v `c_attn`; phi3 keeps
    # its own `transformer.h.` names).
    mt = cfg.get("model_type")
    prefix, qkv, o = "model.layers.%d.", "self_attn.qkv_proj", "self_attn.o_proj"
    if mt in ("qwen2", "qwen3"):
        qkv = "self_attn.c_attn"
    if mt == "phi3":
        prefix, qkv, o = "transformer.h.%d.", "mixer.qkv_proj", "mixer.out_proj"
    out = []
    for i in range(cfg["num_hidden_layers"]):
        p = prefix % i
        out += [(p + qkv + ".weight", h),
                (p + o + ".weight", heads * hd),
                (p + "mlp.gate_up_proj.weight", h),
                (p + "mlp.down_proj.weight", inter)]
    out.append(("lm_head.weight", h))
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("model")
    ap.add_argument("-o", required=True)
    ap.add_argument("--hessian", action="store_true")
    ap.add_argument("--drop", action="append", default=[])
    ap.add_argument("--k-off", action="append", default=[])
    a = ap.parse_args()
    with open(os.path.join(a.model, "config.json")) as f:
        cfg = json.load(f)
    rand = lcg(17)
    tensors = []  # (name, dtype, shape, bytes)
    for name, k in linears(cfg):
        m = [(0.05 + next(rand)) * (5.0 if c % 37 == 0 else 1.0)
             for c in range(k)]
        kk = k + 1 if name + ".imatrix" in a.k_off else k
        im = [m[c % k] ** 2 for c in range(kk)]
        tensors.append((name + ".imatrix", "F32", [kk],
                        struct.pack("<%df" % kk, *im)))
        tensors.append((name + ".count", "I64", [1], struct.pack("<q", 1000)))
        if a.hessian:
            rows = []
            for i in range(k):
                rows.append(struct.pack(
                    "<%df" % k,
                    *[m[i] * m[j] * ((0.8 if i == j else 0.0) + 0.2)
                      for j in range(k)]))
            tensors.append((name + ".hessian", "F32", [k, k], b"".join(rows)))
    tensors = [t for t in tensors if t[0] not in a.drop]
    header = {"__metadata__": {"format": "quant-opt-calibration",
                               "version": "1", "model_type":
                               cfg.get("model_type", ""), "tokens": "1000"}}
    off = 0
    for name, dtype, shape, data in tensors:
        header[name] = {"dtype": dtype, "shape": shape,
                        "data_offsets": [off, off + len(data)]}
        off += len(data)
    hb = json.dumps(header, separators=(",", ":")).encode()
    hb += b" " * (-len(hb) % 8)
    with open(a.o, "wb") as f:
        f.write(struct.pack("<Q", len(hb)))
        f.write(hb)
        for _, _, _, data in tensors:
            f.write(data)


if __name__ == "__main__":
    main()
