"""Hugging Face tensor names, shapes and config.json of issue 16's group B
architectures (used by make_checkpoint.py): ministral3 and llama4.

Names follow transformers' modeling code and the layout MLC's loaders read:
Mistral3ForConditionalGeneration and Llama4ForConditionalGeneration
checkpoints keep the text model under `language_model.` (with
`language_model.lm_head.weight`), the vision tower and projector beside it.
Configs nest the text fields in `text_config`, in the spelling transformers
4 writes (`torch_dtype`, `rope_theta`, `rope_scaling`) or, with --t5,
transformers 5 (`dtype`, `rope_parameters` holding `rope_theta`).

bert: BertModel as sentence-transformers checkpoints carry it (no `bert.`
prefix, the pooler included). eagle: EAGLE's own checkpoints (a Llama
config.json; `embed_tokens`, `layers.L.*` without `model.`, no
input_layernorm in layer 0, `fc` [H, 2H] with bias). medusa: the
`medusa_head.<h>.<l>.linear` ResBlocks and `medusa_head.<h>.<L>` heads MLC
reads, with the four config fields it requires.

qwen3_5: Qwen3_5ForConditionalGeneration (text under
`model.language_model.`, `lm_head.weight`, a vision tower under
`model.visual.` and MTP weights under `mtp.`); qwen3_5_text: its text
tensors with a flat qwen3_5_text config (the only layout MLC's loader reads
for that type); qwen3_5_causal: Qwen3_5ForCausalLM as transformers saves it
(tensors under `model.`).

Generator names: `ministral3` (the multimodal checkpoint; without --t5 its
text_config is Mistral-Small-3.1's `mistral`), `ministral3_text`
(Ministral3ForCausalLM: flat config, names under `model.`), `llama4`.
"""

ARCHES = ("ministral3", "ministral3_text", "llama4", "bert", "eagle", "medusa",
          "qwen3_5", "qwen3_5_text", "qwen3_5_causal", "llava")

# LLaVA's CLIP vision tower in these tests (hidden, intermediate, layers,
# image and patch size: (16 / 8)^2 + 1 = 5 positions).
LLAVA_VISION = {"model_type": "clip_vision_model", "hidden_size": 32,
                "intermediate_size": 64, "num_attention_heads": 2,
                "num_hidden_layers": 2, "image_size": 16, "patch_size": 8,
                "projection_dim": 32, "vocab_size": 32000, "layer_norm_eps": 1e-5}

# Qwen3.5's GatedDeltaNet sizes in these tests: key/value head dims, key and
# value head counts, conv kernel; every 2nd layer is full attention.
QWEN35_LINEAR = {"linear_key_head_dim": 16, "linear_value_head_dim": 16,
                 "linear_num_key_heads": 2, "linear_num_value_heads": 4,
                 "linear_conv_kernel_dim": 4, "full_attention_interval": 2}


