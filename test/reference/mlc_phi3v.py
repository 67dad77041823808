#!/usr/bin/env python3
"""Reference conversion of phi3_v (Phi-3-vision), stdlib only.

  mlc_phi3v.py MODEL_DIR --quantization MODE -o OUT_DIR
      [--tensor-parallel-shards N] [--rounding even|away] [--no-shard-files]
      [--also MODE[,SHARDS]=OUT_DIR]...

--no-shard-files writes tensor-cache.json alone (each shard's md5sum is in
it), for compare_cache_md5.py: the expected 0.6 GB need not be written.
Each --also converts the same checkpoint once more (read and its periodic
tensors cast once), printing its statistics after the first's.

Written from mlc-ai/mlc-llm 79d603f0's python/mlc_llm/model/phi3v/
(phi3v_model.py, phi3v_image.py, phi3v_loader.py), vision/clip_vision.py and
phi3/phi3_model.py, never from quant-opt's C++; the numerics, checkpoint
reader, quantizers and tensor-cache writer are mlc_reference.py's.

What MLC does:
- Phi3VConfig requires the Phi-3 text fields; its `vision_config` is always
  CLIPVISION_DEFAULT_CONFIG (ViT-L/14-336: hidden 1024, MLP 4096, 24 layers,
  patch 14, image 336) whatever config.json holds, and Phi3ImageEmbedding
  reads `img_processor["image_dim_out"]` (D) for glb_GN [1, 1, 4D] and
  sub_GN [1, 1, 1, 4D]; the projector's linear_1 takes 4 x 1024 inputs.
- The parameters are Phi3VForCausalLM's: `model.embd`, `model.h.L.*`,
  `model.norm` (Phi3Model, with Phi-3's shard strategies), `lm_head`
  (symbolic vocabulary: a final FC), then `vision_embed_tokens.*`. The loader
  reads the text tensors under their HF names, every vision tensor under
  `model.` + its MLC name, and img_projection.linear_1 / linear_2 from HF's
  `img_projection.0` / `.2`; `model.norm.weight` and `lm_head.weight` map to
  themselves (the loader's catch-all loop).
- CLIPVisionModel has `no_quantization`, so the group quantizer leaves the
  whole tower (its Linears and its position-embedding Embedding) in the model
  dtype; the projector's Linears are quantized; glb_GN / sub_GN are plain.
  FTQuantize (q4f16_ft, quantization/ft_quantization.py) never looks at the
  mark: its _Mutator turns every nn.Linear into an FTQuantizeLinear (or the
  q4f16_1 fallback) and every nn.Embedding into the q4f16_1 fallback, the
  tower's too (all 144 Linears qualify: out_features 1024 / 4096, not a final
  fc nor a gate); the tower's class embedding, patch Conv2D, LayerNorms and
  biases stay float16. make_quantization_functions gives phi3_v no-quant,
  group-quant and ft-quant.
- `model.embed_tokens.weight` is mapped and also marked unused: it is not
  counted in `Total parameters`.

Speed: the vision tower has 303,507,456 elements, far too many for this
reference's one-float-at-a-time path. A parameter that is a plain copy (not
quantized, not split) of one source tensor whose bytes repeat with a period
of p elements (found by searching the tensor for its own first bytes and
checked by comparing the tensor with itself shifted by p) is converted by
casting its first p elements and repeating the result: the cast is
element-wise, so the converted tensor repeats with the same period. Every
other parameter (and any tensor that does not repeat) takes the ordinary
element-by-element path. make_phi3v.py writes the tower that way. Under
q4f16_ft the tower's Linears (whose rows repeat) and the position embedding
take mlc_ft_periodic.py's exact shortcuts instead; --self-check-ft checks
them against the element-by-element paths.
"""
import argparse
import json
import os
import struct
import sys

import mlc_ft
import mlc_ft_periodic
import mlc_reference as ref
from mlc_reference import ConvertError, Param

V_HIDDEN, V_INTER, V_LAYERS, V_PATCH, V_IMAGE, V_CHANNELS = 1024, 4096, 24, 14, 336, 3


# Mode kinds whose MLC quantizer ignores `no_quantization` (FTQuantize's
# _Mutator has no check; GroupQuantize's returns a marked module untouched).
IGNORES_NO_QUANTIZATION = ("ft",)


