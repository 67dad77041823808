#!/usr/bin/env python3
"""AWQ's scale search and fold on a tiny case, standard library only, as an
independent oracle for weights.awq_scales / weights.scale_channels.

Written from the AWQ paper (Lin et al., MLSys 2024) and AutoAWQ's
`_search_best_scale` (awq/quantize/quantizer.py): for ratio alpha = i / grid,
  s = x_mean^alpha, clamped below at 1e-4, divided by sqrt(max(s) min(s)),
the weights W * s are quantized and dequantized (Q), and the ratio with the
smallest output error of Q(W s) / s - W wins (the first on ties). Here
x_mean = sqrt(imatrix) (the RMS of each input channel), the error is
sum_rows sum_k imatrix_k e_k^2 (each row's sum in float32, in 16 lane
sums combined pairwise, as AwqSearch.h defines it), and the
quantizer is MLC's group quantization from mlc_reference.py (written from
the format sheets, not from the C++).

  awq_reference.py inputs DIR   writes DIR/tiny.safetensors (the case)
  awq_reference.py expect [N]   prints the loss of plain rounding, the
                                chosen ratio and its loss, the scales and
                                the folded tensors, as float32 / float16
                                bit patterns (N: the error measured on N
                                evenly spread rows of W)
  awq_reference.py dump OUT     prints the records `scales`, `w` and `norm`
                                of tensor cache OUT in the same form (the
                                float32 scales in the cache's bfloat16 file
                                encoding)
"""
import json
import math
import os
import struct
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import mlc_reference as mlc  # noqa: E402

# The case: 2x4 weights (float16), the RMSNorm weight feeding them and the
# importance matrix of their input. Channel 1 has large activations and
# small weights, channel 0 the opposite.
W = [[0.9, -0.05, 0.3, 0.12],
     [-0.4, 0.07, 0.85, -0.2]]
NORM = [1.0, 0.5, 2.0, 1.5]
IMATRIX = [0.01, 4.0, 0.04, 1.0]
GRID = 20
# q4, group 8 (one group per row), float16, round half to even.
MODE = {"kind": "group", "bits": 4, "group_size": 8, "model_dtype": "float16",
        "layout": "NK"}


def f16(x):
    return mlc.round_f16(x)


def f32(x):
    return mlc.round_f32(x)


def scales_for(imatrix, alpha):
    t = [max(math.pow(math.sqrt(v), alpha), 1e-4) for v in imatrix]
    norm = math.sqrt(max(t) * min(t))
    return [f32(v / norm) for v in t]


