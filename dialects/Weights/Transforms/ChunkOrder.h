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
#include "llvm/ADT/SmallVector.h"

#include <cstdint>
#include <vector>

namespace mlir::qopt::weights {

/// Bytes [offset, offset + size) of a shard that a chunk writes.
struct ChunkWrite {
  uint32_t shard;
  uint64_t offset, size;
};

/// The indices of the chunks in the order to run them, so that the hasher
/// reads every shard's bytes at one pace. `writes[c]` are chunk c's writes
/// (none: it does not run: another part writes it); `shardBytes` the
/// shards' sizes. The shards that some chunk writes, in order of first
/// appearance, are dealt to up to `lanes` lanes, each to the lane with the
/// fewest bytes so far; a lane hashes its shards one after the other, and
/// the lanes advance in proportion to their lengths, so that they all
/// finish together. A write is due when its lane has hashed up to its end:
/// (bytes of the lane's earlier shards + offset + size) / the lane's bytes.
/// Chunks run in order of their earliest due write (ties: the lower lane,
/// then the lower index).
///
/// A chunk is due by its earliest write, not its largest: a quantized
/// weight's chunk writes rows of codes and of scales, and the scales may
/// open another shard (the 1.1B Llama's q4f16_1: lm_head's and
/// embed_tokens' scales are the first 8 MB of shard 2, their codes shards
/// 0 and 1). Run at the pace of their codes' shards, those chunks held
/// back all of shard 2 until the end, to be hashed alone on one lane after
/// every other chunk had run (68 ms of the 1.1B's 0.7 s at 2 threads).
std::vector<size_t>
orderChunksForHashing(llvm::ArrayRef<llvm::SmallVector<ChunkWrite, 2>> writes,
                      llvm::ArrayRef<uint64_t> shardBytes, unsigned lanes);

} // namespace mlir::qopt::weights

#endif // QOPT_DIALECTS_WEIGHTS_TRANSFORMS_CHUNKORDER_H
