//===- TensorCacheReaderTest.cpp - Validation of a tensor cache -----------===//

#include "EvalTestUtil.h"

#include "qopt/Eval/TensorCacheReader.h"

#include <gtest/gtest.h>

#include <filesystem>

using namespace qopt::eval;
using namespace qopt::eval::test;

namespace {
std::string openError(const std::string &dir) {
  return errorOf(TensorCacheReader::open(dir));
}
} // namespace

TEST(TensorCacheReader, ReadsRecords) {
  std::string dir = scratchDir("reader-ok");
  writeCache(dir, {{"a", "float16", {2, 2}, halves({1, 2, 3, 4})},
                   {"b", "float32", {3}, halves({0x3F80, 0, 0xC000})},
                   {"c", "uint32", {}, words({0xDEADBEEF})}});
  auto cache = TensorCacheReader::open(dir);
  ASSERT_TRUE(bool(cache)) << errorOf(cache.takeError());
  ASSERT_EQ(cache->records().size(), 3u);
  const CacheRecord *b = cache->find("b");
  ASSERT_NE(b, nullptr);
  EXPECT_EQ(b->byteOffset, 8u);
  EXPECT_EQ(b->nbytes, 6u);
  EXPECT_TRUE(b->bf16Encoded);
  EXPECT_EQ(b->shape, (std::vector<int64_t>{3}));
  auto floats = cache->readFloats(*b);
  ASSERT_TRUE(bool(floats));
  EXPECT_EQ(*floats, (std::vector<float>{1.0f, 0.0f, -2.0f}));
  const CacheRecord *c = cache->find("c");
  ASSERT_NE(c, nullptr);
  EXPECT_FALSE(c->bf16Encoded);
  EXPECT_EQ(c->numElements(), 1);
  auto u = cache->readUInt32(*c);
  ASSERT_TRUE(bool(u));
  EXPECT_EQ(*u, (std::vector<uint32_t>{0xDEADBEEF}));
  EXPECT_EQ(errorOf(cache->readUInt32(*cache->find("a"))),
            dir + "/tensor-cache.json: record 'a': has dtype float16, "
                  "expected uint32");
  EXPECT_EQ(cache->find("d"), nullptr);
}

TEST(TensorCacheReader, RecordPastShardEnd) {
  // Record 'a' claims bytes [0, 8) but the shard (and the index) hold 6.
  std::string dir = scratchDir("reader-past-end");
  writeCache(dir, {{"a", "float16", {4}, halves({1, 2, 3, 4})}},
             /*shardBytesOverride=*/6);
  writeFile(dir + "/params_shard_0.bin", std::string(6, '\0'));
  EXPECT_EQ(openError(dir),
            dir + "/tensor-cache.json: record 'a': bytes [0, 8) lie past the "
                  "end of shard 'params_shard_0.bin' (6 bytes)");
}

TEST(TensorCacheReader, ShardLengthDiffersFromIndex) {
  std::string dir = scratchDir("reader-shard-size");
  writeCache(dir, {{"a", "float16", {4}, halves({1, 2, 3, 4})}},
             /*shardBytesOverride=*/10);
  EXPECT_EQ(openError(dir), dir +
                                "/params_shard_0.bin: shard holds 8 bytes "
                                "but " +
                                dir + "/tensor-cache.json says 10");
}

TEST(TensorCacheReader, NbytesMustMatchShape) {
  std::string dir = scratchDir("reader-nbytes");
  writeCache(dir, {{"a", "float16", {4}, halves({1, 2, 3, 4})}}, -1, "a", 6);
  EXPECT_EQ(openError(dir), dir + "/tensor-cache.json: record 'a': nbytes 6 "
                                  "does not match shape [4] of float16");
  // A float32 record in f32-to-bf16 holds 2 bytes per value.
  writeCache(dir, {{"f", "float32", {2}, leF32(1) + leF32(2)}});
  EXPECT_EQ(openError(dir), dir + "/tensor-cache.json: record 'f': nbytes 8 "
                                  "does not match shape [2] of float32 "
                                  "stored as bf16");
}

TEST(TensorCacheReader, BadRecords) {
  std::string dir = scratchDir("reader-bad");
  writeCache(dir, {{"a", "int4", {2}, "x"}});
  EXPECT_EQ(openError(dir),
            dir + "/tensor-cache.json: record 'a': unknown dtype 'int4'");
  writeCache(dir, {{"a", "float16", {1}, halves({1})},
                   {"a", "float16", {1}, halves({2})}});
  EXPECT_EQ(openError(dir),
            dir + "/tensor-cache.json: record 'a': duplicate record name");
  writeCache(dir, {{"a", "float16", {1}, halves({1}), "zstd"}});
  EXPECT_EQ(openError(dir),
            dir + "/tensor-cache.json: record 'a': unknown format 'zstd'");
  writeCache(dir, {{"a", "float16", {-1}, ""}});
  EXPECT_EQ(openError(dir), dir + "/tensor-cache.json: record 'a': shape "
                                  "dimensions must be non-negative integers");
}

TEST(TensorCacheReader, BadIndexFiles) {
  std::string dir = scratchDir("reader-index");
  std::string e = openError(dir);
  EXPECT_EQ(e, dir + "/tensor-cache.json: cannot read: No such file or "
                     "directory");
  writeFile(dir + "/tensor-cache.json", "{\"records\": [");
  e = openError(dir);
  EXPECT_EQ(e.rfind(dir + "/tensor-cache.json: is not valid JSON (error at "
                          "byte ",
                    0),
            0u)
      << e;
  writeFile(dir + "/tensor-cache.json", "{\"metadata\": {}}");
  EXPECT_EQ(openError(dir),
            dir + "/tensor-cache.json: missing 'records' array");
  writeFile(dir + "/tensor-cache.json",
            "{\"records\": [{\"dataPath\": \"../x.bin\", \"format\": "
            "\"raw-shard\", \"nbytes\": 0, \"records\": []}]}");
  EXPECT_EQ(openError(dir),
            dir + "/tensor-cache.json: shard 0: dataPath '../x.bin' must be a "
                  "relative path inside the cache");
  writeFile(dir + "/tensor-cache.json",
            "{\"records\": [{\"dataPath\": \"params_shard_9.bin\", "
            "\"format\": \"raw-shard\", \"nbytes\": 0, \"records\": []}]}");
  EXPECT_EQ(openError(dir), dir + "/params_shard_9.bin: cannot open: No such "
                                  "file or directory");
}
