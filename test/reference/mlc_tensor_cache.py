"""The tensor cache writer of the reference (tensor-cache.md 2-5).

Part of mlc_reference.py (the test oracle), which re-exports every name;
written from the same sources and sharing no code with the C++.
"""

import copy
import hashlib
import json
import math
import os
import struct

from mlc_numerics import *  # noqa: F401,F403
from mlc_checkpoints import *  # noqa: F401,F403


# ===========================================================================
# 7. Tensor cache writer (tensor-cache.md 2-5)
# ===========================================================================

SHARD_CAP = 32 * 2 ** 20


def tensor_bytes(t):
    """On-disk bytes of a tensor (float32 is written bf16-encoded)."""
    n = len(t.values)
    if t.dtype == "float16":
        return struct.pack(f"<{n}H", *[f16_bits(x) for x in t.values])
    if t.dtype == "bfloat16":
        return struct.pack(f"<{n}H", *[bf16_bits(x) for x in t.values])
    if t.dtype == "float32":
        return struct.pack(f"<{n}H", *[f32_to_bf16_file_encoding(x) for x in t.values])
    if t.dtype == "uint32":
        return struct.pack(f"<{n}I", *t.values)
    if t.dtype in ("float8_e4m3fn", "float8_e5m2", "int8"):
        return bytes(t.values)
    raise AssertionError(f"unknown dtype {t.dtype}")


class TensorCacheWriter:
    def __init__(self, out_dir):
        self.out_dir = out_dir
        self.shards = []  # shard records in commit order
        self.pending_data = bytearray()
        self.pending_records = []
        self.counter = 0
        self.param_size = 0
        self.param_bytes = 0
        self.has_float32 = False
        # False: only tensor-cache.json (with each shard's md5sum) is written.
        self.write_shards = True

    def _commit(self, data, records):
        name = f"params_shard_{self.counter}.bin"
        self.counter += 1
        if self.write_shards:
            with open(os.path.join(self.out_dir, name), "wb") as f:
                f.write(data)
        self.shards.append({
            "dataPath": name,
            "format": "raw-shard",
            "nbytes": len(data),
            "records": records,
            "md5sum": hashlib.md5(bytes(data)).hexdigest(),
        })

    def add(self, name, t):
        self.add_bytes(name, t.shape, t.dtype, tensor_bytes(t))

    def add_bytes(self, name, shape, dtype, data):
        """A record whose on-disk bytes are `data` (tensor_bytes' encoding)."""
        self.param_size += 1
        self.param_bytes += numel(shape) * ITEMSIZE[dtype]
        if dtype == "float32":
            self.has_float32 = True
        record = {"name": name, "shape": list(shape), "dtype": dtype,
                  "format": "f32-to-bf16", "nbytes": len(data)}
        if len(self.pending_data) + len(data) >= SHARD_CAP:
            if 2 * len(data) >= SHARD_CAP:
                record["byteOffset"] = 0
                self._commit(data, [record])  # out of band; pending stays
                return
            if self.pending_data:
                self._commit(self.pending_data, self.pending_records)
                self.pending_data = bytearray()
                self.pending_records = []
        record["byteOffset"] = len(self.pending_data)
        self.pending_records.append(record)
        self.pending_data += data

    def finish(self, total_params):
        if self.pending_data:
            self._commit(self.pending_data, self.pending_records)
        if total_params == 0:
            raise ConvertError("the checkpoint holds no parameters")
        cache = {
            "metadata": {
                "ParamSize": self.param_size,
                "ParamBytes": float(self.param_bytes),
                "BitsPerParam": self.param_bytes * 8.0 / total_params,
            },
            "records": self.shards,
        }
        with open(os.path.join(self.out_dir, "tensor-cache.json"), "w") as f:
            json.dump(cache, f, indent=4)
        if self.has_float32:
            b16 = copy.deepcopy(cache)
            for shard in b16["records"]:
                for record in shard["records"]:
                    if record["dtype"] == "float32":
                        record["dtype"] = "bfloat16"
                        record["format"] = "raw"
            with open(os.path.join(self.out_dir, "tensor-cache-b16.json"), "w") as f:
                json.dump(b16, f, indent=4)
        return cache
