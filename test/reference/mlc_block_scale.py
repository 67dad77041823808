#!/usr/bin/env python3
"""Reference for mlc_llm's block-scale modes (stdlib only).

  mlc_block_scale.py MODEL_DIR --quantization MODE -o OUT_DIR

Written from mlc-ai/mlc-llm python/mlc_llm/quantization/
block_scale_quantization.py (BlockScaleQuantize, BlockScaleQuantizeLinear,
BlockScaleQuantizeLinearStaticActivation, BlockScaleQuantizeMixtralExperts),
quantization.py (the two modes: float8_e4m3fn weights, bfloat16 model) and
the qwen3 / qwen3_moe loaders (add_weight_and_scale_mapping), and deepseek_v2_loader.py's w_uk / w_uv
scales (kv_b_proj.weight_scale_inv reshaped with the block sizes):

- the mode quantizes nothing: every nn.Linear that is not the final fc
  (`lm_head`) nor a MoE router (a Linear named `gate` with <= 256 outputs),
  and every MixtralExperts, becomes `<name>` float8_e4m3fn, loaded from the
  checkpoint's codes with the weight's own transform (q/k/v and gate/up
  concatenated on axis 0, experts stacked), and `<name>_scale_inv` float32,
  loaded from the `<hf name>_scale_inv` tensors with the same transform;
- with static activation each such Linear (not the experts) also has
  `<module>.activation_scale` float32 [ceil(in / block[1])], which the
  qwen3 loader maps from the checkpoint tensor of that very name;
- everything else is `astype(bfloat16)`;
- the loader emits the parameters in its usual order (each at the first of
  its own source tensors in file order), the scales being parameters of
  their own.

ministral3 (ministral3_loader.py, add_weight_and_scale_mapping) reads the
static activation scales from the checkpoint's projections instead: each
Linear's activation_scale from `<hf module>.activation_scale` of every
projection it fuses, q/k/v and gate/up through
make_shared_activation_transform (every later source must be
`np.allclose(arr, first)`, else "Activation scales for <mlc weight
name>_activation_scale must be identical between concatenated sources.";
the first is kept), o_proj / down_proj through identity_transform; then
_activation_scale_transform gives the result the parameter's shape:
kept, `np.full` from a 0-d one, `broadcast_to` from (1,), `np.repeat` of a
1-D one whose size divides it, else "Unexpected activation scale shape".

The MLC parameter list and its sources come from the existing reference
(mlc_reference.py / mlc_archs.py); the rest is here.

--tensor-parallel-shards N (MLC_INTERNAL_PRESHARD_NUM), written from the
same file's from_linear / from_mixtral_experts, quantization/utils.py
(apply_sharding), support/tensor_parallel.py (ShardSingleDim) and
support/preshard.py: the model is built for N shards, so every shard
strategy holds per-shard lengths. The float8 codes take the weight's
ShardSingleDim unchanged; `_scale_inv` takes it under `<name>_scale_inv`
with its segments (if any) floor-divided by the block size of the sharded
dimension (weight_block_size[dim] for a Linear, [dim - 1] for stacked
experts; DeepSeek's w_uk / w_uv, split by heads, keep theirs). The shard
function then asserts that the segments cover the per-shard scale
parameter (ceil(per-shard length / block)) and takes an input of that size
times N, which the checkpoint's scales must have. With one segment whose
per-shard length is not whole blocks the sizes may still agree while a
shard is handed scales of blocks it does not hold; that is refused here too.
With static activation each Linear's activation_scale (1-D) gets the
weight's strategy as well (segments in blocks); no shard function can
split it (dimension 1 does not exist; dimension 0's segments count output
blocks), so MLC's presharding of that mode always fails.
"""
import argparse
import json
import math
import os
import struct
import sys

import mlc_reference as ref  # noqa: I001 (first: it loads mlc_archs)
import mlc_archs_deepseek as dsa
import mlc_numerics as num
from make_checkpoint import from_bits, read_safetensors
from mlc_checkpoints import Tensor, numel
from mlc_reference import ConvertError


