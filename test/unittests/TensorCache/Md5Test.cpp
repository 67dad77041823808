//===- Md5Test.cpp - Multi-buffer MD5 ---------------------------*- C++ -*-===//
//
// Expected digests: the RFC 1321 test suite (appendix A.5), and llvm::MD5 (an
// independent scalar implementation) for messages of every length around the
// block and padding boundaries, in batches that mix lengths so lanes finish
// at different blocks. Each test runs on every SIMD target of the
// compression kernel (qopt/Numerics/Md5Lanes.h) this CPU runs, then on its
// scalar definition, and prints which ran.
//
//===----------------------------------------------------------------------===//

#include "qopt/TensorCache/Md5.h"

#include "../Numerics/SimdTargets.h"

#include "llvm/ADT/SmallString.h"
#include "llvm/Support/MD5.h"

#include <gtest/gtest.h>

#include <fstream>
#include <random>
#include <string>
#include <unistd.h>
#include <vector>

using namespace qopt::tensorcache;
using qopt::numerics::testing::forEachSimdTarget;

namespace {

llvm::ArrayRef<uint8_t> bytes(const std::string &s) {
  return {reinterpret_cast<const uint8_t *>(s.data()), s.size()};
}

std::string scalarMd5(llvm::ArrayRef<uint8_t> m) {
  llvm::MD5 md5;
  md5.update(m);
  llvm::MD5::MD5Result r;
  md5.final(r);
  return std::string(r.digest());
}

std::vector<uint8_t> randomBytes(size_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::vector<uint8_t> v(n);
  for (auto &b : v)
    b = uint8_t(rng());
  return v;
}

TEST(Md5, Rfc1321Suite) {
  forEachSimdTarget([&] {
  const std::vector<std::pair<std::string, std::string>> suite = {
      {"", "d41d8cd98f00b204e9800998ecf8427e"},
      {"a", "0cc175b9c0f1b6a831c399e269772661"},
      {"abc", "900150983cd24fb0d6963f7d28e17f72"},
      {"message digest", "f96b697d7cb7938d525a2f31aaf161d0"},
      {"abcdefghijklmnopqrstuvwxyz", "c3fcd3d76192e4007dfb496cca67e13b"},
      {"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789",
       "d174ab98d277d9f5a5611c2c9f419d9f"},
      {"1234567890123456789012345678901234567890123456789012345678901234567890"
       "1234567890",
       "57edf4a22be3c955ac49da2e2107b67a"}};
  std::vector<llvm::ArrayRef<uint8_t>> msgs;
  for (auto &[m, _] : suite)
    msgs.push_back(bytes(m));
  std::vector<Md5Digest> got = md5Many(msgs);
  ASSERT_EQ(got.size(), suite.size());
  for (size_t i = 0; i < suite.size(); ++i)
    EXPECT_EQ(md5Hex(got[i]), suite[i].second) << "message " << i;
  });
}

TEST(Md5, EveryLengthAroundTheBlocksAgainstScalar) {
  forEachSimdTarget([&] {
  // Lengths 0..200 in batches of 16 (more than one batch, the last partial):
  // tails of 55, 56 and 63 bytes need one or two padding blocks.
  std::vector<std::vector<uint8_t>> data;
  for (size_t n = 0; n <= 200; ++n)
    data.push_back(randomBytes(n, uint32_t(n)));
  std::vector<llvm::ArrayRef<uint8_t>> msgs(data.begin(), data.end());
  std::vector<Md5Digest> got = md5Many(msgs);
  for (size_t n = 0; n < data.size(); ++n)
    EXPECT_EQ(md5Hex(got[n]), scalarMd5(data[n])) << "length " << n;
  });
}

TEST(Md5, FilesOfMixedSizesOnSeveralThreads) {
  forEachSimdTarget([&] {
  // 37 files (three batches on two threads; a file of exactly 1 MiB, the
  // chunk a lane reads at a time, and ones just around it) against llvm::MD5.
  const std::vector<size_t> sizes = {0,       1,        63,       64,
                                     65,      1000,     4096,     (1 << 20) - 1,
                                     1 << 20, (1 << 20) + 1, 3 << 20, 77777};
  char dirTemplate[] = "/tmp/qopt-md5-XXXXXX";
  ASSERT_NE(mkdtemp(dirTemplate), nullptr);
  std::string dir = dirTemplate;
  std::vector<Md5File> files;
  std::vector<std::string> expected;
  for (size_t i = 0; i < 37; ++i) {
    size_t n = sizes[i % sizes.size()];
    std::vector<uint8_t> d = randomBytes(n, uint32_t(1000 + i));
    std::string path = dir + "/f" + std::to_string(i);
    std::ofstream(path, std::ios::binary)
        .write(reinterpret_cast<const char *>(d.data()), std::streamsize(n));
    files.push_back({path, n, "shard" + std::to_string(i)});
    expected.push_back(scalarMd5(d));
  }
  for (unsigned threads : {1u, 2u, 3u}) {
    auto got = md5Files(files, threads);
    ASSERT_TRUE(bool(got)) << llvm::toString(got.takeError());
    EXPECT_EQ(*got, expected) << threads << " threads";
  }
  // A file whose size is not the planned one is an error naming it.
  files[5].size += 1;
  auto bad = md5Files(files, 2);
  ASSERT_FALSE(bool(bad));
  EXPECT_EQ(llvm::toString(bad.takeError()),
            "error reading 'shard5': has 1000 bytes, expected 1001");
  files[5].size -= 1;
  files[7].path = dir + "/missing";
  bad = md5Files(files, 1);
  ASSERT_FALSE(bool(bad));
  EXPECT_EQ(llvm::toString(bad.takeError()),
            "error reading 'shard7': No such file or directory");
  for (size_t i = 0; i < 37; ++i)
    ::unlink((dir + "/f" + std::to_string(i)).c_str());
  ::rmdir(dir.c_str());
  });
}

// Streams fed in pieces: the RFC 1321 suite one byte at a time, and 37
// random messages (more than two batches of lanes) cut at random points
// around block boundaries, the pieces of different streams fed together in
// rounds (some streams get an empty piece in a round).
TEST(Md5Test, StreamsFedInPiecesMatchTheScalarDigest) {
  forEachSimdTarget([&] {
  const char *msg = "12345678901234567890123456789012345678901234567890123456"
                    "789012345678901234567890";
  Md5Stream one;
  Md5Stream *streams1[1] = {&one};
  for (const char *p = msg; *p; ++p) {
    llvm::ArrayRef<uint8_t> piece[1] = {
        {reinterpret_cast<const uint8_t *>(p), 1}};
    md5UpdateMany(streams1, piece);
  }
  EXPECT_EQ(md5Hex(one.digest()), "57edf4a22be3c955ac49da2e2107b67a");
  EXPECT_EQ(md5Hex(Md5Stream().digest()), "d41d8cd98f00b204e9800998ecf8427e");

  std::mt19937 rng(7);
  std::vector<std::vector<uint8_t>> msgs;
  for (size_t i = 0; i < 37; ++i)
    msgs.push_back(randomBytes(rng() % 3000, uint32_t(i)));
  std::vector<Md5Stream> s(msgs.size());
  std::vector<size_t> done(msgs.size(), 0);
  for (bool more = true; more;) {
    more = false;
    std::vector<Md5Stream *> ptrs;
    std::vector<llvm::ArrayRef<uint8_t>> pieces;
    for (size_t i = 0; i < msgs.size(); ++i) {
      size_t left = msgs[i].size() - done[i];
      size_t take = std::min<size_t>(left, rng() % 4 == 0 ? 0 : rng() % 200);
      if (rng() % 3 == 0)
        take = std::min<size_t>(left, 64 - done[i] % 64); // to a boundary
      ptrs.push_back(&s[i]);
      pieces.push_back({msgs[i].data() + done[i], take});
      done[i] += take;
      more |= done[i] < msgs[i].size();
    }
    md5UpdateMany(ptrs, pieces);
  }
  for (size_t i = 0; i < msgs.size(); ++i) {
    EXPECT_EQ(s[i].length, msgs[i].size());
    EXPECT_EQ(md5Hex(s[i].digest()), scalarMd5(msgs[i])) << "message " << i;
  }
  });
}

// Sixteen long messages of different lengths in one batch (lanes run many
// blocks and stop at different ones), on every target.
TEST(Md5, LongMessagesInOneBatch) {
  std::vector<std::vector<uint8_t>> data;
  for (size_t l = 0; l < 16; ++l)
    data.push_back(randomBytes(64 * (37 * l % 101) + (l * 13) % 64 + 4096,
                               uint32_t(500 + l)));
  std::vector<llvm::ArrayRef<uint8_t>> msgs(data.begin(), data.end());
  forEachSimdTarget([&] {
    std::vector<Md5Digest> got = md5Many(msgs);
    for (size_t l = 0; l < data.size(); ++l)
      EXPECT_EQ(md5Hex(got[l]), scalarMd5(data[l])) << "lane " << l;
  });
}

} // namespace
