//===- TensorCacheJsonTest.cpp - Python-exact JSON text tests ---*- C++ -*-===//
//
// Expected texts were written by hand following json.dump(obj, f, indent=4)
// and checked against CPython 3's json module while writing this test.
//
//===----------------------------------------------------------------------===//

#include "qopt/TensorCache/TensorCache.h"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>

using qopt::numerics::DType;
using namespace qopt::tensorcache;

namespace {

/// The 3-record, one-shard cache: uint32 [3,2] (24 bytes), float16 [4]
/// (8 bytes), float32 [2,3] (12 bytes as bf16). 44 bytes in one shard.
std::vector<RecordSpec> threeRecords() {
  return {{"model.layers.0.self_attn.qkv_proj.q_weight", {3, 2}, DType::U32},
          {"model.norm.weight", {4}, DType::F16},
          {"lm_head.q_scale", {2, 3}, DType::F32}};
}

/// The same plan written out by hand (not through planShards).
ShardPlan threeRecordPlan() {
  ShardPlan plan;
  plan.placements = {{0, 0}, {0, 24}, {0, 32}};
  plan.shardBytes = {44};
  plan.shardRecords = {{0, 1, 2}};
  return plan;
}

// ParamBytes = 24 + 8 + 24 (float32 counts 4 bytes) = 56; 56*8/100 = 4.48.
const Metadata kThreeMeta{3, 56, 4.48};

const char *const kThreeJson = R"({
    "metadata": {
        "ParamSize": 3,
        "ParamBytes": 56.0,
        "BitsPerParam": 4.48
    },
    "records": [
        {
            "dataPath": "params_shard_0.bin",
            "format": "raw-shard",
            "nbytes": 44,
            "records": [
                {
                    "name": "model.layers.0.self_attn.qkv_proj.q_weight",
                    "shape": [
                        3,
                        2
                    ],
                    "dtype": "uint32",
                    "format": "f32-to-bf16",
                    "nbytes": 24,
                    "byteOffset": 0
                },
                {
                    "name": "model.norm.weight",
                    "shape": [
                        4
                    ],
                    "dtype": "float16",
                    "format": "f32-to-bf16",
                    "nbytes": 8,
                    "byteOffset": 24
                },
                {
                    "name": "lm_head.q_scale",
                    "shape": [
                        2,
                        3
                    ],
                    "dtype": "float32",
                    "format": "f32-to-bf16",
                    "nbytes": 12,
                    "byteOffset": 32
                }
            ],
            "md5sum": "0123456789abcdef0123456789abcdef"
        }
    ]
})";

const char *const kThreeB16Json = R"({
    "metadata": {
        "ParamSize": 3,
        "ParamBytes": 56.0,
        "BitsPerParam": 4.48
    },
    "records": [
        {
            "dataPath": "params_shard_0.bin",
            "format": "raw-shard",
            "nbytes": 44,
            "records": [
                {
                    "name": "model.layers.0.self_attn.qkv_proj.q_weight",
                    "shape": [
                        3,
                        2
                    ],
                    "dtype": "uint32",
                    "format": "f32-to-bf16",
                    "nbytes": 24,
                    "byteOffset": 0
                },
                {
                    "name": "model.norm.weight",
                    "shape": [
                        4
                    ],
                    "dtype": "float16",
                    "format": "f32-to-bf16",
                    "nbytes": 8,
                    "byteOffset": 24
                },
                {
                    "name": "lm_head.q_scale",
                    "shape": [
                        2,
                        3
                    ],
                    "dtype": "bfloat16",
                    "format": "raw",
                    "nbytes": 12,
                    "byteOffset": 32
                }
            ],
            "md5sum": "0123456789abcdef0123456789abcdef"
        }
    ]
})";

TEST(TensorCacheJsonTest, ThreeRecordsOneShard) {
  std::string text =
      renderTensorCacheJson(threeRecords(), threeRecordPlan(),
                            {"0123456789abcdef0123456789abcdef"}, kThreeMeta,
                            /*b16Variant=*/false);
  EXPECT_EQ(text, kThreeJson);
}

