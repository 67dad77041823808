"""Model tables of issue 16's remaining model types for mlc_reference.py,
written from mlc-ai/mlc-llm 79d603f0's python/mlc_llm/model/ sources, never
from quant-opt's C++.

rwkv5 / rwkv6 (rwkv5/rwkv5_model.py, rwkv5_loader.py and the rwkv6 pair):
RWKV5_ForCausalLM's parameters in its named_parameters order, each read from
the MLC name with `model` replaced by `rwkv`. Module.to(dtype) leaves
RWKV5_Attention's time_decay, time_faaaa and ln_x in float32 (its own `to`).
The loader's functions: `x.astype(dtype)` for every parameter; rwkv5's
time_decay `np.exp(-np.exp(x.astype(float32)))` (numpy_exp_f32 below, numpy's
x86 float32 exp restated from numpy/_core/src/umath/
loops_exponent_log.dispatch.c.src, exact rational arithmetic for each
float32 operation); with rescale_every > 0, layer i's
feed_forward.value.weight and attention.output.weight as
`x.astype(dtype) / 2**(i // rescale_every)`: the quotient rounded once to the
model dtype (numpy's float16 division and ml_dtypes' bfloat16 one divide in
float32, where the power-of-two quotient is exact or, for bfloat16, far
below bfloat16's smallest subnormal). GroupQuantize takes every nn.Linear
(`head` as the final fc; `attention.gate` with <= 256 outputs as a MoE
gate) and the embedding. RWKV5Config / RWKV6Config refuse
tensor_parallel_shards != 1.

qwen3-embedding (model.py's registry entry; qwen3/qwen3_loader.py
`huggingface_embedding`): `huggingface(config, quantization, hf_prefix="")`.
The parameters are Qwen3LMHeadModel's (the loader exports that model), and
each Hugging Face name is the MLC-side name run through `to_hf`, which drops a
leading `model.`; `lm_head.weight` (untied only) stays as it is.
"""

from fractions import Fraction

import mlc_reference as ref


def _to_hf(name):
    return name[len("model."):] if name.startswith("model.") else name


def qwen3_embedding_params(cfg, t, arch):
    params = ref.qwen_params(cfg, t, "qwen3")
    for p in params:
        p.sources = [_to_hf(s) for s in p.sources]
    return params


def _f32(q):
    """A rational (or float) rounded once to float32, nearest even, with
    subnormals; returned as a Python float."""
    q = Fraction(q)
    if q == 0:
        return 0.0
    sign, q = (-1.0, -q) if q < 0 else (1.0, q)
    e = q.numerator.bit_length() - q.denominator.bit_length()
    if Fraction(2) ** e > q:
        e -= 1                      # now 2**e <= q < 2**(e + 1)
    e = max(e, -126)                # subnormals share the exponent -126
    scaled = q / Fraction(2) ** (e - 23)  # 24 significant bits
    n = int(scaled)
    rest = scaled - n
    if rest > Fraction(1, 2) or (rest == Fraction(1, 2) and n % 2 == 1):
        n += 1
    value = Fraction(n) * Fraction(2) ** (e - 23)
    if value >= Fraction(2) ** 128:
        return sign * float("inf")
    return sign * float(value)


def _fma(a, b, c):
    return _f32(Fraction(a) * Fraction(b) + Fraction(c))


# numpy/_core/src/umath/npy_simd_data.h, rounded to float32 as the C
# literals with an `f` suffix are.
_LN2_HI = _f32(Fraction("-6.93145752e-1"))
_LN2_LO = _f32(Fraction("-1.42860677e-6"))
_P = [_f32(Fraction(c)) for c in (
    "9.999999999980870924916e-01", "7.257664613233124478488e-01",
    "2.473615434895520810817e-01", "5.114512081637298353406e-02",
    "6.757896990527504603057e-03", "5.082762527590693718096e-04")]
_Q = [_f32(Fraction(c)) for c in (
    "1.000000000000000000000e+00", "-2.742335390411667452936e-01",
    "2.159509375685829852307e-02")]
_MAGIC = float(3 * 2 ** 22)
_LOG2E = _f32(Fraction("1.442695040888963407359924681001892137"))
_XMAX = 88.72283935546875
_XMIN = -103.97208404541015625


def numpy_exp_f32(x):
    """np.exp of the float32 value x (simd_exp_FLOAT, one lane)."""
    if x != x:
        return float("nan")
    if x >= _XMAX:
        return float("inf")
    if x <= _XMIN:
        return 0.0
    k = _f32(Fraction(x) * Fraction(_LOG2E))
    k = _f32(Fraction(k) + Fraction(_MAGIC))
    k = _f32(Fraction(k) - Fraction(_MAGIC))
    y = _fma(k, _LN2_HI, x)
    y = _fma(k, _LN2_LO, y)
    y = _fma(k, 0.0, y)
    num = _fma(_P[5], y, _P[4])
    for c in (_P[3], _P[2], _P[1], _P[0]):
        num = _fma(num, y, c)
    den = _fma(_Q[2], y, _Q[1])
    den = _fma(den, y, _Q[0])
    poly = _f32(Fraction(num) / Fraction(den))
    return _f32(Fraction(poly) * Fraction(2) ** int(k))


