//===- EvalTestUtil.h - Helpers for the eval tests --------------*- C++ -*-===//
//
// Independent writers for test inputs: a hand-rolled tensor cache (the JSON
// text and shard bytes laid out as tensor-cache.md describes, without the
// project's writer), a tiny safetensors file, little-endian byte helpers,
// and scratch directories. None of this uses the code under test.
//
//===----------------------------------------------------------------------===//

#ifndef QOPT_TEST_UNITTESTS_EVAL_EVALTESTUTIL_H
#define QOPT_TEST_UNITTESTS_EVAL_EVALTESTUTIL_H

#include "llvm/Support/Error.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

namespace qopt::eval::test {

/// A fresh scratch directory for one test.
inline std::string scratchDir(const std::string &name) {
  std::filesystem::path dir =
      std::filesystem::path(QOPT_TEST_TMPDIR) / "eval-scratch" / name;
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  return dir.string();
}

inline void writeFile(const std::string &path, const std::string &bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), std::streamsize(bytes.size()));
  ASSERT_TRUE(out.good()) << "cannot write " << path;
}

inline std::string le16(uint16_t v) { return {char(v & 0xFF), char(v >> 8)}; }
inline std::string le32(uint32_t v) {
  std::string s;
  for (int i = 0; i < 4; ++i)
    s += char((v >> (8 * i)) & 0xFF);
  return s;
}
inline std::string leF32(float f) {
  uint32_t u;
  std::memcpy(&u, &f, 4);
  return le32(u);
}
inline std::string words(const std::vector<uint32_t> &ws) {
  std::string s;
  for (uint32_t w : ws)
    s += le32(w);
  return s;
}
inline std::string halves(const std::vector<uint16_t> &hs) {
  std::string s;
  for (uint16_t h : hs)
    s += le16(h);
  return s;
}

/// The message of a failed Expected ("<success>" if it did not fail).
template <typename T>
std::string errorOf(llvm::Expected<T> &&e) {
  if (e)
    return "<success>";
  return llvm::toString(e.takeError());
}
inline std::string errorOf(llvm::Error e) {
  if (!e)
    return "<success>";
  return llvm::toString(std::move(e));
}

/// One record of a hand-built cache.
struct TestRecord {
  std::string name;
  std::string dtype;
  std::vector<int64_t> shape;
  std::string bytes;
  std::string format = "f32-to-bf16";
};

/// Writes `dir`/tensor-cache.json and one shard `params_shard_0.bin` holding
/// the records back to back. `shardBytesOverride` >= 0 writes that shard
/// `nbytes` in the JSON instead of the real size; `nbytesOverride` replaces
/// the nbytes of the record called `overrideName`.
inline void writeCache(const std::string &dir,
                       const std::vector<TestRecord> &records,
                       int64_t shardBytesOverride = -1,
                       const std::string &overrideName = "",
                       int64_t nbytesOverride = -1) {
  std::string shard, recs;
  for (const TestRecord &r : records) {
    std::string shape;
    for (size_t i = 0; i < r.shape.size(); ++i)
      shape += (i ? ", " : "") + std::to_string(r.shape[i]);
    int64_t nbytes = int64_t(r.bytes.size());
    if (r.name == overrideName && nbytesOverride >= 0)
      nbytes = nbytesOverride;
    if (!recs.empty())
      recs += ",\n";
    recs += "{\"name\": \"" + r.name + "\", \"shape\": [" + shape +
            "], \"dtype\": \"" + r.dtype + "\", \"format\": \"" + r.format +
            "\", \"nbytes\": " + std::to_string(nbytes) +
            ", \"byteOffset\": " + std::to_string(shard.size()) + "}";
    shard += r.bytes;
  }
  int64_t shardBytes =
      shardBytesOverride >= 0 ? shardBytesOverride : int64_t(shard.size());
  std::string json =
      "{\"metadata\": {\"ParamSize\": " + std::to_string(records.size()) +
      "}, \"records\": [{\"dataPath\": \"params_shard_0.bin\", \"format\": "
      "\"raw-shard\", \"nbytes\": " +
      std::to_string(shardBytes) + ", \"records\": [\n" + recs + "]}]}";
  writeFile(dir + "/tensor-cache.json", json);
  writeFile(dir + "/params_shard_0.bin", shard);
}

/// A safetensors tensor: name, dtype code ("F32", "F16"), shape, raw bytes.
struct TestTensor {
  std::string name, dtype;
  std::vector<int64_t> shape;
  std::string bytes;
};

/// Writes a safetensors file: u64 header length, JSON header, data.
inline void writeSafetensors(const std::string &path,
                             const std::vector<TestTensor> &tensors) {
  std::string header = "{", data;
  for (const TestTensor &t : tensors) {
    std::string shape;
    for (size_t i = 0; i < t.shape.size(); ++i)
      shape += (i ? "," : "") + std::to_string(t.shape[i]);
    if (header.size() > 1)
      header += ",";
    header += "\"" + t.name + "\":{\"dtype\":\"" + t.dtype + "\",\"shape\":[" +
              shape + "],\"data_offsets\":[" + std::to_string(data.size()) +
              "," + std::to_string(data.size() + t.bytes.size()) + "]}";
    data += t.bytes;
  }
  header += "}";
  std::string len;
  for (int i = 0; i < 8; ++i)
    len += char((uint64_t(header.size()) >> (8 * i)) & 0xFF);
  writeFile(path, len + header + data);
}

} // namespace qopt::eval::test

#endif // QOPT_TEST_UNITTESTS_EVAL_EVALTESTUTIL_H
