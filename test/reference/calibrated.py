#!/usr/bin/env python3
"""Reference for calibration-aware group quantization (stdlib only).

  calibrated.py MODEL_DIR STATS --quantization q4f16_1 --method imatrix|gptq
      [--damp 0.01] [--block 128] [--act-order] [--with-importance] -o OUT

Runs mlc_reference.py's conversion, with every quantized linear weight that
has statistics in STATS (our safetensors format: W.imatrix, W.hessian)
quantized by a deliberately simple model of the method instead of plain
rounding, written from the descriptions, not from the C++:

- imatrix: per group, with W = sum_i (a_i x_i) x_i and, for codes q,
  X = sum_i (a_i q_i) x_i and Q = sum_i (a_i q_i) q_i (float32, every
  operation rounded, i ascending from +0), a scale s with codes q scores
  E = (W - 2 (s X)) + (s s) Q (float32, each step rounded). MLC's own
  result is the one to beat; the screened scales s = model(base * r),
  base = float32(max|x| / M), for r in 1, 0.9, 0.8; the screened one of
  least error (the first on ties) is the lead, and up to two weighted
  least-squares refinements s' = model(float32(X / Q)) (none when Q = 0)
  follow from the lead only (each from the one before); a scale already
  scored, not positive, infinite or with an infinite float32 reciprocal is
  not scored and ends the refinements; a candidate's codes are q =
  clamp(round_half_even(float32(x * float32(1 / s))), -M, M). A candidate
  replaces the best only when strictly better.
- gptq: GPTQ as in the paper (Frantar et al. 2022, Algorithm 1) and
  AutoGPTQ: dead columns (H_jj = 0) get H_jj = 1 and zero weights; with
  act-order the columns are sorted by descending H_jj (ties by index); H is
  damped by damp * mean(diag H); U is the upper Cholesky factor of H^-1
  (Cholesky, triangular inverse, product, Cholesky, all in double); columns
  are quantized in blocks, each error (w - q) / U_pp spread at once inside
  the block and, summed over the block, on the later columns. Group scales
  are MLC's rule on the current values (or, with act-order, the original
  ones) when a group's first column comes; with --with-importance, the
  weighted search of MLC's codes: the importance-weighted squared error
  sum_i a_i (x_i - q_i s)^2 (float32, every operation rounded, i
  ascending) of MLC's result is the one to beat, the candidates are those
  of imatrix (same screening, lead and refinements, the least-squares sums
  (a q) x and (a q) q in float32) but scored by that error and with MLC's
  codes q = code(x, s).

Every float32 and model-dtype operation is rounded right after it
(mlc_reference's round_f32 / round_f16 / ...), double sums run in index
order. Slow (pure Python): meant for models of a few hundred thousand
parameters.
"""
import argparse
import json
import math
import os
import struct
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import mlc_reference as ref  # noqa: E402

RATIOS = [ref.round_f32(r) for r in (1.00, 0.90, 0.80)]
REFINEMENTS = 2
f32 = ref.round_f32


def read_stats(path):
    """{weight name: {"imatrix": [...], "hessian": [...]}} of a STATS file."""
    with open(path, "rb") as f:
        blob = f.read()
    (n,) = struct.unpack_from("<Q", blob, 0)
    header = json.loads(blob[8:8 + n])
    base = 8 + n
    stats = {}
    for name, info in header.items():
        if name == "__metadata__" or info["dtype"] != "F32":
            continue
        weight, kind = name.rsplit(".", 1)
        begin, end = info["data_offsets"]
        count = (end - begin) // 4
        values = list(struct.unpack_from("<%df" % count, blob, base + begin))
        stats.setdefault(weight, {})[kind] = values
    return stats


