"""Hugging Face tensor names, shapes and config.json of the issue-16 group A
architectures (phi, phi-msft, internlm2, qwen, minicpm, chatglm, gpt_neox),
used by make_checkpoint.py through hf_archs.py.

Names follow transformers' modeling_<arch>.py (phi, gpt_neox) or the
models' remote code as mlc-llm's loaders name the tensors they read
(Microsoft's original phi-2 `phi-msft`, internlm2, Qwen-1, MiniCPM,
ChatGLM3); configs follow configuration_<arch>.py in the spelling older
transformers write (`torch_dtype`, top-level `rope_theta`) or, with --t5,
transformers 5 (`dtype`, `rope_parameters`).
"""

ARCHES = ("phi", "phi-msft", "internlm2", "qwen", "minicpm", "chatglm", "gpt_neox",
          "gptj")

HF_CLASS = {"phi": "PhiForCausalLM", "phi-msft": "PhiForCausalLM",
            "internlm2": "InternLM2ForCausalLM", "qwen": "QWenLMHeadModel",
            "minicpm": "MiniCPMForCausalLM", "chatglm": "ChatGLMModel",
            "gpt_neox": "GPTNeoXForCausalLM", "gptj": "GPTJForCausalLM"}


def _phi_shapes(a):
    """transformers' PhiForCausalLM (modeling_phi.py)."""
    h, i, nq, v = a.hidden, a.intermediate, a.heads, a.vocab
    d = h // nq
    s = {"model.embed_tokens.weight": [v, h], "model.final_layernorm.weight": [h],
         "model.final_layernorm.bias": [h], "lm_head.weight": [v, h], "lm_head.bias": [v]}
    for l in range(a.layers):
        p = "model.layers.%d." % l
        for n, rows in (("q_proj", nq * d), ("k_proj", nq * d), ("v_proj", nq * d),
                        ("dense", h)):
            s[p + "self_attn.%s.weight" % n] = [rows, nq * d if n == "dense" else h]
            s[p + "self_attn.%s.bias" % n] = [rows]
        s.update({p + "mlp.fc1.weight": [i, h], p + "mlp.fc1.bias": [i],
                  p + "mlp.fc2.weight": [h, i], p + "mlp.fc2.bias": [h],
                  p + "input_layernorm.weight": [h], p + "input_layernorm.bias": [h]})
    return s


def _phi_msft_shapes(a):
    """Microsoft's remote-code phi-2 (modeling_phi.py of model_type phi-msft)."""
    h, i, nq, v = a.hidden, a.intermediate, a.heads, a.vocab
    s = {"transformer.embd.wte.weight": [v, h], "lm_head.ln.weight": [h],
         "lm_head.ln.bias": [h], "lm_head.linear.weight": [v, h], "lm_head.linear.bias": [v]}
    for l in range(a.layers):
        p = "transformer.h.%d." % l
        s.update({p + "ln.weight": [h], p + "ln.bias": [h],
                  p + "mixer.Wqkv.weight": [3 * h, h], p + "mixer.Wqkv.bias": [3 * h],
                  p + "mixer.out_proj.weight": [h, h], p + "mixer.out_proj.bias": [h],
                  p + "mlp.fc1.weight": [i, h], p + "mlp.fc1.bias": [i],
                  p + "mlp.fc2.weight": [h, i], p + "mlp.fc2.bias": [h]})
        if a.inv_freq:
            s[p + "mixer.rotary_emb.inv_freq"] = [8]
    return s


def _internlm2_shapes(a):
    """InternLM2's remote modeling_internlm2.py: q/k/v in one `wqkv`, stored
    per key/value group as [group's query heads, key, value]."""
    h, i, nq, nkv, v = a.hidden, a.intermediate, a.heads, a.kv_heads, a.vocab
    d = h // nq
    s = {"model.tok_embeddings.weight": [v, h], "model.norm.weight": [h],
         "output.weight": [v, h]}
    for l in range(a.layers):
        p = "model.layers.%d." % l
        s.update({p + "attention.wqkv.weight": [(nq + 2 * nkv) * d, h],
                  p + "attention.wo.weight": [h, nq * d],
                  p + "feed_forward.w1.weight": [i, h], p + "feed_forward.w3.weight": [i, h],
                  p + "feed_forward.w2.weight": [h, i],
                  p + "attention_norm.weight": [h], p + "ffn_norm.weight": [h]})
        if a.bias:
            s[p + "attention.wqkv.bias"] = [(nq + 2 * nkv) * d]
            s[p + "attention.wo.bias"] = [h]
    return s


