#!/usr/bin/env python3
"""Checks a tensor cache against a reference written without its shards.

  compare_cache_md5.py OUT_DIR REF_DIR

REF_DIR holds only tensor-cache.json (mlc_phi3v.py --no-shard-files): every
record's name, shape, dtype, offset and size, and each shard's size and
md5sum. OUT_DIR passes when its tensor-cache.json is the same text, it holds
no other files than that and the shards named there, and each shard's bytes
hash (hashlib, here) to the md5sum the reference computed. With the MD5 of
the expected bytes of every shard, this compares the caches byte for byte
(up to an MD5 collision) without writing the reference's shards. Stdlib only.
"""
import hashlib
import json
import os
import sys


def main(out, ref):
    want = open(os.path.join(ref, "tensor-cache.json")).read()
    got = open(os.path.join(out, "tensor-cache.json")).read()
    if got != want:
        for k, (x, y) in enumerate(zip(got.splitlines(), want.splitlines())):
            if x != y:
                print("tensor-cache.json line %d:\n    %s\n    %s" % (k + 1, x, y))
                break
        else:
            print("tensor-cache.json differs in length")
        return 1
    shards = json.loads(want)["records"]
    expected = sorted(["tensor-cache.json"] + [s["dataPath"] for s in shards])
    present = sorted(os.listdir(out))
    if present != expected:
        print("file lists differ:\n  %s\n  %s" % (present, expected))
        return 1
    bad = 0
    for s in shards:
        h = hashlib.md5()
        with open(os.path.join(out, s["dataPath"]), "rb") as f:
            for chunk in iter(lambda: f.read(1 << 24), b""):
                h.update(chunk)
        if h.hexdigest() != s["md5sum"]:
            names = [r["name"] for r in s["records"]]
            print("%s: md5 %s, expected %s (records %s .. %s)"
                  % (s["dataPath"], h.hexdigest(), s["md5sum"], names[0], names[-1]))
            bad += 1
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2]))
