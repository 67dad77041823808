#!/usr/bin/env python3
"""Writes a broken copy of a single-file checkpoint (stdlib only).

  make_bad_input.py KIND IN_DIR OUT_DIR
KIND (model.safetensors): truncate | overlap | hole | past-end |
      unknown-dtype | drop-tensor | config-missing-field
KIND (pytorch_model.bin, source-formats.md section 2):
      torch-os-system   data.pkl calls os.system('id') (GLOBAL at byte 24)
      torch-legacy-tar  the very old tar format (sys_info, pickle, storages,
                        tensors members)
      torch-legacy-stream  the pre-1.6 pickle stream (magic number pickle)
      torch-truncated   the zip without its last 100 bytes (no end of
                        central directory record)
"""
import io
import json
import os
import shutil
import struct
import sys
import tarfile
import zipfile

# PROTO 2, EMPTY_DICT, BINPUT 0, BINUNICODE 'lm_head.weight' (bytes 0-23),
# GLOBAL 'os system' (byte 24), BINUNICODE 'id', TUPLE1, REDUCE, SETITEM, STOP.
OS_SYSTEM_PICKLE = (b"\x80\x02}q\x00X\x0e\x00\x00\x00lm_head.weight"
                    b"cos\nsystem\nX\x02\x00\x00\x00id\x85Rs.")


def torch_kind(kind, path):
    data = open(path, "rb").read()
    if kind == "torch-os-system":
        src = zipfile.ZipFile(io.BytesIO(data))
        with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as z:
            for info in src.infolist():
                body = src.read(info.filename)
                if info.filename.endswith("/data.pkl"):
                    body = OS_SYSTEM_PICKLE
                z.writestr(info.filename, body)
    elif kind == "torch-legacy-tar":
        with tarfile.open(path, "w", format=tarfile.USTAR_FORMAT) as t:
            for name, body in [("sys_info", b"\x80\x02}."),
                               ("pickle", b"\x80\x02}."),
                               ("storages", b"\x80\x02]."),
                               ("tensors", b"\x80\x02].")]:
                info = tarfile.TarInfo(name)
                info.size = len(body)
                t.addfile(info, io.BytesIO(body))
    elif kind == "torch-legacy-stream":
        magic = b"\x80\x02\x8a\x0a\x6c\xfc\x9c\x46\xf9\x20\x6a\xa8\x50\x19."
        version = b"\x80\x02M\xe9\x03."  # 1001
        open(path, "wb").write(magic + version + b"\x80\x02}.")
    elif kind == "torch-truncated":
        open(path, "wb").write(data[:-100])
    else:
        sys.exit("unknown kind " + kind)


def main(kind, src, dst):
    if os.path.exists(dst):
        shutil.rmtree(dst)
    shutil.copytree(src, dst)
    if kind.startswith("torch-"):
        return torch_kind(kind, os.path.join(dst, "pytorch_model.bin"))
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
