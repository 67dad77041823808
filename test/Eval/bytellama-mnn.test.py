# Compares the JSON reports written by bytellama-mnn.test.
import json
import os
import sys

out = sys.argv[1]
r = {m: json.load(open(os.path.join(out, m + ".json")))
     for m in ("w8", "w4", "w4-hint", "w3")}
src = r["w8"]["source"]["perplexity"]
for m in r:
    assert r[m]["source"]["perplexity"] == src, (m, r[m])
w8, w4, w3 = (r[m]["cache"]["perplexity"] for m in ("w8", "w4", "w3"))
assert src < w8 < w4 < w3, (src, w8, w4, w3)
assert w8 / src - 1 < 0.005, (w8, src)
assert r["w4-hint"]["cache"]["mean_nll"] == r["w4"]["cache"]["mean_nll"], r
assert r["w4-hint"]["cache"]["quantization"] == "mnn_w4_asym_b64_hqq", r
print("ok")
