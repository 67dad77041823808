# For mnn-hqq.test: HQQ's stats-json errors against plain asymmetric RTN of
# the same configuration.
#
#   mnn-hqq.test.py RTN_STATS HQQ_STATS
#
# HQQ keeps a block's plain rounding unless its own is better, so every
# tensor's relative Frobenius error must be <= RTN's, and the overall error
# strictly lower (the zero-point search does find better blocks).
import json
import sys

rtn = json.load(open(sys.argv[1]))["Accuracy"]
hqq = json.load(open(sys.argv[2]))["Accuracy"]
r = {t["name"]: t["RelativeFrobenius"] for t in rtn["Tensors"]}
h = {t["name"]: t["RelativeFrobenius"] for t in hqq["Tensors"]}
assert sorted(r) == sorted(h), (sorted(r), sorted(h))
assert len(r) > 0
for name in sorted(r):
    assert h[name] <= r[name], (name, h[name], r[name])
assert hqq["RelativeFrobenius"] < rtn["RelativeFrobenius"], (hqq, rtn)
print(f"{len(r)} tensors: HQQ {hqq['RelativeFrobenius']:.6f} < RTN "
      f"{rtn['RelativeFrobenius']:.6f}")
