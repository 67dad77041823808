"""Hugging Face tensor names, shapes and config.json of the architectures
added from mlc-llm's sources (used by make_checkpoint.py).

Names follow transformers' modeling_<arch>.py (and InternLM's remote code),
as Hub checkpoints carry them; configs follow configuration_<arch>.py, in
the spelling transformers 4 writes (`torch_dtype`, top-level `rope_theta`)
or, with --t5, transformers 5 (`dtype`, `rope_parameters`).
"""

ARCHES = ("qwen3_moe", "qwen2_moe", "gemma3", "gemma3_text", "olmo", "olmo2",
          "stablelm", "internlm", "cohere", "nemotron", "orion", "deepseek_v2",
          "deepseek_v3", "baichuan", "gpt_bigcode", "deepseek")

# Issue 16, group A: in hf_archs_more.py.
import hf_archs_more  # noqa: E402
ARCHES += hf_archs_more.ARCHES

HF_CLASS = {
    "qwen3_moe": "Qwen3MoeForCausalLM", "qwen2_moe": "Qwen2MoeForCausalLM",
    "gemma3": "Gemma3ForConditionalGeneration", "gemma3_text": "Gemma3ForCausalLM",
    "olmo": "OlmoForCausalLM", "olmo2": "Olmo2ForCausalLM",
    "stablelm": "StableLmForCausalLM", "internlm": "InternLMForCausalLM",
    "cohere": "CohereForCausalLM", "nemotron": "NemotronForCausalLM",
    "orion": "OrionForCausalLM", "deepseek_v2": "DeepseekV2ForCausalLM",
    "deepseek_v3": "DeepseekV3ForCausalLM", "baichuan": "BaichuanForCausalLM",
    "gpt_bigcode": "GPTBigCodeForCausalLM", "deepseek": "DeepseekForCausalLM",
}

# Norm weights stored as offsets from 1 (the converter adds the 1).
PLUS_ONE_NORMS = ("gemma3", "gemma3_text")


def deepseek_shapes(a):
    """DeepSeek-V2/V3 (modeling_deepseek*.py): multi-head latent attention,
    dense layers before first_k_dense_replace, MoE layers after."""
    h, i, nh, v = a.hidden, a.intermediate, a.heads, a.vocab
    rank, q_rank, nope, rope, vd = a.kv_lora_rank, a.q_lora_rank, 32, 16, 32
    mi, e = a.moe_intermediate, a.experts
    s = {"model.embed_tokens.weight": [v, h], "model.norm.weight": [h],
         "lm_head.weight": [v, h]}
    for l in range(a.layers):
        p = "model.layers.%d." % l
        at = p + "self_attn."
        if q_rank:
            s.update({at + "q_a_proj.weight": [q_rank, h], at + "q_a_layernorm.weight": [q_rank],
                      at + "q_b_proj.weight": [nh * (nope + rope), q_rank]})
        else:
            s[at + "q_proj.weight"] = [nh * (nope + rope), h]
        s.update({at + "kv_a_proj_with_mqa.weight": [rank + rope, h],
                  at + "kv_a_layernorm.weight": [rank],
                  at + "kv_b_proj.weight": [nh * (nope + vd), rank],
                  at + "o_proj.weight": [h, nh * vd],
                  p + "input_layernorm.weight": [h], p + "post_attention_layernorm.weight": [h]})
        mlp = p + "mlp."
        if l < a.first_dense:
            s.update({mlp + "gate_proj.weight": [i, h], mlp + "up_proj.weight": [i, h],
                      mlp + "down_proj.weight": [h, i]})
            continue
        s[mlp + "gate.weight"] = [e, h]
        if a.arch == "deepseek_v3":
            s[mlp + "gate.e_score_correction_bias"] = [e]
        for x in range(e):
            ex = "%sexperts.%d." % (mlp, x)
            s.update({ex + "gate_proj.weight": [mi, h], ex + "up_proj.weight": [mi, h],
                      ex + "down_proj.weight": [h, mi]})
        se = mlp + "shared_experts."
        s.update({se + "gate_proj.weight": [mi, h], se + "up_proj.weight": [mi, h],
                  se + "down_proj.weight": [h, mi]})
    return s


