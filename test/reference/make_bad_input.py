#!/usr/bin/env python3
"""Writes a broken copy of a single-file safetensors checkpoint (stdlib only).

  make_bad_input.py KIND IN_DIR OUT_DIR
KIND: truncate | overlap | hole | past-end | unknown-dtype | drop-tensor |
      config-missing-field
"""
import json
import os
import shutil
import struct
import sys


def main(kind, src, dst):
    if os.path.exists(dst):
        shutil.rmtree(dst)
    shutil.copytree(src, dst)
    path = os.path.join(dst, "model.safetensors")
    data = open(path, "rb").read()
    n = struct.unpack("<Q", data[:8])[0]
    header = json.loads(data[8:8 + n])
    body = data[8 + n:]
    names = sorted(k for k in header if k != "__metadata__")

    def write(h, b):
        text = json.dumps(h).encode()
        open(path, "wb").write(struct.pack("<Q", len(text)) + text + b)

    if kind == "truncate":
        open(path, "wb").write(data[:len(data) - 1000])
    elif kind == "overlap":  # second tensor starts 2 bytes early
        b, e = header[names[1]]["data_offsets"]
        header[names[1]]["data_offsets"] = [b - 2, e - 2]
        write(header, body)
    elif kind == "hole":  # 2 stray bytes before the second tensor
        for name in names[1:]:
            b, e = header[name]["data_offsets"]
            header[name]["data_offsets"] = [b + 2, e + 2]
        first_end = header[names[0]]["data_offsets"][1]
        write(header, body[:first_end] + b"\0\0" + body[first_end:])
    elif kind == "past-end":  # the last tensor claims more bytes than exist
        b, e = header[names[-1]]["data_offsets"]
        header[names[-1]]["shape"] = [header[names[-1]]["shape"][0] * 2]
        header[names[-1]]["data_offsets"] = [b, b + 2 * (e - b)]
        write(header, body)
    elif kind == "unknown-dtype":
        header["model.norm.weight"]["dtype"] = "F17"
        write(header, body)
    elif kind == "drop-tensor":  # remove model.layers.1.self_attn.k_proj.weight
        victim = "model.layers.1.self_attn.k_proj.weight"
        vb, ve = header.pop(victim)["data_offsets"]
        for name in names:
            if name in header and header[name]["data_offsets"][0] >= ve:
                b, e = header[name]["data_offsets"]
                header[name]["data_offsets"] = [b - (ve - vb), e - (ve - vb)]
        write(header, body[:vb] + body[ve:])
    elif kind == "config-missing-field":
        cfg = json.load(open(os.path.join(dst, "config.json")))
        del cfg["intermediate_size"]
        json.dump(cfg, open(os.path.join(dst, "config.json"), "w"), indent=2)
    else:
        sys.exit("unknown kind " + kind)


if __name__ == "__main__":
    main(*sys.argv[1:])
