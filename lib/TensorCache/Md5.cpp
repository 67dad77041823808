//===- Md5.cpp - Multi-buffer MD5 -------------------------------*- C++ -*-===//
//
// RFC 1321 MD5 on kMd5Lanes messages at once: the messages' padding, files
// and streams fed in pieces. The compression runs in a Highway kernel
// (qopt/Numerics/Md5Lanes.h, lib/Numerics/SimdMd5.cpp) with one message per
// SIMD lane; lanes that have no block in a step keep their state, so
// messages of any lengths share a batch.
//
//===----------------------------------------------------------------------===//

#include "qopt/TensorCache/Md5.h"
#include "qopt/Numerics/Md5Lanes.h"

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <memory>
#include <mutex>
#include <sys/stat.h>
#include <thread>
#include <unistd.h>

namespace qopt::tensorcache {

namespace {

constexpr unsigned L = kMd5Lanes;
using State = numerics::Md5LaneState;

void initState(State &st) { st.reset(); }

Md5Digest digestOf(const State &st, unsigned l) {
  Md5Digest out;
  uint32_t words[4] = {st.a[l], st.b[l], st.c[l], st.d[l]};
  for (int w = 0; w < 4; ++w)
    for (int i = 0; i < 4; ++i)
      out[size_t(4 * w + i)] = uint8_t(words[w] >> (8 * i));
  return out;
}

/// Writes the padding after the last `tail` (< 64 or more) bytes at `buf`,
/// for a message of `totalBytes`; returns the number of blocks the tail
/// occupies with its padding. `buf` must have room for tail + 72 bytes.
uint64_t padTail(uint8_t *buf, uint64_t tail, uint64_t totalBytes) {
  uint64_t blocks = (tail + 8) / 64 + 1;
  std::memset(buf + tail, 0, blocks * 64 - tail);
  buf[tail] = 0x80;
  uint64_t bits = totalBytes * 8;
  for (int i = 0; i < 8; ++i)
    buf[blocks * 64 - 8 + uint64_t(i)] = uint8_t(bits >> (8 * i));
  return blocks;
}

/// Runs the blocks of one round: lane l has blocks[l] blocks at base[l]
/// (the Highway kernel, lib/Numerics/SimdMd5.cpp).
void runBlocks(State &st, uint8_t *const base[L], const uint64_t blocks[L]) {
  numerics::md5RunBlocks(st, base, blocks);
}

llvm::Error fileError(const Md5File &f, const llvm::Twine &what) {
  return llvm::createStringError(llvm::inconvertibleErrorCode(),
                                 "error reading '" + f.display + "': " + what);
}

/// Hashes up to L files; out[i] gets file i's hex digest.
llvm::Error hashBatch(llvm::ArrayRef<Md5File> files, std::string *out,
                      uint8_t *arena, size_t laneBytes) {
  State st;
  initState(st);
  int fds[L];
  std::fill(fds, fds + L, -1);
  auto closeAll = [&] {
    for (int fd : fds)
      if (fd >= 0)
        ::close(fd);
  };
  uint64_t done[L] = {};
  bool finished[L];
  for (unsigned l = 0; l < L; ++l)
    finished[l] = l >= files.size();
  for (size_t l = 0; l < files.size(); ++l) {
    fds[l] = ::open(files[l].path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fds[l] < 0) {
      std::string msg = std::strerror(errno);
      closeAll();
      return fileError(files[l], msg);
    }
    struct stat sb;
    if (::fstat(fds[l], &sb) != 0) {
      std::string msg = std::strerror(errno);
      closeAll();
      return fileError(files[l], msg);
    }
    if (uint64_t(sb.st_size) != files[l].size) {
      closeAll();
      return fileError(files[l], "has " + llvm::Twine(uint64_t(sb.st_size)) +
                                     " bytes, expected " +
                                     llvm::Twine(files[l].size));
    }
  }
  uint8_t *base[L];
  for (unsigned l = 0; l < L; ++l)
    base[l] = arena + l * (laneBytes + 128);
  for (;;) {
    uint64_t blocks[L] = {};
    bool any = false;
    for (unsigned l = 0; l < files.size(); ++l) {
      if (finished[l])
        continue;
      any = true;
      uint64_t want = std::min<uint64_t>(laneBytes, files[l].size - done[l]);
      uint64_t got = 0;
      while (got < want) {
        ssize_t n = ::pread(fds[l], base[l] + got, want - got,
                            off_t(done[l] + got));
        if (n < 0 && errno == EINTR)
          continue;
        if (n <= 0) {
          std::string msg = n < 0 ? std::strerror(errno)
                                  : "ends after " +
                                        std::to_string(done[l] + got) +
                                        " bytes, expected " +
                                        std::to_string(files[l].size);
          closeAll();
          return fileError(files[l], msg);
        }
        got += uint64_t(n);
      }
      done[l] += want;
      if (done[l] == files[l].size && want < laneBytes) {
        // Last (partial) chunk: the padding goes right after it.
        blocks[l] = want / 64 + padTail(base[l] + want / 64 * 64, want % 64,
                                        files[l].size);
        finished[l] = true;
      } else {
        blocks[l] = want / 64;
      }
    }
    if (!any)
      break;
    runBlocks(st, base, blocks);
  }
  closeAll();
  for (size_t l = 0; l < files.size(); ++l)
    out[l] = md5Hex(digestOf(st, unsigned(l)));
  return llvm::Error::success();
}

} // namespace

std::string md5Hex(const Md5Digest &d) {
  static const char *hex = "0123456789abcdef";
  std::string s;
  s.reserve(32);
  for (uint8_t b : d) {
    s += hex[b >> 4];
    s += hex[b & 15];
  }
  return s;
}

std::vector<Md5Digest> md5Many(llvm::ArrayRef<llvm::ArrayRef<uint8_t>> msgs) {
  std::vector<Md5Digest> out(msgs.size());
  for (size_t first = 0; first < msgs.size(); first += L) {
    size_t n = std::min<size_t>(L, msgs.size() - first);
    State st;
    initState(st);
    // Whole blocks straight from the messages, then each padded tail.
    uint8_t *base[L];
    uint64_t blocks[L] = {};
    for (unsigned l = 0; l < L; ++l) {
      base[l] = l < n ? const_cast<uint8_t *>(msgs[first + l].data()) : nullptr;
      blocks[l] = l < n ? msgs[first + l].size() / 64 : 0;
    }
    runBlocks(st, base, blocks);
    std::vector<uint8_t> tails(L * 128);
    for (unsigned l = 0; l < L; ++l) {
      base[l] = tails.data() + l * 128;
      blocks[l] = 0;
      if (l >= n)
        continue;
      llvm::ArrayRef<uint8_t> m = msgs[first + l];
      size_t whole = m.size() / 64 * 64;
      std::memcpy(base[l], m.data() + whole, m.size() - whole);
      blocks[l] = padTail(base[l], m.size() - whole, m.size());
    }
    runBlocks(st, base, blocks);
    for (unsigned l = 0; l < n; ++l)
      out[first + l] = digestOf(st, l);
  }
  return out;
}

llvm::Expected<std::vector<std::string>>
md5Files(llvm::ArrayRef<Md5File> files, unsigned threads) {
  constexpr size_t kLaneBytes = 1 << 20;
  std::vector<std::string> out(files.size());
  // Spread the files evenly: with T threads and B = ceil(n / T) files each
  // (at most L per batch), every thread fills its lanes alike.
  threads = std::max(1u, threads);
  size_t perThread = (files.size() + threads - 1) / threads;
  size_t perBatch = std::min<size_t>(L, std::max<size_t>(perThread, 1));
  size_t batches = (files.size() + perBatch - 1) / perBatch;
  std::mutex mu;
  std::string firstError;
  std::atomic<size_t> next{0};
  auto work = [&] {
    std::unique_ptr<uint8_t[]> arena(new uint8_t[L * (kLaneBytes + 128)]);
    for (;;) {
      size_t b = next.fetch_add(1);
      if (b >= batches)
        return;
      size_t first = b * perBatch;
      size_t n = std::min(perBatch, files.size() - first);
      if (llvm::Error err = hashBatch(files.slice(first, n), out.data() + first,
                                      arena.get(), kLaneBytes)) {
        std::lock_guard<std::mutex> lock(mu);
        std::string msg = llvm::toString(std::move(err));
        if (firstError.empty())
          firstError = msg;
      }
    }
  };
  size_t nThreads = std::min<size_t>(threads, batches);
  std::vector<std::thread> pool;
  for (size_t t = 1; t < nThreads; ++t)
    pool.emplace_back(work);
  work();
  for (std::thread &t : pool)
    t.join();
  if (!firstError.empty())
    return llvm::createStringError(llvm::inconvertibleErrorCode(), firstError);
  return out;
}

//===----------------------------------------------------------------------===//
// Incremental hashing: lanes gathered from independent streams.
//===----------------------------------------------------------------------===//

namespace {
void loadStreams(State &st, llvm::ArrayRef<Md5Stream *> s) {
  initState(st);
  for (unsigned l = 0; l < s.size(); ++l) {
    st.a[l] = s[l]->state[0];
    st.b[l] = s[l]->state[1];
    st.c[l] = s[l]->state[2];
    st.d[l] = s[l]->state[3];
  }
}

void storeStreams(const State &st, llvm::ArrayRef<Md5Stream *> s) {
  for (unsigned l = 0; l < s.size(); ++l) {
    s[l]->state[0] = st.a[l];
    s[l]->state[1] = st.b[l];
    s[l]->state[2] = st.c[l];
    s[l]->state[3] = st.d[l];
  }
}
} // namespace

Md5Digest Md5Stream::digest() const {
  State st;
  Md5Stream copy = *this;
  Md5Stream *one[1] = {&copy};
  loadStreams(st, one);
  uint8_t tail[128];
  uint64_t fill = length % 64;
  std::memcpy(tail, partial, fill);
  uint8_t *base[L] = {};
  uint64_t blocks[L] = {};
  base[0] = tail;
  blocks[0] = padTail(tail, fill, length);
  runBlocks(st, base, blocks);
  return digestOf(st, 0);
}

void md5UpdateMany(llvm::ArrayRef<Md5Stream *> streams,
                   llvm::ArrayRef<llvm::ArrayRef<uint8_t>> data) {
  for (size_t first = 0; first < streams.size(); first += L) {
    size_t n = std::min<size_t>(L, streams.size() - first);
    llvm::ArrayRef<Md5Stream *> s = streams.slice(first, n);
    State st;
    loadStreams(st, s);
    // First the blocks that complete a stream's unfinished block, then the
    // whole blocks of the new bytes, then the rest waits in `partial`.
    uint8_t *base[L] = {};
    uint64_t blocks[L] = {};
    size_t used[L] = {};
    bool anyPartial = false;
    for (unsigned l = 0; l < n; ++l) {
      llvm::ArrayRef<uint8_t> d = data[first + l];
      uint64_t fill = s[l]->length % 64;
      if (fill == 0 || d.empty())
        continue;
      used[l] = std::min<size_t>(64 - fill, d.size());
      std::memcpy(s[l]->partial + fill, d.data(), used[l]);
      if (fill + used[l] == 64) {
        base[l] = s[l]->partial;
        blocks[l] = 1;
        anyPartial = true;
      }
    }
    if (anyPartial)
      runBlocks(st, base, blocks);
    for (unsigned l = 0; l < L; ++l) {
      base[l] = nullptr;
      blocks[l] = 0;
      if (l >= n)
        continue;
      llvm::ArrayRef<uint8_t> d = data[first + l].drop_front(used[l]);
      bool wasPartial = s[l]->length % 64 != 0;
      if (wasPartial && (s[l]->length % 64) + used[l] < 64)
        continue; // all of d went into `partial`
      base[l] = const_cast<uint8_t *>(d.data());
      blocks[l] = d.size() / 64;
    }
    runBlocks(st, base, blocks);
    for (unsigned l = 0; l < n; ++l) {
      llvm::ArrayRef<uint8_t> d = data[first + l].drop_front(used[l]);
      bool allInPartial =
          s[l]->length % 64 != 0 && (s[l]->length % 64) + used[l] < 64;
      if (!allInPartial && d.size() % 64 != 0)
        std::memcpy(s[l]->partial, d.data() + d.size() / 64 * 64,
                    d.size() % 64);
      s[l]->length += data[first + l].size();
    }
    storeStreams(st, s);
  }
}

} // namespace qopt::tensorcache