def gpt_bigcode_shapes(a):
    """GPTBigCode (modeling_gpt_bigcode.py): nn.Linear weights under
    `transformer.`, multi-query c_attn [(n_head + 2) d, n_embd]."""
    h, i, nh, v = a.hidden, a.intermediate, a.heads, a.vocab
    d = h // nh
    t = "transformer."
    s = {t + "wte.weight": [v, h], t + "wpe.weight": [a.context, h],
         t + "ln_f.weight": [h], t + "ln_f.bias": [h], "lm_head.weight": [v, h]}
    for l in range(a.layers):
        p = "%sh.%d." % (t, l)
        s.update({p + "ln_1.weight": [h], p + "ln_1.bias": [h], p + "ln_2.weight": [h],
                  p + "ln_2.bias": [h], p + "attn.c_attn.weight": [(nh + 2) * d, h],
                  p + "attn.c_attn.bias": [(nh + 2) * d], p + "attn.c_proj.weight": [h, h],
                  p + "attn.c_proj.bias": [h], p + "mlp.c_fc.weight": [i, h],
                  p + "mlp.c_fc.bias": [i], p + "mlp.c_proj.weight": [h, i],
                  p + "mlp.c_proj.bias": [h]})
    return s


def deepseek_v1_shapes(a):
    """DeepSeek-MoE (remote modeling_deepseek.py of deepseek-moe-16b)."""
    h, i, nh, nkv, v = a.hidden, a.intermediate, a.heads, a.kv_heads, a.vocab
    d, mi, e = h // nh, a.moe_intermediate, a.experts
    s = {"model.embed_tokens.weight": [v, h], "model.norm.weight": [h], "lm_head.weight": [v, h]}
    for l in range(a.layers):
        p = "model.layers.%d." % l
        at = p + "self_attn."
        s.update({at + "q_proj.weight": [nh * d, h], at + "k_proj.weight": [nkv * d, h],
                  at + "v_proj.weight": [nkv * d, h], at + "o_proj.weight": [h, nh * d],
                  p + "input_layernorm.weight": [h], p + "post_attention_layernorm.weight": [h]})
        mlp = p + "mlp."
        if l < a.first_dense:
            s.update({mlp + "gate_proj.weight": [i, h], mlp + "up_proj.weight": [i, h],
                      mlp + "down_proj.weight": [h, i]})
            continue
        s[mlp + "gate.weight"] = [e, h]
        for x in range(e):
            ex = "%sexperts.%d." % (mlp, x)
            s.update({ex + "gate_proj.weight": [mi, h], ex + "up_proj.weight": [mi, h],
                      ex + "down_proj.weight": [h, mi]})
        se = mlp + "shared_experts."
        s.update({se + "gate_proj.weight": [2 * mi, h], se + "up_proj.weight": [2 * mi, h],
                  se + "down_proj.weight": [h, 2 * mi]})
    return s


