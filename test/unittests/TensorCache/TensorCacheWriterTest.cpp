//===- TensorCacheWriterTest.cpp - Tensor-cache writer tests ----*- C++ -*-===//
//
// Writes real caches into a scratch directory and compares every file byte
// for byte. Expected shard contents are concatenated by hand from the plan
// worked out in the comments; md5 sums were computed with md5sum / hashlib
// while writing the test.
//
//===----------------------------------------------------------------------===//

#include "qopt/TensorCache/TensorCache.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <thread>
#include <unistd.h>

using qopt::numerics::DType;
using namespace qopt::tensorcache;
namespace fs = std::filesystem;

namespace {

/// Deterministic record bytes: byte k of record i is (i*50 + k*7 + 1) mod 256.
std::string fill(int i, size_t n) {
  std::string s(n, '\0');
  for (size_t k = 0; k < n; ++k)
    s[k] = static_cast<char>((i * 50 + k * 7 + 1) & 0xFF);
  return s;
}

std::string readFile(const fs::path &p) {
  std::ifstream in(p, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

void writeFile(const fs::path &p, const std::string &text) {
  std::ofstream out(p, std::ios::binary);
  out << text;
}

/// Sorted names in `dir` (hidden ones included).
std::vector<std::string> listDir(const fs::path &dir) {
  std::vector<std::string> names;
  for (const fs::directory_entry &e : fs::directory_iterator(dir))
    names.push_back(e.path().filename().string());
  std::sort(names.begin(), names.end());
  return names;
}

/// Six records for cap = 100 (file bytes in parentheses):
///   0 a U8 [30] (30)       -> pending, offset 0
///   1 b F16 [40] (80)      -> 30+80 >= 100, 160 >= 100: out of band, shard 0
///   2 c F32 [10] (20 bf16) -> offset 30
///   3 d U32 [15] (60)      -> 50+60 >= 100, 120 >= 100: out of band, shard 1
///   4 emb.é U8 [5,9] (45)  -> 50+45 = 95: offset 50
///   5 s F16 [] (2)         -> 95+2 = 97: offset 95; end: shard 2 (97 bytes)
/// ParamBytes = 30 + 80 + 40 + 60 + 45 + 2 = 257.
std::vector<RecordSpec> sixRecords() {
  return {{"a", {30}, DType::U8},
          {"b", {40}, DType::F16},
          {"c", {10}, DType::F32},
          {"d", {15}, DType::U32},
          {"emb.\xc3\xa9", {5, 9}, DType::U8},
          {"s", {}, DType::F16}};
}
const size_t kSixSizes[] = {30, 80, 20, 60, 45, 2};

const char *const kSixJson = R"({
    "metadata": {
        "ParamSize": 6,
        "ParamBytes": 257.0,
        "BitsPerParam": 8.224
    },
    "records": [
        {
            "dataPath": "params_shard_0.bin",
            "format": "raw-shard",
            "nbytes": 80,
            "records": [
                {
                    "name": "b",
                    "shape": [
                        40
                    ],
                    "dtype": "float16",
                    "format": "f32-to-bf16",
                    "nbytes": 80,
                    "byteOffset": 0
                }
            ],
            "md5sum": "e1b7631c9e11b0057b518fe29dc5b3a9"
        },
        {
            "dataPath": "params_shard_1.bin",
            "format": "raw-shard",
            "nbytes": 60,
            "records": [
                {
                    "name": "d",
                    "shape": [
                        15
                    ],
                    "dtype": "uint32",
                    "format": "f32-to-bf16",
                    "nbytes": 60,
                    "byteOffset": 0
                }
            ],
            "md5sum": "2db272f3a747a96fdecc93831ca8b041"
        },
        {
            "dataPath": "params_shard_2.bin",
            "format": "raw-shard",
            "nbytes": 97,
            "records": [
                {
                    "name": "a",
                    "shape": [
                        30
                    ],
                    "dtype": "uint8",
                    "format": "f32-to-bf16",
                    "nbytes": 30,
                    "byteOffset": 0
                },
                {
                    "name": "c",
                    "shape": [
                        10
                    ],
                    "dtype": "float32",
                    "format": "f32-to-bf16",
                    "nbytes": 20,
                    "byteOffset": 30
                },
                {
                    "name": "emb.\u00e9",
                    "shape": [
                        5,
                        9
                    ],
                    "dtype": "uint8",
                    "format": "f32-to-bf16",
                    "nbytes": 45,
                    "byteOffset": 50
                },
                {
                    "name": "s",
                    "shape": [],
                    "dtype": "float16",
                    "format": "f32-to-bf16",
                    "nbytes": 2,
                    "byteOffset": 95
                }
            ],
            "md5sum": "507404ec0928fe9ea455e97d9838d694"
        }
    ]
})";

/// One 3-byte record "abc": md5("abc") = 900150983cd24fb0d6963f7d28e17f72.
const char *const kTinyJson = R"({
    "metadata": {
        "ParamSize": 1,
        "ParamBytes": 3.0,
        "BitsPerParam": 8.0
    },
    "records": [
        {
            "dataPath": "params_shard_0.bin",
            "format": "raw-shard",
            "nbytes": 3,
            "records": [
                {
                    "name": "x",
                    "shape": [
                        3
                    ],
                    "dtype": "uint8",
                    "format": "f32-to-bf16",
                    "nbytes": 3,
                    "byteOffset": 0
                }
            ],
            "md5sum": "900150983cd24fb0d6963f7d28e17f72"
        }
    ]
})";