def _qwen_shapes(a):
    """Qwen-1's remote modeling_qwen.py (QWenLMHeadModel); `intermediate_size`
    is twice the width of w1 and w2."""
    h, i, v = a.hidden, a.intermediate // 2, a.vocab
    t = "transformer."
    s = {t + "wte.weight": [v, h], t + "ln_f.weight": [h], "lm_head.weight": [v, h]}
    for l in range(a.layers):
        p = "%sh.%d." % (t, l)
        s.update({p + "ln_1.weight": [h], p + "ln_2.weight": [h],
                  p + "attn.c_attn.weight": [3 * h, h], p + "attn.c_attn.bias": [3 * h],
                  p + "attn.c_proj.weight": [h, h], p + "mlp.w1.weight": [i, h],
                  p + "mlp.w2.weight": [i, h], p + "mlp.c_proj.weight": [h, i]})
    return s


def _minicpm_shapes(a):
    """MiniCPM's remote modeling_minicpm.py (MiniCPM-MoE: mlp.gate and
    experts.E.w1/w2/w3)."""
    h, i, nq, nkv, v = a.hidden, a.intermediate, a.heads, a.kv_heads, a.vocab
    d = h // nq
    s = {"model.embed_tokens.weight": [v, h], "model.norm.weight": [h]}
    if not a.tied:
        s["lm_head.weight"] = [v, h]
    for l in range(a.layers):
        p = "model.layers.%d." % l
        at = p + "self_attn."
        s.update({at + "q_proj.weight": [nq * d, h], at + "k_proj.weight": [nkv * d, h],
                  at + "v_proj.weight": [nkv * d, h], at + "o_proj.weight": [h, nq * d],
                  p + "input_layernorm.weight": [h], p + "post_attention_layernorm.weight": [h]})
        mlp = p + "mlp."
        if a.moe:
            s[mlp + "gate.weight"] = [a.experts, h]
            for e in range(a.experts):
                ex = "%sexperts.%d." % (mlp, e)
                s.update({ex + "w1.weight": [i, h], ex + "w3.weight": [i, h],
                          ex + "w2.weight": [h, i]})
        else:
            s.update({mlp + "gate_proj.weight": [i, h], mlp + "up_proj.weight": [i, h],
                      mlp + "down_proj.weight": [h, i]})
    return s


