#!/usr/bin/env python3
"""Checks that a presharded tensor cache re-assembles to the unsharded one.

  reassemble_shards.py SHARDED_DIR UNSHARDED_DIR N SEGMENTS_JSON
SEGMENTS_JSON maps a record-name suffix to [dim, [per-shard segment
lengths in rows/columns of the record]] (an empty list: even split), e.g.
{"self_attn.qkv_proj.q_weight": [0, [64, 32, 32]], ...}. Every `<name>_shard-i`
record is put back (shard i holds block i of each segment) and compared
with `<name>` of the unsharded cache; all other records must be identical.
"""
import json
import math
import os
import sys


def load(d):
    index = json.load(open(os.path.join(d, "tensor-cache.json")))
    out = {}
    for shard in index["records"]:
        data = open(os.path.join(d, shard["dataPath"]), "rb").read()
        for r in shard["records"]:
            o = r["byteOffset"]
            out[r["name"]] = (r["shape"], r["dtype"], data[o:o + r["nbytes"]])
    return out


def split_blocks(data, shape, dim, lengths):
    """Splits raw bytes along dim into consecutive blocks of the given lengths."""
    outer = math.prod(shape[:dim])
    inner = len(data) // (outer * shape[dim]) if outer * shape[dim] else 0
    blocks = [bytearray() for _ in lengths]
    for o in range(outer):
        base = o * shape[dim] * inner
        pos = 0
        for k, n in enumerate(lengths):
            blocks[k] += data[base + pos * inner: base + (pos + n) * inner]
            pos += n
    return blocks, outer, inner


def main(sharded, unsharded, n, segments):
    n = int(n)
    segs = json.loads(segments)
    a, b = load(sharded), load(unsharded)
    bad = 0
    seen = set()
    for name, (shape, dtype, data) in b.items():
        if name in a:
            if a[name] != (shape, dtype, data):
                print("record %s differs" % name)
                bad += 1
            seen.add(name)
            continue
        rule = next((v for k, v in segs.items() if name.endswith(k)), None)
        parts = [a.get("%s_shard-%d" % (name, i)) for i in range(n)]
        if rule is None or any(p is None for p in parts):
            print("record %s missing from the sharded cache" % name)
            bad += 1
            continue
        dim, lengths = rule
        if not lengths:
            lengths = [shape[dim] // n]
        # Cut each shard into its segments, then lay segment j of every
        # shard back to back.
        per_shard = [split_blocks(p[2], p[0], dim, lengths)[0] for p in parts]
        order = []
        for j in range(len(lengths)):
            for i in range(n):
                order.append((i, j))
        outer = math.prod(shape[:dim])
        rebuilt = bytearray()
        for o in range(outer):
            for i, j in order:
                blk = per_shard[i][j]
                size = len(blk) // outer
                rebuilt += blk[o * size:(o + 1) * size]
        if bytes(rebuilt) != data:
            print("record %s does not re-assemble" % name)
            bad += 1
        seen.update("%s_shard-%d" % (name, i) for i in range(n))
    extra = set(a) - seen
    if extra:
        print("unexpected records: %s" % sorted(extra))
        bad += 1
    print("%d records checked, %d bad" % (len(b), bad))
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:]))
