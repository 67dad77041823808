#!/usr/bin/env python3
"""A deliberately simple forward pass of Llama's variants (stdlib only).

Written from Hugging Face transformers' modeling code (modeling_llama,
modeling_mistral, modeling_qwen2, modeling_qwen3, modeling_gemma,
modeling_gemma2, modeling_phi3, modeling_mixtral): plain loops over Python
floats (double precision) on the checkpoint's own tensors and names (separate
q/k/v, gate/up and expert w1/w2/w3; phi3's fused ones as the checkpoint holds
them), no fusion, no MLC layout. It shares no code with lib/Eval.

It records the input of every linear layer under the MLC weight name it
feeds (the names `quant-opt convert --dry-run` lists for each architecture)
and checks a STATS file written by `quant-opt calibrate` against them:

  decoder_reference.py MODEL_DIR --tokens-file IDS --context N \\
      --stats STATS [--rtol R] [--atol A] [--eval-json J]

`IDS` holds whitespace-separated token ids. For every MLC weight W it
computes mean_t x_t^2 (W.imatrix), the token count (W.count) and, if the
file holds W.hessian, mean_t x_t x_t^T; every imatrix value must satisfy
|got - want| <= atol + rtol * |want|, every Hessian entry (i, j)
|got - want| <= atol + rtol * sqrt(want_ii * want_jj) (its Cauchy-Schwarz
bound: the off-diagonal sums cancel, so their own size is no scale). The header's metadata, names, dtypes
and shapes must be exactly those of the contract (docs/calibration.md).
With --eval-json it also compares the mean negative log-likelihood of the
windows with `quant-opt eval --json`'s source mean_nll. Prints one summary
line per check and exits 1 on the first mismatch.
"""
import argparse
import json
import math
import os
import struct
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from make_checkpoint import from_bits, read_safetensors  # noqa: E402


def load(model_dir):
    config = json.load(open(os.path.join(model_dir, "config.json")))
    tensors = {}
    for name, dtype, shape, data in read_safetensors(
            os.path.join(model_dir, "model.safetensors")):
        vals = from_bits(data, dtype)
        if len(shape) == 1:
            tensors[name] = vals
        else:  # a list of rows [out][in]
            cols = shape[-1]
            tensors[name] = [vals[i:i + cols] for i in range(0, len(vals), cols)]
    return config, tensors


def linear(x, w, b=None):
    """x: list of vectors; w: rows [out][in]."""
    out = []
    for v in x:
        y = [sum(a * c for a, c in zip(row, v)) for row in w]
        if b is not None:
            y = [p + q for p, q in zip(y, b)]
        out.append(y)
    return out


def rms_norm(v, w, eps, plus_one=False):
    inv = 1.0 / math.sqrt(sum(a * a for a in v) / len(v) + eps)
    return [a * inv * ((1.0 + g) if plus_one else g) for a, g in zip(v, w)]


def rope(v, pos, theta):
    d = len(v)
    half = d // 2
    out = list(v)
    for i in range(half):
        ang = pos * theta ** (-2.0 * i / d)
        c, s = math.cos(ang), math.sin(ang)
        out[i] = v[i] * c - v[i + half] * s
        out[i + half] = v[i + half] * c + v[i] * s
    return out


def softmax(v):
    m = max(v)
    e = [math.exp(a - m) for a in v]
    s = sum(e)
    return [a / s for a in e]


def act_fn(name, x):
    if name == "silu":
        return x / (1.0 + math.exp(-x))
    if name == "gelu":
        return 0.5 * x * (1.0 + math.erf(x / math.sqrt(2.0)))
    if name in ("gelu_pytorch_tanh", "gelu_tanh"):
        k = math.sqrt(2.0 / math.pi)
        return 0.5 * x * (1.0 + math.tanh(k * (x + 0.044715 * x ** 3)))
    raise SystemExit("unsupported activation " + name)


