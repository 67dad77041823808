"""Tensors and source checkpoints (safetensors) of the reference.

Part of mlc_reference.py (the test oracle), which re-exports every name;
written from the same sources and sharing no code with the C++.
"""

import hashlib
import json
import math
import os
import struct

from mlc_numerics import *  # noqa: F401,F403


# ===========================================================================
# 2. Tensors and source checkpoints (safetensors)
# ===========================================================================

class Tensor:
    """A dense tensor: shape (list of ints), TVM dtype name and a flat C-order
    list of values (floats for float types, ints for uint32 and fp8 codes)."""

    def __init__(self, shape, dtype, values):
        self.shape = list(shape)
        self.dtype = dtype
        self.values = values
        if numel(self.shape) != len(values):
            raise AssertionError("tensor size mismatch")


def numel(shape):
    n = 1
    for d in shape:
        n *= d
    return n


SAFETENSORS_ITEMSIZE = {
    "BOOL": 1, "U8": 1, "I8": 1, "I16": 2, "U16": 2, "I32": 4, "U32": 4,
    "I64": 8, "U64": 8, "F16": 2, "BF16": 2, "F32": 4, "F64": 8, "C64": 8,
    "F8_E4M3": 1, "F8_E5M2": 1, "F8_E4M3FNUZ": 1, "F8_E5M2FNUZ": 1,
    "F8_E8M0": 1,
}


class SafetensorsFile:
    """Header of one safetensors file; tensor data is read on demand."""

    def __init__(self, path):
        self.path = path
        self.entries = {}  # name -> (dtype, shape, begin, end)
        with open(path, "rb") as f:
            raw = f.read()
        self.raw = raw
        if len(raw) < 8:
            raise ConvertError(f"{path}: file too small for a safetensors header")
        (n,) = struct.unpack("<Q", raw[:8])
        if n > 100000000 or 8 + n > len(raw):
            raise ConvertError(f"{path}: invalid safetensors header length {n}")
        try:
            header = json.loads(raw[8:8 + n].decode("utf-8"))
        except (UnicodeDecodeError, ValueError) as e:
            raise ConvertError(f"{path}: invalid safetensors header: {e}")
        if not isinstance(header, dict):
            raise ConvertError(f"{path}: safetensors header is not a JSON object")
        self.data_start = 8 + n
        spans = []
        for name, info in header.items():
            if name == "__metadata__":
                continue
            try:
                dtype = info["dtype"]
                shape = [int(d) for d in info["shape"]]
                begin, end = (int(o) for o in info["data_offsets"])
            except (KeyError, TypeError, ValueError):
                raise ConvertError(f"{path}: tensor '{name}': malformed header entry")
            if dtype not in SAFETENSORS_ITEMSIZE:
                raise ConvertError(f"{path}: tensor '{name}': unsupported dtype {dtype}")
            if any(d < 0 for d in shape):
                raise ConvertError(f"{path}: tensor '{name}': negative dimension")
            if end - begin != numel(shape) * SAFETENSORS_ITEMSIZE[dtype]:
                raise ConvertError(f"{path}: tensor '{name}': data_offsets do not match shape")
            self.entries[name] = (dtype, shape, begin, end)
            spans.append((begin, end, name))
        expected = 0
        for begin, end, name in sorted(spans):
            if begin != expected:
                raise ConvertError(f"{path}: tensor '{name}': invalid data offsets")
            expected = end
        if self.data_start + expected != len(raw):
            raise ConvertError(f"{path}: file not fully covered by the tensors in its header")

    def names(self):
        """Tensor names as safetensors' keys() yields them: sorted."""
        return sorted(self.entries)

    def numel(self, name):
        return numel(self.entries[name][1])

    def load(self, name):
        """(shape, source dtype code, list of exact float values)."""
        dtype, shape, begin, end = self.entries[name]
        data = self.raw[self.data_start + begin:self.data_start + end]
        count = numel(shape)
        if dtype == "F16":
            bits = struct.unpack(f"<{count}H", data)
            values = [F16_TO_FLOAT[b] for b in bits]
        elif dtype == "BF16":
            bits = struct.unpack(f"<{count}H", data)
            values = [BF16_TO_FLOAT[b] for b in bits]
        elif dtype == "F32":
            values = list(struct.unpack(f"<{count}f", data))
        elif dtype == "F64":
            values = list(struct.unpack(f"<{count}d", data))
        else:
            raise ConvertError(
                f"{self.path}: tensor '{name}': dtype {dtype} is not a float type")
        return shape, dtype, values


class Checkpoint:
    """A Hugging Face safetensors checkpoint: one file or an index + shards."""

    def __init__(self, model_dir):
        index_path = os.path.join(model_dir, "model.safetensors.index.json")
        single_path = os.path.join(model_dir, "model.safetensors")
        self.files = {}  # file name -> SafetensorsFile
        self.name_to_file = {}  # torch_to_path, in its order
        if os.path.exists(index_path):
            self.single_file = False
            try:
                with open(index_path, "r", encoding="utf-8") as f:
                    index = json.load(f)
                weight_map = index["weight_map"]
            except (ValueError, KeyError, TypeError) as e:
                raise ConvertError(f"{index_path}: invalid index: {e}")
            for name, file_name in weight_map.items():
                if file_name not in self.files:
                    path = os.path.join(model_dir, file_name)
                    if not os.path.exists(path):
                        raise ConvertError(f"{index_path}: shard file {file_name} not found")
                    self.files[file_name] = SafetensorsFile(path)
                if name not in self.files[file_name].entries:
                    raise ConvertError(
                        f"{self.files[file_name].path}: tensor '{name}' listed in the index is missing")
                self.name_to_file[name] = file_name
        elif os.path.exists(single_path):
            self.single_file = True
            self.files["model.safetensors"] = SafetensorsFile(single_path)
            for name in self.files["model.safetensors"].names():
                self.name_to_file[name] = "model.safetensors"
        else:
            raise ConvertError(
                f"{model_dir}: neither model.safetensors nor model.safetensors.index.json found")

    def names_in_walk_order(self):
        """mlc-models.md 3 steps 1-2: group names by file (files in order of
        first appearance), keeping torch_to_path order within a file."""
        file_order = []
        for name, file_name in self.name_to_file.items():
            if file_name not in file_order:
                file_order.append(file_name)
        result = []
        for file_name in file_order:
            for name, fn in self.name_to_file.items():
                if fn == file_name:
                    result.append(name)
        return result

    def load(self, name):
        file_name = self.name_to_file[name]
        return self.files[file_name].load(name)

    def file_param_count(self, file_name, is_unused):
        f = self.files[file_name]
        return sum(f.numel(n) for n in f.names() if not is_unused(n))
