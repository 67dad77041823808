//===- Md5.h - Multi-buffer MD5 for tensor-cache shards ---------*- C++ -*-===//
//
// tensor-cache.json carries the md5 of every shard. MD5 is one long
// dependency chain per message (about 600 MB/s on a core), so hashing the
// shards one after the other costs as much CPU as quantizing them. Here up to
// kMd5Lanes shards are hashed at once, one per SIMD lane: the same RFC 1321
// rounds, on vectors of lanes, so the chains run side by side (the kernel:
// qopt/Numerics/Md5Lanes.h, dispatched like the numerics' other kernels).
//
//===----------------------------------------------------------------------===//

#ifndef QOPT_TENSORCACHE_MD5_H
#define QOPT_TENSORCACHE_MD5_H

#include "llvm/ADT/ArrayRef.h"
#include "llvm/Support/Error.h"

#include "qopt/Numerics/Md5Lanes.h"

#include <array>
#include <cstdint>
#include <string>
#include <vector>

namespace qopt::tensorcache {

/// Messages hashed side by side by one thread.
using numerics::kMd5Lanes;

using Md5Digest = std::array<uint8_t, 16>;

/// The 32 lowercase hex digits of a digest (what tensor-cache.json holds).
std::string md5Hex(const Md5Digest &d);

/// The MD5 of each message, computed kMd5Lanes at a time.
std::vector<Md5Digest> md5Many(llvm::ArrayRef<llvm::ArrayRef<uint8_t>> msgs);

/// A file to hash: its path, the size it must have, the name errors show.
struct Md5File {
  std::string path;
  uint64_t size;
  std::string display;
};

/// The md5 (hex) of each file, read with pread in bounded chunks (at most
/// 1 MiB per lane), kMd5Lanes files per thread at a time, on `threads`
/// threads. An error names the file: unreadable, or not exactly `size`
/// bytes long.
llvm::Expected<std::vector<std::string>>
md5Files(llvm::ArrayRef<Md5File> files, unsigned threads);

/// The running MD5 of one message fed in pieces (RFC 1321 state, the bytes
/// of an unfinished block, the length so far). Many streams advance side by
/// side, one per SIMD lane, with md5UpdateMany.
struct Md5Stream {
  uint32_t state[4] = {0x67452301u, 0xefcdab89u, 0x98badcfeu, 0x10325476u};
  /// Bytes fed so far.
  uint64_t length = 0;
  /// The last `length % 64` bytes, waiting for the rest of their block.
  uint8_t partial[64] = {};

  /// The digest of the bytes fed so far (the stream itself is unchanged).
  Md5Digest digest() const;
};

/// Feeds data[i] to *streams[i], kMd5Lanes streams at a time; the streams
/// must be distinct. Feeding a message in any pieces gives md5Many's digest.
void md5UpdateMany(llvm::ArrayRef<Md5Stream *> streams,
                   llvm::ArrayRef<llvm::ArrayRef<uint8_t>> data);

} // namespace qopt::tensorcache

#endif // QOPT_TENSORCACHE_MD5_H
