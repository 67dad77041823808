"""Model tables of issue 16's remaining model types for mlc_reference.py,
written from mlc-ai/mlc-llm 79d603f0's python/mlc_llm/model/ sources, never
from quant-opt's C++.

qwen3-embedding (model.py's registry entry; qwen3/qwen3_loader.py
`huggingface_embedding`): `huggingface(config, quantization, hf_prefix="")`.
The parameters are Qwen3LMHeadModel's (the loader exports that model), and
each Hugging Face name is the MLC-side name run through `to_hf`, which drops a
leading `model.`; `lm_head.weight` (untied only) stays as it is.
"""

import mlc_reference as ref


def _to_hf(name):
    return name[len("model."):] if name.startswith("model.") else name


def qwen3_embedding_params(cfg, t, arch):
    params = ref.qwen_params(cfg, t, "qwen3")
    for p in params:
        p.sources = [_to_hf(s) for s in p.sources]
    return params


# model_type -> (param table builder, unused-name predicate, accepts fp8)
ARCHITECTURES = {
    "qwen3-embedding": (qwen3_embedding_params, ref._unused_none, False),
}
