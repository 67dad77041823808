//===- ShardHasher.h - MD5 of shards as their bytes are written -*- C++ -*-===//
//
// tensor-cache.json holds the md5 of every shard. Instead of re-reading the
// shards after they are written, the writer hands every piece it writes to a
// ShardHasher, which keeps one incremental MD5 stream per shard. MD5 is a
// single dependency chain per message, so the streams of several shards are
// advanced together, one per SIMD lane (md5UpdateMany): in-order bytes wait
// in a per-shard buffer until enough shards have some (or the buffers reach
// a memory budget), then one thread hashes them side by side while the other
// threads keep computing. Pieces that arrive ahead of their shard's frontier
// wait as copies; past a second budget they are not copied but read back
// from the staged file when the frontier reaches them. With
// Limits::readyCopyBytes = 0 (the writer's setting) in-order pieces are not
// copied either: they wait as file ranges and the batch reads them back from
// the page cache, so the hasher holds no more than its batch buffers. It
// reads them in place: each staged file is mapped once, read-only, from the
// first batch that reads it until the shard is complete, and the md5 reads
// the mapping, which costs the kernel a page-table entry per page instead
// of a pread copy (pread remains the fallback where a mapping fails). The
// pages the lanes have read are dropped together once they have read 256
// KiB each (qopt/Support/PageDrop.h: one TLB shootdown for all lanes where
// the system batches drops), so no mapping is made or removed per window:
// that took the address-space lock for writing, 8,458 times for the 1.1B's
// q0f16 conversion, and stalled the computing threads' page faults.
//
//===----------------------------------------------------------------------===//

#ifndef QOPT_TENSORCACHE_SHARDHASHER_H
#define QOPT_TENSORCACHE_SHARDHASHER_H

#include "qopt/TensorCache/Md5.h"

#include "llvm/Support/Error.h"

#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

namespace qopt::tensorcache {

class ShardHasher {
public:
  struct Limits {
    /// Shards with waiting bytes that start a batch (capped at the number of
    /// shards not yet complete).
    unsigned batchLanes = kMd5Lanes;
    /// Waiting in-order bytes that start a batch whatever the lanes.
    uint64_t readyBytes = 12ull << 20;
    /// Copies of out-of-order pieces kept; beyond, they are read back.
    uint64_t pendingBytes = 2ull << 20;
    /// Copies of in-order pieces kept; beyond, a piece waits as a range of
    /// its staged file and is read back (pread, through a per-batch buffer
    /// of 64 KiB per lane) when its batch is hashed, so that no copy of it
    /// is held in the meantime (read in place through a mapped window where
    /// the file can be mapped).
    uint64_t readyCopyBytes = ~uint64_t(0);
  };
  /// What was hashed from where (for tests and the benchmark notes).
  struct Stats {
    uint64_t bytes = 0;         // hashed in all
    uint64_t readBack = 0;      // of which read back from the staged files
    uint64_t outOfOrder = 0;    // of which waited as out-of-order copies
    uint64_t batches = 0;       // md5UpdateMany calls
    uint64_t laneBatches = 0;   // sum over batches of the lanes used
    /// Batches stopped once fewer than half of their lanes had bytes left
    /// (the rest waited for the next batch).
    uint64_t cutShort = 0;
    uint64_t peakWaiting = 0;   // most bytes held (in order + out of order)
    /// Most bytes of copy storage allocated at once: slabs (used or on the
    /// free list) and small pieces' own allocations. What the copies cost
    /// in memory, which peakWaiting bounds only when pieces fill slabs.
    uint64_t peakHeld = 0;
    uint64_t viewMaps = 0;  // staged files mapped to be read back
    uint64_t pageDrops = 0; // calls that dropped read pages (shootdowns)
  };

  /// `sizes[k]` is shard k's final size; `paths[k]` its staged file (for
  /// read-back); `displays[k]` the name errors show.
  ShardHasher(std::vector<uint64_t> sizes, std::vector<std::string> paths,
              std::vector<std::string> displays, Limits limits);
  ShardHasher(std::vector<uint64_t> sizes, std::vector<std::string> paths,
              std::vector<std::string> displays)
      : ShardHasher(std::move(sizes), std::move(paths), std::move(displays),
                    Limits()) {}

