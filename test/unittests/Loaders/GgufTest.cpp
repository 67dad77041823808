//===- GgufTest.cpp - GGUF header reader tests ---------------------------===//
//
// Part of quant-opt.
//
// Files are built byte by byte by GgufBuilder (GgufTestUtil.h, sharing
// nothing with the reader). Hostile files check the exact error message of
// every check of the header reader. The Hugging Face view of a GGUF file
// belongs to the model definitions: test/unittests/Models/GgufViewTest.cpp.
//
//===----------------------------------------------------------------------===//

#include "qopt/Loaders/Gguf.h"
#include "qopt/Loaders/TensorReader.h"

#include "GgufTestUtil.h"

#include <gtest/gtest.h>

#include <cmath>

using namespace qopt::loaders;
using namespace qopt::loaders::test;
using qopt::numerics::DType;

namespace {

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
// The tensors as stored
//===----------------------------------------------------------------------===//

TEST(GgufTest, TensorsAsStored) {
  // Without a model definition, tensors keep their GGUF names (nothing is
  // dropped or marked permuted); shapes are reversed and a block type is its
  // raw rows: 32 Q8_0 values are one 34-byte block.
  GgufBuilder b;
  b.str("general.architecture", "llama")
      .tensor("token_embd.weight", {32, 3}, 8, std::string(3 * 34, '\0'))
      .tensor("blk.0.attn_q.weight", {2, 4}, 0, std::string(32, '\0'))
      .tensor("rope_freqs.weight", {2}, 1, std::string(4, '\0'));
  llvm::Expected<GgufFile> f = parseGguf("m.gguf", b.build());
  ASSERT_TRUE(bool(f)) << llvm::toString(f.takeError());
  llvm::Expected<CheckpointFile> cf = ggufTensorsAsCheckpoint(*f);
  ASSERT_TRUE(bool(cf)) << llvm::toString(cf.takeError());
  EXPECT_EQ(cf->format, SourceFormat::GGUF);
  ASSERT_EQ(cf->tensors.size(), 3u);
  const TensorInfo &embd = cf->tensors[0];
  EXPECT_EQ(embd.name, "token_embd.weight");
  EXPECT_EQ(embd.dtype, DType::U8);
  EXPECT_EQ(embd.shape, (std::vector<int64_t>{3, 34}));
  EXPECT_EQ(embd.encoding, "Q8_0");
  EXPECT_EQ(embd.offset, f->tensors[0].fileOffset);
  EXPECT_EQ(embd.storageBytes, 102u);
  const TensorInfo &q = cf->tensors[1];
  EXPECT_EQ(q.name, "blk.0.attn_q.weight");
  EXPECT_EQ(q.dtype, DType::F32);
  EXPECT_EQ(q.shape, (std::vector<int64_t>{4, 2}));
  EXPECT_EQ(q.unpermuteHeads, 0);
  EXPECT_EQ(cf->tensors[2].name, "rope_freqs.weight");
  EXPECT_EQ(cf->tensors[2].dtype, DType::F16);

  // openCheckpoint without a GGUF view reads the same names.
  std::string dir = scratchDir("GgufAsStored");
  writeFile(dir + "/m.gguf", b.build());
  llvm::Expected<Checkpoint> ck = openCheckpoint(dir, SourceFormat::Auto);
  ASSERT_TRUE(bool(ck)) << llvm::toString(ck.takeError());
  EXPECT_EQ(ck->torchToPath.size(), 3u);
  EXPECT_NE(ck->find("blk.0.attn_q.weight"), nullptr);

  // A type the converter cannot decode fails, naming the tensor.
  GgufBuilder c;
  c.tensor("w\x01", {256}, 16, std::string(66, '\0'));
  llvm::Expected<GgufFile> g = parseGguf("m.gguf", c.build());
  ASSERT_TRUE(bool(g)) << llvm::toString(g.takeError());
  EXPECT_EQ(errorOf(ggufTensorsAsCheckpoint(*g)),
            "m.gguf: tensor 'w\\x01' has ggml type IQ2_XXS, which quant-opt "
            "cannot read (supported: F32, F16, Q4_0, Q4_1, Q5_0, Q5_1, Q8_0, "
            "Q8_1, Q2_K, Q3_K, Q4_K, Q5_K, Q6_K, Q8_K, I8, I16, I32, I64, F64, "
            "BF16)");
}

} // namespace
