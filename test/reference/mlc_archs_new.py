"""Model tables of issue 16's group B for mlc_reference.py: ministral3 and
llama4, written from mlc-ai/mlc-llm 79d603f0's
python/mlc_llm/model/<arch>/<arch>_model.py (the parameters, shapes and
`shard_strategy` attributes) and <arch>_loader.py (the Hugging Face tensors
feeding each parameter), never from quant-opt's C++.
"""

import mlc_reference as ref

Param = ref.Param
ConvertError = ref.ConvertError


def _merged_text_config(cfg):
    """Ministral3Config.from_dict: text_config over the top level, with the
    top level's tie_word_embeddings and dtype."""
    text = cfg.get("text_config")
    if not isinstance(text, dict):
        return dict(cfg)
    merged = {k: v for k, v in cfg.items() if k != "text_config"}
    merged.update(text)
    for key in ("tie_word_embeddings", "dtype"):
        if key in cfg:
            merged[key] = cfg[key]
    return merged


def _head_dims(cfg, t):
    h, nq = cfg["hidden_size"], cfg["num_attention_heads"]
    nkv = cfg.get("num_key_value_heads") or nq
    d = cfg.get("head_dim") or h // nq
    if h % nq or nq % nkv:
        raise ConvertError("config.json: head counts do not divide")
    ref._divisible(nkv, t, "num_key_value_heads")
    return h, nq, nkv, d


# ---------------------------------------------------------------------------
# ministral3 (ministral3_model.py / ministral3_loader.py)
# ---------------------------------------------------------------------------

def ministral3_params(cfg, t, arch):
    c = _merged_text_config(cfg)
    ref._require(c, ["hidden_size", "intermediate_size", "num_attention_heads",
                     "num_hidden_layers", "rms_norm_eps", "vocab_size"], arch)
    if "quantization_config" in c:
        # Ministral3Config.__post_init__ takes only FP8 with static activation
        # scales (weight_block_size defaulting to [128, 128]); the loader then
        # refuses every mode but the block-scale ones. (mlc_block_scale.py
        # drops quantization_config before it builds the parameters.)
        q = c["quantization_config"]
        if not (isinstance(q, dict) and q.get("quant_method") == "fp8"
                and q.get("activation_scheme") == "static"):
            raise ConvertError("config.json: Invalid Ministral 3 model "
                               "quantization config")
        raise ConvertError("The input Ministral 3 model is fp8 block "
                           "quantized. Please use BlockScaleQuantize for the "
                           "model.")
    if c.get("sliding_window") is None:
        ref._context_window(c, arch)
    if c.get("rope_parameters") is not None and "factor" not in c["rope_parameters"]:
        raise ConvertError("config.json: rope_parameters without 'factor'")
    h, nq, nkv, d = _head_dims(c, t)
    inter = c["intermediate_size"]
    i = ref._divisible(inter, t, "intermediate_size")
    q = nq // t * d
    kv = nkv // t * d
    vocab = c["vocab_size"]
    # the loader reads under `language_model.` when the config has a vision tower
    pre = "language_model." if "vision_config" in c else ""

    def copy(name, shape, kind="other", shard=None):
        return Param(name, shape, [pre + name], kind=kind, shard=shard)

    ps = [copy("model.embed_tokens.weight", [vocab, h], "embedding")]
    for layer in range(c["num_hidden_layers"]):
        p = f"model.layers.{layer}"
        a = f"{p}.self_attn"
        ps.append(Param(f"{a}.qkv_proj.weight", [(nq + 2 * nkv) * d, h],
                        [f"{pre}{a}.{n}.weight" for n in ("q_proj", "k_proj", "v_proj")],
                        kind="linear", shard=(0, [q, kv, kv])))
        ps.append(copy(f"{a}.o_proj.weight", [h, nq * d], "linear", (1, None)))
        ps.append(Param(f"{p}.mlp.gate_up_proj.weight", [2 * inter, h],
                        [f"{pre}{p}.mlp.gate_proj.weight", f"{pre}{p}.mlp.up_proj.weight"],
                        kind="linear", shard=(0, [i, i])))
        ps.append(copy(f"{p}.mlp.down_proj.weight", [h, inter], "linear", (1, None)))
        ps.append(copy(f"{p}.input_layernorm.weight", [h]))
        ps.append(copy(f"{p}.post_attention_layernorm.weight", [h]))
    ps.append(copy("model.norm.weight", [h]))
    if not c.get("tie_word_embeddings", False):
        ps.append(copy("lm_head.weight", [vocab, h], "linear"))
    return ps