class TensorCacheWriterTest : public ::testing::Test {
protected:
  void SetUp() override {
    const ::testing::TestInfo *info =
        ::testing::UnitTest::GetInstance()->current_test_info();
    root = fs::path(QOPT_TEST_TMPDIR) /
           ("TensorCacheWriterTest." + std::string(info->name()) + "." +
            std::to_string(::getpid()));
    fs::remove_all(root);
    fs::create_directories(root);
  }
  void TearDown() override { fs::remove_all(root); }

  /// Creates a writer, failing the test on error.
  std::unique_ptr<TensorCacheWriter> make(const fs::path &out,
                                          std::vector<RecordSpec> records,
                                          uint64_t cap = kDefaultShardCap) {
    auto writer =
        TensorCacheWriter::create(out.string(), std::move(records), cap);
    if (!writer) {
      ADD_FAILURE() << llvm::toString(writer.takeError());
      return nullptr;
    }
    return std::move(*writer);
  }

  /// Writes the tiny "abc" cache into `out` and commits it.
  void writeTinyCache(const fs::path &out) {
    auto writer = make(out, {{"x", {3}, DType::U8}});
    ASSERT_TRUE(writer);
    ASSERT_FALSE(bool(writer->writeRecord(0, "abc", 3)));
    llvm::Error err = writer->commit(Metadata{1, 3, 8.0});
    ASSERT_FALSE(bool(err)) << llvm::toString(std::move(err));
  }

  fs::path root;
};

std::string errorText(llvm::Error err) {
  return err ? llvm::toString(std::move(err)) : std::string("success");
}

TEST_F(TensorCacheWriterTest, OutOfOrderFromTwoThreads) {
  fs::path out = root / "cache" / "sub";
  auto writer = make(out, sixRecords(), 100);
  ASSERT_TRUE(writer);
  std::vector<std::string> data;
  for (int i = 0; i < 6; ++i)
    data.push_back(fill(i, kSixSizes[i]));

  std::vector<std::string> errorsA, errorsB;
  auto run = [&](std::vector<size_t> order, std::vector<std::string> &errs) {
    for (size_t i : order)
      if (llvm::Error err =
              writer->writeRecord(i, data[i].data(), data[i].size()))
        errs.push_back(llvm::toString(std::move(err)));
  };
  std::thread a(run, std::vector<size_t>{5, 4, 2, 0}, std::ref(errorsA));
  std::thread b(run, std::vector<size_t>{3, 1}, std::ref(errorsB));
  a.join();
  b.join();
  EXPECT_TRUE(errorsA.empty()) << errorsA.front();
  EXPECT_TRUE(errorsB.empty()) << errorsB.front();

  // Nothing complete-looking before commit.
  EXPECT_FALSE(fs::exists(out / "tensor-cache.json"));
  EXPECT_FALSE(fs::exists(out / "params_shard_0.bin"));

  Statistics stats = Statistics::fromRecords(writer->records());
  EXPECT_EQ(stats.paramBytes, 257u);
  stats.totalParams = 250; // 257 * 8 / 250 = 8.224
  llvm::Expected<Metadata> meta = stats.metadata();
  ASSERT_TRUE(bool(meta));
  EXPECT_EQ(errorText(writer->commit(*meta)), "success");

  EXPECT_EQ(listDir(out), (std::vector<std::string>{
                              "params_shard_0.bin", "params_shard_1.bin",
                              "params_shard_2.bin", "tensor-cache-b16.json",
                              "tensor-cache.json"}));
  EXPECT_EQ(readFile(out / "params_shard_0.bin"), data[1]);
  EXPECT_EQ(readFile(out / "params_shard_1.bin"), data[3]);
  EXPECT_EQ(readFile(out / "params_shard_2.bin"),
            data[0] + data[2] + data[4] + data[5]);
  EXPECT_EQ(readFile(out / "tensor-cache.json"), kSixJson);

  // The b16 index differs only in record "c".
  std::string b16 = kSixJson;
  const std::string from = "\"dtype\": \"float32\",\n"
                           "                    \"format\": \"f32-to-bf16\",";
  const std::string to = "\"dtype\": \"bfloat16\",\n"
                         "                    \"format\": \"raw\",";
  size_t pos = b16.find(from);
  ASSERT_NE(pos, std::string::npos);
  b16.replace(pos, from.size(), to);
  EXPECT_EQ(readFile(out / "tensor-cache-b16.json"), b16);
}