def quant_dequant(rows):
    """MLC group quantization of float16 rows, then (q - 7) * scale in
    float32."""
    k = len(rows[0])
    flat = [v for r in rows for v in r]
    qw, qs = mlc.group_quantize(mlc.Tensor([len(rows), k], "float16", flat),
                                MODE, "even")
    bits, group = MODE["bits"], MODE["group_size"]
    per_word = 32 // bits
    words_per_row = len(qw.values) // len(rows)
    out = []
    for r in range(len(rows)):
        codes = []
        for w in qw.values[r * words_per_row:(r + 1) * words_per_row]:
            codes += [(w >> (bits * i)) & ((1 << bits) - 1)
                      for i in range(per_word)]
        groups = len(qs.values) // len(rows)
        out.append([f32((codes[c] - 7) * qs.values[r * groups + c // group])
                    for c in range(k)])
    return out


def row_loss(row, q, s, imatrix):
    """One row's error in float32 (every operation rounded), as AwqSearch.h
    defines it: e = q * (1 / s) - w, t = (e * e) * imatrix, 16 lane sums
    (lane l takes t[l], t[l + 16], ... in order) combined pairwise (for h =
    8, 4, 2, 1: lane i += lane i + h)."""
    lanes = [0.0] * 16
    for c, v in enumerate(row):
        e = f32(f32(q[c] * f32(1.0 / s[c])) - v)
        t = f32(f32(e * e) * imatrix[c])
        lanes[c % 16] = f32(lanes[c % 16] + t)
    h = 8
    while h >= 1:
        for i in range(h):
            lanes[i] = f32(lanes[i] + lanes[i + h])
        h //= 2
    return lanes[0]


def loss_of(w, s, imatrix):
    scaled = [[f16(f32(v * s[c])) for c, v in enumerate(row)] for row in w]
    q = quant_dequant(scaled)
    loss = 0.0
    for r, row in enumerate(w):
        loss += row_loss(row, q[r], s, imatrix)  # rows added in double
    return loss


def search(w, imatrix, grid):
    best = None
    losses = []
    for i in range(grid):
        s = scales_for(imatrix, i / grid)
        loss = loss_of(w, s, imatrix)
        losses.append(loss)
        if best is None or loss < best[1]:
            best = (i, loss, s)
    return best, losses


def f16_hex(x):
    return "0x%04x" % mlc.f16_bits(x)


def f32_hex(x):
    return "0x%08x" % mlc.f32_bits(x)


def write_inputs(d):
    """tiny.safetensors: w F16 [2, 4], norm F16 [4], imatrix F32 [4], with a
    256-byte header so the data offsets are fixed: w at 264, norm at 280,
    imatrix at 288 (absolute)."""
    w = struct.pack("<8e", *[v for r in W for v in r])
    n = struct.pack("<4e", *NORM)
    im = struct.pack("<4f", *IMATRIX)
    header = ('{"w":{"dtype":"F16","shape":[2,4],"data_offsets":[0,16]},'
              '"norm":{"dtype":"F16","shape":[4],"data_offsets":[16,24]},'
              '"imatrix":{"dtype":"F32","shape":[4],"data_offsets":[24,40]}}')
    hb = header.encode().ljust(256, b" ")
    with open(os.path.join(d, "tiny.safetensors"), "wb") as f:
        f.write(struct.pack("<Q", len(hb)) + hb + w + n + im)


def dump(out):
    with open(os.path.join(out, "tensor-cache.json")) as f:
        index = json.load(f)
    recs = {}
    for shard in index["records"]:
        with open(os.path.join(out, shard["dataPath"]), "rb") as f:
            data = f.read()
        for r in shard["records"]:
            recs[r["name"]] = (r["dtype"],
                               data[r["byteOffset"]:r["byteOffset"] + r["nbytes"]])
    for name, label in (("scales", "scales"), ("w", "w"), ("norm", "norm")):
        dtype, b = recs[name]
        # float16 values, or float32 ones in bfloat16 file encoding.
        vals = ["0x%04x" % v for v in struct.unpack("<%dH" % (len(b) // 2), b)]
        print(label + " " + " ".join(vals))


def main(argv):
    if len(argv) == 3 and argv[1] == "dump":
        dump(argv[2])
        return 0
    if len(argv) == 3 and argv[1] == "inputs":
        write_inputs(argv[2])
        return 0
    # expect [ROWS]: the search measures the error on ROWS rows of W, the
    # middles of ROWS equal slices: row floor((2 i + 1) * 2 / (2 ROWS)).
    if len(argv) not in (2, 3) or argv[1] != "expect":
        print(__doc__, file=sys.stderr)
        return 2
    w = [[f16(v) for v in row] for row in W]
    im = [f32(v) for v in IMATRIX]
    sample = int(argv[2]) if len(argv) == 3 else 0
    searched = w
    if 0 < sample < len(w):
        searched = [w[(2 * i + 1) * len(w) // (2 * sample)]
                    for i in range(sample)]
    (best, loss, s), losses = search(searched, im, GRID)
    print("plain loss %.9g" % losses[0])
    print("ratio %d/%d loss %.9g" % (best, GRID, loss))
    print("scales-f32 " + " ".join(f32_hex(v) for v in s))
    # A float32 record of a tensor cache holds TVM's bfloat16 file encoding.
    print("scales " + " ".join("0x%04x" % mlc.f32_to_bf16_file_encoding(v)
                               for v in s))
    print("w " + " ".join(f16_hex(f16(f32(v * s[c])))
                          for row in w for c, v in enumerate(row)))
    print("norm " + " ".join(f16_hex(f16(f32(f16(v) / s[c])))
                             for c, v in enumerate(NORM)))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