def _unused_ministral3(name):
    # add_unused(f"model.layers.{i}.self_attn.rotary_emb.inv_freq"): no prefix
    parts = name.split(".")
    return (len(parts) == 6 and parts[:2] == ["model", "layers"]
            and parts[3:] == ["self_attn", "rotary_emb", "inv_freq"])


# ---------------------------------------------------------------------------
# llama4 (llama4_model.py / llama4_loader.py)
# ---------------------------------------------------------------------------

def llama4_params(cfg, t, arch):
    c = cfg.get("text_config")
    if not isinstance(c, dict):
        raise ConvertError("config.json: llama4 needs text_config")
    ref._require(c, ["hidden_size", "intermediate_size", "num_attention_heads",
                     "num_hidden_layers", "rms_norm_eps", "use_qk_norm",
                     "interleave_moe_layer_step", "num_experts_per_tok",
                     "num_local_experts", "hidden_act"], arch)
    layers = c["num_hidden_layers"]
    step = c["interleave_moe_layer_step"]
    moe = c.get("moe_layers")
    if moe is None:
        moe = list(range(step - 1, layers, step))
    if any(layer not in moe for layer in range(layers)):
        raise ConvertError("config.json: MLC's llama4 loader needs MoE in every layer")
    h, nq, nkv, d = _head_dims(c, t)
    e = c["num_local_experts"]
    f = c["intermediate_size"]
    j = ref._divisible(f, t, "intermediate_size")
    ref._divisible(nq, t, "num_attention_heads")
    ref._divisible(e, t, "num_local_experts")
    bias = bool(c.get("attention_bias", False))
    if bias and t > 1:
        raise ConvertError("llama4 cannot be pre-sharded with attention biases")
    pre = "language_model."

    def copy(name, shape, kind="other", shard=None, src=None):
        return Param(name, shape, [pre + (src or name)], kind=kind, shard=shard)

    ps = [copy("model.embed_tokens.weight", [None, h], "embedding")]
    for layer in range(layers):
        p = f"model.layers.{layer}"
        a = f"{p}.self_attn"
        for proj, rows in (("q_proj", nq * d), ("k_proj", nkv * d), ("v_proj", nkv * d)):
            ps.append(copy(f"{a}.{proj}.weight", [rows, h], "linear", (0, None)))
            if bias:
                ps.append(copy(f"{a}.{proj}.bias", [rows]))
        ps.append(copy(f"{a}.o_proj.weight", [h, nq * d], "linear", (1, None)))
        if bias:
            ps.append(copy(f"{a}.o_proj.bias", [h]))
        ff = f"{p}.feed_forward"
        # Llama4TextExperts: plain nn.Parameters, which no quantizer visits
        ps.append(copy(f"{ff}.experts.gate_up_proj", [e, h, 2 * f], "other", (2, [j, j])))
        ps.append(copy(f"{ff}.experts.down_proj", [e, f, h], "other", (1, None)))
        # Llama4Router's Linear is `router.router`; HF's router is the Linear itself
        ps.append(copy(f"{ff}.router.router.weight", [e, h], "linear", (0, None),
                       src=f"{ff}.router.weight"))
        ps.append(Param(f"{ff}.shared_expert.gate_up_proj.weight", [2 * f, h],
                        [f"{pre}{ff}.shared_expert.gate_proj.weight",
                         f"{pre}{ff}.shared_expert.up_proj.weight"],
                        kind="linear", shard=(0, [j, j])))
        ps.append(copy(f"{ff}.shared_expert.down_proj.weight", [h, f], "linear", (1, None)))
        ps.append(copy(f"{p}.input_layernorm.weight", [h]))
        ps.append(copy(f"{p}.post_attention_layernorm.weight", [h]))
    ps.append(copy("model.norm.weight", [h]))
    if not c.get("tie_word_embeddings", False):
        ps.append(copy("lm_head.weight", [None, h], "linear"))
    return ps


def _unused_none(name):
    return False


# model_type -> (param table builder, unused-name predicate, accepts per-tensor fp8)
ARCHITECTURES = {
    "ministral3": (ministral3_params, _unused_ministral3, False),
    "llama4": (llama4_params, _unused_none, True),
}