def hf_shapes(a):
    if a.arch in hf_archs_more.ARCHES:
        return hf_archs_more.hf_shapes(a)
    if a.arch == "deepseek":
        return deepseek_v1_shapes(a)
    if a.arch.startswith("deepseek"):
        return deepseek_shapes(a)
    if a.arch == "gpt_bigcode":
        return gpt_bigcode_shapes(a)
    h, i, nq, nkv, v = a.hidden, a.intermediate, a.heads, a.kv_heads, a.vocab
    d = a.head_dim or h // nq
    arch = a.arch
    if arch in ("internlm", "baichuan"):
        nkv = nq
    pre = "language_model." if arch == "gemma3" else ""
    s = {pre + "model.embed_tokens.weight": [v, h]}
    if arch not in ("olmo",):
        s[pre + "model.norm.weight"] = [h]
    if arch in ("stablelm", "nemotron", "orion"):
        s["model.norm.bias"] = [h]
    tied_always = arch in ("gemma3", "gemma3_text", "cohere")
    if not tied_always and not (a.tied and arch in ("olmo", "olmo2", "nemotron")):
        s["lm_head.weight"] = [v, h]
    for l in range(a.layers):
        p = "%smodel.layers.%d." % (pre, l)
        at = p + "self_attn."
        if arch == "baichuan":  # q, k, v stored fused
            s[at + "W_pack.weight"] = [3 * nq * d, h]
        else:
            s.update({at + "q_proj.weight": [nq * d, h], at + "k_proj.weight": [nkv * d, h],
                      at + "v_proj.weight": [nkv * d, h]})
        s[at + "o_proj.weight"] = [h, nq * d]
        qkv_bias = (arch == "qwen2_moe" or (arch in ("qwen3_moe", "internlm", "stablelm")
                                            and a.bias))
        if qkv_bias:
            s.update({at + "q_proj.bias": [nq * d], at + "k_proj.bias": [nkv * d],
                      at + "v_proj.bias": [nkv * d]})
        if a.bias and arch in ("qwen3_moe", "internlm"):
            s[at + "o_proj.bias"] = [h]
        if arch in ("qwen3_moe", "gemma3", "gemma3_text"):
            s[at + "q_norm.weight"] = [d]
            s[at + "k_norm.weight"] = [d]
        if arch == "olmo2":
            s[at + "q_norm.weight"] = [nq * d]
            s[at + "k_norm.weight"] = [nkv * d]
        if arch in ("internlm", "olmo", "olmo2", "nemotron", "orion") and a.inv_freq:
            s[at + "rotary_emb.inv_freq"] = [d // 2]
        mlp = p + "mlp."
        if arch in ("qwen3_moe", "qwen2_moe"):
            s[mlp + "gate.weight"] = [a.experts, h]
            for e in range(a.experts):
                ex = "%sexperts.%d." % (mlp, e)
                s.update({ex + "gate_proj.weight": [a.moe_intermediate, h],
                          ex + "up_proj.weight": [a.moe_intermediate, h],
                          ex + "down_proj.weight": [h, a.moe_intermediate]})
            if arch == "qwen2_moe":
                se, si = mlp + "shared_expert.", a.shared_intermediate
                s.update({se + "gate_proj.weight": [si, h], se + "up_proj.weight": [si, h],
                          se + "down_proj.weight": [h, si],
                          mlp + "shared_expert_gate.weight": [1, h]})
        elif arch == "nemotron":
            s.update({mlp + "up_proj.weight": [i, h], mlp + "down_proj.weight": [h, i]})
            if a.bias:
                s.update({mlp + "up_proj.bias": [i], mlp + "down_proj.bias": [h]})
        else:
            s.update({mlp + "gate_proj.weight": [i, h], mlp + "up_proj.weight": [i, h],
                      mlp + "down_proj.weight": [h, i]})
        norms = {"olmo": [], "olmo2": ["post_attention_layernorm", "post_feedforward_layernorm"],
                 "cohere": ["input_layernorm"],
                 "gemma3": ["input_layernorm", "post_attention_layernorm",
                            "pre_feedforward_layernorm", "post_feedforward_layernorm"]}
        norms["gemma3_text"] = norms["gemma3"]
        for n in norms.get(arch, ["input_layernorm", "post_attention_layernorm"]):
            s[p + n + ".weight"] = [h]
            if arch in ("stablelm", "nemotron", "orion"):
                s[p + n + ".bias"] = [h]
    if arch == "gemma3":  # the vision tower MLC does not convert (counted, not used)
        s["vision_tower.vision_model.post_layernorm.weight"] = [16]
        s["multi_modal_projector.mm_input_projection_weight"] = [16, h]
    return s


def hf_config(a, dtype):
    if a.arch in hf_archs_more.ARCHES:
        return hf_archs_more.hf_config(a, dtype)
    arch = a.arch
    c = {"architectures": [HF_CLASS[arch]], "model_type": arch}
    t = {"hidden_size": a.hidden, "intermediate_size": a.intermediate,
         "num_attention_heads": a.heads, "num_key_value_heads": a.kv_heads,
         "num_hidden_layers": a.layers, "vocab_size": a.vocab,
         "max_position_embeddings": a.context}
    if a.head_dim:
        t["head_dim"] = a.head_dim
    rope = {"rope_theta": 10000.0}
    if arch in ("qwen3_moe", "qwen2_moe"):
        t.update({"hidden_act": "silu", "rms_norm_eps": 1e-6, "num_experts": a.experts,
                  "num_experts_per_tok": 2, "moe_intermediate_size": a.moe_intermediate,
                  "decoder_sparse_step": 1, "norm_topk_prob": False, "mlp_only_layers": [],
                  "tie_word_embeddings": False})
        if arch == "qwen3_moe":
            t.update({"attention_bias": a.bias, "head_dim": a.head_dim or a.hidden // a.heads})
        else:
            t["shared_expert_intermediate_size"] = a.shared_intermediate
    elif arch in ("gemma3", "gemma3_text"):
        t.update({"model_type": "gemma3_text", "head_dim": a.head_dim or a.hidden // a.heads,
                  "attention_bias": False, "hidden_activation": "gelu_pytorch_tanh",
                  "rms_norm_eps": 1e-6, "query_pre_attn_scalar": 32, "sliding_window": 64,
                  "rope_local_base_freq": 10000.0})
        rope = {"rope_theta": 1000000.0}
    elif arch in ("olmo", "olmo2"):
        t.update({"hidden_act": "silu", "tie_word_embeddings": a.tied,
                  "attention_bias": False, "clip_qkv": None})
        if arch == "olmo2":
            t["rms_norm_eps"] = 1e-6
    elif arch == "stablelm":
        t.update({"hidden_act": "silu", "layer_norm_eps": 1e-5, "partial_rotary_factor": 0.25,
                  "use_qkv_bias": a.bias, "qk_layernorm": False, "tie_word_embeddings": False})
    elif arch == "internlm":
        t.update({"hidden_act": "silu", "rms_norm_eps": 1e-6, "bias": a.bias,
                  "use_cache": True, "pad_token_id": 0, "bos_token_id": 1,
                  "eos_token_id": 2})
        t.pop("num_key_value_heads")
    elif arch == "cohere":
        t.update({"hidden_act": "silu", "layer_norm_eps": 1e-5, "logit_scale": 0.0625,
                  "use_qk_norm": False, "tie_word_embeddings": True})
    elif arch == "nemotron":
        t.update({"hidden_act": "relu2", "norm_eps": 1e-5, "partial_rotary_factor": 0.5,
                  "mlp_bias": a.bias, "tie_word_embeddings": a.tied,
                  "head_dim": a.head_dim or a.hidden // a.heads})
    elif arch == "orion":
        t.update({"hidden_act": "silu", "rms_norm_eps": 1e-5})
    elif arch == "deepseek":
        t.update({"hidden_act": "silu", "rms_norm_eps": 1e-6,
                  "moe_intermediate_size": a.moe_intermediate, "n_shared_experts": 2,
                  "n_routed_experts": a.experts, "num_experts_per_tok": 2,
                  "moe_layer_freq": 1, "first_k_dense_replace": a.first_dense,
                  "norm_topk_prob": False, "attention_bias": False, "use_cache": True,
                  "bos_token_id": 0, "eos_token_id": 1, "tie_word_embeddings": False})
    elif arch.startswith("deepseek"):
        v3 = arch == "deepseek_v3"
        t.update({"num_key_value_heads": a.heads, "hidden_act": "silu", "rms_norm_eps": 1e-6,
                  "moe_intermediate_size": a.moe_intermediate, "n_shared_experts": 1,
                  "n_routed_experts": a.experts, "num_experts_per_tok": 2,
                  "norm_topk_prob": v3, "first_k_dense_replace": a.first_dense,
                  "moe_layer_freq": 1, "routed_scaling_factor": 2.5 if v3 else 1.0,
                  "scoring_func": "sigmoid" if v3 else "softmax",
                  "topk_method": "noaux_tc" if v3 else "greedy", "n_group": 1,
                  "topk_group": 1, "attention_bias": False,
                  "kv_lora_rank": a.kv_lora_rank, "q_lora_rank": a.q_lora_rank or None,
                  "qk_rope_head_dim": 16, "qk_nope_head_dim": 32, "v_head_dim": 32,
                  "tie_word_embeddings": False})
    if a.t5:
        t["rope_parameters"] = dict({"rope_type": "default"}, **rope)
    else:
        t.update(rope)
    dtype_key = "dtype" if a.t5 else "torch_dtype"
    if arch == "baichuan":
        t.update({"hidden_act": "silu", "rms_norm_eps": 1e-6, "initializer_range": 0.02,
                  "use_cache": True, "pad_token_id": 0, "bos_token_id": 1,
                  "eos_token_id": 2, "tie_word_embeddings": False})
        t.pop("num_key_value_heads")
    if arch == "gpt_bigcode":
        c.update({"n_embd": a.hidden, "n_inner": a.intermediate, "n_head": a.heads,
                  "n_layer": a.layers, "n_positions": a.context, "vocab_size": a.vocab,
                  "layer_norm_epsilon": 1e-5, "multi_query": True,
                  "activation_function": "gelu_pytorch_tanh",
                  "dtype" if a.t5 else "torch_dtype": dtype})
        return c
    if arch == "gemma3":
        c.update({"text_config": t, "vision_config": {"model_type": "siglip_vision_model",
                                                      "hidden_size": 16},
                  "mm_tokens_per_image": 256, dtype_key: dtype})
        return c
    if arch == "gemma3_text":
        c.update(t)
        c["model_type"] = "gemma3_text"
    else:
        c.update(t)
    c[dtype_key] = dtype
    return c
