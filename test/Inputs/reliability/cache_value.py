#!/usr/bin/env python3
"""Prints element INDEX (flat) of record NAME of a tensor cache (stdlib).

  cache_value.py CACHE_DIR NAME INDEX     e.g. "float16 65504.0"
"""
import json
import os
import struct
import sys

cache, name, index = sys.argv[1], sys.argv[2], int(sys.argv[3])
meta = json.load(open(os.path.join(cache, "tensor-cache.json")))
for shard in meta["records"]:
    for r in shard["records"]:
        if r["name"] != name:
            continue
        with open(os.path.join(cache, shard["dataPath"]), "rb") as f:
            f.seek(r["byteOffset"])
            data = f.read(r["nbytes"])
        if r["format"] == "f32-to-bf16" and r["dtype"] == "float32":
            # Stored as bfloat16: the top half of the float32 pattern.
            bits = struct.unpack_from("<H", data, index * 2)[0]
            value = struct.unpack("<f", struct.pack("<I", bits << 16))[0]
        else:
            fmt, size = {"float16": ("<e", 2), "float32": ("<f", 4),
                         "uint32": ("<I", 4)}[r["dtype"]]
            value = struct.unpack_from(fmt, data, index * size)[0]
        print(r["dtype"], repr(value))
        sys.exit(0)
sys.exit("no record " + name)
