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

ARCHES = ("phi", "phi-msft")

HF_CLASS = {"phi": "PhiForCausalLM", "phi-msft": "PhiForCausalLM"}


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


def hf_shapes(a):
    return {"phi": _phi_shapes, "phi-msft": _phi_msft_shapes}[a.arch](a)


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