class Model:
    def __init__(self, model_dir):
        self.c, self.t = load(model_dir)
        c = self.c
        self.type = c.get("model_type", "llama")
        self.h = c["hidden_size"]
        self.nq = c["num_attention_heads"]
        self.nkv = c.get("num_key_value_heads") or self.nq
        self.d = c.get("head_dim") or self.h // self.nq
        self.eps = c["rms_norm_eps"]
        rp = c.get("rope_parameters") or {}
        self.theta = rp.get("rope_theta", c.get("rope_theta", 10000.0))
        self.gemma = self.type in ("gemma", "gemma2")
        if self.gemma:
            self.act = c.get("hidden_activation") or c.get("hidden_act")
        else:
            self.act = c.get("hidden_act", "silu")
        self.layers = c["num_hidden_layers"]
        self.window = [0] * self.layers
        sw = c.get("sliding_window")
        if sw and self.type in ("mistral", "mixtral", "phi3"):
            self.window = [sw] * self.layers
        if sw and self.type == "gemma2":
            types = c.get("layer_types")
            self.window = [sw if (types[i] == "sliding_attention" if types
                                  else i % 2 == 0) else 0
                           for i in range(self.layers)]
        self.scaling = (c.get("query_pre_attn_scalar", self.d) ** -0.5
                        if self.type == "gemma2" else self.d ** -0.5)
        self.attn_cap = c.get("attn_logit_softcapping") if self.type == "gemma2" else None
        self.final_cap = c.get("final_logit_softcapping") if self.type == "gemma2" else None

    # The MLC weight name a linear layer's input is recorded under.
    def mlc(self, l, what):
        if self.type == "phi3":
            return "transformer.h.%d.%s.weight" % (l, {
                "qkv": "mixer.qkv_proj", "o": "mixer.out_proj",
                "gate_up": "mlp.gate_up_proj", "down": "mlp.down_proj"}[what])
        qkv = "self_attn.c_attn" if self.type in ("qwen2", "qwen3") else "self_attn.qkv_proj"
        return "model.layers.%d.%s.weight" % (l, {
            "qkv": qkv, "o": "self_attn.o_proj", "gate_up": "mlp.gate_up_proj",
            "down": "mlp.down_proj", "router": "moe.gate", "e1_e3": "moe.e1_e3",
            "e2": "moe.e2"}[what])

    def norm(self, v, name):
        return rms_norm(v, self.t[name], self.eps, plus_one=self.gemma)

    def mlp(self, l, x, rec):
        p = "model.layers.%d.mlp." % l
        rec(self.mlc(l, "gate_up"), None, x)
        if self.type == "phi3":
            gu = linear(x, self.t[p + "gate_up_proj.weight"])
            i = len(gu[0]) // 2
            a = [[act_fn(self.act, g[k]) * g[i + k] for k in range(i)] for g in gu]
        else:
            g = linear(x, self.t[p + "gate_proj.weight"])
            u = linear(x, self.t[p + "up_proj.weight"])
            a = [[act_fn(self.act, gg) * uu for gg, uu in zip(gr, ur)]
                 for gr, ur in zip(g, u)]
        rec(self.mlc(l, "down"), None, a)
        return linear(a, self.t[p + "down_proj.weight"])

    def moe(self, l, x, rec):
        p = "model.layers.%d.block_sparse_moe." % l
        c = self.c
        e_num, k = c["num_local_experts"], c["num_experts_per_tok"]
        rec(self.mlc(l, "router"), None, x)
        probs = [softmax(r) for r in linear(x, self.t[p + "gate.weight"])]
        chosen = []
        for pr in probs:
            top = sorted(range(e_num), key=lambda e: (-pr[e], e))[:k]
            s = sum(pr[e] for e in top)
            chosen.append({e: pr[e] / s for e in top})
        out = [[0.0] * self.h for _ in x]
        for e in range(e_num):
            rows = [i for i in range(len(x)) if e in chosen[i]]
            xe = [x[i] for i in rows]
            rec(self.mlc(l, "e1_e3"), e, xe)
            q = p + "experts.%d." % e
            w1 = linear(xe, self.t[q + "w1.weight"])
            w3 = linear(xe, self.t[q + "w3.weight"])
            a = [[act_fn("silu", g) * u for g, u in zip(gr, ur)] for gr, ur in zip(w1, w3)]
            rec(self.mlc(l, "e2"), e, a)
            y = linear(a, self.t[q + "w2.weight"])
            for r, i in enumerate(rows):
                out[i] = [o + chosen[i][e] * v for o, v in zip(out[i], y[r])]
        return out

    def attention(self, l, x, rec):
        p = "model.layers.%d.self_attn." % l
        t, d, nq, nkv = len(x), self.d, self.nq, self.nkv
        rec(self.mlc(l, "qkv"), None, x)
        if self.type == "phi3":
            qkv = linear(x, self.t[p + "qkv_proj.weight"])
            q = [r[:nq * d] for r in qkv]
            k = [r[nq * d:(nq + nkv) * d] for r in qkv]
            v = [r[(nq + nkv) * d:] for r in qkv]
        else:
            bias = lambda n: self.t.get(p + n + "_proj.bias")
            q = linear(x, self.t[p + "q_proj.weight"], bias("q"))
            k = linear(x, self.t[p + "k_proj.weight"], bias("k"))
            v = linear(x, self.t[p + "v_proj.weight"], bias("v"))
        heads = lambda rows, n: [[r[h * d:(h + 1) * d] for h in range(n)] for r in rows]
        q, k, v = heads(q, nq), heads(k, nkv), heads(v, nkv)
        if self.type == "qwen3":
            q = [[rms_norm(hv, self.t[p + "q_norm.weight"], self.eps) for hv in r] for r in q]
            k = [[rms_norm(hv, self.t[p + "k_norm.weight"], self.eps) for hv in r] for r in k]
        q = [[rope(hv, i, self.theta) for hv in r] for i, r in enumerate(q)]
        k = [[rope(hv, i, self.theta) for hv in r] for i, r in enumerate(k)]
        out = []
        win = self.window[l]
        for i in range(t):
            row = []
            for h in range(nq):
                kv = h // (nq // nkv)
                js = [j for j in range(i + 1) if not win or i - j < win]
                s = [sum(a * b for a, b in zip(q[i][h], k[j][kv])) * self.scaling for j in js]
                if self.attn_cap:
                    s = [math.tanh(z / self.attn_cap) * self.attn_cap for z in s]
                pr = softmax(s)
                row += [sum(pj * v[j][kv][e] for pj, j in zip(pr, js)) for e in range(d)]
            out.append(row)
        rec(self.mlc(l, "o"), None, out)
        o_name = p + "o_proj."
        return linear(out, self.t[o_name + "weight"], self.t.get(o_name + "bias"))

    def forward(self, tokens, rec):
        """Logits of one window; rec(mlc_name, expert, rows) sees every
        linear layer's input."""
        x = [list(self.t["model.embed_tokens.weight"][i]) for i in tokens]
        if self.gemma:
            x = [[a * math.sqrt(self.h) for a in r] for r in x]
        for l in range(self.layers):
            p = "model.layers.%d." % l
            xn = [self.norm(r, p + "input_layernorm.weight") for r in x]
            a = self.attention(l, xn, rec)
            if self.type == "gemma2":
                a = [self.norm(r, p + "post_attention_layernorm.weight") for r in a]
            x = [[u + w for u, w in zip(r, s)] for r, s in zip(x, a)]
            pre = "pre_feedforward_layernorm" if self.type == "gemma2" else "post_attention_layernorm"
            xn = [self.norm(r, p + pre + ".weight") for r in x]
            m = self.moe(l, xn, rec) if self.type == "mixtral" else self.mlp(l, xn, rec)
            if self.type == "gemma2":
                m = [self.norm(r, p + "post_feedforward_layernorm.weight") for r in m]
            x = [[u + w for u, w in zip(r, s)] for r, s in zip(x, m)]
        xn = [self.norm(r, "model.norm.weight") for r in x]
        rec("lm_head.weight", None, xn)
        head = self.t.get("lm_head.weight") or self.t["model.embed_tokens.weight"]
        if self.gemma or self.c.get("tie_word_embeddings"):
            head = self.t["model.embed_tokens.weight"]
        logits = linear(xn, head)
        if self.final_cap:
            logits = [[math.tanh(z / self.final_cap) * self.final_cap for z in r] for r in logits]
        return logits


