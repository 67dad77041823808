//===- ChunkOrderTest.cpp - The order the executor runs chunks in -*- C++ -*-===//
//
// Orders worked by hand from the rule: chunks of one shard keep their order,
// up to `lanes` shards (in order of first appearance) take turns, a finished
// shard hands its turn to the next one, skipped chunks never run.
//
//===----------------------------------------------------------------------===//

#include "dialects/Weights/Transforms/ChunkOrder.h"

#include <gtest/gtest.h>

using namespace mlir::qopt::weights;

namespace {

TEST(ChunkOrderTest, ShardsTakeTurns) {
  // Shard 0: chunks 0 1 2; shard 1: 3 4; shard 2: 5 7 (6 skipped); shard 3: 8.
  std::vector<uint32_t> shardOf = {0, 0, 0, 1, 1, 2, kSkipChunk, 2, 3};
  // Two lanes: 0|1, 0|1 (shard 1 done, shard 2 takes its turn),
  // 0 (done, shard 3 takes its turn)|2, 3 (done)|2.
  EXPECT_EQ(interleaveChunksByShard(shardOf, 2),
            (std::vector<size_t>{0, 3, 1, 4, 2, 5, 8, 7}));
  // One lane: the original order without the skipped chunk.
  EXPECT_EQ(interleaveChunksByShard(shardOf, 1),
            (std::vector<size_t>{0, 1, 2, 3, 4, 5, 7, 8}));
  // As many lanes as shards: round robin over all four.
  EXPECT_EQ(interleaveChunksByShard(shardOf, 16),
            (std::vector<size_t>{0, 3, 5, 8, 1, 4, 7, 2}));
}

TEST(ChunkOrderTest, ShardsInOrderOfFirstAppearance) {
  // Shard 5 appears first (an out-of-band shard numbered before the
  // pending one), shard 2 interleaved with it.
  std::vector<uint32_t> shardOf = {5, 2, 5, 2, 2};
  EXPECT_EQ(interleaveChunksByShard(shardOf, 2),
            (std::vector<size_t>{0, 1, 2, 3, 4}));
  EXPECT_TRUE(interleaveChunksByShard({kSkipChunk, kSkipChunk}, 4).empty());
  EXPECT_TRUE(interleaveChunksByShard({}, 4).empty());
}

} // namespace