TEST(TensorCacheJsonTest, B16Variant) {
  std::string text =
      renderTensorCacheJson(threeRecords(), threeRecordPlan(),
                            {"0123456789abcdef0123456789abcdef"}, kThreeMeta,
                            /*b16Variant=*/true);
  EXPECT_EQ(text, kThreeB16Json);
}

TEST(TensorCacheJsonTest, PlannerAgreesWithHandPlan) {
  ShardPlan plan = planShards(threeRecords());
  ShardPlan hand = threeRecordPlan();
  ASSERT_EQ(plan.placements.size(), 3u);
  for (size_t i = 0; i < 3; ++i) {
    EXPECT_EQ(plan.placements[i].shard, hand.placements[i].shard);
    EXPECT_EQ(plan.placements[i].byteOffset, hand.placements[i].byteOffset);
  }
  EXPECT_EQ(plan.shardBytes, hand.shardBytes);
  EXPECT_EQ(plan.shardRecords, hand.shardRecords);
}

TEST(TensorCacheJsonTest, EmptyCache) {
  std::string text =
      renderTensorCacheJson({}, ShardPlan{}, {}, Metadata{0, 0, 0.0}, false);
  EXPECT_EQ(text, R"({
    "metadata": {
        "ParamSize": 0,
        "ParamBytes": 0.0,
        "BitsPerParam": 0.0
    },
    "records": []
})");
}

TEST(TensorCacheJsonTest, ScalarShapeLargeNumbersAndEscapedName) {
  // Shape [] prints as "[]"; non-ASCII names are \u-escaped; ParamBytes
  // of 3893362688 prints as a float.
  std::vector<RecordSpec> records = {{"caf\xc3\xa9\"x", {}, DType::BF16}};
  ShardPlan plan;
  plan.placements = {{0, 0}};
  plan.shardBytes = {2};
  plan.shardRecords = {{0}};
  std::string text = renderTensorCacheJson(
      records, plan, {"ffffffffffffffffffffffffffffffff"},
      Metadata{1, 3893362688ull, 4.499450750640791}, false);
  EXPECT_EQ(text, R"({
    "metadata": {
        "ParamSize": 1,
        "ParamBytes": 3893362688.0,
        "BitsPerParam": 4.499450750640791
    },
    "records": [
        {
            "dataPath": "params_shard_0.bin",
            "format": "raw-shard",
            "nbytes": 2,
            "records": [
                {
                    "name": "caf\u00e9\"x",
                    "shape": [],
                    "dtype": "bfloat16",
                    "format": "f32-to-bf16",
                    "nbytes": 2,
                    "byteOffset": 0
                }
            ],
            "md5sum": "ffffffffffffffffffffffffffffffff"
        }
    ]
})");
}