def code(x, s, max_int, model, rounding="even"):
    """MLC's signed code of x for the scale s: round(model(model(x / s) +
    M)), clamped to [0, 2M], minus M; a zero scale gives +-M."""
    if s == 0:
        return float(max_int) if x > 0 else float(-max_int)
    v = model(ref.divide(x, s))
    v = model(v + max_int)
    v = ref.clamp_like_tvm(ref.round_to_integer(v, rounding), 0.0,
                           float(2 * max_int))
    return v - max_int


def weighted_error(x, a, q, s):
    """sum a (x - q s)^2 in float32, every operation rounded, i ascending."""
    e = 0.0
    for xi, ai, qi in zip(x, a, q):
        d = f32(xi - f32(qi * s))
        e = f32(e + f32(ai * f32(d * d)))
    return e


def weighted_search(x, a, s, q, max_int, model):
    """The best (s, q) of the candidates, starting from (s, q)."""
    best = [weighted_error(x, a, q, s), s, q]
    amax = max(abs(v) for v in x)
    base = f32(amax / max_int)
    tried = []

    def attempt(cs):
        """Scores cs if it is a new usable scale: (its error, its
        least-squares successor or None), or None if not scored."""
        if cs is None or not cs > 0 or math.isinf(cs) or cs in tried:
            return None
        tried.append(cs)
        cq = [code(v, cs, max_int, model) for v in x]
        e = weighted_error(x, a, cq, cs)
        if e < best[0]:
            best[:] = [e, cs, cq]
        sxq = 0.0
        sqq = 0.0
        for xi, ai, qi in zip(x, a, cq):
            aq = f32(ai * qi)
            sxq = f32(sxq + f32(aq * xi))
            sqq = f32(sqq + f32(aq * qi))
        return e, (model(f32(sxq / sqq)) if sqq > 0 else None)

    # Screening: every ratio; the lead has the least error (first on ties).
    lead = (math.inf, None)
    for r in RATIOS:
        got = attempt(model(f32(base * r)))
        if got is not None and got[0] < lead[0]:
            lead = got
    # Refinement: up to REFINEMENTS least-squares steps from the lead.
    cs = lead[1]
    for _ in range(REFINEMENTS):
        got = attempt(cs)
        if got is None:
            break
        cs = got[1]
    return best[1], best[2]


def group_search(x, a, s, q, max_int, model):
    """--imatrix's search of one group: the best (s, q), starting from
    MLC's (s, q)."""
    w = 0.0
    for xi, ai in zip(x, a):
        w = f32(w + f32(f32(ai * xi) * xi))

    def sums(codes):
        sx = sq = 0.0
        for xi, ai, qi in zip(x, a, codes):
            aq = f32(ai * qi)
            sx = f32(sx + f32(aq * xi))
            sq = f32(sq + f32(aq * qi))
        return sx, sq

    def score(cs, codes):
        sx, sq = sums(codes)
        t1 = f32(cs * sx)
        e = f32(f32(w - f32(t1 + t1)) + f32(f32(cs * cs) * sq))
        return e, sx, sq

    best = [score(s, q)[0], s, q]
    base = f32(max(abs(v) for v in x) / max_int)
    tried = []

    def attempt(cs):
        if cs is None or not cs > 0 or math.isinf(cs) or cs in tried:
            return None
        inv = f32(1.0 / cs)
        if math.isinf(inv):
            return None
        tried.append(cs)
        cq = [min(max(float(round(f32(v * inv))), -float(max_int)),
                  float(max_int)) for v in x]
        e, sx, sq = score(cs, cq)
        if e < best[0]:
            best[:] = [e, cs, cq]
        return e, (model(f32(sx / sq)) if sq > 0 else None)

    lead = (math.inf, None)
    for r in RATIOS:
        got = attempt(model(f32(base * r)))
        if got is not None and got[0] < lead[0]:
            lead = got
    cs = lead[1]
    for _ in range(REFINEMENTS):
        got = attempt(cs)
        if got is None:
            break
        cs = got[1]
    return best[1], best[2]


