//===- ShardHasherTest.cpp - MD5 of shards as they are written --*- C++ -*-===//
//
// Expected digests come from llvm::MD5 (an independent scalar MD5) of each
// shard's whole content; the pieces reach the hasher in every order the
// executor can produce: in order, shuffled, from several threads, and past
// the copy budget (read back from the file). Part assignment is worked by
// hand.
//
//===----------------------------------------------------------------------===//

#include "qopt/TensorCache/ShardHasher.h"
#include "qopt/Support/PageDrop.h"
#include "qopt/TensorCache/TensorCache.h"

#include "llvm/ADT/SmallString.h"
#include "llvm/Support/MD5.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <fstream>
#include <random>
#include <thread>
#include <unistd.h>

using namespace qopt::tensorcache;

namespace {

std::string scalarMd5(const std::vector<uint8_t> &m) {
  llvm::MD5 md5;
  md5.update(llvm::ArrayRef<uint8_t>(m));
  llvm::MD5::MD5Result r;
  md5.final(r);
  return std::string(r.digest());
}

/// Appends `n` bytes drawn from `rng` to `content` and writes them as the
/// shard file `dir`/s<k> (its path appended to `paths`).
void writeRandomShard(const std::string &dir, size_t k, size_t n,
                      std::mt19937 &rng,
                      std::vector<std::vector<uint8_t>> &content,
                      std::vector<std::string> &paths) {
  std::vector<uint8_t> d(n);
  for (uint8_t &b : d)
    b = uint8_t(rng());
  paths.push_back(dir + "/s" + std::to_string(k));
  std::ofstream(paths.back(), std::ios::binary)
      .write(reinterpret_cast<const char *>(d.data()), std::streamsize(n));
  content.push_back(std::move(d));
}

struct Piece {
  size_t shard;
  uint64_t offset, size;
};

/// 23 shards of random sizes (one of 0 bytes, several below a block),
/// written to files, cut into random pieces.
struct Fixture {
  std::vector<std::vector<uint8_t>> content;
  std::vector<std::string> paths;
  std::vector<Piece> pieces;
  std::string dir;

