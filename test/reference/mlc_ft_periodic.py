"""q4f16_ft of periodic tensors, fast and exact, stdlib only.

Part of the reference (never from quant-opt's C++): mlc_phi3v.py uses it for
phi3_v's CLIP tower, which MLC's FTQuantize quantizes although the tower is
marked `no_quantization` (its _Mutator never looks at the mark): 144 Linears
(303 M elements) and the position embedding, far too many for mlc_ft.py's
one-element-at-a-time path. The tower's test tensors repeat with a period of
p elements (make_phi3v.py; mlc_phi3v.find_period proves it on the bytes),
and then:

* FT Linear [N, K] with p a multiple of K: rows n and n + R are equal
  (R = p / K). FT quantization works row by row (a row's scale and codes
  depend on that row alone), and FasterTransformer's preprocessing maps the
  rows 4G .. 4G + 3 (columns of the packed [K][N] matrix) to the G-th
  block of 2K bytes of its output, in order: the row permutation acts
  inside each column, the interleave inside each group of 4 columns, the
  register reordering inside 8 nibbles of one 64-row piece. So the output
  repeats every R' = lcm(R, 4) rows: only the first R' rows are quantized
  (by mlc_ft.ft_scale / ft_code, the latter memoized on its arguments) and
  preprocessed; `preprocess_groups` applies exactly mlc_ft.ft_preprocess's
  steps with whole-buffer strided slices (one byte per nibble) instead of
  Python loops over elements.
* The group fallback (q4f16_1, groups of 32 along the last axis, NK) of an
  embedding [R, K] with K % 32 == 0: group g holds elements 32g .. 32g + 31,
  so group g + q holds the values of group g for q = p / gcd(p, 32), and
  the outputs (4 uint32 and one scale per group, stored in group order)
  repeat every q groups: `mlc_quantization.group_quantize` runs on the first
  q groups only.

`self_check()` compares both paths with mlc_ft.py's / group_quantize's
element-by-element results on small periodic tensors, and the preprocessing
alone on random codes; mlc_phi3v.py --self-check-ft runs it.
"""
import array
import math
import random
import struct

import mlc_ft
import mlc_reference as ref

FT_GROUP = ref.QUANTIZATIONS["q4f16_1"]  # FTQuantize's fallback_group_quantize

_XOR8 = bytes(i ^ 8 for i in range(256))           # signed nibble + 8
_SHL4 = bytes((i << 4) & 0xFF for i in range(256))  # nibble to the high half


