#!/usr/bin/env python3
"""Builds a small PEFT LoRA adapter for a safetensors checkpoint and the
merged checkpoint, computed here independently (stdlib only).

  make_lora.py BASE_DIR ADAPTER_OUT [MERGED_OUT] --rank 4 --alpha 8 \
      [--modules q_proj,v_proj,down_proj] [--layers 0,2] \
      [--adapter-dtype F32|F16|BF16] [--fan-in-fan-out] [--rslora] \
      [--seed 1] [--break KIND] [--format safetensors|bin]

The adapter is what PEFT's save_pretrained writes: adapter_config.json and
adapter_model.safetensors (or, with --format bin, adapter_model.bin: a
torch.save zip archive, written by write_torch_bin below) holding `base_model.model.<module>.lora_A.weight` [r, in] and
`lora_B.weight` [out, r]. The merged checkpoint has every base tensor, the
adapted ones replaced by

    W' = T(f32(f32(W) + f32(scale * sum_k B[i][k] * A[k][j])))

with the sum in float64 in order of k, `scale` = alpha / r (alpha /
sqrt(r) with --rslora), T the base dtype (round to nearest even); with
--fan-in-fan-out the base is [in, out] and takes (B @ A) transposed. This
is PEFT's merge_and_unload for a float32 adapter (delta in float32, added
to the weight), with the sum taken in float64 so that it does not depend on
a BLAS's summation order.

--break writes a wrong adapter for error tests: shape (lora_A one column
short), module (a module the base lacks), rank (config r != the tensors'),
dora (use_dora: true), json (a syntax error on line 3), missing-b (no
lora_B for one module), target (a module outside target_modules).
"""
import argparse
import collections
import io
import json
import pickle
import types
import zipfile
import math
import os
import random
import shutil
import struct
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from make_checkpoint import (from_bits, read_safetensors, to_bits,  # noqa: E402
                             write_safetensors)


def f32(x):
    return struct.unpack("<f", struct.pack("<f", x))[0]


def round_to(values, dtype):
    return from_bits(to_bits(values, dtype), dtype)


def merge(w, shape, a, b, rank, scale, fan_in_fan_out):
    """W' as float32 values (before the final rounding to the base dtype)."""
    rows, cols = shape
    out = []
    for i in range(rows):
        for j in range(cols):
            # (B @ A)[o][n]: o = output feature, n = input feature.
            o, n = (j, i) if fan_in_fan_out else (i, j)
            d = 0.0
            for k in range(rank):
                d += b[o * rank + k] * a[k * (cols if not fan_in_fan_out else rows) + n]
            out.append(f32(f32(w[i * cols + j]) + f32(scale * d)))
    return out


def write_torch_bin(path, tensors):
    """Writes `tensors` [(name, dtype, shape, bytes)] as torch.save does (zip
    archive: archive/data.pkl, archive/data/<key>, archive/version), from
    the format's description: a protocol-2 pickle of an OrderedDict whose
    values are torch._utils._rebuild_tensor_v2(storage, offset, size,
    stride, requires_grad, OrderedDict()), each storage a persistent id
    ('storage', torch.<Type>Storage, key, 'cpu', numel). Stand-in modules
    give pickle the global names; nothing of torch is imported."""
    torch = types.ModuleType("torch")
    utils = types.ModuleType("torch._utils")
    storage_class = {}
    for dtype, cls in (("F32", "FloatStorage"), ("F16", "HalfStorage"),
                       ("BF16", "BFloat16Storage")):
        storage_class[dtype] = type(cls, (), {"__module__": "torch",
                                              "__qualname__": cls})
        setattr(torch, cls, storage_class[dtype])

    def _rebuild_tensor_v2(*args):
        raise AssertionError("never called")
    _rebuild_tensor_v2.__module__ = "torch._utils"
    _rebuild_tensor_v2.__qualname__ = "_rebuild_tensor_v2"
    utils._rebuild_tensor_v2 = _rebuild_tensor_v2
    saved = {k: sys.modules.get(k) for k in ("torch", "torch._utils")}
    sys.modules["torch"], sys.modules["torch._utils"] = torch, utils

    class Storage:
        def __init__(self, key, dtype, numel):
            self.key, self.dtype, self.numel = key, dtype, numel

    class Tensor:
        def __init__(self, storage, shape):
            self.storage, self.shape = storage, shape

        def __reduce__(self):
            stride, acc = [], 1
            for d in reversed(self.shape):
                stride.insert(0, acc)
                acc *= d
            return (_rebuild_tensor_v2,
                    (self.storage, 0, tuple(self.shape), tuple(stride), False,
                     collections.OrderedDict()))

    class Pickler(pickle.Pickler):
        def persistent_id(self, obj):
            if isinstance(obj, Storage):
                return ("storage", storage_class[obj.dtype], obj.key, "cpu",
                        obj.numel)
            return None

    state = collections.OrderedDict()
    blobs = []
    for i, (name, dtype, shape, data) in enumerate(tensors):
        numel = 1
        for d in shape:
            numel *= d
        state[name] = Tensor(Storage(str(i), dtype, numel), shape)
        blobs.append((str(i), data))
    buf = io.BytesIO()
    try:
        Pickler(buf, protocol=2).dump(state)
    finally:
        for k, v in saved.items():
            if v is None:
                sys.modules.pop(k, None)
            else:
                sys.modules[k] = v
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as z:
        z.writestr("archive/data.pkl", buf.getvalue())
        for key, data in blobs:
            z.writestr("archive/data/" + key, data)
        z.writestr("archive/version", b"3\n")