def _time_decay(pieces):
    """rwkv5: np.exp(-np.exp(x.astype("float32")))."""
    _, shape, _, values = pieces[0]
    return shape, [numpy_exp_f32(-numpy_exp_f32(ref.round_f32(v))) for v in values]


def _rescale(t):
    def after_cast(values, ftype):
        return [ftype.round(v / 2.0 ** t) for v in values]
    return after_cast


def rwkv_params(cfg, t, arch):
    v6 = arch == "rwkv6"
    ref._require(cfg, ["hidden_size", "num_hidden_layers", "vocab_size"]
                 + ([] if v6 else ["model_version"]), arch)
    # intermediate_size: null (the Hub's rwkv5 configs) or absent (which
    # MLC's dataclass refuses; converters read null fields as absent) both
    # give the default below.
    version = cfg.get("model_version", "6_0" if v6 else "5_2")
    if version != ("6_0" if v6 else "5_2"):
        raise ref.ConvertError(f"Only support RWKV {'v6_0' if v6 else 'v5_2'}, "
                               f"got {version}.")
    if t != 1:
        raise ref.ConvertError("Only support single device at this moment.")
    h, layers, vocab = cfg["hidden_size"], cfg["num_hidden_layers"], cfg["vocab_size"]
    hs = cfg.get("head_size", 64)
    heads = cfg.get("num_heads", 0) or h // hs
    if heads * hs != h:
        raise ref.ConvertError(f"hidden_size ({h}) must be divisible by head_size ({hs})")
    ffn = h // 2 * 7 if v6 else (cfg.get("intermediate_size") or int(h * 3.5) // 32 * 32)
    rescale = cfg.get("rescale_every", 0)
    mix, decay = (64, 128) if h == 4096 else (32, 64)

    def hf(name):
        return name.replace("model", "rwkv")

    ps = []

    def add(name, shape, kind="other", dtype=None, combine="concat", after=None):
        p = ref.Param(name, shape, [hf(name)], kind=kind, combine=combine)
        if dtype:
            p.dtype = dtype
        if after:
            p.after_cast = after
        ps.append(p)

    add("model.embeddings.weight", [vocab, h], kind="embedding")
    for i in range(layers):
        b = f"model.blocks.{i}"
        for n in (["pre_ln"] if i == 0 else []) + ["ln1", "ln2"]:
            add(f"{b}.{n}.weight", [h])
            add(f"{b}.{n}.bias", [h])
        a = f"{b}.attention"
        if v6:
            for x in "xwkvrg":
                add(f"{a}.time_maa_{x}", [1, 1, h])
            add(f"{a}.time_maa_w1", [h, 5 * mix])
            add(f"{a}.time_maa_w2", [5, mix, h])
            add(f"{a}.time_decay_w1", [h, decay])
            add(f"{a}.time_decay_w2", [decay, h])
            add(f"{a}.time_decay", [1, 1, h], dtype="float32")
        else:
            add(f"{a}.time_decay", [heads, hs], dtype="float32", combine=_time_decay)
        add(f"{a}.time_faaaa", [heads, hs], dtype="float32")
        if not v6:
            for x in ("gate", "key", "value", "receptance"):
                add(f"{a}.time_mix_{x}", [1, 1, h])
        after = _rescale(i // rescale) if rescale > 0 else None
        for x in ("key", "value", "receptance", "gate"):
            add(f"{a}.{x}.weight", [h, h], kind="linear")
        add(f"{a}.output.weight", [h, h], kind="linear", after=after)
        add(f"{a}.ln_x.weight", [h], dtype="float32")
        add(f"{a}.ln_x.bias", [h], dtype="float32")
        f = f"{b}.feed_forward"
        for x in (("time_maa_k", "time_maa_r") if v6 else
                  ("time_mix_key", "time_mix_receptance")):
            add(f"{f}.{x}", [1, 1, h])
        add(f"{f}.key.weight", [ffn, h], kind="linear")
        add(f"{f}.receptance.weight", [h, h], kind="linear")
        add(f"{f}.value.weight", [h, ffn], kind="linear", after=after)
    add("model.ln_out.weight", [h])
    add("model.ln_out.bias", [h])
    add("head.weight", [vocab, h], kind="linear")
    return ps


# model_type -> (param table builder, unused-name predicate, accepts fp8)
ARCHITECTURES = {
    "qwen3-embedding": (qwen3_embedding_params, ref._unused_none, False),
    "rwkv5": (rwkv_params, ref._unused_none, False),
    "rwkv6": (rwkv_params, ref._unused_none, False),
}
