//===- ShardHasher.cpp - MD5 of shards as their bytes are written -*- C++ -*-===//

#include "qopt/TensorCache/ShardHasher.h"
#include "qopt/Support/PageDrop.h"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

namespace qopt::tensorcache {

ShardHasher::ShardHasher(std::vector<uint64_t> sizesIn,
                         std::vector<std::string> pathsIn,
                         std::vector<std::string> displaysIn, Limits limitsIn)
    : sizes(std::move(sizesIn)), paths(std::move(pathsIn)),
      displays(std::move(displaysIn)), limits(limitsIn), shards(sizes.size()) {
  for (uint64_t s : sizes)
    incomplete += s != 0;
}

ShardHasher::~ShardHasher() {
  for (Shard &sh : shards)
    sh.closeFile();
}

void ShardHasher::Shard::closeFile() {
  if (view && view != MAP_FAILED)
    ::munmap(view, size_t(viewLength));
  view = nullptr;
  if (fd >= 0)
    ::close(fd);
  fd = -1;
}

std::vector<std::unique_ptr<uint8_t[]>> ShardHasher::takeSlabs(size_t n) {
  std::vector<std::unique_ptr<uint8_t[]>> out(n);
  for (size_t i = 0; i < n && !freeSlabs.empty(); ++i) {
    out[i] = std::move(freeSlabs.back());
    freeSlabs.pop_back();
  }
  return out;
}

ShardHasher::Bytes
ShardHasher::copyIn(std::vector<std::unique_ptr<uint8_t[]>> slabs,
                    const uint8_t *data, uint64_t size) {
  Bytes out;
  if (size < kSlab) {
    // A small piece: its own allocation, not a slab.
    std::unique_ptr<uint8_t[]> own(new uint8_t[size]);
    addHeld(size);
    if (data)
      std::memcpy(own.get(), data, size_t(size));
    out.push_back({std::move(own), size_t(size), 0, /*pooled=*/false});
    return out;
  }
  for (size_t i = 0; i < slabs.size(); ++i) {
    size_t len = size_t(std::min<uint64_t>(kSlab, size - i * kSlab));
    if (!slabs[i]) {
      slabs[i].reset(new uint8_t[kSlab]);
      addHeld(kSlab);
    }
    if (data)
      std::memcpy(slabs[i].get(), data + i * kSlab, len);
    out.push_back({std::move(slabs[i]), len});
  }
  return out;
}

void ShardHasher::releaseSlabs(Bytes &bytes) {
  for (SlabRef &s : bytes) {
    if (s.data && s.pooled)
      freeSlabs.push_back(std::move(s.data));
    else if (s.data)
      held -= s.size; // a small piece's own allocation, freed below
  }
  bytes.clear();
}

void ShardHasher::addHeld(uint64_t bytes) {
  uint64_t now = held += bytes;
  uint64_t seen = peakHeld.load();
  while (now > seen && !peakHeld.compare_exchange_weak(seen, now))
    ;
}

static size_t slabsFor(uint64_t size, size_t slab) {
  return size_t((size + slab - 1) / slab);
}

/// Reads [offset, offset + size) of `path` into `out`; `fd` is the file's
/// descriptor, opened on first use (-1 before) and closed by the caller.
static llvm::Error readBack(int &fd, const std::string &path,
                            const std::string &display, uint64_t offset,
                            uint64_t size, uint8_t *out) {
  if (fd < 0)
    fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return llvm::createStringError("error reading '" + display +
                                   "': " + std::strerror(errno));
  uint64_t got = 0;
  while (got < size) {
    ssize_t n = ::pread(fd, out + got, size - got, off_t(offset + got));
    if (n < 0 && errno == EINTR)
      continue;
    if (n <= 0) {
      std::string msg = n < 0 ? std::strerror(errno) : "unexpected end of file";
      return llvm::createStringError("error reading '" + display +
                                     "': " + msg);
    }
    got += uint64_t(n);
  }
  return llvm::Error::success();
}

namespace {
/// Where a batch reads bytes back: each staged shard file is mapped once,
/// read-only, from the first batch that reads it until it is complete
/// (Shard::view), and the md5 reads the page cache in place (a page-table
/// entry per page instead of a copy, as pread would make). Mapping and
/// unmapping take the address-space lock for writing, which stalls the other
/// threads' page faults; a mapping per window of a few hundred KiB cost the
/// 1.1B's q0f16 conversion 8,458 of them. Now the pages a lane has read are
/// dropped (MADV_DONTNEED, the lock taken for reading), all lanes' together
/// once they have read kWindow bytes each on average: one process_madvise
/// call, so one TLB shootdown of the computing threads' CPUs per round of
/// windows (qopt/Support/PageDrop.h). At most about kWindow bytes per lane
/// are resident.
class LaneViews {
public:
  static constexpr uint64_t kWindow = 256 << 10;
  explicit LaneViews(size_t lanes) : pending(lanes) {}
  /// Starts a round: once the lanes have read kWindow bytes each since the
  /// last drop, drops what they read.
  void nextRound(ShardHasher::Stats &stats) {
    if (readSinceDrop >= kWindow * pending.size())
      dropAll(stats);
  }
  /// [offset, offset + size) of the shard whose staged file is `fd` and
  /// whose view is `view` (mapped here, `length` bytes, when null; set to
  /// MAP_FAILED when it cannot be), for lane `lane`; null where the file
  /// cannot be mapped (the caller reads it instead).
  const uint8_t *get(size_t lane, int fd, uint8_t *&view, uint64_t length,
                     uint64_t offset, uint64_t size,
                     ShardHasher::Stats &stats) {
    if (!view) {
      void *p = ::mmap(nullptr, size_t(length), PROT_READ, MAP_SHARED, fd, 0);
      view = p == MAP_FAILED ? static_cast<uint8_t *>(MAP_FAILED)
                             : static_cast<uint8_t *>(p);
      stats.viewMaps += p != MAP_FAILED;
    }
    if (view == MAP_FAILED || offset + size > length)
      return nullptr;
    uintptr_t b = reinterpret_cast<uintptr_t>(view + offset);
    Range &r = pending[lane];
    if (r.end != b) {
      addDrop(r);
      r.begin = b;
      r.lo = reinterpret_cast<uintptr_t>(view);
      r.hi = r.lo + length;
    }
    r.end = b + size;
    readSinceDrop += size;
    return view + offset;
  }
  /// Drops the pages every lane has read (at the end of the batch).
  void dropAll(ShardHasher::Stats &stats) {
    for (Range &r : pending) {
      addDrop(r);
      r = {};
    }
    if (!drops.empty())
      stats.pageDrops += drops.drop();
    readSinceDrop = 0;
  }

private:
  /// Bytes read [begin, end) of a view [lo, hi).
  struct Range {
    uintptr_t begin = 0, end = 0, lo = 0, hi = 0;
  };
  /// A page fault maps the pages around it that the page cache holds, in
  /// the aligned block of fault_around_bytes (64 KiB unless configured)
  /// that holds it: the md5 reading the last bytes of a range maps up to
  /// 60 KiB beyond it, which would stay resident until the shard is done.
  /// So the pages dropped are those of the aligned blocks the range
  /// touches, inside the view.
  static constexpr uintptr_t kFaultAround = 64 << 10;
  void addDrop(const Range &r) {
    if (r.end == r.begin)
      return;
    uintptr_t b = std::max(r.lo, r.begin / kFaultAround * kFaultAround);
    uintptr_t e = std::min(r.hi, (r.end + kFaultAround - 1) / kFaultAround *
                                     kFaultAround);
    drops.add(reinterpret_cast<const void *>(b), e - b);
  }
  std::vector<Range> pending; // per lane: read, not yet in `drops`
  support::PageDropList drops;
  uint64_t readSinceDrop = 0;
};
} // namespace

llvm::Error ShardHasher::drainPending(size_t k) {
  Shard &sh = shards[k];
  for (auto it = sh.pending.begin();
       it != sh.pending.end() && it->first == sh.frontier;
       it = sh.pending.erase(it)) {
    Piece &p = it->second;
    if (!p.bytes.empty() && readyCopies + p.size > limits.readyCopyBytes) {
      // In order now, past the in-order budget: its copy is freed and it
      // waits as a file range like any in-order piece (else copies drained
      // here piled up until their batch: 5.9 MB for the 1.1B model at 2
      // threads, against a 2 MiB out-of-order budget).
      pendingCopies -= p.size;
      releaseSlabs(p.bytes);
    }
    if (p.bytes.empty()) {
      // Read back from the file when its batch is hashed.
      sh.ready.push_back({nullptr, size_t(p.size), it->first});
      counters.readBack += p.size;
    } else {
      pendingCopies -= p.size;
      readyCopies += p.size;
      counters.outOfOrder += p.size;
      for (SlabRef &r : p.bytes)
        sh.ready.push_back(std::move(r));
    }
    sh.frontier += p.size;
    sh.readySize += p.size;
    readyTotal += p.size;
  }
  return llvm::Error::success();
}

llvm::Error ShardHasher::add(size_t k, uint64_t offset, const void *data,
                             uint64_t size) {
  if (size == 0)
    return llvm::Error::success();
  const auto *bytes = static_cast<const uint8_t *>(data);
  // The copy (if the budgets keep one) is made outside the lock.
  std::unique_lock<std::mutex> lock(mu);
  bool copy = offset == shards[k].frontier
                  ? readyCopies + size <= limits.readyCopyBytes
                  : pendingCopies + size <= limits.pendingBytes;
  Bytes copied;
  if (copy) {
    auto slabs = takeSlabs(size < kSlab ? 0 : slabsFor(size, kSlab));
    lock.unlock();
    copied = copyIn(std::move(slabs), bytes, size);
    lock.lock();
  }
  Shard &sh = shards[k];
  if (offset == sh.frontier) {
    // Copied as out of order, but another thread's piece moved the frontier
    // here meanwhile: past the in-order budget it waits as a file range too,
    // not as an in-order copy until its batch.
    if (!copied.empty() && readyCopies + size > limits.readyCopyBytes)
      releaseSlabs(copied);
    if (copied.empty()) {
      sh.ready.push_back({nullptr, size_t(size), offset});
      counters.readBack += size;
    } else {
      readyCopies += size;
      for (SlabRef &r : copied)
        sh.ready.push_back(std::move(r));
    }
    sh.frontier += size;
    sh.readySize += size;
    readyTotal += size;
    if (llvm::Error err = drainPending(k))
      return err;
  } else {
    Piece p{size, {}};
    if (!copied.empty() && pendingCopies + size <= limits.pendingBytes) {
      p.bytes = std::move(copied);
      pendingCopies += size;
    } else {
      releaseSlabs(copied); // read back when the frontier gets here
    }
    sh.pending.emplace(offset, std::move(p));
  }
  counters.peakWaiting =
      std::max(counters.peakWaiting, readyCopies + pendingCopies);
  // One thread hashes while the others compute; past the budget, a second
  // one helps (on other shards), so the waiting bytes stay bounded.
  bool overBudget = readyTotal >= limits.readyBytes;
  if ((hashers > 0 && !overBudget) || !shouldHash())
    return llvm::Error::success();
  return hashBatches(lock, /*all=*/false);
}

bool ShardHasher::shouldHash() const {
  if (readyTotal >= limits.readyBytes)
    return true;
  size_t lanes = 0;
  for (const Shard &sh : shards)
    lanes += !sh.busy && !sh.ready.empty();
  size_t want = std::max<size_t>(
      1, std::min<size_t>(limits.batchLanes, incomplete));
  return lanes >= want;
}

llvm::Error ShardHasher::hashBatches(std::unique_lock<std::mutex> &lock,
                                     bool all) {
  ++hashers;
  while (all ? readyTotal > 0 : shouldHash()) {
    // The shards with the most waiting bytes, one per lane.
    std::vector<size_t> order;
    for (size_t k = 0; k < shards.size(); ++k)
      if (!shards[k].busy && !shards[k].ready.empty())
        order.push_back(k);
    if (order.empty())
      break;
    std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) {
      return shards[a].readySize > shards[b].readySize;
    });
    if (order.size() > kMd5Lanes)
      order.resize(kMd5Lanes);
    size_t n = order.size();
    std::vector<Bytes> taken(n);
    std::vector<uint64_t> takenBytes(n);
    std::vector<Md5Stream *> streams;
    for (size_t i = 0; i < n; ++i) {
      Shard &sh = shards[order[i]];
      sh.busy = true;
      readyTotal -= sh.readySize;
      takenBytes[i] = sh.readySize;
      sh.readySize = 0;
      taken[i] = std::move(sh.ready);
      sh.ready.clear();
      streams.push_back(&sh.stream);
    }
    lock.unlock();
    // Rounds of at most kSlice bytes per lane, so that lanes holding pieces
    // of different sizes still advance together. Pieces kept as file ranges
    // are read in place through the lane's window (or, where a file cannot
    // be mapped, into the lane's buffer slice by slice).
    constexpr uint64_t kSlice = 64 << 10;
    std::vector<size_t> piece(n, 0);
    std::vector<uint64_t> at(n, 0);
    // End of the file range the lane reads contiguously (consecutive pieces
    // kept as file ranges follow each other in the file).
    std::vector<uint64_t> runEnd(n, 0);
    std::vector<llvm::ArrayRef<uint8_t>> data(n);
    // Moves lane i past the pieces it has hashed whole.
    auto skipFinishedPieces = [&](size_t i) {
      while (piece[i] < taken[i].size() &&
             at[i] == taken[i][piece[i]].size) {
        ++piece[i];
        at[i] = 0;
      }
    };
    LaneViews views(n);
    Stats windowStats;
    std::unique_ptr<uint8_t[]> laneBuf;
    llvm::Error failure = llvm::Error::success();
    bool cut = false;
    for (bool more = true; more && !failure;) {
      // Once fewer than half of the lanes have bytes left, the kernel would
      // compute mostly idle lanes: unless this is the final drain, the rest
      // goes back to the shards (below) and joins the next batch, whose
      // lanes the other shards' new bytes fill. Only where every lane with
      // bytes left is at a piece boundary or inside a file range (a copy is
      // not cut).
      if (!all) {
        size_t active = 0;
        bool cuttable = true;
        for (size_t i = 0; i < n; ++i) {
          skipFinishedPieces(i);
          if (piece[i] == taken[i].size())
            continue;
          ++active;
          cuttable &= at[i] == 0 || !taken[i][piece[i]].data;
        }
        if (active > 0 && 2 * active < n && cuttable) {
          cut = true;
          break;
        }
      }
      more = false;
      views.nextRound(windowStats);
      for (size_t i = 0; i < n && !failure; ++i) {
        data[i] = {};
        skipFinishedPieces(i);
        if (piece[i] == taken[i].size())
          continue;
        const SlabRef &p = taken[i][piece[i]];
        uint64_t len = std::min<uint64_t>(kSlice, p.size - at[i]);
        const uint8_t *src = p.data.get() + at[i];
        if (!p.data) {
          Shard &sh = shards[order[i]];
          if (sh.fd < 0)
            sh.fd = ::open(paths[order[i]].c_str(), O_RDONLY | O_CLOEXEC);
          if (p.offset + at[i] >= runEnd[i]) {
            runEnd[i] = p.offset + p.size;
            for (size_t k = piece[i] + 1; k < taken[i].size() &&
                                          !taken[i][k].data &&
                                          taken[i][k].offset == runEnd[i];
                 ++k)
              runEnd[i] += taken[i][k].size;
          }
          // A round reads across consecutive pieces of the run.
          len = std::min<uint64_t>(kSlice, runEnd[i] - (p.offset + at[i]));
          sh.viewLength = sizes[order[i]];
          src = sh.fd < 0 ? nullptr
                          : views.get(i, sh.fd, sh.view, sh.viewLength,
                                      p.offset + at[i], len, windowStats);
          if (!src) {
            if (!laneBuf)
              laneBuf.reset(new uint8_t[n * kSlice]);
            uint8_t *dst = laneBuf.get() + i * kSlice;
            failure = readBack(sh.fd, paths[order[i]], displays[order[i]],
                               p.offset + at[i], len, dst);
            src = dst;
          }
        }
        data[i] = {src, size_t(len)};
        for (uint64_t left = len; left > 0;) {
          if (at[i] == taken[i][piece[i]].size) {
            ++piece[i];
            at[i] = 0;
          }
          uint64_t step = std::min(left, taken[i][piece[i]].size - at[i]);
          at[i] += step;
          left -= step;
        }
        more = true;
      }
      if (more && !failure)
        md5UpdateMany(streams, data);
    }
    views.dropAll(windowStats);
    lock.lock();
    // What a batch cut short did not hash waits again, before the pieces
    // that arrived meanwhile.
    for (size_t i = 0; i < n && !failure; ++i) {
      if (piece[i] == taken[i].size())
        continue;
      Shard &sh = shards[order[i]];
      Bytes rest;
      uint64_t restBytes = 0;
      for (size_t k = piece[i]; k < taken[i].size(); ++k) {
        SlabRef &r = taken[i][k];
        if (k == piece[i] && at[i] > 0) { // inside a file range
          r.offset += at[i];
          r.size -= size_t(at[i]);
        }
        restBytes += r.size;
        rest.push_back(std::move(r));
      }
      taken[i].resize(piece[i]);
      for (SlabRef &r : sh.ready)
        rest.push_back(std::move(r));
      sh.ready = std::move(rest);
      sh.readySize += restBytes;
      readyTotal += restBytes;
      takenBytes[i] -= restBytes;
    }
    for (Bytes &b : taken) {
      for (const SlabRef &r : b)
        if (r.data)
          readyCopies -= r.size;
      releaseSlabs(b);
    }
    ++counters.batches;
    counters.laneBatches += n;
    counters.cutShort += cut;
    counters.viewMaps += windowStats.viewMaps;
    counters.pageDrops += windowStats.pageDrops;
    for (size_t i = 0; i < n; ++i) {
      Shard &sh = shards[order[i]];
      sh.busy = false;
      counters.bytes += takenBytes[i];
      if (sizes[order[i]] != 0 && sh.stream.length == sizes[order[i]]) {
        --incomplete;
        sh.closeFile();
      }
    }
    if (failure) {
      --hashers;
      return failure;
    }
  }
  --hashers;
  return llvm::Error::success();
}

llvm::Expected<std::vector<std::string>>
ShardHasher::finish(const std::vector<bool> &only) {
  std::unique_lock<std::mutex> lock(mu);
  for (size_t k = 0; k < shards.size(); ++k)
    if (llvm::Error err = drainPending(k))
      return std::move(err);
  if (llvm::Error err = hashBatches(lock, /*all=*/true))
    return std::move(err);
  std::vector<std::string> out(shards.size());
  for (size_t k = 0; k < shards.size(); ++k) {
    if (!only.empty() && !only[k])
      continue;
    if (shards[k].stream.length != sizes[k])
      return llvm::createStringError(
          "cannot hash '" + displays[k] + "': " +
          std::to_string(shards[k].stream.length) + " of its " +
          std::to_string(sizes[k]) + " bytes were written in order");
    out[k] = md5Hex(shards[k].stream.digest());
  }
  return out;
}

ShardHasher::Stats ShardHasher::stats() const {
  std::lock_guard<std::mutex> lock(mu);
  Stats s = counters;
  s.peakHeld = peakHeld.load();
  return s;
}

} // namespace qopt::tensorcache