def mlc_group(chunk, max_int, model, rounding):
    """MLC's scale and signed codes of one group (mlc_reference's steps)."""
    max_abs = max(abs(x) for x in chunk)
    scale = model(ref.divide(max_abs, float(max_int)))
    q = []
    for x in chunk:
        v = model(ref.divide(x, scale))
        v = model(v + max_int)
        v = ref.clamp_like_tvm(ref.round_to_integer(v, rounding), 0.0,
                               float(2 * max_int))
        q.append(v - max_int)
    return scale, q


def pack(rows_codes, rows_scales, lead, k, mode, ftype):
    bits, group = mode["bits"], mode["group_size"]
    per_word = 32 // bits
    max_int = 2 ** (bits - 1) - 1
    groups = (k + group - 1) // group
    words = []
    for codes in rows_codes:
        for g in range(groups):
            c = [int(v) + max_int for v in codes[g * group:(g + 1) * group]]
            c += [0] * (group - len(c))
            for w in range(group // per_word):
                word = 0
                for r in range(per_word):
                    word |= c[w * per_word + r] << (r * bits)
                words.append(word)
    scales = [s for row in rows_scales for s in row]
    return (ref.Tensor(lead + [groups * (group // per_word)], "uint32", words),
            ref.Tensor(lead + [groups], ftype.name, scales))


def imatrix_quantize(weight, mode, rounding, imatrix):
    ftype = ref.FLOAT_TYPES[mode["model_dtype"]]
    group = mode["group_size"]
    max_int = 2 ** (mode["bits"] - 1) - 1
    k = weight.shape[-1]
    rows = ref.numel(weight.shape[:-1])
    all_codes, all_scales = [], []
    for row in range(rows):
        x = weight.values[row * k:(row + 1) * k]
        codes, scales = [], []
        for g in range(0, k, group):
            chunk, a = x[g:g + group], imatrix[g:g + group]
            s, q = mlc_group(chunk, max_int, ftype.round, rounding)
            if any(v != 0 for v in chunk) and sum(a) > 0:
                s, q = group_search(chunk, a, s, q, max_int, ftype.round)
            codes += q
            scales.append(s)
        all_codes.append(codes)
        all_scales.append(scales)
    return pack(all_codes, all_scales, weight.shape[:-1], k, mode, ftype)


def prepare_gptq(h, k, damp, act_order):
    a = [[h[i * k + j] for j in range(k)] for i in range(k)]
    dead = [a[j][j] == 0.0 for j in range(k)]
    for j in range(k):
        if dead[j]:
            a[j][j] = 1.0
    order = list(range(k))
    if act_order:
        order.sort(key=lambda j: -a[j][j])
    mean = 0.0
    for j in range(k):
        mean += a[j][j]
    mean = mean / k
    p = [[a[order[i]][order[j]] for j in range(k)] for i in range(k)]
    for j in range(k):
        p[j][j] += damp * mean
    low = [[0.0] * k for _ in range(k)]  # H = L L^T
    for j in range(k):
        for i in range(j, k):
            s = p[i][j]
            for t in range(j):
                s -= low[i][t] * low[j][t]
            if i == j:
                low[j][j] = math.sqrt(s)
            else:
                low[i][j] = s / low[j][j]
    inv = [[0.0] * k for _ in range(k)]  # L^-1
    for c in range(k):
        inv[c][c] = 1.0 / low[c][c]
        for i in range(c + 1, k):
            s = 0.0
            for t in range(c, i):
                s += low[i][t] * inv[t][c]
            inv[i][c] = -s / low[i][i]
    hinv = [[0.0] * k for _ in range(k)]  # H^-1 = L^-T L^-1, upper part
    for i in range(k):
        for j in range(i, k):
            s = 0.0
            for t in range(j, k):
                s += inv[t][i] * inv[t][j]
            hinv[i][j] = s
    u = [[0.0] * k for _ in range(k)]  # H^-1 = U^T U
    for i in range(k):
        s = hinv[i][i]
        for t in range(i):
            s -= u[t][i] * u[t][i]
        u[i][i] = math.sqrt(s)
        for j in range(i + 1, k):
            v = hinv[i][j]
            for t in range(i):
                v -= u[t][i] * u[t][j]
            u[i][j] = v / u[i][i]
    return order, dead, u


def gptq_quantize(weight, mode, hessian, opts, imatrix):
    ftype = ref.FLOAT_TYPES[mode["model_dtype"]]
    group = mode["group_size"]
    max_int = 2 ** (mode["bits"] - 1) - 1
    k = weight.shape[-1]
    rows = ref.numel(weight.shape[:-1])
    order, dead, u = prepare_gptq(hessian, k, opts.damp, opts.act_order)
    groups = (k + group - 1) // group

    def params(x, g):
        v = [f32(t) for t in x[g * group:(g + 1) * group]]
        amax = max(abs(ftype.round(t)) for t in v)
        s = ftype.round(f32(amax / max_int))
        if imatrix is None:
            return s
        a = imatrix[g * group:(g + 1) * group]
        if not any(t != 0 for t in v) or not sum(a) > 0:
            return s
        q = [code(t, s, max_int, ftype.round) for t in v]
        return weighted_search(v, a, s, q, max_int, ftype.round)[0]

    all_codes, all_scales = [], []
    for row in range(rows):
        x = [0.0 if dead[j] else weight.values[row * k + j] for j in range(k)]
        scales = [params(x, g) for g in range(groups)] if opts.act_order \
            else [0.0] * groups
        codes = [0.0] * k
        for b0 in range(0, k, opts.block):
            b1 = min(b0 + opts.block, k)
            err = []
            for p in range(b0, b1):
                j = order[p]
                if not opts.act_order and j % group == 0:
                    scales[j // group] = params(x, j // group)
                s = scales[j // group]
                q = code(f32(x[j]), s, max_int, ftype.round)
                codes[j] = q
                e = (x[j] - f32(q * s)) / u[p][p]
                err.append(e)
                for p2 in range(p + 1, b1):
                    x[order[p2]] -= e * u[p][p2]
            for p2 in range(b1, k):
                acc = 0.0
                for i, p in enumerate(range(b0, b1)):
                    acc += err[i] * u[p][p2]
                x[order[p2]] -= acc
        all_codes.append(codes)
        all_scales.append(scales)
    return pack(all_codes, all_scales, weight.shape[:-1], k, mode, ftype)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("model_dir")
    ap.add_argument("stats")
    ap.add_argument("--quantization", default="q4f16_1")
    ap.add_argument("--method", choices=["imatrix", "gptq"], required=True)
    ap.add_argument("--damp", type=float, default=0.01)
    ap.add_argument("--block", type=int, default=128)
    ap.add_argument("--act-order", action="store_true")
    ap.add_argument("--with-importance", action="store_true",
                    help="gptq: also search group scales by importance")
    ap.add_argument("-o", "--output", required=True)
    opts = ap.parse_args()
    stats = read_stats(opts.stats)
    original_convert = ref.convert_param
    original_group = ref.group_quantize
    current = {}

    def convert_param(param, tensor, mode, rounding, shards):
        current["param"] = param
        return original_convert(param, tensor, mode, rounding, shards)

    def group_quantize(weight, mode, rounding):
        param = current["param"]
        entry = stats.get(param.name)
        if param.kind not in ("linear", "experts") or entry is None:
            return original_group(weight, mode, rounding)
        if opts.method == "imatrix":
            return imatrix_quantize(weight, mode, rounding, entry["imatrix"])
        return gptq_quantize(weight, mode, entry["hessian"], opts,
                             entry["imatrix"] if opts.with_importance else None)

    ref.convert_param = convert_param
    ref.group_quantize = group_quantize
    ref.convert(opts.model_dir, opts.quantization, opts.output)


if __name__ == "__main__":
    main()