TEST(PythonFloatReprTest, MatchesCPython) {
  EXPECT_EQ(pythonFloatRepr(1536.0), "1536.0");
  EXPECT_EQ(pythonFloatRepr(3893362688.0), "3893362688.0");
  EXPECT_EQ(pythonFloatRepr(4.499450750640791), "4.499450750640791");
  EXPECT_EQ(pythonFloatRepr(0.1), "0.1");
  EXPECT_EQ(pythonFloatRepr(0.5), "0.5");
  EXPECT_EQ(pythonFloatRepr(100.0), "100.0");
  EXPECT_EQ(pythonFloatRepr(1e-05), "1e-05");
  EXPECT_EQ(pythonFloatRepr(0.0001), "0.0001");
  EXPECT_EQ(pythonFloatRepr(0.0001 * 0.99), "9.900000000000001e-05");
  EXPECT_EQ(pythonFloatRepr(0.001), "0.001");
  EXPECT_EQ(pythonFloatRepr(1e16), "1e+16");
  EXPECT_EQ(pythonFloatRepr(1e15), "1000000000000000.0");
  EXPECT_EQ(pythonFloatRepr(9999999999999998.0), "9999999999999998.0");
  EXPECT_EQ(pythonFloatRepr(1.5e16), "1.5e+16");
  EXPECT_EQ(pythonFloatRepr(123456789012345678.0), "1.2345678901234568e+17");
  EXPECT_EQ(pythonFloatRepr(9223372036854775808.0), "9.223372036854776e+18");
  EXPECT_EQ(pythonFloatRepr(1e22), "1e+22");
  EXPECT_EQ(pythonFloatRepr(1e100), "1e+100");
  EXPECT_EQ(pythonFloatRepr(1.7976931348623157e308), "1.7976931348623157e+308");
  EXPECT_EQ(pythonFloatRepr(0.0), "0.0");
  EXPECT_EQ(pythonFloatRepr(-0.0), "-0.0");
  EXPECT_EQ(pythonFloatRepr(5e-324), "5e-324");
  EXPECT_EQ(pythonFloatRepr(1.5e-323), "1.5e-323");
  EXPECT_EQ(pythonFloatRepr(1e-300), "1e-300");
  EXPECT_EQ(pythonFloatRepr(2.5), "2.5");
  EXPECT_EQ(pythonFloatRepr(12345.678), "12345.678");
  EXPECT_EQ(pythonFloatRepr(1234567.0), "1234567.0");
  EXPECT_EQ(pythonFloatRepr(-3.25e-7), "-3.25e-07");
  EXPECT_EQ(pythonFloatRepr(-1.5e-10), "-1.5e-10");
  // 9007199254740993 is not a double; Python reads it as ...992.
  EXPECT_EQ(pythonFloatRepr(9007199254740992.0), "9007199254740992.0");
  // json.dump's spelling of non-finite values.
  EXPECT_EQ(pythonFloatRepr(std::numeric_limits<double>::infinity()),
            "Infinity");
  EXPECT_EQ(pythonFloatRepr(-std::numeric_limits<double>::infinity()),
            "-Infinity");
  EXPECT_EQ(pythonFloatRepr(std::nan("")), "NaN");
}

TEST(PythonJsonStringTest, EnsureAsciiEscapes) {
  EXPECT_EQ(pythonJsonString("model.embed_tokens.q_weight"),
            "\"model.embed_tokens.q_weight\"");
  EXPECT_EQ(pythonJsonString(""), "\"\"");
  // json.dumps("a\"b\\c\n\r\t\b\f\x01\x1f\x7f é 中 😀 ~ ")
  EXPECT_EQ(
      pythonJsonString("a\"b\\c\n\r\t\b\f\x01\x1f\x7f \xc3\xa9 \xe4\xb8\xad "
                       "\xf0\x9f\x98\x80 ~ "),
      R"("a\"b\\c\n\r\t\b\f\u0001\u001f\u007f \u00e9 \u4e2d \ud83d\ude00 ~ ")");
  // U+10FFFF and an embedded NUL and ESC.
  EXPECT_EQ(pythonJsonString(llvm::StringRef("\xf4\x8f\xbf\xbf \x00\x1b", 7)),
            R"("\udbff\udfff \u0000\u001b")");
  // Invalid UTF-8 (a lone continuation byte, an overlong '/', a surrogate)
  // becomes U+FFFD per bad byte.
  EXPECT_EQ(pythonJsonString("a\x80z"), R"("a\ufffdz")");
  EXPECT_EQ(pythonJsonString("\xc0\xaf"), R"("\ufffd\ufffd")");
  EXPECT_EQ(pythonJsonString("\xed\xa0\x80"), R"("\ufffd\ufffd\ufffd")");
}

TEST(Utf8Test, Validity) {
  EXPECT_TRUE(isValidUtf8("plain"));
  EXPECT_TRUE(isValidUtf8("caf\xc3\xa9 \xf0\x9f\x98\x80"));
  EXPECT_FALSE(isValidUtf8("\xff"));
  EXPECT_FALSE(isValidUtf8("\xc3"));             // truncated
  EXPECT_FALSE(isValidUtf8("\xe0\x80\x80"));     // overlong NUL
  EXPECT_FALSE(isValidUtf8("\xed\xbf\xbf"));     // surrogate U+DFFF
  EXPECT_FALSE(isValidUtf8("\xf4\x90\x80\x80")); // above U+10FFFF
}

