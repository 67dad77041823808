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

The MLC parameter list and its sources come from the existing reference
(mlc_reference.py / mlc_archs.py); the rest is here.
"""
import argparse
import json
import os
import struct
import sys

import mlc_reference as ref  # noqa: I001 (first: it loads mlc_archs)
import mlc_archs_deepseek as dsa
from make_checkpoint import from_bits, read_safetensors
from mlc_checkpoints import Tensor, numel


def main(argv=None):
    p = argparse.ArgumentParser()
    p.add_argument("model_dir")
    p.add_argument("--quantization", required=True,
                   choices=["fp8_e4m3fn_bf16_block_scale",
                            "fp8_e4m3fn_bf16_block_scale_static_activation"])
    p.add_argument("-o", "--output", required=True)
    a = p.parse_args(argv)
    static = a.quantization.endswith("_static_activation")
    with open(os.path.join(a.model_dir, "config.json")) as f:
        cfg = json.load(f)
    block = cfg["quantization_config"]["weight_block_size"]
    plain = dict(cfg)
    del plain["quantization_config"]
    arch = ref.detect_architecture(plain)
    builder, is_unused, _ = ref.ARCHITECTURES[arch]
    params = builder(plain, 1, arch)

    raw = {}
    for name, dtype, shape, data in read_safetensors(
            os.path.join(a.model_dir, "model.safetensors")):
        raw[name] = (dtype, shape, data)

    kept = []  # (param, [scale param], [activation param])
    out_params = []
    how = {}  # MLC name -> how to build it
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
        if static and prm.kind == "linear":
            act = ref.Param(module + ".activation_scale", None,
                            [module + ".activation_scale"])
            out_params.append(act)
            how[act.name] = "activation"

    ckpt = ref.Checkpoint(a.model_dir)
    order = ref.emission_order(out_params, ckpt)
    total = ref.count_total_params(order, ckpt, is_unused)
    os.makedirs(a.output, exist_ok=True)
    writer = ref.TensorCacheWriter(a.output)
    bf16 = ref.FLOAT_TYPES["bfloat16"]
    for prm in order:
        kind = how[prm.name]
        if kind == "bf16":
            writer.add(prm.name, ref.load_param(prm, ckpt, bf16))
            continue
        pieces = [raw[s] for s in prm.sources]
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
                writer.add(prm.name, Tensor(shape, "float8_e4m3fn", values))
            else:
                split = dsa._kv_b_split(nkv, nope // block[0], v // block[0],
                                        rank // block[1], part)
                values = [ref.round_f32(x) for x in from_bits(data, dtype)]
                shape, values = split([(prm.sources[0], shape, dtype, values)])
                writer.add(prm.name, Tensor(shape, "float32", values))
            continue
        if kind == "codes":
            assert all(d == "F8_E4M3" for d, _, _ in pieces), prm.name
            codes = b"".join(data for _, _, data in pieces)
            shape = list(prm.shape)
            writer.add(prm.name, Tensor(shape, "float8_e4m3fn", list(codes)))
            continue
        values = []
        for dtype, _, data in pieces:
            values += [ref.round_f32(x) for x in from_bits(data, dtype)]
        first = pieces[0][1]
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
        writer.add(prm.name, Tensor(shape, "float32", values))
    writer.finish(total)
    nbytes = writer.param_bytes
    print(f"Parameter size after quantization: {nbytes / 1024 ** 3:.3f} GB")
    print(f"Total parameters: {total:,}")
    print(f"Bits per parameter: {nbytes * 8.0 / total:.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
