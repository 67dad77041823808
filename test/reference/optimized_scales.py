#!/usr/bin/env python3
"""Reference for `quant-opt convert --optimize-scales` (stdlib only).

  optimized_scales.py MODEL_DIR --quantization q4f16_1 -o OUT

Runs mlc_reference.py's conversion with every group-quantized weight's
groups searched for a better scale, a deliberately simple model written from
the specification (docs/simd.md section 5, docs/cli.md), not from the C++:

Per group of n values y (finite, not all zero; M = 2^(bits-1) - 1; "model"
the model dtype's rounding, f32 float32's):
- MLC's own result (scale s0, signed codes q0) is the one to beat, its error
  E0 = err(q0, s0).
- err(q, s) = the squared error sum (y_i - f32(q_i * s))^2 in double, with
  element i added into accumulator i mod 8 (i ascending) and the 8
  accumulators summed ((a0 + a1) + (a2 + a3)) + ((a4 + a5) + (a6 + a7)).
- the codes of a candidate s: inv = f32(1 / s),
  q_i = clamp(round_half_even(f32(y_i * inv)), -M, M).
- a candidate's score, from float32 sums (every product and sum rounded
  to float32, i ascending from +0): W = sum y_i y_i, X = sum y_i q_i,
  Q = sum q_i q_i, score = f32(f32(W - f32(t + t)) + f32(f32(s s) Q)) with
  t = f32(s X).
- base = max(f32(max(y, 0) / M), f32(max(-y, 0) / M)); the screened scales
  model(f32(base * r)) for r in 1, 0.9, 0.8 (float32
  constants); the screened one of least score (the first on ties) is the
  lead; then up to 2 least-squares steps from the lead, s' = model(f32(
  X / Q)) of the scale before (none when Q = 0). A scale not positive, not
  finite, whose f32 reciprocal is not finite or already scored is not
  scored and ends the steps. The candidate of least score (strictly less;
  the first on ties) replaces MLC's result if its error err(q, s) is
  strictly below E0; its codes are its own. Stored fields past a short
  last group are 0.
"""
import argparse
import math
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import mlc_reference as ref  # noqa: E402
from calibrated import mlc_group, pack  # noqa: E402

RATIOS = [ref.round_f32(r) for r in (1.00, 0.90, 0.80)]
REFINEMENTS = 2
LANES = 8
f32 = ref.round_f32


def lane_sum(terms):
    """The sum of terms, term i into accumulator i mod 8, then pairwise."""
    a = [0.0] * LANES
    for i, t in enumerate(terms):
        a[i % LANES] += t
    return ((a[0] + a[1]) + (a[2] + a[3])) + ((a[4] + a[5]) + (a[6] + a[7]))


def error(y, q, s):
    d = [v - f32(c * s) for v, c in zip(y, q)]
    return lane_sum([t * t for t in d])


def codes(y, s, max_int):
    inv = f32(1.0 / s)
    out = []
    for v in y:
        t = f32(v * inv)
        r = float(round(t))  # Python's round: half to even
        out.append(min(max(r, -float(max_int)), float(max_int)))
    return out


def search(y, max_int, model):
    """(scale, codes) of the candidate of least score; (None, None) if
    none was scored."""
    top = max([0.0] + [v for v in y])
    bottom = max([0.0] + [-v for v in y])
    base = max(f32(top / max_int), f32(bottom / max_int))
    w = 0.0
    for v in y:
        w = f32(w + f32(v * v))
    best = [math.inf, None]
    tried = []

    def attempt(s):
        if s is None or not s > 0 or math.isinf(s) or s in tried:
            return None
        if math.isinf(f32(1.0 / s)):
            return None
        tried.append(s)
        q = codes(y, s, max_int)
        sx = sq = 0.0
        for v, c in zip(y, q):
            sx = f32(sx + f32(v * c))
            sq = f32(sq + f32(c * c))
        t = f32(s * sx)
        e = f32(f32(w - f32(t + t)) + f32(f32(s * s) * sq))
        if e < best[0]:
            best[:] = [e, s]
        return e, (model(f32(sx / sq)) if sq > 0 else None)

    lead = (math.inf, None)
    for r in RATIOS:
        got = attempt(model(f32(base * r)))
        if got is not None and got[0] < lead[0]:
            lead = got
    s = lead[1]
    for _ in range(REFINEMENTS):
        got = attempt(s)
        if got is None:
            break
        s = got[1]
    if best[1] is None:
        return None, None
    return best[1], codes(y, best[1], max_int)


def optimize_quantize(weight, mode, rounding):
    ftype = ref.FLOAT_TYPES[mode["model_dtype"]]
    group = mode["group_size"]
    max_int = 2 ** (mode["bits"] - 1) - 1
    k = weight.shape[-1]
    rows = ref.numel(weight.shape[:-1])
    all_codes, all_scales = [], []
    for row in range(rows):
        x = weight.values[row * k:(row + 1) * k]
        row_codes, scales = [], []
        for g in range(0, k, group):
            y = x[g:g + group]
            s, q = mlc_group(y, max_int, ftype.round, rounding)
            if all(math.isfinite(v) for v in y) and any(v != 0 for v in y):
                cs, cq = search(y, max_int, ftype.round)
                if cs is not None and error(y, cq, cs) < error(y, q, s):
                    s, q = cs, cq
            row_codes += q
            scales.append(s)
        all_codes.append(row_codes)
        all_scales.append(scales)
    return pack(all_codes, all_scales, weight.shape[:-1], k, mode, ftype)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("model_dir")
    ap.add_argument("--quantization", default="q4f16_1")
    ap.add_argument("-o", "--output", required=True)
    opts = ap.parse_args()
    ref.group_quantize = optimize_quantize
    ref.convert(opts.model_dir, opts.quantization, opts.output)


if __name__ == "__main__":
    main()