TEST_F(TensorCacheWriterTest, TinyShardMd5AndNoB16WithoutFloat32) {
  fs::path out = root / "tiny";
  writeTinyCache(out);
  EXPECT_EQ(listDir(out), (std::vector<std::string>{"params_shard_0.bin",
                                                    "tensor-cache.json"}));
  EXPECT_EQ(readFile(out / "params_shard_0.bin"), "abc");
  EXPECT_EQ(readFile(out / "tensor-cache.json"), kTinyJson);
}

TEST_F(TensorCacheWriterTest, EmptyCache) {
  fs::path out = root / "empty";
  auto writer = make(out, {});
  ASSERT_TRUE(writer);
  EXPECT_EQ(errorText(writer->commit(Metadata{0, 0, 0.0})), "success");
  EXPECT_EQ(listDir(out), (std::vector<std::string>{"tensor-cache.json"}));
  EXPECT_EQ(readFile(out / "tensor-cache.json"), R"({
    "metadata": {
        "ParamSize": 0,
        "ParamBytes": 0.0,
        "BitsPerParam": 0.0
    },
    "records": []
})");
}

TEST_F(TensorCacheWriterTest, OutputUnderARegularFile) {
  fs::path blocker = root / "blocker";
  writeFile(blocker, "not a directory");
  fs::path out = blocker / "cache";
  auto writer = TensorCacheWriter::create(out.string(), sixRecords(), 100);
  ASSERT_FALSE(bool(writer));
  EXPECT_EQ(llvm::toString(writer.takeError()),
            "cannot create output directory '" + out.string() +
                "': Not a directory");
  EXPECT_EQ(listDir(root), (std::vector<std::string>{"blocker"}));
  EXPECT_EQ(readFile(blocker), "not a directory");

  // The output path itself is a regular file.
  auto onFile = TensorCacheWriter::create(blocker.string(), sixRecords(), 100);
  ASSERT_FALSE(bool(onFile));
  EXPECT_EQ(llvm::toString(onFile.takeError()),
            "cannot create output directory '" + blocker.string() +
                "': it exists and is not a directory");
  EXPECT_EQ(listDir(root), (std::vector<std::string>{"blocker"}));
}

TEST_F(TensorCacheWriterTest, DestructionWithoutCommitLeavesNothing) {
  // A directory the writer created is removed again.
  fs::path created = root / "new" / "cache";
  {
    auto writer = make(created, sixRecords(), 100);
    ASSERT_TRUE(writer);
    std::string d0 = fill(0, 30);
    EXPECT_EQ(errorText(writer->writeRecord(0, d0.data(), d0.size())),
              "success");
    // While writing, only the staging directory is there.
    std::vector<std::string> names = listDir(created);
    ASSERT_EQ(names.size(), 1u);
    EXPECT_EQ(names[0].rfind(
                  ".quant-opt-staging-" + std::to_string(::getpid()) + "-", 0),
              0u)
        << names[0];
    EXPECT_EQ(writer->stagingDirectory(), (created / names[0]).string());
    EXPECT_EQ(
        listDir(created / names[0]),
        (std::vector<std::string>{"params_shard_0.bin", "params_shard_1.bin",
                                  "params_shard_2.bin"}));
  }
  EXPECT_FALSE(fs::exists(created));
  // Its parent was created too (like os.makedirs) and is left, empty.
  EXPECT_EQ(listDir(root / "new"), std::vector<std::string>{});

  // A directory that existed keeps its other files and nothing else.
  fs::path existing = root / "existing";
  fs::create_directories(existing);
  writeFile(existing / "keep.txt", "keep");
  {
    auto writer = make(existing, sixRecords(), 100);
    ASSERT_TRUE(writer);
    for (size_t i = 0; i < 6; ++i) {
      std::string d = fill(static_cast<int>(i), kSixSizes[i]);
      EXPECT_EQ(errorText(writer->writeRecord(i, d.data(), d.size())),
                "success");
    }
  }
  EXPECT_EQ(listDir(existing), (std::vector<std::string>{"keep.txt"}));
}

