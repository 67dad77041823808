//===- FuzzCorpusTest.cpp - The fuzz seed corpus through the readers -----===//
//
// Part of quant-opt.
//
// Every file of test/fuzz/corpus/<target>/ goes through the reader its fuzz
// target exercises (the same steps as test/fuzz/*Fuzzer.cpp: parse, then
// read each tensor of at most 1 MiB), in the normal build: no crash, and
// either success or an error that names the file. Where the seed generator
// (test/fuzz/make_corpus.py) says what a seed is, that decides the
// expectation: valid files read, broken ones (truncated, duplicate keys,
// lying lengths, forbidden globals, hostile GGUF) fail. Seeds not listed
// (e.g. a regression input added later) only need to not crash and give a
// result.
//
//===----------------------------------------------------------------------===//

#include "qopt/Loaders/Gguf.h"
#include "qopt/Loaders/Pickle.h"
#include "qopt/Loaders/Safetensors.h"
#include "qopt/Loaders/TensorReader.h"
#include "qopt/Loaders/TorchZip.h"
#include "qopt/Models/Gguf.h"

#include "LoaderTestUtil.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <map>
#include <optional>

using namespace qopt::loaders;
using namespace qopt::loaders::test;

namespace {

constexpr uint64_t kMaxReadBytes = 1u << 20;

/// Success, or the first error's message.
struct Outcome {
  bool ok = true;
  std::string error;
  size_t tensors = 0;
};

template <typename T>
bool take(llvm::Expected<T> &e, Outcome &o) {
  if (e)
    return true;
  o.ok = false;
  o.error = llvm::toString(e.takeError());
  return false;
}

bool take(llvm::Error e, Outcome &o) {
  if (!e)
    return true;
  o.ok = false;
  o.error = llvm::toString(std::move(e));
  return false;
}

/// Reads every tensor of at most kMaxReadBytes, whole and (when it has
/// more than 2 rows) as rows [1, rows - 1).
void readAll(const CheckpointFile &cf, Outcome &o) {
  TensorReader reader(4096);
  std::vector<char> buf;
  o.tensors = cf.tensors.size();
  for (const TensorInfo &t : cf.tensors) {
    if (t.contiguousBytes() > kMaxReadBytes)
      continue;
    buf.resize(t.contiguousBytes() + 1);
    if (!take(reader.read(t, buf.data()), o))
      return;
    if (!t.shape.empty() && t.shape[0] > 2 &&
        !take(reader.readRows(t, 1, t.shape[0] - 1, buf.data()), o))
      return;
  }
}

Outcome runSafetensors(const std::string &path) {
  Outcome o;
  llvm::Expected<CheckpointFile> cf = readSafetensorsHeader(path);
  if (take(cf, o))
    readAll(*cf, o);
  return o;
}

Outcome runTorchZip(const std::string &path) {
  Outcome o;
  llvm::Expected<CheckpointFile> cf = readTorchZipHeader(path);
  if (take(cf, o))
    readAll(*cf, o);
  return o;
}

Outcome runPickle(const std::string &path) {
  Outcome o;
  std::string bytes = readFile(path);
  llvm::Expected<TorchPickle> p = parseTorchPickle(bytes, path, "data.pkl");
  take(p, o);
  return o;
}

Outcome runGguf(const std::string &path) {
  Outcome o;
  std::string bytes = readFile(path);
  llvm::Expected<GgufFile> f = parseGguf(path, bytes);
  if (!take(f, o))
    return o;
  llvm::Expected<nlohmann::json> config = qopt::models::ggufModelConfig(*f);
  if (!take(config, o))
    return o;
  for (const GgufTensorInfo &t : f->tensors)
    (void)qopt::models::ggufToHfName("llama", t.name);
  llvm::Expected<CheckpointFile> cf = qopt::models::readGgufCheckpoint(path);
  if (take(cf, o))
    readAll(*cf, o);
  return o;
}

struct Target {
  const char *dir;
  Outcome (*run)(const std::string &);
  /// What make_corpus.py says each seed is: true = a valid file.
  std::map<std::string, bool> expected;
};

const std::vector<Target> &targets() {
  static const std::vector<Target> t = {
      {"safetensors",
       runSafetensors,
       {{"two-tensors", true},
        {"scalar-and-empty", true},
        {"truncated", false},
        {"duplicate-key", false},
        {"huge-length", false},
        {"regression-zero-dim-overflow", false}}},
      {"pickle",
       runPickle,
       {{"state-dict", true},
        {"llama-data-pkl", true},
        {"global-os-system", false},
        // A tuple of nested tuples: a valid pickle, but not a state dict.
        {"deep-marks", false}}},
      {"torchzip",
       runTorchZip,
       {{"two-tensors", true},
        {"truncated", false},
        {"short-storage", false}}},
      {"gguf",
       runGguf,
       {{"llama-small", true},
        {"k-Q2_K", true},
        {"k-Q3_K", true},
        {"k-Q4_K", true},
        {"k-Q5_K", true},
        {"k-Q6_K", true},
        {"hostile-alignment", false},
        {"hostile-bad-offset", false},
        {"hostile-duplicate-key", false},
        {"hostile-lying-array", false},
        {"hostile-nested-array", false},
        {"hostile-truncated", false},
        {"regression-zero-dim-overflow", false}}},
  };
  return t;
}

class FuzzCorpusTest : public ::testing::TestWithParam<size_t> {};

TEST_P(FuzzCorpusTest, EveryFileReadsOrFailsCleanly) {
  const Target &t = targets()[GetParam()];
  std::filesystem::path dir =
      std::filesystem::path(QOPT_TEST_CORPUS) / t.dir;
  ASSERT_TRUE(std::filesystem::is_directory(dir)) << dir;
  std::vector<std::string> files;
  for (const auto &e : std::filesystem::directory_iterator(dir))
    if (e.is_regular_file())
      files.push_back(e.path().string());
  std::sort(files.begin(), files.end());
  // The listed seeds are all there (a renamed seed would silently drop
  // its expectation).
  for (const auto &[name, valid] : t.expected)
    EXPECT_TRUE(std::filesystem::exists(dir / name)) << (dir / name);
  for (const std::string &path : files) {
    SCOPED_TRACE(path);
    Outcome o = t.run(path);
    std::string name = std::filesystem::path(path).filename().string();
    if (!o.ok) {
      // An error names the file it is about.
      EXPECT_EQ(o.error.rfind(path + ": ", 0), 0u) << o.error;
      EXPECT_GT(o.error.size(), path.size() + 2);
    }
    auto it = t.expected.find(name);
    if (it == t.expected.end())
      continue;
    if (it->second)
      EXPECT_TRUE(o.ok) << o.error;
    else
      EXPECT_FALSE(o.ok) << "read " << o.tensors << " tensors";
  }
}

INSTANTIATE_TEST_SUITE_P(Targets, FuzzCorpusTest,
                         ::testing::Values(0, 1, 2, 3),
                         [](const ::testing::TestParamInfo<size_t> &i) {
                           return std::string(targets()[i.param].dir);
                         });

} // namespace
