# For optimize-scales.test: an --optimize-scales cache against the RTN cache
# of the same group mode.
#
#   optimize-scales.test.py RTN_DIR OPT_DIR RTN_STATS OPT_STATS BITS
#
# Checks that both caches list the same records (names, shapes, dtypes, in
# the same order), that the optimized stored values stay in MLC's range
# (0..2M per BITS-bit field of every uint32 word, M = 2^(BITS-1) - 1; fields
# past the last whole one are 0) with finite, non-negative float16 scales,
# that some bytes differ, and that the overall relative Frobenius error is
# lower (and no tensor's is higher).
import json
import math
import os
import struct
import sys


def records(d):
    index = json.load(open(os.path.join(d, "tensor-cache.json")))
    out = []
    for shard in index["records"]:
        data = open(os.path.join(d, shard["dataPath"]), "rb").read()
        for r in shard["records"]:
            o = r["byteOffset"]
            out.append((r["name"], r["shape"], r["dtype"],
                        data[o:o + r["nbytes"]]))
    return out


rtn_dir, opt_dir, rtn_stats, opt_stats, bits = sys.argv[1:]
bits = int(bits)
top = 2 * ((1 << (bits - 1)) - 1)
per_word = 32 // bits
rtn, opt = records(rtn_dir), records(opt_dir)
assert [r[:3] for r in rtn] == [r[:3] for r in opt], "record lists differ"
changed = 0
for (name, shape, dtype, a), (_, _, _, b) in zip(rtn, opt):
    changed += a != b
    if name.endswith(".q_weight"):
        assert dtype == "uint32", name
        for (w,) in struct.iter_unpack("<I", b):
            for i in range(per_word):
                assert (w >> (bits * i)) & ((1 << bits) - 1) <= top, (name, hex(w))
            assert w >> (bits * per_word) == 0, (name, hex(w))
    elif name.endswith(".q_scale"):
        assert dtype == "float16", name
        for (s,) in struct.iter_unpack("<e", b):
            assert math.isfinite(s) and math.copysign(1, s) > 0, (name, s)
assert changed > 0, "the optimized cache is the RTN cache"
r = json.load(open(rtn_stats))["Accuracy"]
o = json.load(open(opt_stats))["Accuracy"]
rt = {t["name"]: t["RelativeFrobenius"] for t in r["Tensors"]}
ot = {t["name"]: t["RelativeFrobenius"] for t in o["Tensors"]}
assert sorted(rt) == sorted(ot)
for name in rt:
    assert ot[name] <= rt[name], (name, ot[name], rt[name])
assert o["RelativeFrobenius"] < r["RelativeFrobenius"], (o, r)
print(f"{len(rtn)} records, {changed} changed; {len(rt)} weights: optimized "
      f"{o['RelativeFrobenius']:.6f} < RTN {r['RelativeFrobenius']:.6f}")
