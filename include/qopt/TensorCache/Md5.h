//===- Md5.h - Multi-buffer MD5 for tensor-cache shards ---------*- C++ -*-===//
//
// tensor-cache.json carries the md5 of every shard. MD5 is one long
// dependency chain per message (about 600 MB/s on a core), so hashing the
// shards one after the other costs as much CPU as quantizing them. Here up to
// kMd5Lanes shards are hashed at once, one per SIMD lane: the same RFC 1321
// rounds, on vectors of lanes, so the chains run side by side.
//
//===----------------------------------------------------------------------===//

#ifndef QOPT_TENSORCACHE_MD5_H
#define QOPT_TENSORCACHE_MD5_H

#include "llvm/ADT/ArrayRef.h"
#include "llvm/Support/Error.h"

#include <array>
#include <cstdint>
#include <string>
#include <vector>

namespace qopt::tensorcache {

/// Messages hashed side by side by one thread.
constexpr unsigned kMd5Lanes = 16;

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

} // namespace qopt::tensorcache

#endif // QOPT_TENSORCACHE_MD5_H