def _layers(a, pre, s):
    h, i, nq, nkv = a.hidden, a.intermediate, a.heads, a.kv_heads
    d = a.head_dim or h // nq
    for l in range(a.layers):
        p = "%smodel.layers.%d." % (pre, l)
        at = p + "self_attn."
        s.update({at + "q_proj.weight": [nq * d, h], at + "k_proj.weight": [nkv * d, h],
                  at + "v_proj.weight": [nkv * d, h], at + "o_proj.weight": [h, nq * d],
                  p + "input_layernorm.weight": [h],
                  p + "post_attention_layernorm.weight": [h]})
        if a.arch == "llama4":
            if a.bias:
                s.update({at + "q_proj.bias": [nq * d], at + "k_proj.bias": [nkv * d],
                          at + "v_proj.bias": [nkv * d], at + "o_proj.bias": [h]})
            ff = p + "feed_forward."
            e, f = a.experts, i
            s.update({ff + "experts.gate_up_proj": [e, h, 2 * f],
                      ff + "experts.down_proj": [e, f, h],
                      ff + "router.weight": [e, h],
                      ff + "shared_expert.gate_proj.weight": [f, h],
                      ff + "shared_expert.up_proj.weight": [f, h],
                      ff + "shared_expert.down_proj.weight": [h, f]})
        else:
            s.update({p + "mlp.gate_proj.weight": [i, h], p + "mlp.up_proj.weight": [i, h],
                      p + "mlp.down_proj.weight": [h, i]})
        if a.inv_freq:
            s[at + "rotary_emb.inv_freq"] = [d // 2]


def other_shapes(a):
    h, i, v, nq, nkv = a.hidden, a.intermediate, a.vocab, a.heads, a.kv_heads
    s = {}
    if a.arch == "bert":
        e = "embeddings."
        s.update({e + "word_embeddings.weight": [v, h],
                  e + "position_embeddings.weight": [a.context, h],
                  e + "token_type_embeddings.weight": [2, h],
                  e + "LayerNorm.weight": [h], e + "LayerNorm.bias": [h],
                  "pooler.dense.weight": [h, h], "pooler.dense.bias": [h]})
        for l in range(a.layers):
            p = "encoder.layer.%d." % l
            for n in ("attention.self.query", "attention.self.key", "attention.self.value",
                      "attention.output.dense"):
                s.update({p + n + ".weight": [h, h], p + n + ".bias": [h]})
            s.update({p + "intermediate.dense.weight": [i, h], p + "intermediate.dense.bias": [i],
                      p + "output.dense.weight": [h, i], p + "output.dense.bias": [h]})
            for n in ("attention.output.LayerNorm", "output.LayerNorm"):
                s.update({p + n + ".weight": [h], p + n + ".bias": [h]})
    elif a.arch == "eagle":
        d = a.head_dim or h // nq
        s.update({"embed_tokens.weight": [v, h], "fc.weight": [h, 2 * h], "fc.bias": [h]})
        for l in range(a.layers):
            p = "layers.%d." % l
            at = p + "self_attn."
            s.update({at + "q_proj.weight": [nq * d, h], at + "k_proj.weight": [nkv * d, h],
                      at + "v_proj.weight": [nkv * d, h], at + "o_proj.weight": [h, nq * d],
                      p + "mlp.gate_proj.weight": [i, h], p + "mlp.up_proj.weight": [i, h],
                      p + "mlp.down_proj.weight": [h, i],
                      p + "post_attention_layernorm.weight": [h]})
            if l:
                s[p + "input_layernorm.weight"] = [h]
            if a.inv_freq:
                s[at + "rotary_emb.inv_freq"] = [d // 2]
    else:  # medusa: --layers ResBlocks per head, --experts heads
        for x in range(a.experts):
            p = "medusa_head.%d." % x
            for l in range(a.layers):
                s.update({p + "%d.linear.weight" % l: [h, h], p + "%d.linear.bias" % l: [h]})
            s[p + "%d.weight" % a.layers] = [v, h]
    return s


def other_config(a, dtype):
    dtype_key = "dtype" if a.t5 else "torch_dtype"
    if a.arch == "bert":
        return {"architectures": ["BertModel"], "model_type": "bert",
                "hidden_size": a.hidden, "num_hidden_layers": a.layers,
                "num_attention_heads": a.heads, "intermediate_size": a.intermediate,
                "hidden_act": "gelu", "hidden_dropout_prob": 0.1,
                "attention_probs_dropout_prob": 0.1, "max_position_embeddings": a.context,
                "type_vocab_size": 2, "initializer_range": 0.02, "layer_norm_eps": 1e-12,
                "pad_token_id": 0, "position_embedding_type": "absolute",
                "vocab_size": a.vocab, dtype_key: dtype}
    if a.arch == "eagle":
        return {"architectures": ["LlamaForCausalLM"], "model_type": "llama",
                "hidden_size": a.hidden, "intermediate_size": a.intermediate,
                "num_attention_heads": a.heads, "num_key_value_heads": a.kv_heads,
                "num_hidden_layers": a.layers, "vocab_size": a.vocab,
                "max_position_embeddings": a.context, "rms_norm_eps": 1e-5,
                "hidden_act": "silu", "rope_scaling": None, "tie_word_embeddings": False,
                "bos_token_id": 1, "eos_token_id": 2, "pad_token_id": 0, dtype_key: dtype}
    return {"model_type": "medusa", "medusa_num_heads": a.experts,
            "medusa_num_layers": a.layers, "hidden_size": a.hidden,
            "vocab_size": a.vocab, "base_model_name_or_path": "lmsys/vicuna-7b-v1.3",
            dtype_key: dtype}


def qwen35_shapes(a):
    h, i, nq, nkv, v = a.hidden, a.intermediate, a.heads, a.kv_heads, a.vocab
    d = a.head_dim or h // nq
    q = QWEN35_LINEAR
    dk, dv = q["linear_key_head_dim"], q["linear_value_head_dim"]
    nk, nv = q["linear_num_key_heads"], q["linear_num_value_heads"]
    qkv = 2 * nk * dk + nv * dv
    pre = "model." if a.arch == "qwen3_5_causal" else "model.language_model."
    s = {pre + "embed_tokens.weight": [v, h], pre + "norm.weight": [h]}
    if not a.tied:
        s["lm_head.weight"] = [v, h]
    for l in range(a.layers):
        p = "%slayers.%d." % (pre, l)
        if (l + 1) % q["full_attention_interval"] == 0:
            at = p + "self_attn."
            s.update({at + "q_proj.weight": [2 * nq * d, h], at + "k_proj.weight": [nkv * d, h],
                      at + "v_proj.weight": [nkv * d, h], at + "o_proj.weight": [h, nq * d],
                      at + "q_norm.weight": [d], at + "k_norm.weight": [d]})
        else:
            la = p + "linear_attn."
            s.update({la + "in_proj_qkv.weight": [qkv, h], la + "in_proj_z.weight": [nv * dv, h],
                      la + "in_proj_b.weight": [nv, h], la + "in_proj_a.weight": [nv, h],
                      la + "conv1d.weight": [qkv, 1, q["linear_conv_kernel_dim"]],
                      la + "dt_bias": [nv], la + "A_log": [nv], la + "norm.weight": [dv],
                      la + "out_proj.weight": [h, nv * dv]})
        s.update({p + "mlp.gate_proj.weight": [i, h], p + "mlp.up_proj.weight": [i, h],
                  p + "mlp.down_proj.weight": [h, i], p + "input_layernorm.weight": [h],
                  p + "post_attention_layernorm.weight": [h]})
    if a.arch == "qwen3_5":
        s["model.visual.merger.norm.weight"] = [16]
        s["mtp.norm.weight"] = [h]
    return s


def qwen35_config(a, dtype):
    dtype_key = "dtype" if a.t5 else "torch_dtype"
    t = {"model_type": "qwen3_5_text", "hidden_size": a.hidden,
         "intermediate_size": a.intermediate, "num_attention_heads": a.heads,
         "num_key_value_heads": a.kv_heads, "num_hidden_layers": a.layers,
         "vocab_size": a.vocab, "head_dim": a.head_dim or a.hidden // a.heads,
         "hidden_act": "silu", "max_position_embeddings": a.context, "rms_norm_eps": 1e-6,
         "attention_bias": False, "attn_output_gate": True, "tie_word_embeddings": a.tied,
         "layer_types": ["full_attention" if (l + 1) % 2 == 0 else "linear_attention"
                         for l in range(a.layers)]}
    t.update(QWEN35_LINEAR)
    rope = {"rope_type": "default", "rope_theta": 10000000.0, "partial_rotary_factor": 0.25}
    if a.t5:
        t["rope_parameters"] = dict(rope, mrope_section=[2, 1, 1], mrope_interleaved=True)
    else:
        t.update({"rope_theta": rope["rope_theta"], "partial_rotary_factor": 0.25})
    if a.arch == "qwen3_5":
        t[dtype_key] = dtype
        return {"architectures": ["Qwen3_5ForConditionalGeneration"], "model_type": "qwen3_5",
                "text_config": t, "vision_config": {"model_type": "qwen3_5_vision", "depth": 1},
                "image_token_id": 248056, "tie_word_embeddings": a.tied, dtype_key: dtype}
    c = {"architectures": ["Qwen3_5ForCausalLM"]}
    c.update(t)
    c[dtype_key] = dtype
    return c


def llava_shapes(a):
    """LlavaForConditionalGeneration's legacy layout: vision_tower.vision_model.*
    (CLIPVisionModel), multi_modal_projector.*, language_model.* (Llama)."""
    h, i, nq, nkv, v = a.hidden, a.intermediate, a.heads, a.kv_heads, a.vocab
    d = a.head_dim or h // nq
    c = LLAVA_VISION
    vh, vi, patch = c["hidden_size"], c["intermediate_size"], c["patch_size"]
    vm = "vision_tower.vision_model."
    s = {vm + "embeddings.class_embedding": [vh],
         vm + "embeddings.patch_embedding.weight": [vh, 3, patch, patch],
         vm + "embeddings.position_embedding.weight": [(c["image_size"] // patch) ** 2 + 1, vh],
         vm + "pre_layrnorm.weight": [vh], vm + "pre_layrnorm.bias": [vh],
         vm + "post_layernorm.weight": [vh], vm + "post_layernorm.bias": [vh],
         "multi_modal_projector.linear_1.weight": [h, vh],
         "multi_modal_projector.linear_1.bias": [h],
         "multi_modal_projector.linear_2.weight": [h, h],
         "multi_modal_projector.linear_2.bias": [h]}
    for l in range(c["num_hidden_layers"]):
        p = "%sencoder.layers.%d." % (vm, l)
        for n in ("q_proj", "k_proj", "v_proj", "out_proj"):
            s.update({p + "self_attn.%s.weight" % n: [vh, vh], p + "self_attn.%s.bias" % n: [vh]})
        s.update({p + "mlp.fc1.weight": [vi, vh], p + "mlp.fc1.bias": [vi],
                  p + "mlp.fc2.weight": [vh, vi], p + "mlp.fc2.bias": [vh]})
        for n in ("layer_norm1", "layer_norm2"):
            s.update({p + n + ".weight": [vh], p + n + ".bias": [vh]})
    lm = "language_model."
    s.update({lm + "model.embed_tokens.weight": [v, h], lm + "model.norm.weight": [h]})
    if not a.tied:
        s[lm + "lm_head.weight"] = [v, h]
    for l in range(a.layers):
        p = "%smodel.layers.%d." % (lm, l)
        at = p + "self_attn."
        s.update({at + "q_proj.weight": [nq * d, h], at + "k_proj.weight": [nkv * d, h],
                  at + "v_proj.weight": [nkv * d, h], at + "o_proj.weight": [h, nq * d],
                  p + "mlp.gate_proj.weight": [i, h], p + "mlp.up_proj.weight": [i, h],
                  p + "mlp.down_proj.weight": [h, i], p + "input_layernorm.weight": [h],
                  p + "post_attention_layernorm.weight": [h]})
        if a.inv_freq:
            s[at + "rotary_emb.inv_freq"] = [d // 2]
    return s


def llava_config(a, dtype):
    dtype_key = "dtype" if a.t5 else "torch_dtype"
    t = {"architectures": ["LlamaForCausalLM"], "model_type": "llama",
         "hidden_size": a.hidden, "intermediate_size": a.intermediate,
         "num_attention_heads": a.heads, "num_key_value_heads": a.kv_heads,
         "num_hidden_layers": a.layers, "vocab_size": a.vocab,
         "max_position_embeddings": a.context, "rms_norm_eps": 1e-5,
         "hidden_act": "silu", "tie_word_embeddings": a.tied, dtype_key: dtype}
    if a.t5:
        t["rope_parameters"] = {"rope_type": "default", "rope_theta": 10000.0}
    else:
        t["rope_theta"] = 10000.0
    c = {"architectures": ["LlavaForConditionalGeneration"], "model_type": "llava",
         "text_config": t, "vision_config": dict(LLAVA_VISION),
         "projector_hidden_act": "gelu", "vision_feature_layer": -2,
         "vision_feature_select_strategy": "default", dtype_key: dtype}
    if a.t5:  # transformers 5: image_token_id, the vocabulary only in text_config
        c["image_token_id"] = a.vocab - 1
    else:
        c.update({"image_token_index": a.vocab - 1, "vocab_size": a.vocab})
    return c


def hf_shapes(a):
    if a.arch == "llava":
        return llava_shapes(a)
    if a.arch in ("bert", "eagle", "medusa"):
        return other_shapes(a)
    if a.arch.startswith("qwen3_5"):
        return qwen35_shapes(a)
    h, v = a.hidden, a.vocab
    pre = "" if a.arch == "ministral3_text" else "language_model."
    s = {pre + "model.embed_tokens.weight": [v, h], pre + "model.norm.weight": [h]}
    if not a.tied:
        s[pre + "lm_head.weight"] = [v, h]
    _layers(a, pre, s)
    if a.arch == "ministral3":  # Pixtral tower and projector (not converted)
        s["vision_tower.ln_pre.weight"] = [16]
        s["multi_modal_projector.linear_1.weight"] = [h, 16]
    if a.arch == "llama4":
        s["vision_model.layernorm_pre.weight"] = [16]
        s["multi_modal_projector.linear_1.weight"] = [h, 16]
    return s


def hf_config(a, dtype):
    arch = a.arch
    if arch == "llava":
        return llava_config(a, dtype)
    if arch in ("bert", "eagle", "medusa"):
        return other_config(a, dtype)
    if arch.startswith("qwen3_5"):
        return qwen35_config(a, dtype)
    dtype_key = "dtype" if a.t5 else "torch_dtype"
    t = {"hidden_size": a.hidden, "intermediate_size": a.intermediate,
         "num_attention_heads": a.heads, "num_key_value_heads": a.kv_heads,
         "num_hidden_layers": a.layers, "vocab_size": a.vocab,
         "head_dim": a.head_dim or a.hidden // a.heads, "hidden_act": "silu",
         "max_position_embeddings": a.context, "tie_word_embeddings": a.tied}
    if arch == "llama4":
        t.update({"model_type": "llama4_text", "intermediate_size_mlp": 2 * a.intermediate,
                  "rms_norm_eps": 1e-5, "use_qk_norm": True, "interleave_moe_layer_step": 1,
                  "num_experts_per_tok": 1, "num_local_experts": a.experts,
                  "attention_bias": a.bias, "attn_temperature_tuning": True,
                  "floor_scale": 8192, "attn_scale": 0.1,
                  "no_rope_layers": [int((l + 1) % 4 != 0) for l in range(a.layers)]})
        scaling = {"rope_type": "llama3", "factor": 16.0, "high_freq_factor": 1.0,
                   "low_freq_factor": 1.0, "original_max_position_embeddings": 8192}
        theta = 500000.0
    else:
        t.update({"model_type": "ministral3" if a.t5 or arch == "ministral3_text"
                  else "mistral", "rms_norm_eps": 1e-5, "sliding_window": None,
                  "attention_dropout": 0.0})
        scaling = {"rope_type": "yarn", "factor": 16.0,
                   "original_max_position_embeddings": 16384, "beta_fast": 32.0,
                   "beta_slow": 1.0, "mscale": 1.0, "mscale_all_dim": 1.0,
                   "llama_4_scaling_beta": 0.1}
        theta = 1000000.0
    if a.t5:
        t["rope_parameters"] = dict(scaling, rope_theta=theta)
    else:
        t["rope_theta"] = theta
        if arch == "llama4":
            t["rope_scaling"] = scaling
    if arch == "ministral3_text":
        c = {"architectures": ["Ministral3ForCausalLM"]}
        c.update(t)
        c[dtype_key] = dtype
        return c
    if arch == "llama4":
        t[dtype_key] = dtype
        return {"architectures": ["Llama4ForConditionalGeneration"], "model_type": "llama4",
                "text_config": t,
                "vision_config": {"model_type": "llama4_vision_model", "hidden_size": 16},
                "boi_token_index": 200080, "image_token_index": 200092,
                "tie_word_embeddings": a.tied, dtype_key: dtype}
    return {"architectures": ["Mistral3ForConditionalGeneration"], "model_type": "mistral3",
            "text_config": t,
            "vision_config": {"model_type": "pixtral", "hidden_size": 16},
            "image_token_index": 10, "projector_hidden_act": "gelu",
            "spatial_merge_size": 2, "multimodal_projector_bias": False,
            "vision_feature_layer": -1, "tie_word_embeddings": a.tied, dtype_key: dtype}
