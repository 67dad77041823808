//===- SafetensorsTest.cpp - safetensors header reader tests -------------===//
//
// Part of quant-opt.
//
//===----------------------------------------------------------------------===//

#include "qopt/Loaders/Safetensors.h"

#include "LoaderTestUtil.h"

#include <gtest/gtest.h>

using namespace qopt::loaders;
using namespace qopt::loaders::test;
using qopt::numerics::DType;

namespace {

/// One row of an expected tensor table.
struct Expected {
  const char *name;
  std::vector<int64_t> shape;
  uint64_t offset;
};

// The header of test/Inputs/llama-bf16-st/model.safetensors is N = 2184
// bytes, so the data buffer starts at 8 + 2184 = 2192; each offset below is
// 2192 + data_offsets[0] read from the header JSON. Every dtype is BF16.
const Expected kLlamaBf16[] = {
    {"lm_head.weight", {512, 128}, 2192 + 0},
    {"model.embed_tokens.weight", {512, 128}, 2192 + 131072},
    {"model.layers.0.input_layernorm.weight", {128}, 2192 + 262144},
    {"model.layers.0.mlp.down_proj.weight", {128, 256}, 2192 + 262400},
    {"model.layers.0.mlp.gate_proj.weight", {256, 128}, 2192 + 327936},
    {"model.layers.0.mlp.up_proj.weight", {256, 128}, 2192 + 393472},
    {"model.layers.0.post_attention_layernorm.weight", {128}, 2192 + 459008},
    {"model.layers.0.self_attn.k_proj.weight", {64, 128}, 2192 + 459264},
    {"model.layers.0.self_attn.o_proj.weight", {128, 128}, 2192 + 475648},
    {"model.layers.0.self_attn.q_proj.weight", {128, 128}, 2192 + 508416},
    {"model.layers.0.self_attn.v_proj.weight", {64, 128}, 2192 + 541184},
    {"model.layers.1.input_layernorm.weight", {128}, 2192 + 557568},
    {"model.layers.1.mlp.down_proj.weight", {128, 256}, 2192 + 557824},
    {"model.layers.1.mlp.gate_proj.weight", {256, 128}, 2192 + 623360},
    {"model.layers.1.mlp.up_proj.weight", {256, 128}, 2192 + 688896},
    {"model.layers.1.post_attention_layernorm.weight", {128}, 2192 + 754432},
    {"model.layers.1.self_attn.k_proj.weight", {64, 128}, 2192 + 754688},
    {"model.layers.1.self_attn.o_proj.weight", {128, 128}, 2192 + 771072},
    {"model.layers.1.self_attn.q_proj.weight", {128, 128}, 2192 + 803840},
    {"model.layers.1.self_attn.v_proj.weight", {64, 128}, 2192 + 836608},
    {"model.norm.weight", {128}, 2192 + 852992},
};

TEST(SafetensorsTest, RealLlamaHeader) {
  std::string path = inputPath("llama-bf16-st/model.safetensors");
  llvm::Expected<CheckpointFile> cf = readSafetensorsHeader(path);
  ASSERT_TRUE(bool(cf)) << llvm::toString(cf.takeError());
  EXPECT_EQ(cf->path, path);
  ASSERT_EQ(cf->tensors.size(), std::size(kLlamaBf16));
  for (size_t i = 0; i < cf->tensors.size(); ++i) {
    const TensorInfo &t = cf->tensors[i];
    SCOPED_TRACE(kLlamaBf16[i].name);
    EXPECT_EQ(t.name, kLlamaBf16[i].name);
    EXPECT_EQ(t.dtype, DType::BF16);
    EXPECT_EQ(t.shape, kLlamaBf16[i].shape);
    EXPECT_EQ(t.offset, kLlamaBf16[i].offset);
    EXPECT_EQ(t.file, path);
    EXPECT_TRUE(t.strides.empty());
    int64_t numel = 1;
    for (int64_t d : kLlamaBf16[i].shape)
      numel *= d;
    EXPECT_EQ(t.storageBytes, uint64_t(numel) * 2);
    EXPECT_EQ(t.contiguousBytes(), uint64_t(numel) * 2);
  }
  // The last tensor ends exactly at the end of the 855440-byte file.
  const TensorInfo &last = cf->tensors.back();
  EXPECT_EQ(last.offset + last.storageBytes, 855440u);
}

//===----------------------------------------------------------------------===//
// Hand-built files
//===----------------------------------------------------------------------===//

/// 8-byte N + header + data.
std::string safetensors(const std::string &header, const std::string &data) {
  return le64(header.size()) + header + data;
}

/// Writes `bytes` to a scratch file and reads its header.
class SafetensorsFileTest : public ::testing::Test {
protected:
  void SetUp() override {
    dir = scratchDir(
        ::testing::UnitTest::GetInstance()->current_test_info()->name());
    path = dir + "/model.safetensors";
  }
  llvm::Expected<CheckpointFile> read(const std::string &bytes) {
    writeFile(path, bytes);
    return readSafetensorsHeader(path);
  }
  std::string fail(const std::string &bytes) { return errorOf(read(bytes)); }
  std::string dir;
  std::string path;
};

TEST_F(SafetensorsFileTest, ValidSmallFileOrderAndOffsets) {
  // Keys in header order b, a, "B", "\xc3\xa9" (e-acute); data laid out
  // a(F32 [2]) at 0, b(I64 []) at 8, B (U8 [0,3]) empty at 16, e-acute
  // (F16 [1]) at 16. Leading and trailing whitespace is allowed.
  std::string header =
      " \n{\"b\":{\"dtype\":\"I64\",\"shape\":[],\"data_offsets\":[8,16]},"
      "\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
      "\"B\":{\"dtype\":\"U8\",\"shape\":[0,3],\"data_offsets\":[16,16]},"
      "\"\xc3\xa9\":{\"dtype\":\"F16\",\"shape\":[1],\"data_offsets\":[16,18],"
      "\"extra\":1},"
      "\"__metadata__\":{\"format\":\"pt\"}}   ";
  llvm::Expected<CheckpointFile> cf =
      read(safetensors(header, std::string(18, '\x01')));
  ASSERT_TRUE(bool(cf)) << llvm::toString(cf.takeError());
  uint64_t base = 8 + header.size();
  // Byte order: 'B' (0x42) < 'a' (0x61) < 'b' < 0xc3.
  ASSERT_EQ(cf->tensors.size(), 4u);
  EXPECT_EQ(cf->tensors[0].name, "B");
  EXPECT_EQ(cf->tensors[0].dtype, DType::U8);
  EXPECT_EQ(cf->tensors[0].shape, (std::vector<int64_t>{0, 3}));
  EXPECT_EQ(cf->tensors[0].offset, base + 16);
  EXPECT_EQ(cf->tensors[0].numElements(), 0);
  EXPECT_EQ(cf->tensors[1].name, "a");
  EXPECT_EQ(cf->tensors[1].dtype, DType::F32);
  EXPECT_EQ(cf->tensors[1].offset, base + 0);
  EXPECT_EQ(cf->tensors[2].name, "b");
  EXPECT_EQ(cf->tensors[2].dtype, DType::I64);
  EXPECT_TRUE(cf->tensors[2].shape.empty());
  EXPECT_EQ(cf->tensors[2].numElements(), 1);
  EXPECT_EQ(cf->tensors[2].offset, base + 8);
  EXPECT_EQ(cf->tensors[3].name, "\xc3\xa9");
  EXPECT_EQ(cf->tensors[3].dtype, DType::F16);
  EXPECT_EQ(cf->tensors[3].offset, base + 16);
  EXPECT_EQ(cf->tensors[3].storageBytes, 2u);
}

TEST_F(SafetensorsFileTest, AllSupportedDtypeCodes) {
  struct Code {
    const char *code;
    DType dtype;
  };
  const Code codes[] = {{"BOOL", DType::Bool},     {"U8", DType::U8},
                        {"I8", DType::I8},         {"I16", DType::I16},
                        {"U16", DType::U16},       {"I32", DType::I32},
                        {"U32", DType::U32},       {"I64", DType::I64},
                        {"U64", DType::U64},       {"F16", DType::F16},
                        {"BF16", DType::BF16},     {"F32", DType::F32},
                        {"F64", DType::F64},       {"F8_E4M3", DType::F8E4M3FN},
                        {"F8_E5M2", DType::F8E5M2}};
  const unsigned sizes[] = {1, 1, 1, 2, 2, 4, 4, 8, 8, 2, 2, 4, 8, 1, 1};
  for (size_t i = 0; i < std::size(codes); ++i) {
    std::string header = std::string("{\"t\":{\"dtype\":\"") + codes[i].code +
                         "\",\"shape\":[3],\"data_offsets\":[0," +
                         std::to_string(3 * sizes[i]) + "]}}";
    llvm::Expected<CheckpointFile> cf =
        read(safetensors(header, std::string(3 * sizes[i], '\0')));
    ASSERT_TRUE(bool(cf)) << codes[i].code << ": "
                          << llvm::toString(cf.takeError());
    EXPECT_EQ(cf->tensors[0].dtype, codes[i].dtype) << codes[i].code;
  }
}

TEST_F(SafetensorsFileTest, TooSmall) {
  EXPECT_EQ(fail("abc"),
            path + ": file is too small for a safetensors header (3 bytes, "
                   "need at least 8)");
}

TEST_F(SafetensorsFileTest, HeaderLongerThanLimit) {
  EXPECT_EQ(fail(le64(100000001) + "{}"),
            path + ": header length 100000001 exceeds the limit of "
                   "100000000 bytes");
}

TEST_F(SafetensorsFileTest, HeaderLongerThanFile) {
  // N = 1000 but only 10 bytes follow: the file has 18 bytes.
  EXPECT_EQ(fail(le64(1000) + "{}        "),
            path + ": header length 1000 runs past the end of the file (18 "
                   "bytes)");
}

TEST_F(SafetensorsFileTest, HeaderLengthNearUint64Max) {
  EXPECT_EQ(fail(le64(~uint64_t(0)) + "{}"),
            path + ": header length 18446744073709551615 exceeds the limit "
                   "of 100000000 bytes");
}

TEST_F(SafetensorsFileTest, NotUtf8) {
  // Header bytes: '{' '"' 'a' 0xff ... ; 0xff is header byte 3, file byte 11.
  EXPECT_EQ(fail(safetensors("{\"a\xff\":1}", "")),
            path + ": header is not valid UTF-8 (bad byte at offset 11)");
  // An encoded surrogate (ED A0 80) at header byte 2 is not UTF-8 either.
  EXPECT_EQ(fail(safetensors("{\"\xed\xa0\x80\":1}", "")),
            path + ": header is not valid UTF-8 (bad byte at offset 10)");
  // Overlong '/' (C0 AF) at header byte 2.
  EXPECT_EQ(fail(safetensors("{\"\xc0\xaf\":1}", "")),
            path + ": header is not valid UTF-8 (bad byte at offset 10)");
}

TEST_F(SafetensorsFileTest, NotJson) {
  // '{' '"' 'a' '"' ' ' '1': the parser stops at the 6th byte.
  EXPECT_EQ(fail(safetensors("{\"a\" 1}", "")),
            path + ": header is not valid JSON (error at header byte 6)");
}

TEST_F(SafetensorsFileTest, NotAnObject) {
  EXPECT_EQ(fail(safetensors("[1, 2]", "")),
            path + ": header is not a JSON object");
  EXPECT_EQ(fail(safetensors("\"x\"", "")),
            path + ": header is not a JSON object");
}

TEST_F(SafetensorsFileTest, EntryShapeErrors) {
  EXPECT_EQ(fail(safetensors("{\"x\":[1]}", "")),
            path + ": tensor 'x': header entry is not an object");
  EXPECT_EQ(fail(safetensors("{\"x\":{\"dtype\":\"F32\",\"shape\":[1]}}", "")),
            path + ": tensor 'x': missing 'data_offsets'");
  EXPECT_EQ(fail(safetensors(
                "{\"x\":{\"dtype\":7,\"shape\":[1],\"data_offsets\":[0,4]}}",
                std::string(4, '\0'))),
            path + ": tensor 'x': 'dtype' is not a string");
  EXPECT_EQ(
      fail(safetensors(
          "{\"x\":{\"dtype\":\"F32\",\"shape\":[1.5],\"data_offsets\":[0,4]}}",
          std::string(4, '\0'))),
      path + ": tensor 'x': 'shape' is not an array of integers");
  EXPECT_EQ(
      fail(safetensors(
          "{\"x\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0]}}",
          std::string(4, '\0'))),
      path + ": tensor 'x': 'data_offsets' is not a pair of non-negative "
             "integers");
  EXPECT_EQ(
      fail(safetensors(
          "{\"x\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[-4,0]}}",
          std::string(4, '\0'))),
      path + ": tensor 'x': 'data_offsets' is not a pair of non-negative "
             "integers");
}

TEST_F(SafetensorsFileTest, NegativeDimension) {
  EXPECT_EQ(
      fail(safetensors(
          "{\"x\":{\"dtype\":\"F32\",\"shape\":[2,-3],\"data_offsets\":[0,0]}}",
          "")),
      path + ": tensor 'x': shape has negative dimension -3");
}

TEST_F(SafetensorsFileTest, HugeDimension) {
  EXPECT_EQ(fail(safetensors("{\"x\":{\"dtype\":\"F32\",\"shape\":["
                             "18446744073709551615],\"data_offsets\":[0,0]}}",
                             "")),
            path + ": tensor 'x': shape dimension 18446744073709551615 is too "
                   "large");
}

TEST_F(SafetensorsFileTest, ElementCountOverflow) {
  // 2^32 * 2^32 = 2^64 elements.
  EXPECT_EQ(fail(safetensors("{\"x\":{\"dtype\":\"U8\",\"shape\":[4294967296,"
                             "4294967296],\"data_offsets\":[0,0]}}",
                             "")),
            path + ": tensor 'x': shape [4294967296, 4294967296] overflows "
                   "the element count");
}

TEST_F(SafetensorsFileTest, ByteCountOverflow) {
  // 2^62 F32 elements = 2^64 bytes.
  EXPECT_EQ(fail(safetensors("{\"x\":{\"dtype\":\"F32\",\"shape\":["
                             "4611686018427387904],\"data_offsets\":[0,0]}}",
                             "")),
            path + ": tensor 'x': shape [4611686018427387904] overflows the "
                   "byte count");
}

TEST_F(SafetensorsFileTest, DuplicateTensorName) {
  EXPECT_EQ(
      fail(safetensors(
          "{\"x\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[0,1]},"
          "\"x\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[1,2]}}",
          "ab")),
      path + ": duplicate tensor name 'x' in header");
}

TEST_F(SafetensorsFileTest, DuplicateFieldInEntry) {
  EXPECT_EQ(fail(safetensors("{\"x\":{\"dtype\":\"U8\",\"dtype\":\"F32\","
                             "\"shape\":[1],\"data_offsets\":[0,1]}}",
                             "a")),
            path + ": duplicate key 'dtype' in header entry 'x'");
}

TEST_F(SafetensorsFileTest, UnknownDtype) {
  EXPECT_EQ(fail(safetensors("{\"x\":{\"dtype\":\"F17\",\"shape\":[1],"
                             "\"data_offsets\":[0,4]}}",
                             std::string(4, '\0'))),
            path + ": unknown dtype 'F17' for tensor 'x'");
  // Codes are case-sensitive.
  EXPECT_EQ(fail(safetensors("{\"x\":{\"dtype\":\"f32\",\"shape\":[1],"
                             "\"data_offsets\":[0,4]}}",
                             std::string(4, '\0'))),
            path + ": unknown dtype 'f32' for tensor 'x'");
}

TEST_F(SafetensorsFileTest, KnownButUnsupportedDtype) {
  EXPECT_EQ(fail(safetensors("{\"x\":{\"dtype\":\"C64\",\"shape\":[1],"
                             "\"data_offsets\":[0,8]}}",
                             std::string(8, '\0'))),
            path + ": tensor 'x': dtype C64 is not supported");
}

TEST_F(SafetensorsFileTest, Overlap) {
  // a = [0, 8), b = [4, 12): sorted by begin, b starts inside a.
  EXPECT_EQ(
      fail(safetensors(
          "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
          "\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]}}",
          std::string(12, '\0'))),
      path + ": tensor 'b': data_offsets [4, 12) overlap tensor 'a' [0, 8)");
}

TEST_F(SafetensorsFileTest, TwoTensorsSharingBytes) {
  // Aliasing is an overlap too (tied weights cannot share bytes).
  EXPECT_EQ(
      fail(safetensors(
          "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
          "\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}",
          std::string(8, '\0'))),
      path + ": tensor 'b': data_offsets [0, 8) overlap tensor 'a' [0, 8)");
}

TEST_F(SafetensorsFileTest, Hole) {
  EXPECT_EQ(
      fail(safetensors(
          "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
          "\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[12,20]}}",
          std::string(20, '\0'))),
      path + ": hole in the data buffer: bytes [8, 12) before tensor 'b' "
             "belong to no tensor");
}

TEST_F(SafetensorsFileTest, FirstTensorNotAtZero) {
  EXPECT_EQ(
      fail(safetensors(
          "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]}}",
          std::string(12, '\0'))),
      path + ": hole in the data buffer: bytes [0, 4) before tensor 'a' "
             "belong to no tensor");
}

TEST_F(SafetensorsFileTest, ReversedOffsets) {
  EXPECT_EQ(
      fail(safetensors(
          "{\"a\":{\"dtype\":\"U8\",\"shape\":[0],\"data_offsets\":[0,0]},"
          "\"b\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,0]},"
          "\"c\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,0]}}",
          "")),
      path + ": tensor 'b': data_offsets [0, 0) do not match dtype F32 and "
             "shape [1] (4 bytes)");
  EXPECT_EQ(
      fail(safetensors(
          "{\"c\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,0]}}",
          "")),
      path + ": tensor 'c': data_offsets [4, 0) end before they begin");
}

TEST_F(SafetensorsFileTest, SizeMismatch) {
  EXPECT_EQ(fail(safetensors("{\"lm_head.weight\":{\"dtype\":\"BF16\","
                             "\"shape\":[512,128],\"data_offsets\":[0,100]}}",
                             std::string(100, '\0'))),
            path + ": tensor 'lm_head.weight': data_offsets [0, 100) do not "
                   "match dtype BF16 and shape [512, 128] (131072 bytes)");
}

TEST_F(SafetensorsFileTest, TruncatedData) {
  // The header says 16 data bytes; the file has 8 after the header.
  EXPECT_EQ(
      fail(safetensors(
          "{\"a\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]}}",
          std::string(8, '\0'))),
      path + ": file is truncated: header says 16 data bytes, file has 8; "
             "tensor 'a' (data_offsets [0, 16)) is cut off");
}

TEST_F(SafetensorsFileTest, TrailingBytes) {
  EXPECT_EQ(
      fail(safetensors(
          "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}",
          std::string(5, '\0'))),
      path + ": file has trailing bytes: header says 4 data bytes, file has "
             "5");
}

TEST_F(SafetensorsFileTest, TruncatedRealFile) {
  // The real file cut 248 bytes short: 853248 data bytes expected, 853000
  // present. The last tensor, model.norm.weight (BF16 [128]), occupies
  // [852992, 853248); only its first 8 bytes remain.
  std::string bytes = readFile(inputPath("llama-bf16-st/model.safetensors"));
  ASSERT_EQ(bytes.size(), 855440u);
  bytes.resize(bytes.size() - 248);
  EXPECT_EQ(fail(bytes), path + ": file is truncated: header says 853248 data "
                                "bytes, file has 853000; tensor "
                                "'model.norm.weight' (data_offsets [852992, "
                                "853248)) is cut off");
}

TEST_F(SafetensorsFileTest, MetadataMustBeStrings) {
  EXPECT_EQ(fail(safetensors("{\"__metadata__\":{\"format\":1}}", "")),
            path + ": '__metadata__' must map strings to strings");
  EXPECT_EQ(fail(safetensors("{\"__metadata__\":[\"pt\"]}", "")),
            path + ": '__metadata__' must map strings to strings");
}

TEST_F(SafetensorsFileTest, DeepNesting) {
  std::string header =
      "{\"x\":" + std::string(100, '[') + std::string(100, ']') + "}";
  EXPECT_EQ(fail(safetensors(header, "")),
            path + ": header JSON nests deeper than 16 levels");
}

TEST_F(SafetensorsFileTest, EmptyHeaderObjectIsValid) {
  llvm::Expected<CheckpointFile> cf = read(safetensors("{}", ""));
  ASSERT_TRUE(bool(cf)) << llvm::toString(cf.takeError());
  EXPECT_TRUE(cf->tensors.empty());
}

TEST_F(SafetensorsFileTest, MissingFile) {
  EXPECT_EQ(errorOf(readSafetensorsHeader(dir + "/absent.safetensors")),
            dir + "/absent.safetensors: cannot open: No such file or "
                  "directory");
}

} // namespace