def read_stats(path):
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
        body = f.read()
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        b, e = info["data_offsets"]
        fmt = "<%d%s" % ((e - b) // (8 if info["dtype"] == "I64" else 4),
                         "q" if info["dtype"] == "I64" else "f")
        out[name] = (info["dtype"], info["shape"], list(struct.unpack(fmt, body[b:e])))
    return header.get("__metadata__"), out, n


def fail(msg):
    print("MISMATCH: " + msg)
    sys.exit(1)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("model")
    ap.add_argument("--tokens-file", required=True)
    ap.add_argument("--context", type=int, required=True)
    ap.add_argument("--stats", required=True)
    ap.add_argument("--rtol", type=float, default=1e-4)
    ap.add_argument("--atol", type=float, default=1e-6)
    ap.add_argument("--eval-json")
    a = ap.parse_args()
    tokens = [int(s) for s in open(a.tokens_file).read().split()]
    m = Model(a.model)
    meta, stats, _ = read_stats(a.stats)
    hessian = any(n.endswith(".hessian") for n in stats)
    # Per MLC weight and expert: [count, sum x^2, sum x x^T].
    acc = {}
    order = []

    def rec(name, expert, rows):
        key = (name, expert)
        if key not in acc:
            acc[key] = [0, None, None]
            order.append(key)
        k = len(rows[0]) if rows else None
        entry = acc[key]
        for r in rows:
            if entry[1] is None:
                entry[1] = [0.0] * k
                entry[2] = [[0.0] * k for _ in range(k)]
            entry[0] += 1
            for i in range(k):
                entry[1][i] += r[i] * r[i]
                if not hessian:
                    continue
                row = entry[2][i]
                ri = r[i]
                for j in range(k):
                    row[j] += ri * r[j]

    nll, predicted = 0.0, 0
    for b in range(0, len(tokens), a.context):
        win = tokens[b:b + a.context]
        logits = m.forward(win, rec)
        for i in range(len(win) - 1):
            z = logits[i]
            mx = max(z)
            nll += mx + math.log(sum(math.exp(v - mx) for v in z)) - z[win[i + 1]]
            predicted += 1

    want_meta = {"format": "quant-opt-calibration", "version": "1",
                 "model_type": m.type, "tokens": str(len(tokens))}
    if meta != want_meta:
        fail("metadata %r, expected %r" % (meta, want_meta))
    names = sorted({n for n, _ in acc})
    experts = {n: max(e for nn, e in acc if nn == n) for n in names}
    expected_keys = set()
    checked = 0
    for name in names:
        e_num = experts[name] + 1 if experts[name] is not None else 0
        slots = list(range(e_num)) if e_num else [None]
        k = None
        for s in slots:
            if acc[(name, s)][1] is not None:
                k = len(acc[(name, s)][1])
        lead = [e_num] if e_num else []
        want = {name + ".imatrix": ("F32", lead + [k]),
                name + ".count": ("I64", lead if e_num else [1])}
        if hessian:
            want[name + ".hessian"] = ("F32", lead + [k, k])
        for key, (dt, shape) in want.items():
            expected_keys.add(key)
            if key not in stats:
                fail("missing tensor " + key)
            if stats[key][0] != dt or stats[key][1] != shape:
                fail("%s is %s %s, expected %s %s" % (key, stats[key][0], stats[key][1], dt, shape))
        for si, s in enumerate(slots):
            count, sq, outer = acc[(name, s)]
            if stats[name + ".count"][2][si] != count:
                fail("%s.count[%d] = %d, expected %d" % (name, si, stats[name + ".count"][2][si], count))
            for i in range(k):
                want_v = sq[i] / count if count else 0.0
                got = stats[name + ".imatrix"][2][si * k + i]
                if abs(got - want_v) > a.atol + a.rtol * abs(want_v):
                    fail("%s.imatrix[%d][%d] = %r, expected %r" % (name, si, i, got, want_v))
                checked += 1
                if hessian:
                    for j in range(k):
                        want_h = outer[i][j] / count if count else 0.0
                        got = stats[name + ".hessian"][2][(si * k + i) * k + j]
                        # Relative to the entry's Cauchy-Schwarz bound
                        # sqrt(H_ii H_jj): off-diagonal sums cancel.
                        bound = math.sqrt(outer[i][i] * outer[j][j]) / count if count else 0.0
                        if abs(got - want_h) > a.atol + a.rtol * bound:
                            fail("%s.hessian[%d][%d][%d] = %r, expected %r" % (name, si, i, j, got, want_h))
                        checked += 1
    extra = set(stats) - expected_keys
    if extra:
        fail("unexpected tensors " + ", ".join(sorted(extra)))
    print("stats: %d tensors, %d values within rtol %g atol %g" % (len(stats), checked, a.rtol, a.atol))
    mean_nll = nll / predicted if predicted else float("nan")
    if a.eval_json:
        got = json.load(open(a.eval_json))["source"]["mean_nll"]
        if abs(got - mean_nll) > 1e-4 * max(1.0, abs(mean_nll)):
            fail("mean NLL %r, expected %r" % (got, mean_nll))
        print("mean NLL within 1e-4 relative")


if __name__ == "__main__":
    main()
