//===- TorchZipTestUtil.h - Fixture of the torch zip tests -----*- C++ -*-===//
//
// Part of quant-opt.
//
// The fixture shared by the torch zip reader tests (TorchZipTest.cpp) and
// the hostile pickle tests (HostilePickleTest.cpp): a scratch directory per
// test and archives built by LoaderTestUtil.h's independent zip and pickle
// writers.
//
//===----------------------------------------------------------------------===//

#ifndef QOPT_TEST_UNITTESTS_LOADERS_TORCHZIPTESTUTIL_H
#define QOPT_TEST_UNITTESTS_LOADERS_TORCHZIPTESTUTIL_H

#include "qopt/Loaders/TorchZip.h"

#include "LoaderTestUtil.h"

#include <gtest/gtest.h>

#include <string>
#include <utility>
#include <vector>

namespace qopt::loaders::test {

/// A byte string literal that may hold NULs.
template <size_t N>
std::string bytesOf(const char (&s)[N]) {
  return std::string(s, N - 1);
}

class TorchZipFileTest : public ::testing::Test {
protected:
  void SetUp() override {
    dir = scratchDir(
        ::testing::UnitTest::GetInstance()->current_test_info()->name());
    path = dir + "/pytorch_model.bin";
  }
  llvm::Expected<CheckpointFile> readBytes(const std::string &bytes) {
    writeFile(path, bytes);
    return readTorchZipHeader(path);
  }
  /// A torch zip holding `pickle` and `storages`.
  llvm::Expected<CheckpointFile> readPickle(
      const std::string &pickle,
      const std::vector<std::pair<std::string, std::string>> &storages = {}) {
    return readBytes(buildTorchZip(pickle, storages).bytes);
  }
  std::string failPickle(
      const std::string &pickle,
      const std::vector<std::pair<std::string, std::string>> &storages = {}) {
    return errorOf(readPickle(pickle, storages));
  }
  std::string dir;
  std::string path;
};

} // namespace qopt::loaders::test

#endif // QOPT_TEST_UNITTESTS_LOADERS_TORCHZIPTESTUTIL_H