TEST(FormatThousandsTest, Groups) {
  EXPECT_EQ(formatThousands(0), "0");
  EXPECT_EQ(formatThousands(999), "999");
  EXPECT_EQ(formatThousands(1000), "1,000");
  EXPECT_EQ(formatThousands(100000), "100,000");
  EXPECT_EQ(formatThousands(3342592), "3,342,592");
  EXPECT_EQ(formatThousands(7241732096), "7,241,732,096");
  EXPECT_EQ(formatThousands(UINT64_MAX), "18,446,744,073,709,551,615");
}

TEST(StatisticsTest, LinesAsConvertWeightPrints) {
  Statistics stats{291, 3893362688ull, 7241732096ull};
  std::array<std::string, 3> lines = formatStatisticsLines(stats);
  EXPECT_EQ(lines[0], "Parameter size after quantization: 3.626 GB");
  EXPECT_EQ(lines[1], "Total parameters: 7,241,732,096");
  EXPECT_EQ(lines[2], "Bits per parameter: 4.301");

  std::array<std::string, 3> colored = formatStatisticsLines(stats, true);
  EXPECT_EQ(colored[0],
            "\033[92mParameter size\033[0m after quantization: 3.626 GB");
  EXPECT_EQ(colored[1], "\033[92mTotal parameters\033[0m: 7,241,732,096");
  EXPECT_EQ(colored[2], "\033[92mBits per parameter\033[0m: 4.301");
}

TEST(StatisticsTest, ThreeDecimalsRoundHalfEven) {
  // 67108864 / 2^30 = 0.0625 exactly -> "%.3f" gives 0.062 (tie to even);
  // 201326592 / 2^30 = 0.1875 -> 0.188.
  Statistics low{3, 67108864, 100};
  EXPECT_EQ(formatStatisticsLines(low)[0],
            "Parameter size after quantization: 0.062 GB");
  EXPECT_EQ(formatStatisticsLines(low)[2], "Bits per parameter: 5368709.120");
  Statistics high{3, 201326592, 3342592};
  EXPECT_EQ(formatStatisticsLines(high)[0],
            "Parameter size after quantization: 0.188 GB");
  EXPECT_EQ(formatStatisticsLines(high)[1], "Total parameters: 3,342,592");
  EXPECT_EQ(formatStatisticsLines(high)[2], "Bits per parameter: 481.845");
}

TEST(StatisticsTest, JsonAndMetadata) {
  Statistics stats{3, 201326592, 3342592};
  EXPECT_EQ(
      renderStatisticsJson(stats),
      R"({"ParamSize": 3, "ParamBytes": 201326592, "TotalParams": 3342592, "BitsPerParam": 481.8454468867274, "ParamSizeGB": 0.1875})");
  llvm::Expected<Metadata> meta = stats.metadata();
  ASSERT_TRUE(bool(meta)) << llvm::toString(meta.takeError());
  EXPECT_EQ(meta->paramSize, 3);
  EXPECT_EQ(meta->paramBytes, 201326592u);
  EXPECT_EQ(pythonFloatRepr(meta->bitsPerParam), "481.8454468867274");

  Statistics tiny{3, 56, 100};
  EXPECT_EQ(
      renderStatisticsJson(tiny),
      R"({"ParamSize": 3, "ParamBytes": 56, "TotalParams": 100, "BitsPerParam": 4.48, "ParamSizeGB": 5.21540641784668e-08})");
}

TEST(StatisticsTest, FromRecordsAndZeroParams) {
  Statistics stats = Statistics::fromRecords(threeRecords());
  EXPECT_EQ(stats.paramSize, 3);
  EXPECT_EQ(stats.paramBytes, 56u); // 24 + 8 + 6*4
  EXPECT_EQ(stats.totalParams, 0u);
  llvm::Expected<Metadata> meta = stats.metadata();
  ASSERT_FALSE(bool(meta));
  EXPECT_EQ(llvm::toString(meta.takeError()),
            "cannot compute BitsPerParam: the source checkpoint has no "
            "counted parameters");
}

} // namespace