TEST_F(TensorCacheWriterTest, CommitReplacesAnExistingCache) {
  fs::path out = root / "cache";
  {
    auto writer = make(out, sixRecords(), 100);
    ASSERT_TRUE(writer);
    for (size_t i = 0; i < 6; ++i) {
      std::string d = fill(static_cast<int>(i), kSixSizes[i]);
      ASSERT_EQ(errorText(writer->writeRecord(i, d.data(), d.size())),
                "success");
    }
    ASSERT_EQ(errorText(writer->commit(Metadata{6, 257, 8.224})), "success");
  }
  ASSERT_EQ(listDir(out).size(), 5u);
  writeFile(out / "README.md", "mine");
  writeFile(out / "params_shard_01.bin", "not a tvmjs name");
  writeFile(out / "params_shard_x.bin", "not a tvmjs name");

  // The new cache has one shard and no float32: the old b16 index and the
  // stale shards 1 and 2 go, unrelated files stay.
  writeTinyCache(out);
  EXPECT_EQ(listDir(out),
            (std::vector<std::string>{
                "README.md", "params_shard_0.bin", "params_shard_01.bin",
                "params_shard_x.bin", "tensor-cache.json"}));
  EXPECT_EQ(readFile(out / "params_shard_0.bin"), "abc");
  EXPECT_EQ(readFile(out / "tensor-cache.json"), kTinyJson);
  EXPECT_EQ(readFile(out / "README.md"), "mine");
}

TEST_F(TensorCacheWriterTest, DiskFullWhileWritingARecord) {
  fs::path out = root / "full";
  auto writer = make(out, sixRecords(), 100);
  ASSERT_TRUE(writer);
  writer->setDiskLimitForTesting(100);
  std::string d0 = fill(0, 30), d1 = fill(1, 80);
  EXPECT_EQ(errorText(writer->writeRecord(0, d0.data(), d0.size())), "success");
  // 30 + 80 > 100.
  EXPECT_EQ(errorText(writer->writeRecord(1, d1.data(), d1.size())),
            "error writing '" + (out / "params_shard_0.bin").string() +
                "': No space left on device");
  // A failed write may be retried once space is available.
  writer->setDiskLimitForTesting(UINT64_MAX);
  EXPECT_EQ(errorText(writer->writeRecord(1, d1.data(), d1.size())), "success");
  EXPECT_EQ(errorText(writer->writeRecord(1, d1.data(), d1.size())),
            "tensor 'b' written twice");
  writer.reset();
  EXPECT_EQ(listDir(root), std::vector<std::string>{});
}

TEST_F(TensorCacheWriterTest, DiskFullWhileCommittingKeepsTheOldCache) {
  fs::path out = root / "cache";
  writeTinyCache(out);

  auto writer = make(out, sixRecords(), 100);
  ASSERT_TRUE(writer);
  // The shards take 80 + 60 + 97 = 237 bytes; the index does not fit in 10.
  writer->setDiskLimitForTesting(247);
  for (size_t i = 0; i < 6; ++i) {
    std::string d = fill(static_cast<int>(i), kSixSizes[i]);
    ASSERT_EQ(errorText(writer->writeRecord(i, d.data(), d.size())), "success");
  }
  EXPECT_EQ(errorText(writer->commit(Metadata{6, 257, 8.224})),
            "error writing '" + (out / "tensor-cache.json").string() +
                "': No space left on device");
  // Staging is gone, and the failure came before the old cache was touched.
  EXPECT_EQ(listDir(out), (std::vector<std::string>{"params_shard_0.bin",
                                                    "tensor-cache.json"}));
  EXPECT_EQ(readFile(out / "params_shard_0.bin"), "abc");
  EXPECT_EQ(readFile(out / "tensor-cache.json"), kTinyJson);

  EXPECT_EQ(errorText(writer->commit(Metadata{6, 257, 8.224})),
            "tensor cache '" + out.string() +
                "' cannot be committed after a failed commit");
}

