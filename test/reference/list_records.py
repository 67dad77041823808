#!/usr/bin/env python3
"""Prints the records of a tensor cache, one per line, in file order
(stdlib only), for FileCheck:

  <name> [<shape>] <dtype>
  ...
  <N> records
"""
import json
import os
import sys


def main(out_dir):
    with open(os.path.join(out_dir, "tensor-cache.json")) as f:
        cache = json.load(f)
    n = 0
    for shard in cache["records"]:
        for r in shard["records"]:
            print("%s [%s] %s" % (r["name"], ", ".join(map(str, r["shape"])), r["dtype"]))
            n += 1
    print("%d records" % n)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