def scale_shard(weight, block):
    """(dim, segments in blocks or None, block) of a weight's `_scale_inv`
    (from_linear / from_mixtral_experts)."""
    dim, segs = weight.shard
    axis = dim - (len(weight.shape) - 2)  # experts: weight_block_size[dim - 1]
    b = block[axis] if axis >= 0 else 1
    if weight.name.endswith((".w_uk", ".w_uv")):
        b = 1  # mlc: `assert w_uk_shard_strategy.segs is None`, applied as is
    return dim, ([x // b for x in segs] if segs is not None else None), b


def shard_scales(name, scale, weight, block, t):
    """The N shards of a `_scale_inv` tensor as MLC's preshard makes them."""
    dim, seg_b, b = scale_shard(weight, block)
    _, segs = weight.shard
    per = sum(segs) if segs is not None else weight.shape[dim] // t
    param = -(-per // b)  # the per-shard model's scale parameter length
    if seg_b is not None and sum(seg_b) != param:
        # ShardSingleDim.gen_tir: assert sum(segs) == shape[self.dim]
        raise ConvertError(f"{name}: segments {segs} per shard are not whole "
                           f"blocks of {b} (scale segments {seg_b} do not "
                           f"cover {param})")
    if param * t != scale.shape[dim]:
        # the shard function's input is the per-shard shape times N
        raise ConvertError(f"{name}: {t} shards of {param} scales do not "
                           f"match the checkpoint's {scale.shape[dim]}")
    if per % b:
        raise ConvertError(f"{name}: {per} per shard are not whole blocks of "
                           f"{b}; a shard would get other blocks' scales")
    return ref.shard_tensor(scale, dim, seg_b, t, name)


def refuse_static_activation(weight, block, t, k):
    """MLC's preshard of `<module>.activation_scale` [ceil(k / block[1])]
    with the weight's strategy (segments in blocks): always an error."""
    dim, seg_b, _ = scale_shard(weight, block)
    n = -(-k // block[1])
    if dim >= 1:
        raise ConvertError(f"{weight.name}: activation_scale [{n}] has no "
                           f"dimension {dim} to shard (IndexError)")
    if seg_b is not None and sum(seg_b) != n:
        raise ConvertError(f"{weight.name}: activation_scale [{n}] is not "
                           f"covered by segments {seg_b} (AssertionError)")
    raise ConvertError(f"{weight.name}: the shard function of activation_scale "
                       f"takes [{n * t}], the checkpoint has [{n}]")


def tile_scalar_scales(prm, weight, values, block):
    """ministral3_loader's _weight_scale_transform for per-tensor scales:
    each () scale reshaped to (1,), the weight's transform applied (q/k/v,
    gate/up concatenated: (n,)), then (1,) broadcast to the expected
    [ceil(N / b0), ceil(K / b1)], or (n,) with n dividing its rows repeated
    over equal row shares; anything else is an error."""
    rows = -(-weight.shape[0] // block[0])
    cols = -(-weight.shape[1] // block[1])
    n = len(values)
    if rows % n:
        raise ConvertError(f"Unexpected weight scale shape ({n},) for "
                           f"{prm.name}, expected ({rows}, {cols})")
    out = []
    for v in values:
        out += [v] * (rows // n * cols)
    return Tensor([rows, cols], "float32", out)


def _in(v, dtype):
    """A Python float (a numpy value or operation result computed in double
    or float32) rounded to the numpy dtype it lives in."""
    return {"F64": lambda x: x, "F32": num.round_f32, "F16": num.round_f16,
            "BF16": num.round_bf16}[dtype](v)


def _promote(a, b):
    """numpy's result type (ml_dtypes: bfloat16 with float16 -> float32)."""
    if a == b:
        return a
    return "F64" if "F64" in (a, b) else "F32"


def isclose(x, xt, y, yt):
    """np.isclose(x, y) with rtol 1e-5, atol 1e-8 (numpy/_core/numeric.py):
    `less_equal(abs(x - y), atol + rtol * abs(y)) & isfinite(y) | (x == y)`,
    y kept in its type (result_type(y, 1.)), x - y in the promoted type, the
    Python floats atol and rtol converted to y's type; float16 and bfloat16
    operations are float32 operations rounded to the type."""
    if x == y:
        return True
    if num.is_nan(y) or y in (math.inf, -math.inf):
        return False
    dt = _promote(xt, yt)
    # x - y of two float32-representable values, in double, rounded once
    # to float32: the float32 subtraction.
    diff = abs(x - y) if dt == "F64" else abs(_in(num.round_f32(x - y), dt))
    rtol, atol = _in(1e-5, yt), _in(1e-8, yt)
    if yt == "F64":
        tol = atol + rtol * abs(y)
    else:
        tol = _in(num.round_f32(atol + _in(num.round_f32(rtol * abs(y)), yt)),
                  yt)
    return diff <= tol


def _broadcast(a, b):
    """numpy's broadcast shape of two shapes, or None."""
    n = max(len(a), len(b))
    a, b = [1] * (n - len(a)) + list(a), [1] * (n - len(b)) + list(b)
    out = []
    for x, y in zip(a, b):
        if x != y and 1 not in (x, y):
            return None
        out.append(y if x == 1 else x)
    return out


def _at(values, shape, full, k):
    """The element of a tensor of `shape` at flat index k of the broadcast
    shape `full`."""
    shape = [1] * (len(full) - len(shape)) + list(shape)
    offset, stride = 0, 1
    for d in range(len(full) - 1, -1, -1):
        idx = k % full[d]
        k //= full[d]
        if shape[d] != 1:
            offset += idx * stride
        stride *= shape[d]
    return values[offset]


def projection_activation_scale(prm, weight, pieces, block):
    """ministral3_loader: activation_scale of `weight` from its projections'
    (dtype, shape, bytes) `pieces`."""
    expected = -(-weight.shape[-1] // block[1])
    vals = [(d, list(sh), from_bits(data, d)) for d, sh, data in pieces]
    fd, fshape, fvals = vals[0]
    target = f"{weight.name}_activation_scale"
    for d, sh, v in vals[1:]:
        full = _broadcast(sh, fshape)
        if full is None:
            raise ConvertError("operands could not be broadcast together")
        for k in range(numel(full)):
            if not isclose(_at(v, sh, full, k), d, _at(fvals, fshape, full, k),
                           fd):
                raise ConvertError(f"Activation scales for {target} must be "
                                   "identical between concatenated sources.")
    fvals = [num.round_f32(x) for x in fvals]  # first.astype(float32)
    if fshape == [expected]:
        out = fvals
    elif fshape == [] or (fshape == [1] and expected != 1):
        out = fvals * expected
    elif len(fshape) == 1 and fshape[0] > 1 and expected % fshape[0] == 0:
        out = [x for x in fvals for _ in range(expected // fshape[0])]
    else:
        shape = "(" + "".join(f"{x}, " for x in fshape).rstrip(" ")
        shape = shape[:-1] if len(fshape) > 1 else shape
        raise ConvertError(f"Unexpected activation scale shape {shape}) for "
                           f"{prm.name}, expected ({expected},)")
    return Tensor([expected], "float32", out)


def main(argv=None):
    p = argparse.ArgumentParser()
    p.add_argument("model_dir")
    p.add_argument("--quantization", required=True,
                   choices=["fp8_e4m3fn_bf16_block_scale",
                            "fp8_e4m3fn_bf16_block_scale_static_activation"])
    p.add_argument("-o", "--output", required=True)
    p.add_argument("--tensor-parallel-shards", type=int, default=1)
    a = p.parse_args(argv)
    try:
        return convert(a)
    except ConvertError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1


def convert(a):
    t = a.tensor_parallel_shards
    static = a.quantization.endswith("_static_activation")
    with open(os.path.join(a.model_dir, "config.json")) as f:
        cfg = json.load(f)
    block = cfg["quantization_config"].get("weight_block_size")
    if block is None and cfg["quantization_config"].get(
            "activation_scheme") == "static":
        block = [128, 128]  # Ministral3Config's default
    plain = dict(cfg)
    del plain["quantization_config"]
    arch = ref.detect_architecture(plain)
    builder, is_unused, _ = ref.ARCHITECTURES[arch]
    params = builder(plain, t, arch)

    raw = {}
    for name, dtype, shape, data in read_safetensors(
            os.path.join(a.model_dir, "model.safetensors")):
        raw[name] = (dtype, shape, data)

    kept = []  # (param, [scale param], [activation param])
    out_params = []
    how = {}  # MLC name -> how to build it
    weight_of = {}  # `_scale_inv` name -> its weight's Param
    for prm in params:
        module = prm.name[:-len(".weight")]
        # DeepSeek's MLA attention holds w_uk / w_uv (not Linears), which
        # the mutator turns into float8 parameters with scales as well.
        mla = prm.name.endswith((".w_uk", ".w_uv"))
        if mla:
            module = prm.name
        blocked = mla or (prm.kind in ("linear", "experts")
                          and module != "lm_head"
                          and not (module.endswith(".gate")
                                   and prm.shape[0] <= 256))
        out_params.append(prm)
        if not blocked:
            how[prm.name] = "bf16"
            continue
        how[prm.name] = "codes"
        scale = ref.Param(prm.name + "_scale_inv", None,
                          [s + "_scale_inv" for s in prm.sources])
        out_params.append(scale)
        how[scale.name] = "scales"
        weight_of[scale.name] = prm
        if static and prm.kind == "linear":
            if t > 1 and prm.shard is not None:
                # apply_preshard meets it while compiling the shard functions
                refuse_static_activation(prm, block, t, prm.shape[-1])
            if arch == "ministral3":
                act = ref.Param(module + ".activation_scale", None,
                                [x[:-len(".weight")] + ".activation_scale"
                                 for x in prm.sources])
                how[act.name] = "projection-activation"
                weight_of[act.name] = prm
            else:
                act = ref.Param(module + ".activation_scale", None,
                                [module + ".activation_scale"])
                how[act.name] = "activation"
            out_params.append(act)

    ckpt = ref.Checkpoint(a.model_dir)
    order = ref.emission_order(out_params, ckpt)
    total = ref.count_total_params(order, ckpt, is_unused)
    os.makedirs(a.output, exist_ok=True)
    writer = ref.TensorCacheWriter(a.output)
    bf16 = ref.FLOAT_TYPES["bfloat16"]

    def add(prm, tensor):
        """The loader's yield: the record, or its N shards one after another."""
        pieces = [tensor]
        weight = weight_of.get(prm.name)
        if t > 1 and weight is not None and weight.shard is not None:
            pieces = shard_scales(prm.name, tensor, weight, block, t)
        elif t > 1 and prm.shard is not None:
            dim, segs = prm.shard
            pieces = ref.shard_tensor(tensor, dim, segs, t, prm.name)
        if len(pieces) == 1:
            writer.add(prm.name, tensor)
            return
        for i, piece in enumerate(pieces):
            writer.add(f"{prm.name}_shard-{i}", piece)

    for prm in order:
        kind = how[prm.name]
        if kind == "bf16":
            add(prm, ref.load_param(prm, ckpt, bf16))
            continue
        pieces = [raw[s] for s in prm.sources]
        if kind == "projection-activation":
            writer.add(prm.name, projection_activation_scale(
                prm, weight_of[prm.name], pieces, block))
            continue
        lead = [len(pieces)] if len(pieces) > 1 and prm.name.endswith(
            ("moe_gate_up_proj.weight", "moe_down_proj.weight",
             "moe_gate_up_proj.weight_scale_inv",
             "moe_down_proj.weight_scale_inv")) else []
        if callable(prm.combine) or prm.name.endswith(
                ("w_uk_scale_inv", "w_uv_scale_inv")):
            # DeepSeek's w_uk / w_uv: kv_b_proj reshaped per head, split at
            # qk_nope_head_dim, w_uk transposed; the scales likewise with
            # every block dimension divided by its block.
            dtype, shape, data = pieces[0]
            nkv, nope = cfg["num_key_value_heads"], cfg["qk_nope_head_dim"]
            v, rank = cfg["v_head_dim"], cfg["kv_lora_rank"]
            part = 0 if ".w_uk" in prm.name else 1
            if kind == "codes":
                split = dsa._kv_b_split(nkv, nope, v, rank, part)
                shape, values = split([(prm.sources[0], shape, dtype,
                                        list(data))])
                add(prm, Tensor(shape, "float8_e4m3fn", values))
            else:
                split = dsa._kv_b_split(nkv, nope // block[0], v // block[0],
                                        rank // block[1], part)
                values = [ref.round_f32(x) for x in from_bits(data, dtype)]
                shape, values = split([(prm.sources[0], shape, dtype, values)])
                add(prm, Tensor(shape, "float32", values))
            continue
        if kind == "codes":
            assert all(d == "F8_E4M3" for d, _, _ in pieces), prm.name
            codes = b"".join(data for _, _, data in pieces)
            shape = list(prm.shape)
            add(prm, Tensor(shape, "float8_e4m3fn", list(codes)))
            continue
        values = []
        for dtype, _, data in pieces:
            values += [ref.round_f32(x) for x in from_bits(data, dtype)]
        first = pieces[0][1]
        if kind == "scales" and all(numel(s) == 1 for _, s, _ in pieces):
            add(prm, tile_scalar_scales(prm, weight_of[prm.name], values,
                                        block))
            continue
        if kind == "activation":
            shape = list(first)
        elif prm.name.split(".")[-2] in ("moe_gate_up_proj",):
            # experts: concat(gate, up) per expert, then stacked
            shape = [len(pieces) // 2, 2 * first[0], first[1]]
        elif lead:
            shape = [len(pieces)] + list(first)
        else:
            shape = [sum(s[0] for _, s, _ in pieces), first[1]]
        assert numel(shape) == len(values), prm.name
        add(prm, Tensor(shape, "float32", values))
    writer.finish(total)
    nbytes = writer.param_bytes
    print(f"Parameter size after quantization: {nbytes / 1024 ** 3:.3f} GB")
    print(f"Total parameters: {total:,}")
    print(f"Bits per parameter: {nbytes * 8.0 / total:.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
