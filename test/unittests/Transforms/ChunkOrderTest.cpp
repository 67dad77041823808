//===- ChunkOrderTest.cpp - The order the executor runs chunks in -*- C++ -*-===//
//
// Orders worked by hand from the rule (ChunkOrder.h): chunks of one shard
// keep their order; shards, in order of first appearance, join the lane
// with the fewest chunks so far (the lowest on a tie); chunk j of a lane of
// L chunks runs at (j + 1) / L, ties in lane order; skipped chunks never
// run. And orderChunksForHashing's rule for chunks that write several
// shards or bytes of different sizes: lanes dealt by bytes, each chunk due
// at its earliest write's end over its lane's length.
//
//===----------------------------------------------------------------------===//

#include "dialects/Weights/Transforms/ChunkOrder.h"

#include <gtest/gtest.h>

using namespace mlir::qopt::weights;

namespace {

/// Chunks whose shard is kSkipChunk do not run (another part writes them).
constexpr uint32_t kSkipChunk = UINT32_MAX;

/// orderChunksForHashing for chunks that write one byte each to their
/// shard `shardOfChunk[c]`, in index order: the lanes advance by chunks.
std::vector<size_t> interleaveChunksByShard(llvm::ArrayRef<uint32_t> shardOfChunk,
                                            unsigned lanes) {
  std::vector<llvm::SmallVector<ChunkWrite, 2>> writes(shardOfChunk.size());
  std::vector<uint64_t> shardBytes;
  for (size_t c = 0; c < shardOfChunk.size(); ++c) {
    uint32_t s = shardOfChunk[c];
    if (s == kSkipChunk)
      continue;
    if (shardBytes.size() <= s)
      shardBytes.resize(s + 1, 0);
    writes[c].push_back({s, shardBytes[s]++, 1});
  }
  return orderChunksForHashing(writes, shardBytes, lanes);
}

TEST(ChunkOrderTest, LanesFinishTogether) {
  // Shard 0: chunks 0 1 2; shard 1: 3 4; shard 2: 5 7 (6 skipped); shard 3: 8.
  std::vector<uint32_t> shardOf = {0, 0, 0, 1, 1, 2, kSkipChunk, 2, 3};
  // Two lanes: shard 0 -> lane 0 (3 chunks), shard 1 -> lane 1 (2), shard 2
  // -> lane 1 (2 < 3: now 4), shard 3 -> lane 0 (3 < 4: now 4). Lane 0 runs
  // 0 1 2 8, lane 1 runs 3 4 5 7, at 1/4, 2/4, 3/4, 4/4 each.
  EXPECT_EQ(interleaveChunksByShard(shardOf, 2),
            (std::vector<size_t>{0, 3, 1, 4, 2, 5, 8, 7}));
  // One lane: the original order without the skipped chunk.
  EXPECT_EQ(interleaveChunksByShard(shardOf, 1),
            (std::vector<size_t>{0, 1, 2, 3, 4, 5, 7, 8}));
  // More lanes than shards: a lane each (4). Lane 0's chunks at 1/3, 2/3,
  // 1; lanes 1 and 2 at 1/2, 1; lane 3's at 1. So 0 (1/3), 3 and 5 (1/2),
  // 1 (2/3), then every lane's last chunk: 2 4 7 8.
  EXPECT_EQ(interleaveChunksByShard(shardOf, 16),
            (std::vector<size_t>{0, 3, 5, 1, 2, 4, 7, 8}));
}

TEST(ChunkOrderTest, ShardsDealtInOrderOfFirstAppearance) {
  // Shard 5 appears first (an out-of-band shard numbered before the
  // pending one): lane 0 runs 0 2 (at 1/2, 1), lane 1 shard 2's 1 3 4 (at
  // 1/3, 2/3, 1): 1 (1/3), 0 (1/2), 3 (2/3), 2 and 4 (1, lane order).
  std::vector<uint32_t> shardOf = {5, 2, 5, 2, 2};
  EXPECT_EQ(interleaveChunksByShard(shardOf, 2),
            (std::vector<size_t>{1, 0, 3, 2, 4}));
  EXPECT_TRUE(interleaveChunksByShard({kSkipChunk, kSkipChunk}, 4).empty());
  EXPECT_TRUE(interleaveChunksByShard({}, 4).empty());
}

TEST(ChunkOrderTest, ShortShardsFillTheShortestLane) {
  // Shards of 4, 1, 1, 1, 1 chunks over two lanes: shard 0 -> lane 0 (4),
  // shards 1, 2, 3 -> lane 1 (1, 2, 3), shard 4 -> lane 1 (3 < 4: 4). Each
  // lane has 4 chunks, at 1/4 .. 4/4: 0 4 1 5 2 6 3 7.
  std::vector<uint32_t> shardOf = {0, 0, 0, 0, 1, 2, 3, 4};
  EXPECT_EQ(interleaveChunksByShard(shardOf, 2),
            (std::vector<size_t>{0, 4, 1, 5, 2, 6, 3, 7}));
}

TEST(ChunkOrderTest, ScalesThatOpenAShardRunFirst) {
  // Chunks 0-3 (b0-b3) write 3 bytes each of shard 1 at 4 + 3i; chunks 4-7
  // (a0-a3) write 4 bytes of shard 0 at 4i and 1 byte of shard 1 at i: a's
  // codes fill shard 0 and its scales open shard 1 (lm_head's q_scale at
  // the start of the 1.1B's q4f16_1 shard 2). Shard 1 appears first: lane
  // 0 (16 bytes), shard 0 lane 1 (16). Due: a_i's scales (i + 1) / 16
  // (before its codes, (4i + 4) / 16), b_i (7 + 3i) / 16. So every a runs
  // before any b: filed by their codes' shard, the a's would have run in
  // step with b's (a0 b0 a1 b1 ...) and shard 1's hash waited for a3.
  using W = llvm::SmallVector<ChunkWrite, 2>;
  std::vector<W> writes;
  for (uint64_t i = 0; i < 4; ++i)
    writes.push_back(W{{1, 4 + 3 * i, 3}});
  for (uint64_t i = 0; i < 4; ++i)
    writes.push_back(W{{0, 4 * i, 4}, {1, i, 1}});
  EXPECT_EQ(orderChunksForHashing(writes, {16, 16}, 2),
            (std::vector<size_t>{4, 5, 6, 7, 0, 1, 2, 3}));
  // One lane: shard 1 then shard 0 (32 bytes): a_i due at (i + 1) / 32,
  // b_i at (7 + 3i) / 32; the same order.
  EXPECT_EQ(orderChunksForHashing(writes, {16, 16}, 1),
            (std::vector<size_t>{4, 5, 6, 7, 0, 1, 2, 3}));
}

TEST(ChunkOrderTest, LanesAreDealtByBytes) {
  // Shard 0: chunks 0, 1 of 4 bytes; shards 1 and 2: chunks 2, 3 and 4, 5
  // of 1 byte. Two lanes: shard 0 -> lane 0 (8 bytes), shard 1 -> lane 1
  // (2), shard 2 -> lane 1 (2 < 8: starts at 2, the lane has 4). Due: 0 at
  // 4/8, 1 at 8/8; 2 at 1/4, 3 at 2/4; 4 at 3/4, 5 at 4/4. Ties in lane
  // order: 2, 0, 3, 4, 1, 5. (By chunks, lane 1 would have 4 chunks to
  // lane 0's 2, and shard 0's second chunk would run before chunk 4.)
  using W = llvm::SmallVector<ChunkWrite, 2>;
  std::vector<W> writes = {W{{0, 0, 4}}, W{{0, 4, 4}}, W{{1, 0, 1}},
                           W{{1, 1, 1}}, W{{2, 0, 1}}, W{{2, 1, 1}}};
  EXPECT_EQ(orderChunksForHashing(writes, {8, 2, 2}, 2),
            (std::vector<size_t>{2, 0, 3, 4, 1, 5}));
  // A chunk without writes (another part's) does not run.
  writes[3].clear();
  EXPECT_EQ(orderChunksForHashing(writes, {8, 2, 2}, 2),
            (std::vector<size_t>{2, 0, 4, 1, 5}));
}

} // namespace
