"""q4f16_ft as mlc_llm writes it, in plain Python (no numpy).

Written from mlc_llm's quantization/ft_quantization.py (FTQuantize) and
FasterTransformer's weight preprocessing for the fpA_intB GEMM (as TVM's
`cutlass.ft_preprocess_weight(weight, sm, is_int4=True)` runs it), element
by element and deliberately slow:

FTQuantize's module mutator (`_Mutator.visit_module`) takes its rules in
this order, and so does ft_plan:

1. an nn.Linear that is the final fc, has out_dtype float32 or has
   out_features % 8 != 0: q4f16_1 group quantization (its fallback), MoE
   gates included, since this test comes first;
2. any other nn.Linear that is not a MoE gate (its name ends in `gate` and
   out_features <= 256): per-channel symmetric int4 in float16 arithmetic,
   q_scale [1, N], codes packed two per int8 along N as [K, N/2] and
   preprocessed for `sm`;
3. such a MoE gate is left as it is, a float16 `weight` (mlc_llm records
   q_weight / q_scale names for it but no quantize function, so its own
   loader fails on it with a KeyError; the compiled model reads `weight`);
4. an nn.Embedding: q4f16_1 group quantization;
5. experts and everything else stay float16 (the mutator only rewrites
   nn.Linear / nn.Embedding modules).
"""

from mlc_numerics import ConvertError, FLOAT_TYPES, divide, round_to_integer
from mlc_checkpoints import Tensor
from mlc_quantization import FINAL_FC_MODULES, QUANTIZATIONS, group_quantize

# sm 80 (any sm 75..89 gives the same layout).
DEFAULT_SM = 80

# FasterTransformer's documented row map for int4 (blocks of 32 rows):
# output row i of a block is input row ROW_MAP[i].
ROW_MAP = [0, 1, 8, 9, 16, 17, 24, 25, 2, 3, 10, 11, 18, 19, 26, 27,
           4, 5, 12, 13, 20, 21, 28, 29, 6, 7, 14, 15, 22, 23, 30, 31]

# Nibble order inside each 32-bit register after the bias:
# output nibble d holds input nibble REGISTER_MAP[d].
REGISTER_MAP = [0, 2, 4, 6, 1, 3, 5, 7]


def ft_scale(row):
    """The float16 scale of one output channel: f16(max |w| / 7)."""
    return FLOAT_TYPES["float16"].round(divide(max(abs(x) for x in row), 7.0))


def ft_code(x, scale):
    """The int4 code (-8..7) of one float16 value under `scale`."""
    v = round_to_integer(FLOAT_TYPES["float16"].round(divide(x, scale)), "even")
    v = v if v > -8.0 else -8.0  # tir.max then tir.min: selects
    v = v if v < 7.0 else 7.0
    return int(v)


def ft_quantize(weight):
    """[N, K] float16 values -> (codes [N][K] ints in -8..7, scales [N])."""
    n, k = weight.shape
    codes, scales = [], []
    for r in range(n):
        row = weight.values[r * k:(r + 1) * k]
        scale = ft_scale(row)
        scales.append(scale)
        codes.append([ft_code(x, scale) for x in row])
    return codes, scales


def ft_preprocess(matrix, sm):
    """matrix: the int4 values (0..15) of the packed weight as rows [K][N].
    Returns the preprocessed bytes."""
    k, n = len(matrix), len(matrix[0])
    if 75 <= sm < 90:
        if k % 64 or n % 64:
            raise ConvertError(f"FT preprocessing needs K, N multiples of 64, got {k}, {n}")
        permuted = []
        for base in range(0, k, 32):
            for i in range(32):
                permuted.append(matrix[base + ROW_MAP[i]])
        columns = [[permuted[r][c] for r in range(k)] for c in range(n)]
        flat = []
        for g in range(0, n, 4):            # 4 columns per 128-byte line
            for tile in range(0, k, 64):    # ThreadblockK = 64 rows
                for c in range(g, g + 4):
                    flat.extend(columns[c][tile:tile + 64])
    elif 70 <= sm < 75:
        flat = [v for row in matrix for v in row]
    else:
        raise ConvertError(f"unsupported sm {sm}")
    nibbles = []
    for w in range(0, len(flat), 8):
        biased = [v ^ 8 for v in flat[w:w + 8]]  # signed + 8
        nibbles.extend(biased[REGISTER_MAP[d]] for d in range(8))
    return [nibbles[i] | (nibbles[i + 1] << 4) for i in range(0, len(nibbles), 2)]


def ft_quantize_linear(weight, sm=DEFAULT_SM):
    codes, scales = ft_quantize(weight)
    n, k = weight.shape
    # q_weight before preprocessing: [K, N/2] int8, lower n in the low nibble,
    # i.e. the int4 matrix [K][N] of the codes' two's complement nibbles.
    matrix = [[codes[c][r] & 0xF for c in range(n)] for r in range(k)]
    data = ft_preprocess(matrix, sm)
    return (Tensor([k, n // 2], "int8", data), Tensor([1, n], "float16", scales))


def ft_plan(param):
    """What FTQuantize makes of one param: "ft" (FTQuantizeLinear), "group"
    (the q4f16_1 fallback) or None (kept in float16)."""
    if not param.name.endswith(".weight"):
        return None
    module = param.name[:-len(".weight")]
    if param.kind == "linear":
        out_features = param.shape[0]
        if (module in FINAL_FC_MODULES or param.out_dtype == "float32"
                or out_features % 8):
            return "group"
        if module.endswith("gate") and out_features <= 256:
            return None  # MoE gate
        return "ft"
    if param.kind == "embedding":
        return "group"
    return None


def convert_param(param, tensor, shards, sm=DEFAULT_SM):
    """The (name, tensor) outputs of one param under q4f16_ft."""
    if shards > 1:
        raise ConvertError("q4f16_ft cannot be pre-sharded")
    plan = ft_plan(Param(param.name, tensor.shape, param.kind,
                         getattr(param, "out_dtype", None)))
    if plan is None:
        return [(param.name, tensor)]
    module = param.name[:-len(".weight")]
    if plan == "ft":
        q_weight, q_scale = ft_quantize_linear(tensor, sm)
    else:
        q_weight, q_scale = group_quantize(tensor, QUANTIZATIONS["q4f16_1"], "even")
    return [(f"{module}.q_weight", q_weight), (f"{module}.q_scale", q_scale)]


class Param:
    """What ft_plan reads of a param: its name, (loaded) shape, kind and
    out_dtype (the nn.Linear's; None for the model dtype)."""

    def __init__(self, name, shape, kind, out_dtype=None):
        self.name, self.shape, self.kind = name, shape, kind
        self.out_dtype = out_dtype
