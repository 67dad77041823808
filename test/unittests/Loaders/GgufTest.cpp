//===- GgufTest.cpp - GGUF header reader and Llama view tests ------------===//
//
// Part of quant-opt.
//
// Files are built byte by byte by GgufBuilder below (written from
// source-formats.md 3.1, sharing nothing with the reader). Hostile files
// check the exact error message of every check in the sheet.
//
//===----------------------------------------------------------------------===//

#include "qopt/Loaders/Gguf.h"
#include "qopt/Loaders/TensorReader.h"

#include "LoaderTestUtil.h"

#include <gtest/gtest.h>

#include <cmath>

using namespace qopt::loaders;
using namespace qopt::loaders::test;
using qopt::numerics::DType;

namespace {

std::string ggufStr(const std::string &s) { return le64(s.size()) + s; }

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

/// Header (counts given) followed by `rest`, for hostile files.
std::string header(uint64_t tensors, uint64_t kvs, const std::string &rest,
                   uint32_t version = 3) {
  return "GGUF" + le32(version) + le64(tensors) + le64(kvs) + rest;
}

/// The error parseGguf gives for `bytes` named "x.gguf".
std::string parseError(const std::string &bytes) {
  return errorOf(parseGguf("x.gguf", bytes));
}

/// One tensor info record.
std::string info(const std::string &name, std::vector<uint64_t> ne,
                 uint32_t type, uint64_t offset) {
  std::string s = ggufStr(name) + le32(uint32_t(ne.size()));
  for (uint64_t d : ne)
    s += le64(d);
  return s + le32(type) + le64(offset);
}

/// A file with one tensor info and `data` zero bytes of data after the
/// padding to 32.
std::string oneTensor(const std::string &infoBytes, size_t data,
                      const std::string &kvs = "", uint64_t kvCount = 0) {
  std::string s = header(1, kvCount, kvs + infoBytes);
  s += std::string((32 - s.size() % 32) % 32, '\0');
  return s + std::string(data, '\0');
}

//===----------------------------------------------------------------------===//
// Header
//===----------------------------------------------------------------------===//

TEST(GgufTest, ParsesMetadataOfEveryType) {
  GgufBuilder b;
  b.raw("u8", 0, "\xFE")
      .raw("i8", 1, "\xFF") // -1
      .raw("u16", 2, le16(65535))
      .raw("i16", 3, le16(0x8000)) // -32768
      .u32("u32", 4000000000u)
      .raw("i32", 5, le32(0xFFFFFFFE)) // -2
      .f32("f32", 0.5f)
      .raw("bool", 7, std::string(1, '\1'))
      .str("str", "h\xC3\xA9llo")
      .raw("arr", 9, le32(4) + le64(3) + le32(7) + le32(8) + le32(7))
      .raw("strs", 9, le32(8) + le64(2) + ggufStr("a") + ggufStr("bc"))
      .raw("u64", 10, le64(~0ull))
      .raw("i64", 11, le64(uint64_t(-5)))
      .raw("f64", 12, le64(0x3FF8000000000000ull)); // 1.5
  std::string bytes = b.build();
  llvm::Expected<GgufFile> f = parseGguf("m.gguf", bytes);
  ASSERT_TRUE(bool(f)) << llvm::toString(f.takeError());
  EXPECT_EQ(f->version, 3u);
  EXPECT_EQ(f->alignment, 32u);
  ASSERT_EQ(f->metadata.size(), 14u);
  EXPECT_EQ(f->metadata[0].key, "u8");
  EXPECT_EQ(f->metadata[13].key, "f64");
  EXPECT_EQ(f->find("u8")->asInt(), 254);
  EXPECT_EQ(f->find("i8")->asInt(), -1);
  EXPECT_EQ(f->find("u16")->asInt(), 65535);
  EXPECT_EQ(f->find("i16")->asInt(), -32768);
  EXPECT_EQ(f->find("u32")->asInt(), 4000000000);
  EXPECT_EQ(f->find("i32")->asInt(), -2);
  EXPECT_EQ(f->find("f32")->asReal(), 0.5);
  EXPECT_EQ(f->find("f32")->asInt(), std::nullopt);
  EXPECT_EQ(f->find("bool")->bits, 1u);
  EXPECT_EQ(f->find("str")->str, "h\xC3\xA9llo");
  const GgufValue *arr = f->find("arr");
  EXPECT_TRUE(arr->isArray());
  EXPECT_EQ(arr->elemType, GgufValueType::UInt32);
  EXPECT_EQ(arr->count, 3u);
  EXPECT_EQ(arr->intElement(1), 8);
  EXPECT_EQ(arr->intElement(3), std::nullopt);
  EXPECT_EQ(f->find("strs")->count, 2u);
  EXPECT_EQ(f->find("strs")->elemType, GgufValueType::String);
  EXPECT_EQ(f->find("u64")->asInt(), std::nullopt); // > INT64_MAX
  EXPECT_EQ(f->find("i64")->asInt(), -5);
  EXPECT_EQ(f->find("f64")->asReal(), 1.5);
  EXPECT_EQ(f->find("missing"), nullptr);
  EXPECT_TRUE(f->tensors.empty());
}

TEST(GgufTest, TensorInfosAndOffsets) {
  GgufBuilder b;
  b.u32("general.alignment", 64);
  b.tensor("a", {4, 2}, 0, std::string(32, 'a'));      // F32: 32 bytes
  b.tensor("b", {64, 3}, 8, std::string(6 * 34, 'b')); // Q8_0: 204 bytes
  b.tensor("c", {3}, 1, std::string(6, 'c'));          // F16: 6 bytes
  b.alignment = 64;
  std::string bytes = b.build();
  llvm::Expected<GgufFile> f = parseGguf("t.gguf", bytes);
  ASSERT_TRUE(bool(f)) << llvm::toString(f.takeError());
  EXPECT_EQ(f->alignment, 64u);
  uint64_t dataStart = (b.headerLen + 63) / 64 * 64;
  EXPECT_EQ(f->dataStart, dataStart);
  ASSERT_EQ(f->tensors.size(), 3u);
  const GgufTensorInfo &a = f->tensors[0], &bb = f->tensors[1],
                       &c = f->tensors[2];
  EXPECT_EQ(a.name, "a");
  EXPECT_EQ(a.ne, (std::vector<int64_t>{4, 2}));
  EXPECT_EQ(a.type, GgmlType::F32);
  EXPECT_EQ(a.offset, 0u);
  EXPECT_EQ(a.fileOffset, dataStart);
  EXPECT_EQ(a.nbytes, 32u);
  // b: 64/32 blocks * 34 bytes * 3 rows = 204, after a padded to 64.
  EXPECT_EQ(bb.type, GgmlType::Q8_0);
  EXPECT_EQ(bb.offset, 64u);
  EXPECT_EQ(bb.nbytes, 204u);
  EXPECT_EQ(bb.fileOffset, dataStart + 64);
  EXPECT_EQ(bytes.substr(bb.fileOffset, 204), std::string(204, 'b'));
  // c after b padded to 256.
  EXPECT_EQ(c.offset, 64u + 256u);
  EXPECT_EQ(c.nbytes, 6u);
  EXPECT_EQ(bytes.substr(c.fileOffset, 6), "cccccc");
  EXPECT_EQ(f->findTensor("c"), &f->tensors[2]);

  // The same bytes from a file.
  std::string path = scratchDir("GgufTensorInfos") + "/t.gguf";
  writeFile(path, bytes);
  llvm::Expected<GgufFile> g = readGgufFile(path);
  ASSERT_TRUE(bool(g)) << llvm::toString(g.takeError());
  EXPECT_EQ(g->path, path);
  EXPECT_EQ(g->tensors[2].fileOffset, c.fileOffset);
  EXPECT_TRUE(hasGgufMagic(path));
}

TEST(GgufTest, VersionTwoAndZeroDims) {
  GgufBuilder b;
  b.version = 2;
  b.tensor("s", {}, 0, std::string(4, 's')); // n_dims 0: one element
  llvm::Expected<GgufFile> f = parseGguf("v2.gguf", b.build());
  ASSERT_TRUE(bool(f)) << llvm::toString(f.takeError());
  EXPECT_EQ(f->version, 2u);
  EXPECT_TRUE(f->tensors[0].ne.empty());
  EXPECT_EQ(f->tensors[0].nbytes, 4u);
}

TEST(GgufTest, MagicAndVersionErrors) {
  EXPECT_EQ(parseError("GG"),
            "x.gguf: not a GGUF file (it does not start with the magic bytes "
            "\"GGUF\")");
  EXPECT_EQ(parseError("GGUG" + std::string(40, '\0')),
            "x.gguf: not a GGUF file (it does not start with the magic bytes "
            "\"GGUF\")");
  EXPECT_EQ(parseError(header(0, 0, "", 1)),
            "x.gguf: GGUF version 1 is not supported (expected 2 or 3)");
  EXPECT_EQ(parseError(header(0, 0, "", 4)),
            "x.gguf: GGUF version 4 is not supported (expected 2 or 3)");
  // A big-endian v3 file: the version reads 0x03000000 little-endian.
  EXPECT_EQ(parseError(header(0, 0, "", 0x03000000)),
            "x.gguf: big-endian GGUF file (version field 0x3000000); only "
            "little-endian files are supported");
  EXPECT_EQ(parseError("GGUF" + le32(3) + std::string("\1\0", 2)),
            "x.gguf: truncated: the tensor count at offset 8 needs 8 bytes, "
            "but the file has 10");
}

TEST(GgufTest, CountErrors) {
  // 24-byte header + 100 bytes: room for 7 key/values (13 bytes each) or 4
  // tensor infos (24 bytes each).
  std::string pad(100, '\0');
  EXPECT_EQ(parseError(header(0, 8, pad)),
            "x.gguf: header claims 8 key/value pairs, more than the 124-byte "
            "file can hold");
  EXPECT_EQ(parseError(header(5, 0, pad)),
            "x.gguf: header claims 5 tensors, more than the 124-byte file "
            "can hold");
  // 4 tensors (96 bytes) + 1 key/value (13 bytes) > 100.
  EXPECT_EQ(parseError(header(4, 1, pad)),
            "x.gguf: header claims 4 tensors, more than the 124-byte file "
            "can hold");
  EXPECT_EQ(parseError(header(0, 1ull << 40, pad)),
            "x.gguf: header claims 1099511627776 key/value pairs; quant-opt "
            "accepts at most 1048576");
  EXPECT_EQ(parseError(header(~0ull, 0, pad)),
            "x.gguf: header claims 18446744073709551615 tensors; quant-opt "
            "accepts at most 1048576");
}

TEST(GgufTest, KeyValueErrors) {
  std::string pad(32, '\0');
  // A key length past the end.
  EXPECT_EQ(parseError(header(0, 1, le64(1ull << 62) + "k" + pad)),
            "x.gguf: key #0 at offset 32 has length 4611686018427387904, past "
            "the end of the file (65 bytes)");
  EXPECT_EQ(parseError(header(0, 1, ggufStr("k") + le32(13) + pad)),
            "x.gguf: key 'k' has unknown value type 13");
  EXPECT_EQ(parseError(
                header(0, 1, ggufStr("n") + le32(9) + le32(9) + le64(1) + pad)),
            "x.gguf: key 'n' is an array of arrays, which GGUF readers reject");
  EXPECT_EQ(parseError(header(
                0, 1, ggufStr("n") + le32(9) + le32(13) + le64(1) + pad)),
            "x.gguf: key 'n' is an array of unknown value type 13");
  // 2^61 UINT32 values = 2^63 bytes.
  EXPECT_EQ(
      parseError(header(
          0, 1, ggufStr("a") + le32(9) + le32(4) + le64(1ull << 61) + pad)),
      "x.gguf: key 'a': array of 2305843009213693952 UINT32 values at "
      "offset 49 runs past the end of the file (81 bytes)");
  // 2^62 UINT64 values: the byte count overflows.
  EXPECT_EQ(
      parseError(header(
          0, 1, ggufStr("a") + le32(9) + le32(10) + le64(1ull << 62) + pad)),
      "x.gguf: key 'a': array of 4611686018427387904 UINT64 values at "
      "offset 49 runs past the end of the file (81 bytes)");
  // A string of an array of strings runs past the end.
  EXPECT_EQ(parseError(header(0, 1,
                              ggufStr("s") + le32(9) + le32(8) + le64(2) +
                                  ggufStr("ok") + le64(1000) + pad)),
            "x.gguf: string #1 of key 's' at offset 67 has length 1000, past "
            "the end of the file (99 bytes)");
  EXPECT_EQ(parseError(header(0, 1, ggufStr("b") + le32(7) + "\2" + pad)),
            "x.gguf: key 'b' has BOOL value 2 (expected 0 or 1)");
  EXPECT_EQ(parseError(header(0, 1,
                              ggufStr("b") + le32(9) + le32(7) + le64(3) +
                                  std::string("\1\0\5", 3) + pad)),
            "x.gguf: key 'b' element #2 has BOOL value 5 (expected 0 or 1)");
  EXPECT_EQ(parseError(header(0, 2,
                              ggufStr("k") + le32(0) + "\1" + ggufStr("k") +
                                  le32(0) + "\2" + pad)),
            "x.gguf: duplicate key 'k'");
  // Non-printable key bytes are escaped.
  EXPECT_EQ(parseError(header(0, 1, ggufStr("a\nb") + le32(77) + pad)),
            "x.gguf: key 'a\\x0ab' has unknown value type 77");
  // Truncated inside a value.
  EXPECT_EQ(parseError(header(0, 1, ggufStr("v") + le32(10) + "\1\2\3\4")),
            "x.gguf: truncated: the value of key 'v' at offset 37 needs 8 "
            "bytes, but the file has 41");
}

TEST(GgufTest, AlignmentErrors) {
  std::string pad(32, '\0');
  EXPECT_EQ(parseError(header(
                0, 1, ggufStr("general.alignment") + le32(5) + le32(64) + pad)),
            "x.gguf: key 'general.alignment' has type INT32, expected UINT32");
  EXPECT_EQ(parseError(header(
                0, 1, ggufStr("general.alignment") + le32(4) + le32(48) + pad)),
            "x.gguf: general.alignment is 48, not a non-zero power of two");
  EXPECT_EQ(parseError(header(
                0, 1, ggufStr("general.alignment") + le32(4) + le32(0) + pad)),
            "x.gguf: general.alignment is 0, not a non-zero power of two");
}

TEST(GgufTest, TensorInfoErrors) {
  EXPECT_EQ(parseError(oneTensor(info(std::string(64, 'n'), {32}, 0, 0), 128)),
            "x.gguf: tensor #0: name is 64 bytes long; the limit is 63");
  // 63 bytes is fine.
  EXPECT_EQ(parseError(oneTensor(info(std::string(63, 'n'), {32}, 0, 0), 128)),
            "<success>");
  EXPECT_EQ(parseError(oneTensor(info("w", {1, 1, 1, 1, 1}, 0, 0), 64)),
            "x.gguf: tensor 'w': n_dims is 5; the limit is 4");
  EXPECT_EQ(parseError(oneTensor(info("w", {32, 1ull << 63}, 0, 0), 64)),
            "x.gguf: tensor 'w': ne[1] is negative (-9223372036854775808)");
  EXPECT_EQ(parseError(oneTensor(info("w", {32}, 4, 0), 64)),
            "x.gguf: tensor 'w': unknown ggml type 4");
  EXPECT_EQ(parseError(oneTensor(info("w", {32}, 39, 0), 64)),
            "x.gguf: tensor 'w': unknown ggml type 39");
  EXPECT_EQ(
      parseError(oneTensor(info("w", {1ull << 32, 1ull << 32}, 0, 0), 64)),
      "x.gguf: tensor 'w': dimensions ne=[4294967296, 4294967296] "
      "multiply past INT64_MAX");
  // A zero dimension does not hide the overflow of the others: the HF view
  // multiplies the reversed dims, 2^40 * 2^40 first (found by fuzzing).
  EXPECT_EQ(
      parseError(oneTensor(info("w", {0, 1ull << 40, 1ull << 40}, 0, 0), 64)),
      "x.gguf: tensor 'w': dimensions ne=[0, 1099511627776, "
      "1099511627776] multiply past INT64_MAX");
  // A zero-size tensor with sane dims is fine.
  EXPECT_EQ(parseError(oneTensor(info("w", {0, 4}, 0, 0), 64)), "<success>");
  EXPECT_EQ(parseError(oneTensor(info("w", {48, 2}, 2, 0), 64)),
            "x.gguf: tensor 'w': ne[0] = 48 is not a multiple of the Q4_0 "
            "block size 32");
  // 2^62 F64 elements: 2^65 bytes.
  EXPECT_EQ(parseError(oneTensor(info("w", {1ull << 62}, 28, 0), 64)),
            "x.gguf: tensor 'w': ne=[4611686018427387904] overflows the byte "
            "count");
  EXPECT_EQ(parseError(header(2, 0,
                              info("w", {8}, 0, 0) + info("w", {8}, 0, 32) +
                                  std::string(64, '\0'))),
            "x.gguf: duplicate tensor name 'w'");
  // 25 bytes of a 41-byte info: ne[1] (at 24 + 21) is cut.
  EXPECT_EQ(parseError(header(1, 0, info("w", {8, 8}, 0, 0).substr(0, 25))),
            "x.gguf: truncated: ne[1] of tensor 'w' at offset 45 needs 8 "
            "bytes, but the file has 49");
}

TEST(GgufTest, OffsetAndDataErrors) {
  // The header is 24 + 41 bytes, so data starts at 96. [32, 2] F32 = 256
  // bytes, but only 100 data bytes follow.
  std::string truncated = oneTensor(info("w", {32, 2}, 0, 0), 100);
  EXPECT_EQ(parseError(truncated),
            "x.gguf: tensor 'w': data [96, 352) extends past the end of the "
            "file (196 bytes)");
  // Absurd dims: 2^40 elements, 2^42 bytes.
  EXPECT_EQ(
      parseError(oneTensor(info("w", {1ull << 20, 1ull << 20}, 0, 0), 64)),
      "x.gguf: tensor 'w': data [96, 4398046511200) extends past the "
      "end of the file (160 bytes)");
  EXPECT_EQ(parseError(oneTensor(info("w", {32, 2}, 0, 32), 512)),
            "x.gguf: tensor 'w' has offset 32, expected 0 (tensor data must "
            "follow in tensor-info order, each aligned to 32 bytes)");
  // The second tensor must start at align_up(6, 32) = 32, not 6.
  GgufBuilder b;
  b.tensor("a", {3}, 1, "aaaaaa");
  b.tensor("b", {3}, 1, "bbbbbb");
  b.tensors[1].offset = 6;
  EXPECT_EQ(parseError(b.build()),
            "x.gguf: tensor 'b' has offset 6, expected 32 (tensor data must "
            "follow in tensor-info order, each aligned to 32 bytes)");
  // An offset near 2^64.
  GgufBuilder c;
  c.tensor("a", {3}, 1, "aaaaaa");
  c.tensors[0].offset = ~0ull - 3;
  EXPECT_EQ(parseError(c.build()),
            "x.gguf: tensor 'a' has offset 18446744073709551612, expected 0 "
            "(tensor data must follow in tensor-info order, each aligned to "
            "32 bytes)");
}

TEST(GgufTest, ReadFileErrorsNameTheFile) {
  std::string dir = scratchDir("GgufFileErrors");
  EXPECT_EQ(errorOf(readGgufFile(dir + "/none.gguf")),
            dir + "/none.gguf: cannot open: No such file or directory");
  writeFile(dir + "/t.gguf", oneTensor(info("w", {32, 2}, 0, 0), 100));
  EXPECT_EQ(errorOf(readGgufFile(dir + "/t.gguf")),
            dir + "/t.gguf: tensor 'w': data [96, 352) extends past the end "
                  "of the file (196 bytes)");
  EXPECT_FALSE(hasGgufMagic(dir + "/none.gguf"));
}

//===----------------------------------------------------------------------===//
// The Llama view
//===----------------------------------------------------------------------===//

TEST(GgufTest, HfNames) {
  struct Row {
    const char *gguf, *hf;
  } rows[] = {
      {"token_embd.weight", "model.embed_tokens.weight"},
      {"output_norm.weight", "model.norm.weight"},
      {"output.weight", "lm_head.weight"},
      {"blk.0.attn_norm.weight", "model.layers.0.input_layernorm.weight"},
      {"blk.0.attn_q.weight", "model.layers.0.self_attn.q_proj.weight"},
      {"blk.12.attn_k.weight", "model.layers.12.self_attn.k_proj.weight"},
      {"blk.3.attn_v.weight", "model.layers.3.self_attn.v_proj.weight"},
      {"blk.3.attn_q.bias", "model.layers.3.self_attn.q_proj.bias"},
      {"blk.3.attn_output.weight", "model.layers.3.self_attn.o_proj.weight"},
      {"blk.7.ffn_norm.weight",
       "model.layers.7.post_attention_layernorm.weight"},
      {"blk.7.ffn_gate.weight", "model.layers.7.mlp.gate_proj.weight"},
      {"blk.7.ffn_up.weight", "model.layers.7.mlp.up_proj.weight"},
      {"blk.10.ffn_down.weight", "model.layers.10.mlp.down_proj.weight"},
  };
  for (const Row &r : rows)
    EXPECT_EQ(ggufToHfName(r.gguf), std::optional<std::string>(r.hf)) << r.gguf;
  for (const char *none :
       {"rope_freqs.weight", "blk.01.attn_q.weight", "blk.x.attn_q.weight",
        "blk..attn_q.weight", "blk.0.attn_norm.bias", "blk.0.attn_q",
        "blk.0.ffn_gate_inp.weight", "blk.0.ffn_gate_exps.weight",
        "token_embd.bias", "blk.0"})
    EXPECT_EQ(ggufToHfName(none), std::nullopt) << none;
}

/// The metadata of a small Llama (hidden 8, 2 layers, 2 heads, 1 kv head).
GgufBuilder llamaBuilder() {
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

llvm::Expected<nlohmann::json> configOf(GgufBuilder &b) {
  llvm::Expected<GgufFile> f = parseGguf("m.gguf", b.build());
  if (!f)
    return f.takeError();
  return ggufModelConfig(*f);
}

TEST(GgufTest, ConfigFromMetadata) {
  GgufBuilder b = llamaBuilder();
  b.u32("tokenizer.ggml.bos_token_id", 1);
  b.tensor("output.weight", {8, 40}, 0, std::string(8 * 40 * 4, '\0'));
  llvm::Expected<nlohmann::json> cfg = configOf(b);
  ASSERT_TRUE(bool(cfg)) << llvm::toString(cfg.takeError());
  // The f32 epsilon 1e-5 prints as its shortest decimal.
  nlohmann::json expected = nlohmann::json::parse(R"({
    "architectures": ["LlamaForCausalLM"], "model_type": "llama",
    "hidden_size": 8, "intermediate_size": 16, "num_hidden_layers": 2,
    "max_position_embeddings": 64, "num_attention_heads": 2,
    "num_key_value_heads": 1, "rms_norm_eps": 1e-05,
    "rope_theta": 500000.0, "vocab_size": 40, "tie_word_embeddings": false,
    "bos_token_id": 1})");
  EXPECT_EQ(*cfg, expected) << cfg->dump();
}

TEST(GgufTest, ConfigDefaultsAndFallbacks) {
  // No head_count_kv (= head_count), no freq_base (10000), no vocab_size
  // (the token list's length), key_length -> head_dim, no output.weight
  // (tied), per-layer arrays of equal values, linear rope scaling.
  GgufBuilder b;
  b.str("general.architecture", "llama")
      .u32("llama.context_length", 64)
      .u32("llama.embedding_length", 8)
      .u32("llama.block_count", 2)
      .raw("llama.feed_forward_length", 9,
           le32(4) + le64(2) + le32(16) + le32(16))
      .raw("llama.attention.head_count", 10, le64(2))
      .f32("llama.attention.layer_norm_rms_epsilon", 1e-6f)
      .u32("llama.attention.key_length", 6)
      .str("llama.rope.scaling.type", "linear")
      .f32("llama.rope.scaling.factor", 4.0f)
      .raw("tokenizer.ggml.tokens", 9,
           le32(8) + le64(3) + ggufStr("a") + ggufStr("b") + ggufStr("c"));
  llvm::Expected<nlohmann::json> cfg = configOf(b);
  ASSERT_TRUE(bool(cfg)) << llvm::toString(cfg.takeError());
  EXPECT_EQ((*cfg)["intermediate_size"], 16);
  EXPECT_EQ((*cfg)["num_attention_heads"], 2);
  EXPECT_EQ((*cfg)["num_key_value_heads"], 2);
  EXPECT_EQ((*cfg)["rope_theta"], 10000.0);
  EXPECT_EQ((*cfg)["rms_norm_eps"], 1e-06);
  EXPECT_EQ((*cfg)["vocab_size"], 3);
  EXPECT_EQ((*cfg)["head_dim"], 6);
  EXPECT_EQ((*cfg)["tie_word_embeddings"], true);
  EXPECT_EQ((*cfg)["rope_scaling"],
            nlohmann::json::parse(
                R"({"type": "linear", "rope_type": "linear", "factor": 4.0})"));

  // Without tokens: token_embd's ne[1].
  GgufBuilder c = llamaBuilder();
  c.kvs.clear();
  c.kvCount = 0;
  c.str("general.architecture", "llama")
      .u32("llama.context_length", 64)
      .u32("llama.embedding_length", 8)
      .u32("llama.block_count", 2)
      .u32("llama.feed_forward_length", 16)
      .u32("llama.attention.head_count", 2)
      .f32("llama.attention.layer_norm_rms_epsilon", 1e-6f);
  c.tensor("token_embd.weight", {8, 24}, 0, std::string(8 * 24 * 4, '\0'));
  llvm::Expected<nlohmann::json> cfg2 = configOf(c);
  ASSERT_TRUE(bool(cfg2)) << llvm::toString(cfg2.takeError());
  EXPECT_EQ((*cfg2)["vocab_size"], 24);
}

TEST(GgufTest, ConfigErrors) {
  {
    GgufBuilder b;
    b.str("general.architecture", "qwen2");
    EXPECT_EQ(errorOf(configOf(b)),
              "m.gguf: GGUF architecture 'qwen2' is not supported (supported: "
              "llama)");
  }
  {
    GgufBuilder b;
    b.u32("llama.block_count", 2);
    EXPECT_EQ(errorOf(configOf(b)),
              "m.gguf: missing metadata key 'general.architecture'");
  }
  {
    GgufBuilder b;
    b.u32("general.architecture", 1);
    EXPECT_EQ(errorOf(configOf(b)),
              "m.gguf: metadata key 'general.architecture' has type UINT32, "
              "expected STRING");
  }
  {
    GgufBuilder b = llamaBuilder();
    b.u32("llama.expert_count", 8);
    EXPECT_EQ(errorOf(configOf(b)),
              "m.gguf: mixture-of-experts GGUF files (llama.expert_count = 8) "
              "are not supported");
  }
  {
    GgufBuilder b;
    b.str("general.architecture", "llama").u32("llama.context_length", 64);
    EXPECT_EQ(errorOf(configOf(b)),
              "m.gguf: missing metadata key 'llama.embedding_length'");
  }
  {
    GgufBuilder b;
    b.str("general.architecture", "llama").str("llama.embedding_length", "64");
    EXPECT_EQ(errorOf(configOf(b)),
              "m.gguf: metadata key 'llama.embedding_length' has type STRING, "
              "expected an integer");
  }
  {
    GgufBuilder b;
    b.str("general.architecture", "llama")
        .raw("llama.embedding_length", 5, le32(uint32_t(-4)));
    EXPECT_EQ(errorOf(configOf(b)),
              "m.gguf: metadata key 'llama.embedding_length' is -4, expected "
              "a positive integer");
  }
  {
    GgufBuilder b;
    b.str("general.architecture", "llama")
        .u32("llama.context_length", 64)
        .u32("llama.embedding_length", 8)
        .raw("llama.feed_forward_length", 9,
             le32(4) + le64(2) + le32(16) + le32(32));
    EXPECT_EQ(errorOf(configOf(b)),
              "m.gguf: metadata key 'llama.feed_forward_length' varies per "
              "layer, which quant-opt does not support");
  }
  {
    GgufBuilder b = llamaBuilder();
    b.kvs.clear();
    b.kvCount = 0;
    b.str("general.architecture", "llama")
        .u32("llama.context_length", 64)
        .u32("llama.embedding_length", 8)
        .u32("llama.block_count", 2)
        .u32("llama.feed_forward_length", 16)
        .u32("llama.attention.head_count", 2);
    EXPECT_EQ(errorOf(configOf(b)), "m.gguf: missing metadata key "
                                    "'llama.attention.layer_norm_rms_epsilon'");
    b.f32("llama.attention.layer_norm_rms_epsilon", 1e-6f);
    EXPECT_EQ(errorOf(configOf(b)),
              "m.gguf: cannot tell the vocabulary size: no 'llama.vocab_size', "
              "'tokenizer.ggml.tokens' or 'token_embd.weight'");
  }
}

TEST(GgufTest, CheckpointView) {
  GgufBuilder b = llamaBuilder();
  // Order and types as llama.cpp writes them; shapes are reversed.
  b.tensor("token_embd.weight", {32, 40}, 8, std::string(40 * 34, '\0'))
      .tensor("blk.0.attn_norm.weight", {8}, 0, std::string(32, '\0'))
      .tensor("blk.0.attn_q.weight", {32, 8}, 8, std::string(8 * 34, '\0'))
      .tensor("blk.0.attn_k.weight", {32, 4}, 1, std::string(4 * 64, '\0'))
      .tensor("rope_freqs.weight", {2}, 0, std::string(8, '\0'))
      .tensor("blk.0.custom.weight", {3}, 30, std::string(6, '\0'));
  std::string bytes = b.build();
  llvm::Expected<GgufFile> f = parseGguf("m.gguf", bytes);
  ASSERT_TRUE(bool(f)) << llvm::toString(f.takeError());
  llvm::Expected<CheckpointFile> cf = ggufToCheckpointFile(*f);
  ASSERT_TRUE(bool(cf)) << llvm::toString(cf.takeError());
  EXPECT_EQ(cf->format, SourceFormat::GGUF);
  EXPECT_EQ(cf->path, "m.gguf");
  ASSERT_EQ(cf->tensors.size(), 5u); // rope_freqs dropped
  struct Row {
    const char *name;
    DType dtype;
    std::vector<int64_t> shape;
    const char *encoding;
    int64_t heads;
    size_t ggufIndex;
  } rows[] = {
      // Block types: their raw rows (32 values = one 34-byte Q8_0 block).
      {"model.embed_tokens.weight", DType::U8, {40, 34}, "Q8_0", 0, 0},
      {"model.layers.0.input_layernorm.weight", DType::F32, {8}, "", 0, 1},
      {"model.layers.0.self_attn.q_proj.weight",
       DType::U8,
       {8, 34},
       "Q8_0",
       2,
       2},
      {"model.layers.0.self_attn.k_proj.weight", DType::F16, {4, 32}, "", 1, 3},
      {"blk.0.custom.weight", DType::BF16, {3}, "", 0, 5},
  };
  for (size_t i = 0; i < std::size(rows); ++i) {
    const TensorInfo &t = cf->tensors[i];
    const GgufTensorInfo &g = f->tensors[rows[i].ggufIndex];
    SCOPED_TRACE(rows[i].name);
    EXPECT_EQ(t.name, rows[i].name);
    EXPECT_EQ(t.dtype, rows[i].dtype);
    EXPECT_EQ(t.shape, rows[i].shape);
    EXPECT_EQ(t.encoding, rows[i].encoding);
    EXPECT_EQ(t.unpermuteHeads, rows[i].heads);
    EXPECT_EQ(t.offset, g.fileOffset);
    EXPECT_EQ(t.storageBytes, g.nbytes);
    EXPECT_EQ(t.file, "m.gguf");
    EXPECT_TRUE(t.strides.empty());
  }
}

TEST(GgufTest, CheckpointViewErrors) {
  {
    GgufBuilder b = llamaBuilder();
    b.tensor("blk.0.attn_q.weight", {256, 8}, 16, std::string(8 * 66, '\0'));
    llvm::Expected<GgufFile> f = parseGguf("m.gguf", b.build());
    ASSERT_TRUE(bool(f));
    EXPECT_EQ(errorOf(ggufToCheckpointFile(*f)),
              "m.gguf: tensor 'blk.0.attn_q.weight' has ggml type IQ2_XXS, "
              "which quant-opt cannot read (supported: F32, F16, Q4_0, Q4_1, "
              "Q5_0, Q5_1, Q8_0, Q8_1, Q2_K, Q3_K, Q4_K, Q5_K, Q6_K, Q8_K, I8, "
              "I16, I32, I64, F64, BF16)");
  }
  {
    // 6 rows are not 2 heads of an even head dimension (3 each).
    GgufBuilder b = llamaBuilder();
    b.tensor("blk.0.attn_q.weight", {2, 6}, 0, std::string(48, '\0'));
    llvm::Expected<GgufFile> f = parseGguf("m.gguf", b.build());
    ASSERT_TRUE(bool(f));
    EXPECT_EQ(errorOf(ggufToCheckpointFile(*f)),
              "m.gguf: tensor 'blk.0.attn_q.weight': 6 rows are not 2 heads "
              "(llama.attention.head_count) of an even head dimension");
  }
  {
    GgufBuilder b = llamaBuilder();
    b.tensor("output_norm.weight", {8}, 0, std::string(32, '\0'))
        .tensor("model.norm.weight", {8}, 0, std::string(32, '\0'));
    llvm::Expected<GgufFile> f = parseGguf("m.gguf", b.build());
    ASSERT_TRUE(bool(f));
    EXPECT_EQ(errorOf(ggufToCheckpointFile(*f)),
              "m.gguf: tensors 'output_norm.weight' and 'model.norm.weight' "
              "both stand for 'model.norm.weight'");
  }
}

//===----------------------------------------------------------------------===//
// Reading rows
//===----------------------------------------------------------------------===//

/// A Q8_0 block with d = 1 and qs[j] = base + j.
std::string q8Block(int base) {
  std::string b = le16(0x3C00);
  for (int j = 0; j < 32; ++j)
    b += char(int8_t(base + j));
  return b;
}

/// Writes `b` and opens it as a checkpoint.
CheckpointFile writeAndOpen(GgufBuilder &b, const std::string &name) {
  std::string path = scratchDir(name) + "/model.gguf";
  writeFile(path, b.build());
  llvm::Expected<CheckpointFile> cf = readGgufCheckpoint(path);
  EXPECT_TRUE(bool(cf)) << llvm::toString(cf.takeError());
  return cf ? std::move(*cf) : CheckpointFile();
}

TEST(GgufTest, ReadsStoredRowsOfPermutedTensors) {
  // q_proj with 2 heads of hd = 4 and 3 columns, F32; GGUF row g holds
  // g * 10 + column. The view marks the permutation; reads return the rows
  // as stored (weights.unpermute_heads undoes the order:
  // test/Transforms/serialize-gguf-ops.test).
  GgufBuilder b = llamaBuilder();
  std::vector<float> values;
  for (int g = 0; g < 8; ++g)
    for (int c = 0; c < 3; ++c)
      values.push_back(float(g * 10 + c));
  b.tensor("blk.0.attn_q.weight", {3, 8}, 0, floatBytes(values));
  CheckpointFile cf = writeAndOpen(b, "GgufUnpermute");
  ASSERT_EQ(cf.tensors.size(), 1u);
  const TensorInfo &t = cf.tensors[0];
  EXPECT_EQ(t.unpermuteHeads, 2);
  EXPECT_EQ(t.shape, (std::vector<int64_t>{8, 3}));
  TensorReader reader;
  std::vector<float> some(15);
  ASSERT_EQ(errorOf(reader.readRows(t, 1, 6, some.data())), "<success>");
  for (int r = 0; r < 5; ++r)
    EXPECT_EQ(some[r * 3], float((r + 1) * 10)) << r;
}

TEST(GgufTest, BlockTensorsAreTheirRawRows) {
  // token_embd [3 rows, 64 columns] Q8_0: row r has blocks with qs starting
  // at 10r - 40 and 10r - 8, d = 1. Each row is 2 blocks of 34 bytes.
  GgufBuilder b = llamaBuilder();
  std::string data;
  for (int r = 0; r < 3; ++r)
    data += q8Block(10 * r - 40) + q8Block(10 * r - 8);
  b.tensor("token_embd.weight", {64, 3}, 8, data);
  CheckpointFile cf = writeAndOpen(b, "GgufDequantRows");
  const TensorInfo &t = cf.tensors[0];
  EXPECT_EQ(t.encoding, "Q8_0");
  EXPECT_EQ(t.dtype, DType::U8);
  EXPECT_EQ(t.shape, (std::vector<int64_t>{3, 68}));
  TensorReader reader;
  std::vector<char> raw(136);
  ASSERT_EQ(errorOf(reader.readRows(t, 1, 3, raw.data())), "<success>");
  EXPECT_EQ(std::string(raw.data(), raw.size()), data.substr(68));
  // The rows decode to the values of the blocks.
  std::vector<float> rows(128);
  ASSERT_TRUE(ggmlDequantize(GgmlType::Q8_0, raw.data(), 128, rows.data()));
  for (int r = 1; r < 3; ++r)
    for (int c = 0; c < 64; ++c) {
      int q = c < 32 ? 10 * r - 40 + c : 10 * r - 8 + (c - 32);
      EXPECT_EQ(rows[(r - 1) * 64 + c], float(q)) << r << " " << c;
    }
  EXPECT_EQ(errorOf(reader.readRows(t, 2, 4, raw.data())),
            t.file + ": tensor 'model.embed_tokens.weight': row range [2, 4) "
                     "is outside [0, 3)");
}

TEST(GgufTest, OneDimBlockTensor) {
  // A 1-D Q8_0 tensor of 64 elements (qs = j and 32 + j): 68 bytes.
  GgufBuilder b = llamaBuilder();
  b.tensor("blk.1.odd.weight", {64}, 8, q8Block(0) + q8Block(32));
  CheckpointFile cf = writeAndOpen(b, "GgufQuantOneDim");
  ASSERT_EQ(cf.tensors.size(), 1u);
  EXPECT_EQ(cf.tensors[0].shape, (std::vector<int64_t>{68}));
  TensorReader reader;
  std::vector<char> raw(68);
  ASSERT_EQ(errorOf(reader.read(cf.tensors[0], raw.data())), "<success>");
  std::vector<float> all(64);
  ASSERT_TRUE(ggmlDequantize(GgmlType::Q8_0, raw.data(), 64, all.data()));
  for (int i = 0; i < 64; ++i)
    EXPECT_EQ(all[i], float(i));
}

TEST(GgufTest, ReadErrors) {
  GgufBuilder b = llamaBuilder();
  b.tensor("token_embd.weight", {32, 2}, 8, q8Block(0) + q8Block(1));
  std::string dir = scratchDir("GgufReadErrors");
  std::string path = dir + "/m.gguf";
  std::string bytes = b.build();
  writeFile(path, bytes);
  llvm::Expected<CheckpointFile> cf = readGgufCheckpoint(path);
  ASSERT_TRUE(bool(cf)) << llvm::toString(cf.takeError());
  TensorInfo t = cf->tensors[0];
  std::vector<char> out(68);
  // The file shrank after the header was read.
  writeFile(path, bytes.substr(0, t.offset + 40));
  TensorReader fresh;
  EXPECT_EQ(errorOf(fresh.readRows(t, 1, 2, out.data())),
            path + ": unexpected end of file reading 34 bytes at offset " +
                std::to_string(t.offset + 34));
}

TEST(GgufTest, OpenCheckpointFindsGguf) {
  GgufBuilder b = llamaBuilder();
  b.tensor("output_norm.weight", {8}, 0, floatBytes(std::vector<float>(8, 1)));
  std::string dir = scratchDir("GgufOpen");
  writeFile(dir + "/llama.gguf", b.build());
  // Auto: a lone *.gguf in a directory.
  llvm::Expected<Checkpoint> ck = openCheckpoint(dir, SourceFormat::Auto);
  ASSERT_TRUE(bool(ck)) << llvm::toString(ck.takeError());
  EXPECT_EQ(ck->format, SourceFormat::GGUF);
  ASSERT_EQ(ck->torchToPath.size(), 1u);
  EXPECT_EQ(ck->torchToPath[0].first, "model.norm.weight");
  EXPECT_NE(ck->find("model.norm.weight"), nullptr);
  // By magic, whatever the name.
  writeFile(dir + "/weights.dat", b.build());
  llvm::Expected<CheckpointFile> cf =
      readCheckpointFile(dir + "/weights.dat", SourceFormat::Auto);
  ASSERT_TRUE(bool(cf)) << llvm::toString(cf.takeError());
  EXPECT_EQ(cf->format, SourceFormat::GGUF);
  // Two GGUF files and no index.
  writeFile(dir + "/other.gguf", b.build());
  EXPECT_EQ(errorOf(openCheckpoint(dir, SourceFormat::GGUF)),
            dir + ": found several *.gguf files (llama.gguf, other.gguf) and "
                  "no index naming them");
}

} // namespace
