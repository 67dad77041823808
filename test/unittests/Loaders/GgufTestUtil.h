//===- GgufTestUtil.h - A GGUF writer for the tests ------------*- C++ -*-===//
//
// Part of quant-opt.
//
// GgufBuilder writes GGUF files byte by byte (written from the format as
// docs/gguf.md describes it, sharing nothing with the reader), for the loader
// tests (GgufTest.cpp) and the model definitions' GGUF view tests
// (test/unittests/Models/GgufViewTest.cpp).
//
//===----------------------------------------------------------------------===//

#ifndef QOPT_TEST_UNITTESTS_LOADERS_GGUFTESTUTIL_H
#define QOPT_TEST_UNITTESTS_LOADERS_GGUFTESTUTIL_H

#include "LoaderTestUtil.h"

#include <cstdint>
#include <cstring>
#include <optional>
#include <string>
#include <vector>

namespace qopt::loaders::test {

inline std::string ggufStr(const std::string &s) { return le64(s.size()) + s; }

/// Writes a GGUF file: header, key/values as given, tensor infos, zero
/// padding to the alignment, then each tensor's bytes padded likewise.
struct GgufBuilder {
  uint32_t version = 3;
  uint64_t alignment = 32;
  std::string kvs;
  uint64_t kvCount = 0;
  struct Tensor {
    std::string name;
    std::vector<uint64_t> ne;
    uint32_t type;
    std::string data;
    /// When set, written instead of the computed offset.
    std::optional<uint64_t> offset;
  };
  std::vector<Tensor> tensors;
  /// Length of header + kvs + infos, before padding (set by build()).
  uint64_t headerLen = 0;

  GgufBuilder &raw(const std::string &key, uint32_t type,
                   const std::string &value) {
    kvs += ggufStr(key) + le32(type) + value;
    ++kvCount;
    return *this;
  }
  GgufBuilder &u32(const std::string &key, uint32_t v) {
    return raw(key, 4, le32(v));
  }
  GgufBuilder &f32(const std::string &key, float v) {
    uint32_t bits;
    std::memcpy(&bits, &v, 4);
    return raw(key, 6, le32(bits));
  }
  GgufBuilder &str(const std::string &key, const std::string &v) {
    return raw(key, 8, ggufStr(v));
  }
  GgufBuilder &tensor(const std::string &name, std::vector<uint64_t> ne,
                      uint32_t type, std::string data) {
    tensors.push_back({name, std::move(ne), type, std::move(data), {}});
    return *this;
  }

  std::string build() {
    std::string out =
        "GGUF" + le32(version) + le64(tensors.size()) + le64(kvCount) + kvs;
    uint64_t offset = 0;
    for (const Tensor &t : tensors) {
      out += ggufStr(t.name) + le32(uint32_t(t.ne.size()));
      for (uint64_t d : t.ne)
        out += le64(d);
      out += le32(t.type) + le64(t.offset.value_or(offset));
      offset +=
          t.data.size() + (alignment - t.data.size() % alignment) % alignment;
    }
    headerLen = out.size();
    out += std::string((alignment - out.size() % alignment) % alignment, '\0');
    for (const Tensor &t : tensors) {
      out += t.data;
      out += std::string((alignment - t.data.size() % alignment) % alignment,
                         '\0');
    }
    return out;
  }
};

/// The metadata of a small Llama (hidden 8, 2 layers, 2 heads, 1 kv head).
inline GgufBuilder llamaBuilder() {
  GgufBuilder b;
  b.str("general.architecture", "llama")
      .u32("llama.context_length", 64)
      .u32("llama.embedding_length", 8)
      .u32("llama.block_count", 2)
      .u32("llama.feed_forward_length", 16)
      .u32("llama.attention.head_count", 2)
      .u32("llama.attention.head_count_kv", 1)
      .f32("llama.attention.layer_norm_rms_epsilon", 1e-5f)
      .f32("llama.rope.freq_base", 500000.0f)
      .u32("llama.vocab_size", 40);
  return b;
}

} // namespace qopt::loaders::test

#endif // QOPT_TEST_UNITTESTS_LOADERS_GGUFTESTUTIL_H
