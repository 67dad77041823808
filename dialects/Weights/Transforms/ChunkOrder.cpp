//===- ChunkOrder.cpp - The order the executor runs chunks in ---*- C++ -*-===//

#include "dialects/Weights/Transforms/ChunkOrder.h"

#include "llvm/ADT/DenseMap.h"

#include <algorithm>
#include <optional>

using namespace mlir::qopt::weights;

std::vector<size_t> mlir::qopt::weights::orderChunksForHashing(
    llvm::ArrayRef<llvm::SmallVector<ChunkWrite, 2>> writes,
    llvm::ArrayRef<uint64_t> shardBytes, unsigned lanes) {
  // The shards written, in order of first appearance.
  std::vector<uint32_t> shards;
  llvm::DenseMap<uint32_t, size_t> seen;
  for (const auto &ws : writes)
    for (const ChunkWrite &w : ws)
      if (seen.try_emplace(w.shard, shards.size()).second)
        shards.push_back(w.shard);
  if (shards.empty())
    return {};
  // Each shard joins the lane with the fewest bytes so far; it starts
  // where the lane's earlier shards end.
  size_t n = std::min<size_t>(std::max(1u, lanes), shards.size());
  std::vector<uint64_t> laneBytes(n, 0);
  struct Slot {
    size_t lane;
    uint64_t start;
  };
  std::vector<Slot> slot(shards.size());
  for (size_t i = 0; i < shards.size(); ++i) {
    size_t best = 0;
    for (size_t l = 1; l < n; ++l)
      if (laneBytes[l] < laneBytes[best])
        best = l;
    slot[i] = {best, laneBytes[best]};
    laneBytes[best] += shardBytes[shards[i]];
  }
  // Each chunk's earliest due write: (start + offset + size) / lane bytes.
  struct Entry {
    size_t chunk, lane;
    uint64_t due, length;
  };
  auto before = [](const Entry &a, const Entry &b) {
    unsigned __int128 x = (unsigned __int128)a.due * b.length,
                      y = (unsigned __int128)b.due * a.length;
    if (x != y)
      return x < y;
    return a.lane != b.lane ? a.lane < b.lane : a.chunk < b.chunk;
  };
  std::vector<Entry> entries;
  for (size_t c = 0; c < writes.size(); ++c) {
    std::optional<Entry> best;
    for (const ChunkWrite &w : writes[c]) {
      const Slot &sl = slot[seen.lookup(w.shard)];
      // An empty lane (zero-byte shards only): every write is due at once.
      uint64_t length = std::max<uint64_t>(laneBytes[sl.lane], 1);
      Entry e{c, sl.lane, std::min(sl.start + w.offset + w.size, length),
              length};
      if (!best || before(e, *best))
        best = e;
    }
    if (best)
      entries.push_back(*best);
  }
  std::sort(entries.begin(), entries.end(), before);
  std::vector<size_t> order;
  order.reserve(entries.size());
  for (const Entry &e : entries)
    order.push_back(e.chunk);
  return order;
}