HF_ARCHITECTURE_NAMES = {
    "Mistral3ForConditionalGeneration": "ministral3",
    "Ministral3ForCausalLM": "ministral3",
    "Llama4ForConditionalGeneration": "llama4",
}


# ---------------------------------------------------------------------------
# bert (bert_model.py / bert_loader.py `huggingface`, no name prefix)
# ---------------------------------------------------------------------------

def bert_params(cfg, t, arch):
    ref._require(cfg, ["vocab_size", "hidden_size", "num_hidden_layers",
                       "num_attention_heads", "hidden_act", "layer_norm_eps"], arch)
    if t > 1:  # no parameter has a shard_strategy, the attention splits heads
        raise ConvertError("bert cannot be pre-sharded as MLC defines it")
    h, nh = cfg["hidden_size"], cfg["num_attention_heads"]
    inter = cfg.get("intermediate_size")
    if inter is None or inter == -1:  # (MLC: a required key, null or -1 = 4 H)
        inter = 4 * h
    ctx = cfg.get("context_window_size") or 0
    if not ctx:
        for key in ("max_position_embeddings", "max_sequence_length"):
            if key in cfg:
                ctx = cfg[key]
                break
        else:
            raise ConvertError("config.json: no context window size for bert")
    d = cfg.get("head_dim") or h // nh
    if d * nh != h:
        raise ConvertError("config.json: head_dim x num_attention_heads != hidden_size")

    def copy(name, shape, kind="other"):
        return Param(name, shape, [name], kind=kind)

    e = "embeddings"
    ps = [copy(f"{e}.word_embeddings.weight", [cfg["vocab_size"], h], "embedding"),
          copy(f"{e}.position_embeddings.weight", [ctx, h], "embedding"),
          copy(f"{e}.token_type_embeddings.weight", [cfg.get("type_vocab_size", 2), h],
               "embedding"),
          copy(f"{e}.LayerNorm.weight", [h]), copy(f"{e}.LayerNorm.bias", [h])]
    for layer in range(cfg["num_hidden_layers"]):
        p = f"encoder.layer.{layer}"
        s = f"{p}.attention.self"
        ps.append(Param(f"{s}.qkv.weight", [3 * nh * d, h],
                        [f"{s}.{n}.weight" for n in ("query", "key", "value")], kind="linear"))
        ps.append(Param(f"{s}.qkv.bias", [3 * nh * d],
                        [f"{s}.{n}.bias" for n in ("query", "key", "value")]))
        for n, shape in (("attention.output.dense", [h, h]), ("intermediate.dense", [inter, h]),
                         ("output.dense", [h, inter])):
            ps.append(copy(f"{p}.{n}.weight", shape, "linear"))
            ps.append(copy(f"{p}.{n}.bias", shape[:1]))
            if n != "intermediate.dense":
                ps.append(copy(f"{p}.{n[:-len('dense')]}LayerNorm.weight", [h]))
                ps.append(copy(f"{p}.{n[:-len('dense')]}LayerNorm.bias", [h]))
    return ps


# ---------------------------------------------------------------------------
# eagle (eagle_model.py / eagle_loader.py: make_standard_hf_loader with
# layer_prefix "layers", unused rotary_emb.inv_freq)
# ---------------------------------------------------------------------------

