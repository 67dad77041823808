//===- ChunkOrderTest.cpp - The order the executor runs chunks in -*- C++ -*-===//
//
// Orders worked by hand from the rule (ChunkOrder.h): chunks of one shard
// keep their order; shards, in order of first appearance, join the lane
// with the fewest chunks so far (the lowest on a tie); chunk j of a lane of
// L chunks runs at (j + 1) / L, ties in lane order; skipped chunks never
// run.
//
//===----------------------------------------------------------------------===//

#include "dialects/Weights/Transforms/ChunkOrder.h"

#include <gtest/gtest.h>

using namespace mlir::qopt::weights;

namespace {

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

} // namespace