def phi3v_params(cfg, t, arch="phi3_v", ignore_no_quantization=False):
    ref._require(cfg, ["model_type", "hidden_size", "vocab_size", "num_hidden_layers",
                       "num_attention_heads", "intermediate_size", "rms_norm_eps",
                       "num_key_value_heads", "max_position_embeddings"], arch)
    img = cfg.get("img_processor")
    if not isinstance(img, dict) or "image_dim_out" not in img:
        raise ConvertError("config.json: missing required field 'img_processor.image_dim_out'")
    h, nq, nkv, d, qkv_segs = ref._attention_dims(cfg, t)
    if d * nq != h:
        raise ConvertError(f"config.json: head_dim {d} x num_attention_heads {nq} "
                           f"is not hidden_size {h}")
    if nq % nkv != 0:
        raise ConvertError("config.json: num_attention_heads is not a multiple of "
                           "num_key_value_heads")
    inter = cfg["intermediate_size"]
    i_shard = ref._divisible(inter, t, "intermediate_size")
    merged = 4 * img["image_dim_out"]

    ps = [Param("model.embd.weight", [cfg["vocab_size"], h], ["model.embed_tokens.weight"],
                kind="embedding")]
    for layer in range(cfg["num_hidden_layers"]):
        p, s = f"model.h.{layer}", f"model.layers.{layer}"
        ps += [Param(f"{p}.ln.weight", [h], [f"{s}.input_layernorm.weight"]),
               Param(f"{p}.mlp.down_proj.weight", [h, inter], [f"{s}.mlp.down_proj.weight"],
                     kind="linear", shard=(1, None)),
               Param(f"{p}.mlp.gate_up_proj.weight", [2 * inter, h],
                     [f"{s}.mlp.gate_up_proj.weight"], kind="linear",
                     shard=(0, [i_shard, i_shard])),
               Param(f"{p}.post_attention_layernorm.weight", [h],
                     [f"{s}.post_attention_layernorm.weight"]),
               Param(f"{p}.mixer.out_proj.weight", [h, nq * d], [f"{s}.self_attn.o_proj.weight"],
                     kind="linear", shard=(1, None)),
               Param(f"{p}.mixer.qkv_proj.weight", [(nq + 2 * nkv) * d, h],
                     [f"{s}.self_attn.qkv_proj.weight"], kind="linear", shard=(0, qkv_segs))]

    def vision(name, shape, module="other"):
        # CLIPVisionModel.no_quantization: kind "other", unless ignored.
        kind = module if ignore_no_quantization else "other"
        return Param(name, shape, ["model." + name], kind=kind)

    vm = "vision_embed_tokens.img_processor.vision_model"
    for layer in range(V_LAYERS):
        p = f"{vm}.encoder.layers.{layer}"
        for n in ("layer_norm1", "layer_norm2"):
            ps += [vision(f"{p}.{n}.bias", [V_HIDDEN]), vision(f"{p}.{n}.weight", [V_HIDDEN])]
        ps += [vision(f"{p}.mlp.fc1.bias", [V_INTER]),
               vision(f"{p}.mlp.fc1.weight", [V_INTER, V_HIDDEN], "linear"),
               vision(f"{p}.mlp.fc2.bias", [V_HIDDEN]),
               vision(f"{p}.mlp.fc2.weight", [V_HIDDEN, V_INTER], "linear")]
        for n in ("k_proj", "out_proj", "q_proj", "v_proj"):
            ps += [vision(f"{p}.self_attn.{n}.bias", [V_HIDDEN]),
                   vision(f"{p}.self_attn.{n}.weight", [V_HIDDEN, V_HIDDEN], "linear")]
    positions = (V_IMAGE // V_PATCH) ** 2 + 1
    ps += [vision("vision_embed_tokens.sub_GN", [1, 1, 1, merged]),
           vision("vision_embed_tokens.glb_GN", [1, 1, merged]),
           vision(f"{vm}.embeddings.class_embedding", [V_HIDDEN]),
           vision(f"{vm}.embeddings.patch_embedding.weight",
                  [V_HIDDEN, V_CHANNELS, V_PATCH, V_PATCH]),
           vision(f"{vm}.embeddings.position_embedding.weight", [positions, V_HIDDEN],
                  "embedding"),
           vision(f"{vm}.post_layernorm.bias", [V_HIDDEN]),
           vision(f"{vm}.post_layernorm.weight", [V_HIDDEN]),
           vision(f"{vm}.pre_layrnorm.bias", [V_HIDDEN]),
           vision(f"{vm}.pre_layrnorm.weight", [V_HIDDEN])]
    proj = "vision_embed_tokens.img_projection"
    ps += [Param(f"{proj}.linear_1.bias", [h], [f"model.{proj}.0.bias"]),
           Param(f"{proj}.linear_1.weight", [h, 4 * V_HIDDEN], [f"model.{proj}.0.weight"],
                 kind="linear"),
           Param(f"{proj}.linear_2.bias", [h], [f"model.{proj}.2.bias"]),
           Param(f"{proj}.linear_2.weight", [h, h], [f"model.{proj}.2.weight"],
                 kind="linear")]
    # The catch-all loop: parameters not mapped above keep their names.
    ps += [Param("model.norm.weight", [h], ["model.norm.weight"]),
           Param("lm_head.weight", [None, h], ["lm_head.weight"], kind="linear")]
    return ps


def is_unused(name):
    return name == "model.embed_tokens.weight"


ref.ARCHITECTURES["phi3_v"] = (phi3v_params, is_unused, False)
ref.HF_ARCHITECTURE_NAMES["Phi3VForCausalLM"] = "phi3_v"


def find_period(data, size):
    """Smallest-found p (in elements, at most a quarter of the tensor) with
    data[k] == data[k + p] for every k, or None."""
    head = data[:64]
    pos = data.find(head, size)
    while pos != -1 and 4 * pos <= len(data):
        if pos % size == 0 and data[pos:] == data[:-pos]:
            return pos // size
        pos = data.find(head, pos + 1)
    return None


_PERIODIC = {}  # (source, dtype) -> (values, bytes) of one period, or None


def _plan(param, mode):
    """"plain", "ft" or "group" for what the mode makes of `param`; None for
    anything the periodic shortcuts do not cover."""
    if mode["kind"] == "ft":
        return mlc_ft.ft_plan(param) or "plain"
    return "plain" if ref.quantization_kind(param, mode) is None else None


def periodic_outputs(param, ckpt, ftype, mode, shards):
    """The records (name, shape, dtype, on-disk bytes) of `param` when it
    comes from one periodic source tensor by a cast, FT quantization or the
    group fallback (see the module's docstring), else None."""
    if (len(param.sources) != 1 or param.combine != "concat"
            or (shards > 1 and param.shard is not None)):
        return None
    plan = _plan(param, mode)
    if plan is None:
        return None
    key = (param.sources[0], ftype.name)
    if key not in _PERIODIC:
        _PERIODIC[key] = _periodic_source(param, ckpt, ftype)
    if _PERIODIC[key] is None:
        return None
    values, period = _PERIODIC[key]
    n = ref.numel(param.shape)
    if plan == "plain":
        return [(param.name, param.shape, ftype.name,
                 mlc_ft_periodic.repeat(period, len(period) // len(values) * n))]
    rows, k = param.shape
    module = param.name[:-len(".weight")]
    if plan == "ft":
        out = mlc_ft_periodic.ft_linear(values, rows, k)
        shapes = [([k, rows // 2], "int8"), ([1, rows], "float16")]
    else:
        out = mlc_ft_periodic.group_embedding(values, rows, k)
        group = mlc_ft_periodic.FT_GROUP["group_size"]
        shapes = [([rows, k // 8], "uint32"), ([rows, k // group], "float16")]
    if out is None:
        return None
    return [(f"{module}.{suffix}", shape, dtype, data)
            for suffix, (shape, dtype), data in zip(("q_weight", "q_scale"), shapes, out)]


def _periodic_source(param, ckpt, ftype):
    src = param.sources[0]
    if src not in ckpt.name_to_file:
        return None
    f = ckpt.files[ckpt.name_to_file[src]]
    dtype, shape, begin, end = f.entries[src]
    if dtype not in ("F16", "BF16") or shape != param.shape:
        return None
    data = f.raw[f.data_start + begin:f.data_start + end]
    p = find_period(data, 2)
    if p is None:
        return None
    table = ref.F16_TO_FLOAT if dtype == "F16" else ref.BF16_TO_FLOAT
    values = [ftype.round(table[b]) for b in struct.unpack(f"<{p}H", data[:2 * p])]
    return values, ref.tensor_bytes(ref.Tensor([p], ftype.name, values))


def convert(model_dir, quantization, out_dir, rounding="even", shards=1,
            shard_files=True, ckpt=None):
    if quantization not in ref.QUANTIZATIONS:
        raise ConvertError(f"unsupported quantization {quantization!r}")
    mode = ref.QUANTIZATIONS[quantization]
    if mode["kind"] not in ("none", "group", "ft"):
        raise ConvertError(f"{quantization} is not covered by this reference")
    with open(os.path.join(model_dir, "config.json"), encoding="utf-8") as f:
        cfg = json.load(f)
    params = phi3v_params(cfg, shards,
                          ignore_no_quantization=mode["kind"] in IGNORES_NO_QUANTIZATION)
    ckpt = ckpt or ref.Checkpoint(model_dir)
    order = ref.emission_order(params, ckpt)
    total_params = ref.count_total_params(order, ckpt, is_unused)
    os.makedirs(out_dir, exist_ok=True)
    writer = ref.TensorCacheWriter(out_dir)
    writer.write_shards = shard_files
    ftype = ref.FLOAT_TYPES[mode["model_dtype"]]
    for param in order:
        records = periodic_outputs(param, ckpt, ftype, mode, shards)
        if records is not None:
            for record in records:
                writer.add_bytes(*record)
            continue
        tensor = ref.load_param(param, ckpt, ftype)
        for name, t in ref.convert_param(param, tensor, mode, rounding, shards):
            writer.add(name, t)
    writer.finish(total_params)
    total_bytes = writer.param_bytes
    print(f"Parameter size after quantization: {total_bytes / 1024 ** 3:.3f} GB")
    print(f"Total parameters: {total_params:,}")
    print(f"Bits per parameter: {total_bytes * 8.0 / total_params:.3f}")


def self_check(model_dir, name):
    """Converts MLC parameter `name` (q0f16) by both paths and compares."""
    with open(os.path.join(model_dir, "config.json"), encoding="utf-8") as f:
        cfg = json.load(f)
    param = next(p for p in phi3v_params(cfg, 1) if p.name == name)
    ckpt = ref.Checkpoint(model_dir)
    mode = ref.QUANTIZATIONS["q0f16"]
    ftype = ref.FLOAT_TYPES["float16"]
    fast = periodic_outputs(param, ckpt, ftype, mode, 1)
    slow = ref.tensor_bytes(ref.load_param(param, ckpt, ftype))
    if fast is None:
        print(f"{name}: no period found")
        return 1
    fast = fast[0][3]
    print(f"{name}: periodic path {'==' if fast == slow else '!='} element path")
    return 0 if fast == slow else 1


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model_dir")
    parser.add_argument("--quantization", required=True)
    parser.add_argument("-o", "--output", required=True)
    parser.add_argument("--rounding", choices=["even", "away"], default="even")
    parser.add_argument("--tensor-parallel-shards", type=int, default=1)
    parser.add_argument("--no-shard-files", action="store_true",
                        help="write only tensor-cache.json (compare_cache_md5.py)")
    parser.add_argument("--also", action="append", default=[], metavar="MODE[,SHARDS]=OUT",
                        help="one more conversion of the same checkpoint (read once)")
    parser.add_argument("--self-check", metavar="NAME",
                        help="compare the periodic and element paths on one parameter")
    parser.add_argument("--self-check-ft", action="store_true",
                        help="compare mlc_ft_periodic.py's and the element paths "
                             "on small tensors")
    args = parser.parse_args(argv)
    if args.self_check:
        return self_check(args.model_dir, args.self_check)
    if args.self_check_ft:
        return 1 if mlc_ft_periodic.self_check() else 0
    try:
        jobs = [(args.quantization, args.tensor_parallel_shards, args.output)]
        for job in args.also:
            spec, _, out = job.partition("=")
            mode, _, shards = spec.partition(",")
            jobs.append((mode, int(shards or 1), out))
        ckpt = None
        for mode, shards, out in jobs:
            if ckpt is None:
                ckpt = ref.Checkpoint(args.model_dir)
            convert(args.model_dir, mode, out, args.rounding, shards,
                    not args.no_shard_files, ckpt)
    except ConvertError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