TEST_F(TensorCacheWriterTest, InvalidRecordsAreRejectedBeforeTouchingDisk) {
  fs::path out = root / "out";
  std::string prefix = "cannot write tensor cache '" + out.string() + "': ";
  auto check = [&](std::vector<RecordSpec> records, const std::string &msg,
                   uint64_t cap = kDefaultShardCap) {
    auto writer =
        TensorCacheWriter::create(out.string(), std::move(records), cap);
    ASSERT_FALSE(bool(writer));
    EXPECT_EQ(llvm::toString(writer.takeError()), prefix + msg);
    EXPECT_FALSE(fs::exists(out));
  };
  check({{"a", {1}, DType::U8}, {"a", {2}, DType::U8}},
        "duplicate tensor name 'a'");
  check({{"n", {2, -1}, DType::U8}},
        "tensor 'n' has a negative dimension in shape [2, -1]");
  check({{"w", {INT64_MAX, 2}, DType::U32}},
        "tensor 'w' with shape [9223372036854775807, 2] is too large");
  check({{"bad\xff", {1}, DType::U8}},
        "tensor name \"bad\\ufffd\" is not valid UTF-8");
  // a: out of band (200 >= 100); z: zero bytes pending at the end.
  check({{"a", {200}, DType::U8}, {"z", {0}, DType::U8}},
        "tensor 'z' has zero bytes and no later bytes share its shard, so "
        "tvmjs.dump_tensor_cache would drop it from the index",
        100);

  auto empty = TensorCacheWriter::create("", {});
  ASSERT_FALSE(bool(empty));
  EXPECT_EQ(llvm::toString(empty.takeError()),
            "output directory path is empty");
}

TEST_F(TensorCacheWriterTest, WriteAndCommitMisuse) {
  fs::path out = root / "out";
  auto writer = make(out, {{"a", {30}, DType::U8}, {"b", {4}, DType::F32}});
  ASSERT_TRUE(writer);
  std::string d0 = fill(0, 30);
  EXPECT_EQ(errorText(writer->writeRecord(7, d0.data(), d0.size())),
            "cannot write record 7 of tensor cache '" + out.string() +
                "': it has only 2 records");
  EXPECT_EQ(errorText(writer->writeRecord(0, d0.data(), 29)),
            "cannot write tensor 'a' to '" + out.string() +
                "': expected 30 bytes, got 29");
  // float32 records take their bf16 bytes: 4 elements, 8 bytes.
  EXPECT_EQ(errorText(writer->writeRecord(1, d0.data(), 16)),
            "cannot write tensor 'b' to '" + out.string() +
                "': expected 8 bytes, got 16");
  EXPECT_EQ(errorText(writer->writeRecord(1, nullptr, 8)),
            "cannot write tensor 'b': no data");
  EXPECT_EQ(errorText(writer->writeRecord(0, d0.data(), d0.size())), "success");
  EXPECT_EQ(errorText(writer->commit(Metadata{2, 46, 1.0})),
            "cannot commit tensor cache '" + out.string() +
                "': tensor 'b' was never written");
  // The failed commit cleaned up, including the directory it created.
  EXPECT_FALSE(fs::exists(out));
  EXPECT_EQ(errorText(writer->writeRecord(1, d0.data(), 8)),
            "cannot write tensor 'b': commit() was already called on tensor "
            "cache '" +
                out.string() + "'");
}

TEST_F(TensorCacheWriterTest, CommitTwice) {
  fs::path out = root / "out";
  auto writer = make(out, {{"x", {3}, DType::U8}});
  ASSERT_TRUE(writer);
  ASSERT_EQ(errorText(writer->writeRecord(0, "abc", 3)), "success");
  ASSERT_EQ(errorText(writer->commit(Metadata{1, 3, 8.0})), "success");
  EXPECT_EQ(errorText(writer->commit(Metadata{1, 3, 8.0})),
            "tensor cache '" + out.string() + "' was already committed");
  writer.reset();
  // Destroying a committed writer keeps the cache.
  EXPECT_EQ(readFile(out / "tensor-cache.json"), kTinyJson);
  EXPECT_EQ(readFile(out / "params_shard_0.bin"), "abc");
}

} // namespace