def _chatglm_shapes(a):
    """ChatGLM3's remote modeling_chatglm.py (multi_query_group_num = kv
    heads; --bias: add_bias_linear and a LayerNorm final norm)."""
    h, f, nq, nkv, v = a.hidden, a.intermediate, a.heads, a.kv_heads, a.vocab
    d = h // nq
    t = "transformer."
    s = {t + "embedding.word_embeddings.weight": [v, h],
         t + "rotary_pos_emb.inv_freq": [d // 4],
         t + "encoder.final_layernorm.weight": [h], t + "output_layer.weight": [v, h]}
    if a.bias:
        s[t + "encoder.final_layernorm.bias"] = [h]
    for l in range(a.layers):
        p = "%sencoder.layers.%d." % (t, l)
        s.update({p + "input_layernorm.weight": [h], p + "post_attention_layernorm.weight": [h],
                  p + "self_attention.query_key_value.weight": [(nq + 2 * nkv) * d, h],
                  p + "self_attention.query_key_value.bias": [(nq + 2 * nkv) * d],
                  p + "self_attention.dense.weight": [h, nq * d],
                  p + "mlp.dense_h_to_4h.weight": [2 * f, h],
                  p + "mlp.dense_4h_to_h.weight": [h, f]})
        if a.bias:
            s.update({p + "self_attention.dense.bias": [h], p + "mlp.dense_h_to_4h.bias": [2 * f],
                      p + "mlp.dense_4h_to_h.bias": [h]})
    return s


def _gpt_neox_shapes(a):
    """transformers' GPTNeoXForCausalLM (modeling_gpt_neox.py); with
    --inv-freq also the attention buffers older checkpoints carry."""
    h, i, nq, v = a.hidden, a.intermediate, a.heads, a.vocab
    d = h // nq
    t = "gpt_neox."
    s = {t + "embed_in.weight": [v, h], t + "final_layer_norm.weight": [h],
         t + "final_layer_norm.bias": [h], "embed_out.weight": [v, h]}
    for l in range(a.layers):
        p = "%slayers.%d." % (t, l)
        s.update({p + "input_layernorm.weight": [h], p + "input_layernorm.bias": [h],
                  p + "post_attention_layernorm.weight": [h],
                  p + "post_attention_layernorm.bias": [h],
                  p + "attention.query_key_value.weight": [3 * h, h],
                  p + "attention.query_key_value.bias": [3 * h],
                  p + "attention.dense.weight": [h, h], p + "attention.dense.bias": [h],
                  p + "mlp.dense_h_to_4h.weight": [i, h], p + "mlp.dense_h_to_4h.bias": [i],
                  p + "mlp.dense_4h_to_h.weight": [h, i], p + "mlp.dense_4h_to_h.bias": [h]})
        if a.inv_freq:
            s.update({p + "attention.rotary_emb.inv_freq": [d // 8],
                      p + "attention.masked_bias": [1],
                      p + "attention.bias": [1, 1, a.context, a.context]})
    return s


def _gptj_shapes(a):
    """transformers' GPTJForCausalLM (modeling_gptj.py)."""
    h, i, v = a.hidden, a.intermediate, a.vocab
    t = "transformer."
    s = {t + "wte.weight": [v, h], t + "ln_f.weight": [h], t + "ln_f.bias": [h],
         "lm_head.weight": [v, h], "lm_head.bias": [v]}
    for l in range(a.layers):
        p = "%sh.%d." % (t, l)
        s.update({p + "ln_1.weight": [h], p + "ln_1.bias": [h],
                  p + "attn.q_proj.weight": [h, h], p + "attn.k_proj.weight": [h, h],
                  p + "attn.v_proj.weight": [h, h], p + "attn.out_proj.weight": [h, h],
                  p + "mlp.fc_in.weight": [i, h], p + "mlp.fc_in.bias": [i],
                  p + "mlp.fc_out.weight": [h, i], p + "mlp.fc_out.bias": [h]})
        if a.inv_freq:  # the attention's buffers, as older checkpoints store them
            s.update({p + "attn.bias": [1, 1, a.context, a.context],
                      p + "attn.masked_bias": []})
    return s


def hf_shapes(a):
    return {"gptj": _gptj_shapes,"gpt_neox": _gpt_neox_shapes,"phi": _phi_shapes, "phi-msft": _phi_msft_shapes,
            "internlm2": _internlm2_shapes, "qwen": _qwen_shapes,
            "minicpm": _minicpm_shapes, "chatglm": _chatglm_shapes}[a.arch](a)


def _remote_config(a, c, dtype):
    """Remote-code configs: transformers 5 writes `dtype` for them too."""
    c["dtype" if a.t5 else "torch_dtype"] = dtype
    return c


def hf_config(a, dtype):
    arch = a.arch
    c = {"architectures": [HF_CLASS[arch]], "model_type": arch}
    dtype_key = "dtype" if a.t5 else "torch_dtype"
    if arch == "phi-msft":
        c.update({"auto_map": {"AutoConfig": "configuration_phi.PhiConfig",
                               "AutoModelForCausalLM": "modeling_phi.PhiForCausalLM"},
                  "vocab_size": a.vocab, "n_embd": a.hidden, "n_inner": None,
                  "n_head": a.heads, "n_head_kv": None, "n_layer": a.layers,
                  "n_positions": a.context, "rotary_dim": 8, "layer_norm_epsilon": 1e-5,
                  "activation_function": "gelu_new", "embd_pdrop": 0.0, "resid_pdrop": 0.1,
                  "tie_word_embeddings": False, dtype_key: dtype})
        if a.intermediate != 4 * a.hidden:
            c["n_inner"] = a.intermediate
        return c
    if arch == "internlm2":
        c.update({"auto_map": {"AutoConfig": "configuration_internlm2.InternLM2Config"},
                  "vocab_size": a.vocab, "hidden_size": a.hidden,
                  "intermediate_size": a.intermediate, "num_hidden_layers": a.layers,
                  "num_attention_heads": a.heads, "num_key_value_heads": a.kv_heads,
                  "hidden_act": "silu", "max_position_embeddings": a.context,
                  "initializer_range": 0.02, "rms_norm_eps": 1e-5, "use_cache": True,
                  "pad_token_id": 2, "bos_token_id": 1, "eos_token_id": 2,
                  "tie_word_embeddings": False, "bias": a.bias, "rope_scaling": None,
                  "attn_implementation": "eager"})
        if a.t5:
            c["rope_parameters"] = {"rope_type": "default", "rope_theta": 1000000}
        else:
            c["rope_theta"] = 1000000
        return _remote_config(a, c, dtype)
    if arch == "qwen":
        c.update({"auto_map": {"AutoConfig": "configuration_qwen.QWenConfig"},
                  "vocab_size": a.vocab, "hidden_size": a.hidden,
                  "intermediate_size": a.intermediate, "num_hidden_layers": a.layers,
                  "num_attention_heads": a.heads, "emb_dropout_prob": 0.0,
                  "attn_dropout_prob": 0.0, "layer_norm_epsilon": 1e-6,
                  "initializer_range": 0.02, "max_position_embeddings": a.context,
                  "scale_attn_weights": True, "use_cache": True, "bf16": False,
                  "fp16": False, "fp32": False, "kv_channels": a.hidden // a.heads,
                  "rotary_pct": 1.0, "rotary_emb_base": 10000, "use_dynamic_ntk": True,
                  "use_logn_attn": True, "use_flash_attn": "auto", "no_bias": True,
                  "seq_length": a.context, "tie_word_embeddings": False})
        return _remote_config(a, c, dtype)
    if arch == "minicpm":
        c.update({"auto_map": {"AutoConfig": "configuration_minicpm.MiniCPMConfig"},
                  "vocab_size": a.vocab, "hidden_size": a.hidden,
                  "intermediate_size": a.intermediate, "num_hidden_layers": a.layers,
                  "num_attention_heads": a.heads, "num_key_value_heads": a.kv_heads,
                  "hidden_act": "silu", "max_position_embeddings": a.context,
                  "initializer_range": 0.1, "rms_norm_eps": 1e-5, "use_cache": True,
                  "bos_token_id": 1, "eos_token_id": 2, "tie_word_embeddings": a.tied,
                  "rope_theta": 10000.0, "scale_emb": 12, "dim_model_base": 256,
                  "scale_depth": 1.4})
        if a.moe:
            c.update({"num_experts": a.experts, "num_experts_per_tok": 2})
        return _remote_config(a, c, dtype)
    if arch == "chatglm":
        c.update({"auto_map": {"AutoConfig": "configuration_chatglm.ChatGLMConfig"},
                  "add_bias_linear": a.bias, "add_qkv_bias": True,
                  "apply_query_key_layer_scaling": True,
                  "apply_residual_connection_post_layernorm": False,
                  "attention_dropout": 0.0, "attention_softmax_in_fp32": True,
                  "bias_dropout_fusion": True, "ffn_hidden_size": a.intermediate,
                  "fp32_residual_connection": False, "hidden_dropout": 0.0,
                  "hidden_size": a.hidden, "kv_channels": a.hidden // a.heads,
                  "layernorm_epsilon": 1e-5, "multi_query_attention": True,
                  "multi_query_group_num": a.kv_heads, "num_attention_heads": a.heads,
                  "num_layers": a.layers, "original_rope": True,
                  "padded_vocab_size": a.vocab, "post_layer_norm": True,
                  "rmsnorm": not a.bias, "seq_length": a.context, "use_cache": True,
                  "tie_word_embeddings": False, "eos_token_id": 2, "pad_token_id": 0})
        return _remote_config(a, c, dtype)
    if arch == "gptj":
        c.update({"vocab_size": a.vocab, "n_positions": a.context, "n_embd": a.hidden,
                  "n_layer": a.layers, "n_head": a.heads, "rotary_dim": 8,
                  # GPTJConfig writes null for 4 x n_embd
                  "n_inner": None if a.intermediate == 4 * a.hidden else a.intermediate,
                  "activation_function": "gelu_new",
                  "layer_norm_epsilon": 1e-5, "tie_word_embeddings": False,
                  "dtype" if a.t5 else "torch_dtype": dtype})
        return c
    if arch == "gpt_neox":
        c.update({"vocab_size": a.vocab, "hidden_size": a.hidden,
                  "num_hidden_layers": a.layers, "num_attention_heads": a.heads,
                  "intermediate_size": a.intermediate, "hidden_act": "gelu",
                  "attention_dropout": 0.0, "hidden_dropout": 0.0, "classifier_dropout": 0.1,
                  "max_position_embeddings": a.context, "initializer_range": 0.02,
                  "layer_norm_eps": 1e-5, "use_cache": True, "bos_token_id": 0,
                  "eos_token_id": 0, "tie_word_embeddings": False,
                  "use_parallel_residual": True, "attention_bias": True,
                  "dtype" if a.t5 else "torch_dtype": dtype})
        if a.t5:
            c["rope_parameters"] = {"rope_type": "default", "rope_theta": 10000,
                                    "partial_rotary_factor": 0.25}
        else:
            c.update({"rotary_pct": 0.25, "rotary_emb_base": 10000, "rope_scaling": None})
        return c
    rope = {"rope_theta": 10000.0, "partial_rotary_factor": 0.5}
    c.update({"vocab_size": a.vocab, "hidden_size": a.hidden,
              "intermediate_size": a.intermediate, "num_hidden_layers": a.layers,
              "num_attention_heads": a.heads, "num_key_value_heads": None,
              "resid_pdrop": 0.1, "embd_pdrop": 0.0, "attention_dropout": 0.0,
              "hidden_act": "gelu_new", "max_position_embeddings": a.context,
              "initializer_range": 0.02, "layer_norm_eps": 1e-5, "use_cache": True,
              "qk_layernorm": False, "bos_token_id": 1, "eos_token_id": 2,
              "tie_word_embeddings": False, dtype_key: dtype})
    if a.t5:
        c["rope_parameters"] = dict({"rope_type": "default"}, **rope)
    else:
        c.update(rope)
    return c