def eagle_params(cfg, t, arch):
    ref._require(cfg, ["hidden_size", "intermediate_size", "num_attention_heads",
                       "num_hidden_layers", "rms_norm_eps", "vocab_size"], arch)
    ref._context_window(cfg, arch)
    h, nq, nkv, d = _head_dims(cfg, t)
    ref._divisible(nq, t, "num_attention_heads")
    inter = cfg["intermediate_size"]
    i = ref._divisible(inter, t, "intermediate_size")
    segs = [nq // t * d, nkv // t * d, nkv // t * d]

    def copy(name, shape, kind="other", shard=None):
        return Param(name, shape, [name], kind=kind, shard=shard)

    ps = [copy("embed_tokens.weight", [None, h], "embedding")]
    for layer in range(cfg["num_hidden_layers"]):
        p = f"layers.{layer}"
        a = f"{p}.self_attn"
        ps.append(Param(f"{a}.qkv_proj.weight", [(nq + 2 * nkv) * d, h],
                        [f"{a}.{n}.weight" for n in ("q_proj", "k_proj", "v_proj")],
                        kind="linear", shard=(0, segs)))
        ps.append(copy(f"{a}.o_proj.weight", [h, nq * d], "linear", (1, None)))
        ps.append(Param(f"{p}.mlp.gate_up_proj.weight", [2 * inter, h],
                        [f"{p}.mlp.gate_proj.weight", f"{p}.mlp.up_proj.weight"],
                        kind="linear", shard=(0, [i, i])))
        ps.append(copy(f"{p}.mlp.down_proj.weight", [h, inter], "linear", (1, None)))
        if layer != 0:  # EagleDecoderLayer 0 has no input_layernorm
            ps.append(copy(f"{p}.input_layernorm.weight", [h]))
        ps.append(copy(f"{p}.post_attention_layernorm.weight", [h]))
    ps.append(copy("fc.weight", [h, 2 * h], "linear"))
    if cfg.get("bias", True):
        ps.append(copy("fc.bias", [h]))
    return ps


def _unused_eagle(name):
    parts = name.split(".")
    return len(parts) == 5 and parts[0] == "layers" and parts[2:] == [
        "self_attn", "rotary_emb", "inv_freq"]


# ---------------------------------------------------------------------------
# medusa (medusa_model.py / medusa_loader.py): names copied as they are
# ---------------------------------------------------------------------------

def medusa_params(cfg, t, arch):
    ref._require(cfg, ["medusa_num_heads", "medusa_num_layers", "hidden_size",
                       "vocab_size"], arch)
    h, v, layers = cfg["hidden_size"], cfg["vocab_size"], cfg["medusa_num_layers"]
    ps = []
    for head in range(cfg["medusa_num_heads"]):
        p = f"medusa_head.{head}"
        for layer in range(layers):
            ps.append(Param(f"{p}.{layer}.linear.weight", [h, h],
                            [f"{p}.{layer}.linear.weight"], kind="linear"))
            ps.append(Param(f"{p}.{layer}.linear.bias", [h], [f"{p}.{layer}.linear.bias"]))
        ps.append(Param(f"{p}.{layers}.weight", [v, h], [f"{p}.{layers}.weight"],
                        kind="linear"))
    return ps


def _unused_bert_bge(name):
    return name in ("pooler.dense.weight", "pooler.dense.bias", "embeddings.position_ids")


ARCHITECTURES.update({
    "bert": (bert_params, _unused_none, False),
    "bert-bge": (bert_params, _unused_bert_bge, False),
    "eagle": (eagle_params, _unused_eagle, False),
    "medusa": (medusa_params, _unused_none, False),
})
HF_ARCHITECTURE_NAMES["BertModel"] = "bert"


# ---------------------------------------------------------------------------
# qwen3_5 / qwen3_5_text (qwen35/qwen35_model.py / qwen35_loader.py)
# ---------------------------------------------------------------------------

def _plus_one_f32(pieces):
    """(x.astype("float32") + 1.0): one float32 rounding (the cast to the
    model dtype follows in load_param)."""
    _, shape, _, values = pieces[0]
    return list(shape), [ref.round_f32(x + 1.0) for x in values]


def qwen35_params(cfg, t, arch):
    c = {k: v for k, v in cfg.items() if k != "text_config"}
    if isinstance(cfg.get("text_config"), dict):
        c.update(cfg["text_config"])
    if t > 1:  # Qwen35 sets no shard_strategy on any parameter
        raise ConvertError("qwen3_5 cannot be pre-sharded as MLC defines it")
    if c.get("attention_bias"):
        raise ConvertError("config.json: qwen3_5's loader has no c_attn bias mapping")
    if not c.get("context_window_size"):
        ref._context_window(c, arch)
    defaults = {"hidden_size": 0, "intermediate_size": 0, "num_attention_heads": 0,
                "num_hidden_layers": 0, "num_key_value_heads": 0, "vocab_size": 0,
                "head_dim": 256, "linear_key_head_dim": 128, "linear_value_head_dim": 128,
                "linear_num_key_heads": 16, "linear_num_value_heads": 16,
                "linear_conv_kernel_dim": 4, "full_attention_interval": 4}
    v = {k: c.get(k, dflt) for k, dflt in defaults.items()}
    if any(not x or x <= 0 for x in v.values()):
        raise ConvertError("config.json: qwen3_5 needs positive sizes")
    h, inter, d = v["hidden_size"], v["intermediate_size"], v["head_dim"]
    nq, nkv, vocab = v["num_attention_heads"], v["num_key_value_heads"], v["vocab_size"]
    dk, dv = v["linear_key_head_dim"], v["linear_value_head_dim"]
    nk, nv = v["linear_num_key_heads"], v["linear_num_value_heads"]
    qkv = 2 * nk * dk + nv * dv

    def hf(name):  # _mlc_to_hf: model. -> model.language_model.
        return "model.language_model." + name[6:] if name.startswith("model.") else name

    def copy(name, shape, kind="other", src=None):
        return Param(name, shape, [hf(src or name)], kind=kind)

    def norm(name, size):
        return Param(name, [size], [hf(name)], combine=_plus_one_f32)

    ps = [copy("model.embed_tokens.weight", [vocab, h], "embedding")]
    for layer in range(v["num_hidden_layers"]):
        p = f"model.layers.{layer}"
        if (layer + 1) % v["full_attention_interval"] == 0:
            a = f"{p}.self_attn"
            ps.append(Param(f"{a}.c_attn.weight", [(2 * nq + 2 * nkv) * d, h],
                            [hf(f"{a}.{n}.weight") for n in ("q_proj", "k_proj", "v_proj")],
                            kind="linear"))
            ps.append(copy(f"{a}.o_proj.weight", [h, nq * d], "linear"))
            ps.append(norm(f"{a}.q_norm.weight", d))
            ps.append(norm(f"{a}.k_norm.weight", d))
        else:
            a = f"{p}.linear_attn"
            ps += [copy(f"{a}.in_proj_qkv.weight", [qkv, h], "linear"),
                   copy(f"{a}.in_proj_z.weight", [nv * dv, h], "linear"),
                   copy(f"{a}.in_proj_a.weight", [nv, h], "linear"),
                   copy(f"{a}.in_proj_b.weight", [nv, h], "linear"),
                   copy(f"{a}.out_proj.weight", [h, nv * dv], "linear"),
                   copy(f"{a}.conv1d_weight", [qkv, 1, v["linear_conv_kernel_dim"]],
                        src=f"{a}.conv1d.weight"),
                   copy(f"{a}.A_log", [nv]), copy(f"{a}.dt_bias", [nv]),
                   copy(f"{a}.norm.weight", [dv])]  # the gated norm: no + 1
        ps.append(Param(f"{p}.mlp.gate_up_proj.weight", [2 * inter, h],
                        [hf(f"{p}.mlp.gate_proj.weight"), hf(f"{p}.mlp.up_proj.weight")],
                        kind="linear"))
        ps.append(copy(f"{p}.mlp.down_proj.weight", [h, inter], "linear"))
        ps.append(norm(f"{p}.input_layernorm.weight", h))
        ps.append(norm(f"{p}.post_attention_layernorm.weight", h))
    ps.append(norm("model.norm.weight", h))
    if not c.get("tie_word_embeddings", False):
        ps.append(copy("lm_head.weight", [vocab, h], "linear"))
    return ps


ARCHITECTURES.update({
    "qwen3_5": (qwen35_params, _unused_none, False),
    "qwen3_5_text": (qwen35_params, _unused_none, False),
})
HF_ARCHITECTURE_NAMES["Qwen3_5ForConditionalGeneration"] = "qwen3_5"
HF_ARCHITECTURE_NAMES["Qwen3_5ForCausalLM"] = "qwen3_5_text"


# ---------------------------------------------------------------------------
# llava (llava_model.py / llava_loader.py, vision/clip_vision.py): the
# standard loader with layer_prefix "language_model.model.layers"; every
# other name is the HF name
# ---------------------------------------------------------------------------

def llava_params(cfg, t, arch):
    for key in ("text_config", "vision_config"):
        if not isinstance(cfg.get(key), dict):
            raise ConvertError(f"config.json: missing required field '{key}' for llava")
    if cfg.get("image_token_index") is None and cfg.get("image_token_id") is None:
        raise ConvertError("config.json: missing required field 'image_token_index'")
    tc, vc = cfg["text_config"], cfg["vision_config"]
    ref._require(tc, ["hidden_size", "intermediate_size", "num_attention_heads",
                      "num_hidden_layers", "rms_norm_eps", "vocab_size"], arch)
    ref._context_window(tc, arch)
    ref._require(vc, ["hidden_size", "image_size", "intermediate_size", "num_attention_heads",
                      "num_hidden_layers", "patch_size"], arch)
    h, nq, nkv, d = _head_dims(tc, t)
    ref._divisible(nq, t, "num_attention_heads")
    inter = tc["intermediate_size"]
    i = ref._divisible(inter, t, "intermediate_size")
    segs = [nq // t * d, nkv // t * d, nkv // t * d]
    mistral = "_name_or_path" in tc and tc.get("architectures") == ["MistralForCausalLM"]
    vh, vi, patch = vc["hidden_size"], vc["intermediate_size"], vc["patch_size"]
    positions = (vc["image_size"] // patch) ** 2 + 1

    def copy(name, shape, kind="other", shard=None):
        return Param(name, shape, [name], kind=kind, shard=shard)

    vm = "vision_tower.vision_model"
    # CLIPVisionModel.no_quantization: every vision tensor kind "other"
    ps = [copy(f"{vm}.embeddings.class_embedding", [vh]),
          copy(f"{vm}.embeddings.patch_embedding.weight",
               [vh, vc.get("num_channels", 3), patch, patch]),
          copy(f"{vm}.embeddings.position_embedding.weight", [positions, vh]),
          copy(f"{vm}.pre_layrnorm.weight", [vh]), copy(f"{vm}.pre_layrnorm.bias", [vh])]
    for layer in range(vc["num_hidden_layers"]):
        p = f"{vm}.encoder.layers.{layer}"
        for n in ("k_proj", "v_proj", "q_proj", "out_proj"):
            ps += [copy(f"{p}.self_attn.{n}.weight", [vh, vh]),
                   copy(f"{p}.self_attn.{n}.bias", [vh])]
        ps += [copy(f"{p}.layer_norm1.weight", [vh]), copy(f"{p}.layer_norm1.bias", [vh]),
               copy(f"{p}.mlp.fc1.weight", [vi, vh]), copy(f"{p}.mlp.fc1.bias", [vi]),
               copy(f"{p}.mlp.fc2.weight", [vh, vi]), copy(f"{p}.mlp.fc2.bias", [vh]),
               copy(f"{p}.layer_norm2.weight", [vh]), copy(f"{p}.layer_norm2.bias", [vh])]
    ps += [copy(f"{vm}.post_layernorm.weight", [vh]), copy(f"{vm}.post_layernorm.bias", [vh])]
    mp = "multi_modal_projector"
    ps += [copy(f"{mp}.linear_1.weight", [h, vh], "linear"), copy(f"{mp}.linear_1.bias", [h]),
           copy(f"{mp}.linear_2.weight", [h, h], "linear"), copy(f"{mp}.linear_2.bias", [h])]
    lm = "language_model"
    ps.append(copy(f"{lm}.model.embed_tokens.weight", [None, h], "embedding"))
    for layer in range(tc["num_hidden_layers"]):
        p = f"{lm}.model.layers.{layer}"
        a = f"{p}.self_attn"
        ps.append(Param(f"{a}.qkv_proj.weight", [(nq + 2 * nkv) * d, h],
                        [f"{a}.{n}.weight" for n in ("q_proj", "k_proj", "v_proj")],
                        kind="linear", shard=(0, segs)))
        ps.append(copy(f"{a}.o_proj.weight", [h, nq * d], "linear", (1, None)))
        ps.append(Param(f"{p}.mlp.gate_up_proj.weight", [2 * inter, h],
                        [f"{p}.mlp.gate_proj.weight", f"{p}.mlp.up_proj.weight"],
                        kind="linear", shard=(0, [i, i])))
        ps.append(copy(f"{p}.mlp.down_proj.weight", [h, inter], "linear", (1, None)))
        ps.append(copy(f"{p}.input_layernorm.weight", [h]))
        ps.append(copy(f"{p}.post_attention_layernorm.weight", [h]))
    ps.append(copy(f"{lm}.model.norm.weight", [h]))
    if mistral or not tc.get("tie_word_embeddings", False):
        # `language_model.lm_head` is not a final-FC name for MLC's quantizer
        ps.append(copy(f"{lm}.lm_head.weight", [None, h], "linear"))
    return ps


def _unused_llava(name):
    parts = name.split(".")
    return (len(parts) == 7 and parts[:3] == ["language_model", "model", "layers"]
            and parts[4:] == ["self_attn", "rotary_emb", "inv_freq"])


ARCHITECTURES["llava"] = (llava_params, _unused_llava, False)
HF_ARCHITECTURE_NAMES["LlavaForConditionalGeneration"] = "llava"
