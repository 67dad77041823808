#!/usr/bin/env python3
"""Compares two tensor-cache directories byte for byte (stdlib only).

Exit 0 when every file is identical; else prints, per differing file, the
first record whose bytes differ (name, shard, offset) and exits 1.
With --by-name, compares the records (name, shape, dtype, bytes) whatever
their order and shard placement (two sources listing tensors in different
orders give the same records in another order); --records-only also ignores
the metadata (Total parameters depends on how the source stores them).
"""
import json
import os
import sys


def records(d):
    index = json.load(open(os.path.join(d, "tensor-cache.json")))
    out = {}
    for shard in index["records"]:
        data = open(os.path.join(d, shard["dataPath"]), "rb").read()
        for r in shard["records"]:
            o = r["byteOffset"]
            out[r["name"]] = (r["shape"], r["dtype"], data[o:o + r["nbytes"]])
    return index["metadata"], out


def by_name(a, b, records_only=False):
    ma, ra = records(a)
    mb, rb = records(b)
    bad = 0
    if ma != mb and not records_only:
        print("metadata differs: %s vs %s" % (ma, mb))
        bad += 1
    if sorted(ra) != sorted(rb):
        print("record names differ:\n  %s\n  %s" % (sorted(set(ra) - set(rb)), sorted(set(rb) - set(ra))))
        return 1
    for name in sorted(ra):
        if ra[name] != rb[name]:
            print("record %s differs" % name)
            bad += 1
    return 1 if bad else 0


def main(a, b):
    fa, fb = sorted(os.listdir(a)), sorted(os.listdir(b))
    if fa != fb:
        print("file lists differ:\n  %s\n  %s" % (fa, fb))
        return 1
    bad = 0
    for name in fa:
        da = open(os.path.join(a, name), "rb").read()
        db = open(os.path.join(b, name), "rb").read()
        if da == db:
            continue
        bad += 1
        print("%s differs (%d vs %d bytes)" % (name, len(da), len(db)))
        if name.endswith(".bin"):
            index = json.load(open(os.path.join(b, "tensor-cache.json")))
            for shard in index["records"]:
                if shard["dataPath"] != name:
                    continue
                for r in shard["records"]:
                    o, n = r["byteOffset"], r["nbytes"]
                    if da[o:o + n] != db[o:o + n]:
                        i = next(k for k in range(n) if da[o + k:o + k + 1] != db[o + k:o + k + 1])
                        print("  first differing record: %s at byte %d of %d" % (r["name"], i, n))
                        break
        else:
            la, lb = da.decode().splitlines(), db.decode().splitlines()
            for k, (x, y) in enumerate(zip(la, lb)):
                if x != y:
                    print("  line %d:\n    %s\n    %s" % (k + 1, x, y))
                    break
    return 1 if bad else 0


if __name__ == "__main__":
    if sys.argv[1] == "--by-name":
        sys.exit(by_name(sys.argv[2], sys.argv[3]))
    if sys.argv[1] == "--records-only":
        sys.exit(by_name(sys.argv[2], sys.argv[3], records_only=True))
    sys.exit(main(sys.argv[1], sys.argv[2]))
