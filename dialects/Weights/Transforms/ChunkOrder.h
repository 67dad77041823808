//===- ChunkOrder.h - The order the executor runs chunks in -----*- C++ -*-===//
//
// The writer hashes shards as they are written, several shards side by side
// (one per SIMD lane of the multi-buffer MD5), so the executor runs chunks
// of several shards in turn instead of one shard after the other.
//
//===----------------------------------------------------------------------===//

#ifndef QOPT_DIALECTS_WEIGHTS_TRANSFORMS_CHUNKORDER_H
#define QOPT_DIALECTS_WEIGHTS_TRANSFORMS_CHUNKORDER_H

#include "llvm/ADT/ArrayRef.h"

#include <cstdint>
#include <vector>

namespace mlir::qopt::weights {

/// Chunks whose key is kSkipChunk are not run (another part writes them).
inline constexpr uint32_t kSkipChunk = UINT32_MAX;

/// The indices of the chunks in the order to run them. `shardOfChunk[c]` is
/// the shard chunk c writes (most of) its bytes to. Chunks of one shard keep
/// their relative order. The shards, in order of first appearance, are dealt
/// to up to `lanes` lanes, each to the lane with the fewest chunks so far;
/// a lane runs its shards one after the other, and the lanes advance in
/// proportion to their lengths (chunk j of a lane of L chunks runs once
/// (j + 1) / L of each lane is done; ties in lane order), so that they all
/// finish together: the hasher's last batches keep every lane busy instead
/// of hashing the shards that finish last one or two side by side.
std::vector<size_t> interleaveChunksByShard(llvm::ArrayRef<uint32_t> shardOfChunk,
                                            unsigned lanes);

} // namespace mlir::qopt::weights

#endif // QOPT_DIALECTS_WEIGHTS_TRANSFORMS_CHUNKORDER_H
