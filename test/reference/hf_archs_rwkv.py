"""Hugging Face checkpoints of issue 16's remaining model types for
make_checkpoint.py, as the Hub's checkpoints name them.

qwen3-embedding: Qwen/Qwen3-Embedding-* are saved from transformers' bare
Qwen3Model, so every tensor of a Qwen3ForCausalLM checkpoint is there without
its leading `model.` (`embed_tokens.weight`, `layers.0.self_attn.q_proj.weight`,
`norm.weight`); config.json keeps model_type `qwen3`. An untied `lm_head.weight`
(not in the Hub's tied checkpoints) keeps its name.
"""

import copy

ARCHES = ("qwen3-embedding",)


def _as_qwen3(a):
    b = copy.copy(a)
    b.arch = "qwen3"
    return b


def hf_shapes(a, base_shapes):
    """{name: shape}; base_shapes is make_checkpoint.hf_shapes."""
    shapes = base_shapes(_as_qwen3(a))
    return {(n[len("model."):] if n.startswith("model.") else n): s
            for n, s in shapes.items()}


def hf_config(a, base_config):
    """config.json; base_config is make_checkpoint.hf_config."""
    return base_config(_as_qwen3(a))
