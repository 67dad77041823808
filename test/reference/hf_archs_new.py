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

Generator names: `ministral3` (the multimodal checkpoint; without --t5 its
text_config is Mistral-Small-3.1's `mistral`), `ministral3_text`
(Ministral3ForCausalLM: flat config, names under `model.`), `llama4`.
"""

ARCHES = ("ministral3", "ministral3_text", "llama4", "bert", "eagle", "medusa")


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


def hf_shapes(a):
    if a.arch in ("bert", "eagle", "medusa"):
        return other_shapes(a)
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
    if arch in ("bert", "eagle", "medusa"):
        return other_config(a, dtype)
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