def repeat(period, count):
    """The first `count` items of `period` repeated (bytes)."""
    return (period * (count // len(period) + 1))[:count]


def preprocess_groups(codes, n, k):
    """mlc_ft.ft_preprocess(matrix, sm 80) for the int4 matrix [K][N] whose
    column c is `codes[c * k:(c + 1) * k]` (one nibble 0..15 per byte, the
    weight's row c): the preprocessed bytes. FasterTransformer needs N and K
    multiples of 64 (checked by ft_linear on the whole weight); the steps
    themselves need K % 64 == 0 and N % 4 == 0, so a whole number of groups
    of 4 rows can be preprocessed alone."""
    assert k % 64 == 0 and n % 4 == 0 and len(codes) == n * k
    # Rows of the [K][N] matrix permuted in blocks of 32, then the matrix
    # read column by column: column c is weight row c with its elements
    # permuted by ROW_MAP inside each block of 32 (k % 32 == 0, so a flat
    # index and its position in its block agree mod 32).
    columns = bytearray(n * k)
    for i in range(32):
        columns[i::32] = codes[mlc_ft.ROW_MAP[i]::32]
    # For each group of 4 columns and each tile of 64 rows, the 4 columns'
    # 64-element pieces in turn. In 8-byte items: column c = 4G + m, tile t,
    # item j of the piece moves from G*32T + m*8T + 8t + j to
    # G*32T + 32t + 8m + j (T = k / 64 tiles); for fixed (m, t, j) both are
    # arithmetic in G with step 32T.
    t_count = k // 64
    src = array.array("Q")
    src.frombytes(bytes(columns))
    dst = array.array("Q", bytes(len(columns)))
    step = 32 * t_count
    for m in range(4):
        for t in range(t_count):
            for j in range(8):
                dst[32 * t + 8 * m + j::step] = src[m * 8 * t_count + 8 * t + j::step]
    flat = dst.tobytes()
    # Each 8-nibble register: nibble d takes nibble REGISTER_MAP[d], + 8.
    regs = bytearray(len(flat))
    for d in range(8):
        regs[d::8] = flat[mlc_ft.REGISTER_MAP[d]::8]
    regs = bytes(regs).translate(_XOR8)
    low = int.from_bytes(regs[0::2], "little")
    high = int.from_bytes(regs[1::2].translate(_SHL4), "little")
    return (low | high).to_bytes(len(regs) // 2, "little")


def ft_linear(period, n, k):
    """FT q_weight (int8 [K, N/2]) and q_scale (float16 [1, N]) bytes of the
    float16 weight [N, K] whose flat elements repeat `period` (a list of p
    float16 values); None unless p is a multiple of K (see the docstring)."""
    if k % 64 or n % 64:
        raise ref.ConvertError(f"FT preprocessing needs K, N multiples of 64, got {k}, {n}")
    if len(period) % k:
        return None
    rows = min(n, math.lcm(len(period) // k, 4))
    values = list(repeat(tuple(period), rows * k))
    memo = {}
    codes, scales = bytearray(), []
    for r in range(rows):
        row = values[r * k:(r + 1) * k]
        scale = mlc_ft.ft_scale(row)
        scales.append(scale)
        for x in row:
            code = memo.get((x, scale))
            if code is None:
                code = memo[(x, scale)] = mlc_ft.ft_code(x, scale) & 0xF
            codes.append(code)
    block = preprocess_groups(bytes(codes), rows, k)
    scale_bytes = struct.pack(f"<{rows}H", *[ref.f16_bits(s) for s in scales])
    return repeat(block, n * k // 2), repeat(scale_bytes, 2 * n)


def group_embedding(period, rows, k):
    """q4f16_1 q_weight (uint32 [rows, K/8]) and q_scale (float16
    [rows, K/32]) bytes of the float16 [rows, K] tensor whose flat elements
    repeat `period`; None unless K is a multiple of the group size."""
    g = FT_GROUP["group_size"]
    if k % g:
        return None
    total = rows * k // g
    first = min(total, len(period) // math.gcd(len(period), g))
    head = list(repeat(tuple(period), first * g))
    q_weight, q_scale = ref.group_quantize(ref.Tensor([first, g], "float16", head),
                                           FT_GROUP, "even")
    words, scales = ref.tensor_bytes(q_weight), ref.tensor_bytes(q_scale)
    return (repeat(words, total * len(words) // first),
            repeat(scales, total * len(scales) // first))


def self_check():
    """Fast paths against the element paths; returns the failure count."""
    rng = random.Random(16)
    f16 = ref.FLOAT_TYPES["float16"]
    bad = 0

    def report(what, ok):
        nonlocal bad
        print(f"{what}: periodic path {'==' if ok else '!='} element path")
        bad += not ok

    # Row-periodic weights (R distinct rows; R' = lcm(R, 4) not always
    # dividing N), as make_phi3v.py writes the tower's Linears.
    for n, k, r in ((64, 128, 8), (128, 192, 4), (192, 64, 12), (64, 64, 3)):
        period = [f16.round(rng.gauss(0, 0.02) * 2.0 ** rng.randrange(-1, 2))
                  for _ in range(r * k)]
        weight = ref.Tensor([n, k], "float16", list(repeat(tuple(period), n * k)))
        q_weight, q_scale = mlc_ft.ft_quantize_linear(weight)
        fast = ft_linear(period, n, k)
        report(f"ft linear [{n}, {k}] rows repeating every {r}",
               fast == (ref.tensor_bytes(q_weight), ref.tensor_bytes(q_scale)))
    for n, k in ((64, 64), (128, 192)):
        codes = bytes(rng.randrange(16) for _ in range(n * k))
        matrix = [[codes[c * k + r] for c in range(n)] for r in range(k)]
        report(f"ft preprocessing [{n}, {k}] random codes",
               preprocess_groups(codes, n, k) == bytes(mlc_ft.ft_preprocess(matrix, 80)))
    for rows, k, p in ((40, 64, 61), (7, 96, 23), (20, 64, 48)):
        period = [f16.round(rng.gauss(0, 0.02)) for _ in range(p)]
        weight = ref.Tensor([rows, k], "float16", list(repeat(tuple(period), rows * k)))
        q_weight, q_scale = ref.group_quantize(weight, FT_GROUP, "even")
        report(f"group embedding [{rows}, {k}] period {p}",
               group_embedding(period, rows, k)
               == (ref.tensor_bytes(q_weight), ref.tensor_bytes(q_scale)))
    return bad
