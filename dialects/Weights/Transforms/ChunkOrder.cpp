//===- ChunkOrder.cpp - The order the executor runs chunks in ---*- C++ -*-===//

#include "dialects/Weights/Transforms/ChunkOrder.h"

#include "llvm/ADT/DenseMap.h"

#include <algorithm>

std::vector<size_t> mlir::qopt::weights::interleaveChunksByShard(
    llvm::ArrayRef<uint32_t> shardOfChunk, unsigned lanes) {
  // The chunks of each shard, shards in order of first appearance.
  llvm::DenseMap<uint32_t, size_t> groupOf;
  std::vector<std::vector<size_t>> groups;
  for (size_t c = 0; c < shardOfChunk.size(); ++c) {
    uint32_t s = shardOfChunk[c];
    if (s == kSkipChunk)
      continue;
    auto [it, inserted] = groupOf.try_emplace(s, groups.size());
    if (inserted)
      groups.emplace_back();
    groups[it->second].push_back(c);
  }
  if (groups.empty())
    return {};
  // Each shard, in order, joins the lane with the fewest chunks so far.
  size_t n = std::min<size_t>(std::max(1u, lanes), groups.size());
  std::vector<std::vector<size_t>> laneChunks(n);
  for (std::vector<size_t> &g : groups) {
    size_t best = 0;
    for (size_t l = 1; l < n; ++l)
      if (laneChunks[l].size() < laneChunks[best].size())
        best = l;
    laneChunks[best].insert(laneChunks[best].end(), g.begin(), g.end());
  }
  // Chunk j of a lane of L chunks runs when (j + 1) / L of every lane is
  // done: the lanes advance in proportion and finish together.
  struct Entry {
    size_t chunk, lane;
    uint64_t done, length; // (j + 1) and L
  };
  std::vector<Entry> entries;
  for (size_t l = 0; l < n; ++l)
    for (size_t j = 0; j < laneChunks[l].size(); ++j)
      entries.push_back({laneChunks[l][j], l, j + 1, laneChunks[l].size()});
  std::sort(entries.begin(), entries.end(), [](const Entry &a, const Entry &b) {
    uint64_t x = a.done * b.length, y = b.done * a.length;
    return x != y ? x < y : a.lane < b.lane;
  });
  std::vector<size_t> order;
  order.reserve(entries.size());
  for (const Entry &e : entries)
    order.push_back(e.chunk);
  return order;
}