  ~ShardHasher();

  /// Bytes [offset, offset + size) of `shard`, just written (and in `data`).
  /// Pieces of a shard may come in any order and from any thread; each byte
  /// once. May hash a batch before returning.
  llvm::Error add(size_t shard, uint64_t offset, const void *data,
                  uint64_t size);

  /// Hashes what still waits and returns the hex md5 of each shard; an
  /// error if some shard did not receive all its bytes. Only shards listed
  /// in `only` (all when empty) must be complete; the others get "".
  llvm::Expected<std::vector<std::string>>
  finish(const std::vector<bool> &only = {});

  Stats stats() const;

private:
  /// Copies live in 64 KiB slabs that are reused (a free list), so waiting
  /// bytes cost no heap growth or page faults beyond their peak. A piece
  /// smaller than a slab (a row of scales) is copied into an allocation of
  /// its own size instead: a slab each would hold 64 KiB for a few hundred
  /// bytes (the 1.1B model's q4f16_1 scales held 11.7 MB of slabs for 2.5 MB
  /// of waiting bytes).
  static constexpr size_t kSlab = 64 << 10;
  struct SlabRef {
    std::unique_ptr<uint8_t[]> data; // null: read [offset, +size) back
    size_t size;
    uint64_t offset = 0;
    bool pooled = true; // a kSlab slab (else freed once hashed)
  };
  using Bytes = std::vector<SlabRef>;
  struct Piece {
    uint64_t size;
    Bytes bytes; // empty: read back from the file
  };
  struct Shard {
    Md5Stream stream;
    uint64_t frontier = 0;      // bytes before it are in `ready` or hashed
    /// In-order bytes not yet hashed.
    Bytes ready;
    uint64_t readySize = 0;
    std::map<uint64_t, Piece> pending;
    bool busy = false;          // a batch holds `stream`
    /// The staged file, open for reading back from the first batch that
    /// reads it until the shard is complete (only a batch holding the
    /// shard uses it).
    int fd = -1;
    /// The staged file mapped read-only (viewLength bytes) from the first
    /// batch that reads it back until the shard is complete; MAP_FAILED
    /// where it cannot be mapped (then it is read with pread).
    uint8_t *view = nullptr;
    uint64_t viewLength = 0;
    void closeFile();
  };

  /// With the lock held: `n` slabs from the free list (null: to allocate).
  std::vector<std::unique_ptr<uint8_t[]>> takeSlabs(size_t n);
  /// Copies `size` bytes into slabs (without the lock).
  Bytes copyIn(std::vector<std::unique_ptr<uint8_t[]>> slabs,
               const uint8_t *data, uint64_t size);
  /// With the lock held: returns the slabs to the free list.
  void releaseSlabs(Bytes &bytes);
  /// Appends pending pieces that the frontier reached to `ready`.
  llvm::Error drainPending(size_t k);
  /// With the lock held: hashes batches while the limits say so (or all
  /// waiting bytes with `all`); other threads add meanwhile.
  llvm::Error hashBatches(std::unique_lock<std::mutex> &lock, bool all);
  bool shouldHash() const;

  std::vector<uint64_t> sizes;
  std::vector<std::string> paths, displays;
  Limits limits;
  std::vector<Shard> shards;
  mutable std::mutex mu;
  unsigned hashers = 0; // threads in hashBatches
  std::vector<std::unique_ptr<uint8_t[]>> freeSlabs;
  uint64_t readyTotal = 0, pendingCopies = 0, readyCopies = 0;
  /// Copy storage allocated now and at most (Stats::peakHeld); changed
  /// outside the lock by copyIn.
  std::atomic<uint64_t> held{0}, peakHeld{0};
  void addHeld(uint64_t bytes);
  size_t incomplete = 0; // shards whose stream has not all their bytes
  Stats counters;
};

} // namespace qopt::tensorcache

#endif // QOPT_TENSORCACHE_SHARDHASHER_H
