"""Inputs and expected records for serialize-gguf-ops.test.

`make DIR` writes q8.bin (ggml Q8_0 blocks: an f16 scale d and 32 int8 q,
value d * q), p16.bin (plain f16 rows stored permuted as llama.cpp's
converter does) and the expected bytes of every record under DIR/expected,
computed here from the formulas of docs/gguf.md with the reference's
float16 rounding. `check DIR OUT` compares the records of OUT.
"""
import os
import struct
import sys

sys.path.insert(0, os.path.dirname(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "reference"))
import mlc_reference as ref  # noqa: E402
from serialize_hand_written import check  # noqa: E402


def q8_rows(rows, blocks):
    """Raw bytes and decoded values of a [rows, 32 * blocks] Q8_0 tensor."""
    raw = bytearray()
    values = []
    for r in range(rows):
        for b in range(blocks):
            d = 0.5 * (b + 1) + 0.25 * r
            qs = [(r * 7 + j * 3 + b * 5) % 255 - 127 for j in range(32)]
            raw += struct.pack("<H", ref.f16_bits(d)) + struct.pack("<32b", *qs)
            values += [d * q for q in qs]
    return bytes(raw), values


def unpermute(values, rows, cols, heads):
    """Result row h*hd + j*hd/2 + i is stored row h*hd + 2*i + j."""
    hd = rows // heads
    out = []
    for r in range(rows):
        h, rem = divmod(r, hd)
        j, i = divmod(rem, hd // 2)
        g = h * hd + 2 * i + j
        out += values[g * cols:(g + 1) * cols]
    return out


def f16_bytes(values):
    return ref.tensor_bytes(ref.Tensor([len(values)], "float16",
                                       [ref.round_f16(x) for x in values]))


def make(d):
    raw2, v2 = q8_rows(4, 2)           # [4, 64] in 4 x 68 bytes
    raw1, v1 = q8_rows(1, 2)           # a 1-D [64] tensor in 68 bytes
    p16 = [float(g * 10 + c) for g in range(8) for c in range(3)]  # [8, 3]
    with open(os.path.join(d, "q8.bin"), "wb") as f:
        f.write(raw2 + raw1)
    with open(os.path.join(d, "p16.bin"), "wb") as f:
        f.write(f16_bytes(p16))
    exp = {}
    exp["decoded"] = f16_bytes(v2)
    heads1 = unpermute(v2, 4, 64, 1)
    exp["unpermuted"] = f16_bytes(heads1)
    # Shard 0 of 2 with segments [1, 1]: rows 0 and 2 of the result.
    exp["shard_rows"] = f16_bytes(heads1[0:64] + heads1[128:192])
    exp["one_dim"] = f16_bytes(v1)
    u16 = unpermute(p16, 8, 3, 2)
    exp["plain_unpermuted"] = f16_bytes(u16)
    exp["plain_head_1"] = f16_bytes(u16[12:24])
    os.makedirs(os.path.join(d, "expected"), exist_ok=True)
    for name, data in exp.items():
        with open(os.path.join(d, "expected", name + ".bin"), "wb") as f:
            f.write(data)


if __name__ == "__main__":
    if sys.argv[1] == "make":
        make(sys.argv[2])
    else:
        sys.exit(check(sys.argv[2], sys.argv[3]))