def main():
    p = argparse.ArgumentParser()
    p.add_argument("base")
    p.add_argument("adapter")
    p.add_argument("merged", nargs="?")
    p.add_argument("--rank", type=int, default=4)
    p.add_argument("--alpha", type=float, default=8.0)
    p.add_argument("--modules", default="q_proj,v_proj,down_proj")
    p.add_argument("--layers", default="0,2")
    p.add_argument("--adapter-dtype", default="F32")
    p.add_argument("--fan-in-fan-out", action="store_true")
    p.add_argument("--rslora", action="store_true")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--break", dest="broken", default="")
    p.add_argument("--format", default="safetensors",
                   choices=["safetensors", "bin"])
    a = p.parse_args()
    rng = random.Random(a.seed)

    base = {name: (dtype, shape, data) for name, dtype, shape, data in
            read_safetensors(os.path.join(a.base, "model.safetensors"))}
    wanted = a.modules.split(",")
    layers = [int(x) for x in a.layers.split(",")]
    modules = []
    for name in sorted(base):
        parts = name.split(".")
        if (name.endswith(".weight") and len(parts) > 3 and
                parts[1] == "layers" and int(parts[2]) in layers and
                parts[-2] in wanted):
            modules.append(name[:-len(".weight")])
    if a.broken == "module":
        modules.append("model.layers.9.self_attn.q_proj")

    r = a.rank
    scale = a.alpha / (math.sqrt(r) if a.rslora else r)
    tensors, merged = [], dict(base)
    for m in modules:
        dtype, shape, data = base.get(m + ".weight", ("F16", [256, 256], b""))
        out_f, in_f = (shape[1], shape[0]) if a.fan_in_fan_out else shape
        a_cols = in_f - 1 if a.broken == "shape" and m == modules[0] else in_f
        a_rows = r
        av = round_to([rng.uniform(-0.5, 0.5) for _ in range(a_rows * a_cols)],
                      a.adapter_dtype)
        bv = round_to([rng.uniform(-0.5, 0.5) for _ in range(out_f * r)],
                      a.adapter_dtype)
        key = "base_model.model." + m
        tensors.append((key + ".lora_A.weight", a.adapter_dtype,
                        [a_rows, a_cols], to_bits(av, a.adapter_dtype)))
        if not (a.broken == "missing-b" and m == modules[0]):
            tensors.append((key + ".lora_B.weight", a.adapter_dtype,
                            [out_f, r], to_bits(bv, a.adapter_dtype)))
        if a.merged and data:
            w = from_bits(data, dtype)
            merged[m + ".weight"] = (dtype, shape, to_bits(
                merge(w, shape, av, bv, r, scale, a.fan_in_fan_out), dtype))

    os.makedirs(a.adapter, exist_ok=True)
    config = {
        "peft_type": "LORA", "task_type": "CAUSAL_LM",
        "base_model_name_or_path": os.path.basename(a.base.rstrip("/")),
        "r": r + (1 if a.broken == "rank" else 0),
        "lora_alpha": a.alpha, "lora_dropout": 0.0, "bias": "none",
        "fan_in_fan_out": a.fan_in_fan_out, "use_rslora": a.rslora,
        "use_dora": a.broken == "dora", "modules_to_save": None,
        "target_modules": [x for x in wanted
                           if not (a.broken == "target" and x == wanted[0])],
        "rank_pattern": {}, "alpha_pattern": {},
    }
    text = json.dumps(config, indent=2)
    if a.broken == "json":
        lines = text.split("\n")
        lines[2] = lines[2].replace(":", "", 1)  # '"task_type" "CAUSAL_LM",'
        text = "\n".join(lines)
    with open(os.path.join(a.adapter, "adapter_config.json"), "w") as f:
        f.write(text)
    if a.format == "bin":
        write_torch_bin(os.path.join(a.adapter, "adapter_model.bin"), tensors)
    else:
        write_safetensors(os.path.join(a.adapter, "adapter_model.safetensors"),
                          tensors)

    if a.merged:
        os.makedirs(a.merged, exist_ok=True)
        shutil.copy(os.path.join(a.base, "config.json"), a.merged)
        write_safetensors(os.path.join(a.merged, "model.safetensors"),
                          [(n, d, s, b) for n, (d, s, b) in merged.items()])


if __name__ == "__main__":
    main()
