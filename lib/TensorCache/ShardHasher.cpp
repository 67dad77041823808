//===- ShardHasher.cpp - MD5 of shards as their bytes are written -*- C++ -*-===//

#include "qopt/TensorCache/ShardHasher.h"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fcntl.h>
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

/// Reads [offset, offset + size) of `path` into `out`.
static llvm::Error readBack(const std::string &path, const std::string &display,
                            uint64_t offset, uint64_t size,
                            std::vector<uint8_t> &out) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return llvm::createStringError("error reading '" + display +
                                   "': " + std::strerror(errno));
  size_t at = 0;
  out.resize(size);
  uint64_t got = 0;
  while (got < size) {
    ssize_t n = ::pread(fd, out.data() + at + got, size - got,
                        off_t(offset + got));
    if (n < 0 && errno == EINTR)
      continue;
    if (n <= 0) {
      std::string msg = n < 0 ? std::strerror(errno) : "unexpected end of file";
      ::close(fd);
      return llvm::createStringError("error reading '" + display +
                                     "': " + msg);
    }
    got += uint64_t(n);
  }
  ::close(fd);
  return llvm::Error::success();
}

llvm::Error ShardHasher::drainPending(size_t k) {
  Shard &sh = shards[k];
  for (auto it = sh.pending.begin();
       it != sh.pending.end() && it->first == sh.frontier;
       it = sh.pending.erase(it)) {
    Piece &p = it->second;
    if (p.bytes.empty()) {
      if (llvm::Error err =
              readBack(paths[k], displays[k], it->first, p.size, p.bytes))
        return err;
      counters.readBack += p.size;
    } else {
      pendingCopies -= p.size;
      counters.outOfOrder += p.size;
    }
    sh.ready.push_back(std::move(p.bytes));
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
  // The copy waits for a batch of lanes; it is made outside the lock.
  std::vector<uint8_t> copy(bytes, bytes + size);
  std::unique_lock<std::mutex> lock(mu);
  Shard &sh = shards[k];
  if (offset == sh.frontier) {
    sh.ready.push_back(std::move(copy));
    sh.frontier += size;
    sh.readySize += size;
    readyTotal += size;
    if (llvm::Error err = drainPending(k))
      return err;
  } else {
    Piece p{size, {}};
    if (pendingCopies + size <= limits.pendingBytes) {
      p.bytes = std::move(copy);
      pendingCopies += size;
    } else {
      copy = std::vector<uint8_t>(); // read back when the frontier gets here
    }
    sh.pending.emplace(offset, std::move(p));
  }
  counters.peakWaiting =
      std::max(counters.peakWaiting, readyTotal + pendingCopies);
  if (hashing || !shouldHash())
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
  hashing = true;
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
    std::vector<std::vector<std::vector<uint8_t>>> taken(n);
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
    // of different sizes still advance together.
    constexpr uint64_t kSlice = 64 << 10;
    std::vector<size_t> piece(n, 0);
    std::vector<uint64_t> at(n, 0);
    std::vector<llvm::ArrayRef<uint8_t>> data(n);
    for (bool more = true; more;) {
      more = false;
      for (size_t i = 0; i < n; ++i) {
        data[i] = {};
        while (piece[i] < taken[i].size() && at[i] == taken[i][piece[i]].size()) {
          taken[i][piece[i]] = std::vector<uint8_t>(); // free as we go
          ++piece[i];
          at[i] = 0;
        }
        if (piece[i] == taken[i].size())
          continue;
        const std::vector<uint8_t> &p = taken[i][piece[i]];
        uint64_t len = std::min<uint64_t>(kSlice, p.size() - at[i]);
        data[i] = {p.data() + at[i], size_t(len)};
        at[i] += len;
        more = true;
      }
      if (more)
        md5UpdateMany(streams, data);
    }
    taken.clear();
    lock.lock();
    ++counters.batches;
    counters.laneBatches += n;
    for (size_t i = 0; i < n; ++i) {
      Shard &sh = shards[order[i]];
      sh.busy = false;
      counters.bytes += takenBytes[i];
      if (sizes[order[i]] != 0 && sh.stream.length == sizes[order[i]])
        --incomplete;
    }
  }
  hashing = false;
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
  return counters;
}

} // namespace qopt::tensorcache
