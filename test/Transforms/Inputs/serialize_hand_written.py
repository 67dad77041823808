"""Inputs and expected records for serialize-hand-written.test.

`make DIR` writes the checkpoint files the hand-written IR
(serialize-hand-written.mlir) reads and, under DIR/expected, the bytes of
every record, computed with the helpers of the independent Python reference
(test/reference/mlc_reference.py: rounding, transpose, sharding, group
quantization, on-disk encoding). `check DIR OUT` compares the records of
the tensor cache in OUT with them and prints one line per record.
"""
import json
import os
import struct
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "reference"))
import mlc_reference as ref  # noqa: E402
from make_lora import merge as lora_merge  # noqa: E402

T = ref.Tensor


def values(n, start, step):
    # Quarters of small integers: exact in f16 and bf16.
    return [(start + i) * step for i in range(n)]


def a_tensor():  # bf16 [4, 6]
    return T([4, 6], "bfloat16", values(24, -12, 0.25))


def b_tensor():  # f16 [2, 6]
    return T([2, 6], "float16", values(12, -5, 0.5))


def c_tensor():  # f16 [3, 6]
    return T([3, 6], "float16", values(18, 3, -0.125))


def cast(t, dtype):
    rnd = ref.FLOAT_TYPES[dtype].round
    return T(t.shape, dtype, [rnd(x) for x in t.values])


def concat0(ts):
    return T([sum(t.shape[0] for t in ts)] + ts[0].shape[1:], ts[0].dtype,
             [x for t in ts for x in t.values])


def concat1(ts):
    rows = ts[0].shape[0]
    vals = []
    for r in range(rows):
        for t in ts:
            k = t.shape[1]
            vals.extend(t.values[r * k:(r + 1) * k])
    return T([rows, sum(t.shape[1] for t in ts)], ts[0].dtype, vals)


def stack(ts):
    return T([len(ts)] + ts[0].shape, ts[0].dtype,
             [x for t in ts for x in t.values])


def shard(t, dim, index, count, segs=None):
    return ref.shard_tensor(t, dim, segs, count, "test")[index]


def expected():
    a, b, c = a_tensor(), b_tensor(), c_tensor()
    a1 = shard(a, 0, 1, 2)
    cast_of_shard = cast(a1, "float16")
    out = {}
    out["cast_of_shard"] = cast_of_shard
    bc = concat0([b, c])
    out["transpose_of_concat"] = ref.transpose_2d(bc)
    out["stack_of_casts"] = stack([cast(shard(a, 0, 0, 2), "float16"),
                                   cast_of_shard])
    added = shard(concat1([b, b]), 1, 1, 2, [2, 4])
    out["add_of_shard"] = T(added.shape, "float16",
                            [ref.round_f16(x + 1.0) for x in added.values])
    mode = {"model_dtype": "float16", "bits": 4, "group_size": 8}
    qw, qs = ref.group_quantize(cast_of_shard, mode, "even")
    out["q.q_weight"] = qw
    out["q.q_scale"] = qs
    out["q_weight_shard_1"] = shard(qw, 0, 1, 2)
    out["cast_of_scale"] = cast(qs, "bfloat16")
    out["concat_of_one"] = c
    out["transpose_of_transpose"] = bc
    out["shard_of_shard"] = shard(a1, 1, 0, 3)
    out["interleaved_cast"] = cast(concat1([shard(a, 0, 0, 2), a1]), "float16")
    # W' = T(f32(f32(W) + f32(scale * (B @ A)))) with the independent merge
    # of test/reference/make_lora.py; rank 2, A = b.
    lb = shard(a1, 1, 0, 3)
    out["merge_of_shard"] = cast(T([2, 6], "float32", lora_merge(
        cast_of_shard.values, (2, 6), b.values, lb.values, 2, 0.5, False)),
        "float16")
    t = ref.transpose_2d(bc)
    bs = shard(bc, 1, 0, 3)
    out["merge_transposed"] = cast(T([6, 5], "float32", lora_merge(
        t.values, (6, 5), b.values, bs.values, 2, 0.25, True)), "float16")
    return out


def make(d):
    for name, t in (("a", a_tensor()), ("b", b_tensor()), ("c", c_tensor())):
        with open(os.path.join(d, name + ".bin"), "wb") as f:
            f.write(ref.tensor_bytes(t))
    os.makedirs(os.path.join(d, "expected"), exist_ok=True)
    for name, t in expected().items():
        with open(os.path.join(d, "expected", name + ".bin"), "wb") as f:
            f.write(ref.tensor_bytes(t))


def check(d, out):
    with open(os.path.join(out, "tensor-cache.json")) as f:
        cache = json.load(f)
    differ = 0
    for shard_rec in cache["records"]:
        with open(os.path.join(out, shard_rec["dataPath"]), "rb") as f:
            data = f.read()
        for r in shard_rec["records"]:
            got = data[r["byteOffset"]:r["byteOffset"] + r["nbytes"]]
            with open(os.path.join(d, "expected", r["name"] + ".bin"), "rb") as f:
                want = f.read()
            ok = got == want
            differ += not ok
            print(("ok " if ok else "DIFF ") + r["name"] + " " + str(r["shape"])
                  + " " + r["dtype"])
    print(f"{differ} differ")
    return 1 if differ else 0


if __name__ == "__main__":
    if sys.argv[1] == "make":
        make(sys.argv[2])
    else:
        sys.exit(check(sys.argv[2], sys.argv[3]))