  explicit Fixture(uint32_t seed) {
    std::mt19937 rng(seed);
    dir = std::string(QOPT_TEST_TMPDIR) + "/hasher-" + std::to_string(seed) +
          "-" + std::to_string(::getpid());
    ::mkdir(dir.c_str(), 0777);
    for (size_t k = 0; k < 23; ++k) {
      size_t n = k == 4 ? 0 : k % 5 == 0 ? rng() % 60 : rng() % 300000;
      writeRandomShard(dir, k, n, rng, content, paths);
      for (uint64_t off = 0; off < n;) {
        uint64_t len = std::min<uint64_t>(n - off, 1 + rng() % 40000);
        pieces.push_back({k, off, len});
        off += len;
      }
    }
  }
  ~Fixture() {
    for (const std::string &p : paths)
      ::unlink(p.c_str());
    ::rmdir(dir.c_str());
  }
  std::vector<uint64_t> sizes() const {
    std::vector<uint64_t> s;
    for (const auto &c : content)
      s.push_back(c.size());
    return s;
  }
  std::vector<std::string> expected() const {
    std::vector<std::string> e;
    for (const auto &c : content)
      e.push_back(scalarMd5(c));
    return e;
  }
  void add(ShardHasher &h, const Piece &p) const {
    llvm::Error err =
        h.add(p.shard, p.offset, content[p.shard].data() + p.offset, p.size);
    ASSERT_FALSE(bool(err)) << llvm::toString(std::move(err));
  }
};

TEST(ShardHasherTest, InOrderPiecesAreHashedFromMemory) {
  Fixture f(1);
  ShardHasher h(f.sizes(), f.paths, f.paths);
  for (const Piece &p : f.pieces)
    f.add(h, p);
  auto got = h.finish();
  ASSERT_TRUE(bool(got)) << llvm::toString(got.takeError());
  EXPECT_EQ(*got, f.expected());
  ShardHasher::Stats s = h.stats();
  uint64_t total = 0;
  for (uint64_t n : f.sizes())
    total += n;
  EXPECT_EQ(s.bytes, total);
  EXPECT_EQ(s.readBack, 0u);
  EXPECT_EQ(s.outOfOrder, 0u);
}

TEST(ShardHasherTest, ShuffledPiecesFromSeveralThreads) {
  for (uint64_t pendingBudget : {uint64_t(64) << 20, uint64_t(100000), uint64_t(0)}) {
    Fixture f(2 + uint32_t(pendingBudget % 7));
    std::mt19937 rng(5);
    std::shuffle(f.pieces.begin(), f.pieces.end(), rng);
    ShardHasher::Limits limits;
    limits.pendingBytes = pendingBudget;
    limits.readyBytes = 200000; // forces many small batches
    ShardHasher h(f.sizes(), f.paths, f.paths, limits);
    std::vector<std::thread> threads;
    for (unsigned t = 0; t < 3; ++t)
      threads.emplace_back([&, t] {
        for (size_t i = t; i < f.pieces.size(); i += 3)
          f.add(h, f.pieces[i]);
      });
    for (std::thread &t : threads)
      t.join();
    auto got = h.finish();
    ASSERT_TRUE(bool(got)) << llvm::toString(got.takeError());
    EXPECT_EQ(*got, f.expected()) << "budget " << pendingBudget;
    ShardHasher::Stats s = h.stats();
    EXPECT_GT(s.outOfOrder + s.readBack, 0u);
    if (pendingBudget == 0)
      EXPECT_EQ(s.outOfOrder, 0u); // nothing copied: all read back
    else if (pendingBudget > (32u << 20))
      EXPECT_EQ(s.readBack, 0u);
  }
}

// The writer's setting: no in-order copy is kept; every byte is read back
// from the files (pread, 64 KiB per lane), whatever order and thread the
// pieces come from, and nothing is held as a copy.
TEST(ShardHasherTest, NoCopiesReadsEveryPieceBack) {
  for (unsigned threads : {1u, 3u}) {
    Fixture f(11 + threads);
    std::mt19937 rng(7);
    if (threads > 1)
      std::shuffle(f.pieces.begin(), f.pieces.end(), rng);
    ShardHasher::Limits limits;
    limits.readyCopyBytes = 0;
    limits.pendingBytes = 0;
    limits.readyBytes = 150000;
    ShardHasher h(f.sizes(), f.paths, f.paths, limits);
    std::vector<std::thread> workers;
    for (unsigned t = 0; t < threads; ++t)
      workers.emplace_back([&, t] {
        for (size_t i = t; i < f.pieces.size(); i += threads)
          f.add(h, f.pieces[i]);
      });
    for (std::thread &t : workers)
      t.join();
    auto got = h.finish();
    ASSERT_TRUE(bool(got)) << llvm::toString(got.takeError());
    EXPECT_EQ(*got, f.expected()) << threads << " threads";
    ShardHasher::Stats s = h.stats();
    uint64_t total = 0;
    for (uint64_t n : f.sizes())
      total += n;
    EXPECT_EQ(s.bytes, total);
    EXPECT_EQ(s.readBack, total);
    EXPECT_EQ(s.outOfOrder, 0u);
    EXPECT_EQ(s.peakWaiting, 0u);
  }
}

// Copies cost what they hold: out-of-order pieces smaller than a 64 KiB slab
// (a quantized weight's rows of scales) get allocations of their own size,
// larger ones whole slabs. One shard: 99 pieces of 200 bytes and one of
// 100,000 bytes after them, all added before the piece at offset 0, so all
// wait as copies at once: 99 x 200 + 100,000 = 119,800 bytes waiting, held
// in 99 x 200 bytes + 2 slabs of 65,536 = 150,872 bytes (a slab per small
// piece would be 99 x 65,536 + 2 x 65,536 = 6,619,136).
TEST(ShardHasherTest, SmallCopiesHoldTheirOwnSize) {
  std::vector<uint8_t> content(120000);
  std::mt19937 rng(31);
  for (uint8_t &b : content)
    b = uint8_t(rng());
  ShardHasher::Limits limits;
  limits.pendingBytes = 1u << 20;
  limits.readyCopyBytes = 0;
  // The piece at the frontier is read back from the file.
  std::vector<std::string> paths = {std::string(QOPT_TEST_TMPDIR) +
                                    "/hasher-small-" +
                                    std::to_string(::getpid())};
  std::ofstream(paths[0], std::ios::binary)
      .write(reinterpret_cast<const char *>(content.data()),
             std::streamsize(content.size()));
  ShardHasher h({content.size()}, paths, paths, limits);
  auto add = [&](uint64_t offset, uint64_t size) {
    llvm::Error err = h.add(0, offset, content.data() + offset, size);
    ASSERT_FALSE(bool(err)) << llvm::toString(std::move(err));
  };
  add(20000, 100000);
  for (uint64_t off = 19800; off > 0; off -= 200)
    add(off, 200);
  ShardHasher::Stats mid = h.stats();
  EXPECT_EQ(mid.peakWaiting, 119800u);
  EXPECT_EQ(mid.peakHeld, 150872u);
  add(0, 200);
  auto got = h.finish();
  ASSERT_TRUE(bool(got)) << llvm::toString(got.takeError());
  EXPECT_EQ((*got)[0], scalarMd5(content));
  // No in-order copy is kept (the writer's setting): once the frontier
  // reaches them, the copies are freed and every byte is read back.
  ShardHasher::Stats s = h.stats();
  EXPECT_EQ(s.outOfOrder, 0u);
  EXPECT_EQ(s.readBack, 120000u);
  EXPECT_EQ(s.peakHeld, 150872u);
  ::unlink(paths[0].c_str());
}

// Out-of-order copies stay within their budget when the frontier reaches
// them: without an in-order budget they are freed there instead of waiting
// for their batch as in-order copies. 40 pieces of 500 bytes, each odd one
// added just before the even one ahead of it: one copy of 500 bytes waits
// at a time (were the drained copies kept until the batch, 19 x 500 + 500 =
// 10,000 bytes would wait).
TEST(ShardHasherTest, DrainedCopiesDoNotPileUp) {
  std::vector<uint8_t> content(20000);
  std::mt19937 rng(41);
  for (uint8_t &b : content)
    b = uint8_t(rng());
  // A second shard, written last, keeps the batch (two lanes) from starting
  // before finish().
  std::vector<uint8_t> other(100, 7);
  std::string base = std::string(QOPT_TEST_TMPDIR) + "/hasher-drain-" +
                     std::to_string(::getpid());
  std::vector<std::string> paths = {base + "-0", base + "-1"};
  std::ofstream(paths[0], std::ios::binary)
      .write(reinterpret_cast<const char *>(content.data()),
             std::streamsize(content.size()));
  std::ofstream(paths[1], std::ios::binary)
      .write(reinterpret_cast<const char *>(other.data()), 100);
  ShardHasher::Limits limits;
  limits.readyCopyBytes = 0;
  limits.pendingBytes = 1000;
  limits.readyBytes = 1u << 20;
  ShardHasher h({content.size(), other.size()}, paths, paths, limits);
  for (uint64_t off = 0; off < 20000; off += 1000) {
    for (uint64_t piece : {off + 500, off}) {
      llvm::Error err = h.add(0, piece, content.data() + piece, 500);
      ASSERT_FALSE(bool(err)) << llvm::toString(std::move(err));
    }
  }
  ShardHasher::Stats mid = h.stats();
  EXPECT_EQ(mid.batches, 0u);
  EXPECT_EQ(mid.peakWaiting, 500u);
  EXPECT_EQ(mid.peakHeld, 500u);
  llvm::Error err = h.add(1, 0, other.data(), other.size());
  ASSERT_FALSE(bool(err)) << llvm::toString(std::move(err));
  auto got = h.finish();
  ASSERT_TRUE(bool(got)) << llvm::toString(got.takeError());
  EXPECT_EQ((*got)[0], scalarMd5(content));
  EXPECT_EQ((*got)[1], scalarMd5(other));
  EXPECT_EQ(h.stats().readBack, 20100u);
  for (const std::string &p : paths)
    ::unlink(p.c_str());
}

// Each staged file is mapped once, and the pages the lanes of a batch read
// back are dropped together: 16 shards of 1 MiB read back side by side take
// 16 rounds of 64 KiB per lane; once 16 x 256 KiB were read (before rounds
// 5, 9 and 13, and after round 16) the pages read are dropped, 4 drops, and
// the 17th shard's batch drops its 100 bytes' page at its end: 5 (worked by
// hand). One call each where process_madvise batches the lanes' ranges;
// one per lane's range without: 4 x 16 + 1 = 65. A 17th shard, incomplete
// until its byte comes, keeps the batch from starting before the 16 are
// whole.
TEST(ShardHasherTest, LanePagesAreDroppedTogether) {
  std::string dir = std::string(QOPT_TEST_TMPDIR) + "/hasher-windows-" +
                    std::to_string(::getpid());
  ::mkdir(dir.c_str(), 0777);
  std::mt19937 rng(31);
  std::vector<std::vector<uint8_t>> content;
  std::vector<std::string> paths;
  std::vector<uint64_t> sizes;
  for (size_t k = 0; k < 17; ++k) {
    writeRandomShard(dir, k, k < 16 ? (1u << 20) : 100u, rng, content, paths);
    sizes.push_back(content.back().size());
  }
  ShardHasher::Limits limits;
  limits.readyCopyBytes = 0;
  limits.pendingBytes = 0;
  limits.readyBytes = 1ull << 30;
  limits.batchLanes = 17; // wait for all 17 shards (the batch takes 16)
  ShardHasher h(sizes, paths, paths, limits);
  for (size_t k = 0; k < 17; ++k)
    for (uint64_t off = 0; off < sizes[k]; off += 40000) {
      uint64_t len = std::min<uint64_t>(40000, sizes[k] - off);
      llvm::Error err = h.add(k, off, content[k].data() + off, len);
      ASSERT_FALSE(bool(err)) << llvm::toString(std::move(err));
    }
  auto got = h.finish();
  ASSERT_TRUE(bool(got)) << llvm::toString(got.takeError());
  for (size_t k = 0; k < 17; ++k)
    EXPECT_EQ((*got)[k], scalarMd5(content[k])) << "shard " << k;
  ShardHasher::Stats s = h.stats();
  EXPECT_EQ(s.batches, 2u);
  EXPECT_EQ(s.readBack, 16u * (1u << 20) + 100u);
  EXPECT_EQ(s.viewMaps, 17u);
  EXPECT_EQ(s.pageDrops,
            qopt::support::pageDropsAreBatched() ? 5u : 4u * 16u + 1u);
  for (const std::string &p : paths)
    ::unlink(p.c_str());
  ::rmdir(dir.c_str());
}

// A batch stops once fewer than half of its lanes have bytes left; the rest
// waits for the next batch, whose other lanes new bytes fill (the md5 kernel
// computes all 16 lanes whatever their use). Worked by hand, 8 lanes wanted:
// shard 0 (1 MiB) is added whole, then the first 64 KiB of shards 1..7
// (128 KiB each); at shard 7's piece 8 shards wait: batch 1 hashes one round
// of 64 KiB per lane, then only shard 0 has bytes left (1 of 8 lanes): cut,
// 960 KiB wait again. The second halves of shards 1..7: at shard 7's, batch
// 2 (shard 0's rest and 7 x 64 KiB) is cut the same way after one round,
// leaving 896 KiB; shards 1..7 are then complete, so shard 0 alone is enough
// for batch 3, which hashes it to its end (one lane: nothing to cut for).
TEST(ShardHasherTest, BatchesStopWhenMostLanesRunDry) {
  std::string dir = std::string(QOPT_TEST_TMPDIR) + "/hasher-cut-" +
                    std::to_string(::getpid());
  ::mkdir(dir.c_str(), 0777);
  std::mt19937 rng(41);
  std::vector<std::vector<uint8_t>> content;
  std::vector<std::string> paths;
  std::vector<uint64_t> sizes;
  for (size_t k = 0; k < 8; ++k) {
    writeRandomShard(dir, k, k == 0 ? (1u << 20) : (128u << 10), rng, content, paths);
    sizes.push_back(content.back().size());
  }
  ShardHasher::Limits limits;
  limits.readyCopyBytes = 0;
  limits.pendingBytes = 0;
  limits.readyBytes = 1ull << 30;
  limits.batchLanes = 8;
  ShardHasher h(sizes, paths, paths, limits);
  auto add = [&](size_t k, uint64_t off, uint64_t len) {
    llvm::Error err = h.add(k, off, content[k].data() + off, len);
    ASSERT_FALSE(bool(err)) << llvm::toString(std::move(err));
  };
  add(0, 0, 1u << 20);
  for (size_t k = 1; k < 8; ++k)
    add(k, 0, 64u << 10);
  ShardHasher::Stats s = h.stats();
  EXPECT_EQ(s.batches, 1u);
  EXPECT_EQ(s.cutShort, 1u);
  EXPECT_EQ(s.bytes, 8u * (64u << 10));
  for (size_t k = 1; k < 8; ++k)
    add(k, 64u << 10, 64u << 10);
  s = h.stats();
  EXPECT_EQ(s.batches, 3u);
  EXPECT_EQ(s.cutShort, 2u);
  EXPECT_EQ(s.laneBatches, 8u + 8u + 1u);
  EXPECT_EQ(s.bytes, (1u << 20) + 7u * (128u << 10));
  auto got = h.finish();
  ASSERT_TRUE(bool(got)) << llvm::toString(got.takeError());
  for (size_t k = 0; k < 8; ++k)
    EXPECT_EQ((*got)[k], scalarMd5(content[k])) << "shard " << k;
  EXPECT_EQ(h.stats().batches, 3u);
  for (const std::string &p : paths)
    ::unlink(p.c_str());
  ::rmdir(dir.c_str());
}

// A file range that cannot be read back is an error naming the shard.
TEST(ShardHasherTest, NoCopiesMissingFileIsAnError) {
  Fixture f(21);
  ShardHasher::Limits limits;
  limits.readyCopyBytes = 0;
  std::vector<std::string> paths = f.paths;
  paths[2] = f.dir + "/missing";
  ShardHasher h(f.sizes(), paths, {f.paths.size(), std::string("shard")},
                limits);
  // The first error, from the add that hashed the batch or from finish.
  std::string first;
  for (const Piece &p : f.pieces)
    if (llvm::Error err = h.add(p.shard, p.offset,
                                f.content[p.shard].data() + p.offset, p.size);
        err && first.empty())
      first = llvm::toString(std::move(err));
    else
      llvm::consumeError(std::move(err));
  auto got = h.finish();
  ASSERT_FALSE(bool(got));
  std::string last = llvm::toString(got.takeError());
  EXPECT_EQ(first.empty() ? last : first,
            "error reading 'shard': No such file or directory");
}

TEST(ShardHasherTest, IncompleteShardIsAnError) {
  Fixture f(3);
  ShardHasher h(f.sizes(), f.paths, {f.paths.size(), std::string("shard")});
  for (const Piece &p : f.pieces)
    if (!(p.shard == 1 && p.offset == 0))
      f.add(h, p);
  auto got = h.finish();
  ASSERT_FALSE(bool(got));
  EXPECT_EQ(llvm::toString(got.takeError()),
            "cannot hash 'shard': 0 of its " +
                std::to_string(f.content[1].size()) +
                " bytes were written in order");
  // Shards outside `only` may be incomplete.
  ShardHasher h2(f.sizes(), f.paths, f.paths);
  for (const Piece &p : f.pieces)
    if (p.shard != 1)
      f.add(h2, p);
  std::vector<bool> only(f.content.size(), true);
  only[1] = false;
  auto got2 = h2.finish(only);
  ASSERT_TRUE(bool(got2)) << llvm::toString(got2.takeError());
  std::vector<std::string> want = f.expected();
  want[1] = "";
  EXPECT_EQ(*got2, want);
}

// Worked by hand: shard k goes to part floor(N * middle_k / total).
TEST(ShardHasherTest, PartsAreContiguousRunsOfAboutEqualBytes) {
  // middles 5, 15, 25 of 30.
  EXPECT_EQ(assignShardsToParts({10, 10, 10}, 3),
            (std::vector<uint32_t>{0, 1, 2}));
  // middles 50, 100.5, 101.5, 102.5 of 103: 0.97, 1.95, 1.97, 1.99.
  EXPECT_EQ(assignShardsToParts({100, 1, 1, 1}, 2),
            (std::vector<uint32_t>{0, 1, 1, 1}));
  // More parts than shards: middles 0.5 and 1.5 of 2 -> 1.25, 3.75.
  EXPECT_EQ(assignShardsToParts({1, 1}, 5), (std::vector<uint32_t>{1, 3}));
  EXPECT_EQ(assignShardsToParts({7, 7, 7, 7}, 1),
            (std::vector<uint32_t>{0, 0, 0, 0}));
  // Sizes near 2^64 do not overflow (128-bit sums).
  EXPECT_EQ(assignShardsToParts({UINT64_MAX / 2, UINT64_MAX / 2}, 2),
            (std::vector<uint32_t>{0, 1}));
}

} // namespace
