# Compares the JSON reports written by bytellama-quantized.test.
import json
import os
import sys

out = sys.argv[1]
r = {m: json.load(open(os.path.join(out, m + ".json")))
     for m in ("q4f16_1", "q4f16_0", "q3f16_1", "e4m3")}
src = r["q4f16_1"]["source"]["perplexity"]
for m in r:
    assert r[m]["source"]["perplexity"] == src, (m, r[m])
q4 = r["q4f16_1"]["cache"]["perplexity"]
q3 = r["q3f16_1"]["cache"]["perplexity"]
assert q4 > src, (q4, src)
assert q3 > q4, (q3, q4)
assert r["q4f16_0"]["cache"]["mean_nll"] == r["q4f16_1"]["cache"]["mean_nll"], r
e4m3 = r["e4m3"]["cache"]["perplexity"]
assert abs(e4m3 / src - 1) < 0.05, (e4m3, src)
print("ok")
