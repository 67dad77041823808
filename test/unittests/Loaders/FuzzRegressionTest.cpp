//===- FuzzRegressionTest.cpp - Inputs found by the libFuzzer targets ----===//
//
// Part of quant-opt.
//
// Each test is a reduced input on which a fuzz target (test/fuzz) found a
// bug, with the behaviour now expected. Files are written by the test's own
// helpers (LoaderTestUtil.h).
//
//===----------------------------------------------------------------------===//

#include "qopt/Loaders/Safetensors.h"
#include "qopt/Loaders/TensorReader.h"
#include "qopt/Loaders/TorchZip.h"

#include "LoaderTestUtil.h"

#include <gtest/gtest.h>

using namespace qopt::loaders;
using namespace qopt::loaders::test;

namespace {

/// A safetensors file with one tensor `w` of `shape` and no data.
std::string emptySafetensors(const std::string &shape) {
  std::string header =
      R"({"w":{"dtype":"F32","shape":)" + shape + R"(,"data_offsets":[0,0]}})";
  return le64(header.size()) + header;
}

// qopt-fuzz-gguf, then the same shape in safetensors: a dimension of 0
// after dims whose product overflows int64 made the element count 0, the
// header was accepted, and TensorInfo::numElements() (which multiplies left
// to right) overflowed a signed int64 (UBSan: signed integer overflow in
// Checkpoint.cpp). llvm::SaturatingMultiply resets its overflow flag on
// every call, so `numel = SaturatingMultiply(numel, d, &overflow)` in a loop
// forgot the overflow once a later dim was 0.
TEST(FuzzRegressionTest, SafetensorsZeroDimAfterOverflow) {
  std::string dir = scratchDir("FuzzSafetensorsZeroDim");
  writeFile(dir + "/a.safetensors",
            emptySafetensors("[1099511627776,1099511627776,0]"));
  EXPECT_EQ(errorOf(readSafetensorsHeader(dir + "/a.safetensors")),
            dir + "/a.safetensors: tensor 'w': shape [1099511627776, "
                  "1099511627776, 0] overflows the element count");
  // 2^32 * 2^31 = 2^63 fits in uint64 but not in int64.
  writeFile(dir + "/b.safetensors",
            emptySafetensors("[4294967296,2147483648,0]"));
  EXPECT_EQ(errorOf(readSafetensorsHeader(dir + "/b.safetensors")),
            dir + "/b.safetensors: tensor 'w': shape [4294967296, "
                  "2147483648, 0] overflows the element count");
  // A zero first: every partial product is 0, which is fine.
  writeFile(dir + "/c.safetensors",
            emptySafetensors("[0,1099511627776,1099511627776]"));
  llvm::Expected<CheckpointFile> cf =
      readSafetensorsHeader(dir + "/c.safetensors");
  ASSERT_TRUE(bool(cf)) << llvm::toString(cf.takeError());
  EXPECT_EQ(cf->tensors[0].numElements(), 0);
}

TEST(FuzzRegressionTest, TorchZipZeroDimAfterOverflow) {
  std::string dir = scratchDir("FuzzTorchZeroDim");
  PickleWriter p;
  p.proto().emptyDict().mark();
  p.str("w").tensorV2("FloatStorage", "0", 0, 0,
                      {int64_t(1) << 40, int64_t(1) << 40, 0}, {0, 0, 1});
  p.setitems().stop();
  writeFile(dir + "/m.bin", buildTorchZip(p.bytes, {{"0", ""}}).bytes);
  EXPECT_EQ(errorOf(readTorchZipHeader(dir + "/m.bin")),
            dir + "/m.bin: tensor 'w': shape [1099511627776, 1099511627776, "
                  "0] overflows the byte count");
}

// The byte reader checks the same way when handed such a TensorInfo.
TEST(FuzzRegressionTest, TensorReaderZeroDimAfterOverflow) {
  TensorInfo t;
  t.name = "w";
  t.file = "f.bin";
  t.dtype = qopt::numerics::DType::F32;
  t.shape = {int64_t(1) << 40, int64_t(1) << 40, 0};
  TensorReader reader;
  char out[4];
  EXPECT_EQ(errorOf(reader.read(t, out)),
            "f.bin: tensor 'w': shape [1099511627776, 1099511627776, 0] "
            "overflows the byte count");
}

} // namespace
