#!/usr/bin/env python3
"""Checks for the AWQ folding test (stdlib only).

  awq_check.py nll A.json B.json TOL   compares the cache mean NLL of two
      `quant-opt eval --json` results: prints "mean NLL agrees within TOL"
      (exit 0) or "mean NLL differs by D" (exit 1)
  awq_check.py diff A B                for every record of tensor cache A,
      in file order, prints "same NAME" or "changed NAME" after comparing
      its bytes with B's record of that name
"""
import json
import os
import sys


def records(d):
    with open(os.path.join(d, "tensor-cache.json")) as f:
        index = json.load(f)
    out = []
    for shard in index["records"]:
        with open(os.path.join(d, shard["dataPath"]), "rb") as f:
            data = f.read()
        for r in shard["records"]:
            o = r["byteOffset"]
            out.append((r["name"], data[o:o + r["nbytes"]]))
    return out


def main(argv):
    if len(argv) == 5 and argv[1] == "nll":
        with open(argv[2]) as f:
            a = json.load(f)["cache"]["mean_nll"]
        with open(argv[3]) as f:
            b = json.load(f)["cache"]["mean_nll"]
        if abs(a - b) <= float(argv[4]):
            print("mean NLL agrees within " + argv[4])
            return 0
        print("mean NLL differs by %.3g" % abs(a - b))
        return 1
    if len(argv) == 4 and argv[1] == "diff":
        b = dict(records(argv[3]))
        for name, data in records(argv[2]):
            print(("same " if b.get(name) == data else "changed ") + name)
        return 0
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
