//===- ChunkOrder.cpp - The order the executor runs chunks in ---*- C++ -*-===//

#include "dialects/Weights/Transforms/ChunkOrder.h"

#include "llvm/ADT/DenseMap.h"

#include <algorithm>
#include <deque>

std::vector<size_t> mlir::qopt::weights::interleaveChunksByShard(
    llvm::ArrayRef<uint32_t> shardOfChunk, unsigned lanes) {
  // The chunks of each shard, shards in order of first appearance.
  llvm::DenseMap<uint32_t, size_t> groupOf;
  std::vector<std::deque<size_t>> groups;
  for (size_t c = 0; c < shardOfChunk.size(); ++c) {
    uint32_t s = shardOfChunk[c];
    if (s == kSkipChunk)
      continue;
    auto [it, inserted] = groupOf.try_emplace(s, groups.size());
    if (inserted)
      groups.emplace_back();
    groups[it->second].push_back(c);
  }
  std::vector<size_t> order;
  std::vector<size_t> active; // group indices, one per lane
  size_t nextGroup = 0;
  lanes = std::max(1u, lanes);
  while (nextGroup < groups.size() && active.size() < lanes)
    active.push_back(nextGroup++);
  while (!active.empty()) {
    for (size_t i = 0; i < active.size();) {
      std::deque<size_t> &g = groups[active[i]];
      order.push_back(g.front());
      g.pop_front();
      if (!g.empty()) {
        ++i;
      } else if (nextGroup < groups.size()) {
        active[i++] = nextGroup++;
      } else {
        active.erase(active.begin() + long(i));
      }
    }
  }
  return order;
}
