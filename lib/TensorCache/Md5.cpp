//===- Md5.cpp - Multi-buffer MD5 -------------------------------*- C++ -*-===//
//
// RFC 1321 MD5 on kMd5Lanes messages at once. Each of a, b, c, d is a vector
// of lanes (GCC vector extensions, so the baseline build uses SSE and the
// x86-64-v3/v4 clones AVX2/AVX-512); one compress step processes one 64-byte
// block of every active lane. Lanes that have no block in a step keep their
// state (a mask merges it back), so messages of any lengths share a batch.
//
//===----------------------------------------------------------------------===//

#include "qopt/TensorCache/Md5.h"
#include "qopt/Numerics/Config.h"

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
typedef uint32_t V __attribute__((vector_size(4 * kMd5Lanes)));

constexpr uint32_t kK[64] = {
    0xd76aa478, 0xe8c7b756, 0x242070db, 0xc1bdceee, 0xf57c0faf, 0x4787c62a,
    0xa8304613, 0xfd469501, 0x698098d8, 0x8b44f7af, 0xffff5bb1, 0x895cd7be,
    0x6b901122, 0xfd987193, 0xa679438e, 0x49b40821, 0xf61e2562, 0xc040b340,
    0x265e5a51, 0xe9b6c7aa, 0xd62f105d, 0x02441453, 0xd8a1e681, 0xe7d3fbc8,
    0x21e1cde6, 0xc33707d6, 0xf4d50d87, 0x455a14ed, 0xa9e3e905, 0xfcefa3f8,
    0x676f02d9, 0x8d2a4c8a, 0xfffa3942, 0x8771f681, 0x6d9d6122, 0xfde5380c,
    0xa4beea44, 0x4bdecfa9, 0xf6bb4b60, 0xbebfbc70, 0x289b7ec6, 0xeaa127fa,
    0xd4ef3085, 0x04881d05, 0xd9d4d039, 0xe6db99e5, 0x1fa27cf8, 0xc4ac5665,
    0xf4292244, 0x432aff97, 0xab9423a7, 0xfc93a039, 0x655b59c3, 0x8f0ccc92,
    0xffeff47d, 0x85845dd1, 0x6fa87e4f, 0xfe2ce6e0, 0xa3014314, 0x4e0811a1,
    0xf7537e82, 0xbd3af235, 0x2ad7d2bb, 0xeb86d391};

template <int S>
inline V rotl(V x) {
  return (x << S) | (x >> (32 - S));
}

/// Step I of the 64: the round function, message word and shift of RFC 1321.
template <int I>
inline void step(V &a, V b, V c, V d, const V *x) {
  constexpr int round = I / 16;
  constexpr int g = round == 0   ? I
                    : round == 1 ? (5 * I + 1) % 16
                    : round == 2 ? (3 * I + 5) % 16
                                 : (7 * I) % 16;
  constexpr int shifts[4][4] = {
      {7, 12, 17, 22}, {5, 9, 14, 20}, {4, 11, 16, 23}, {6, 10, 15, 21}};
  constexpr int s = shifts[round][I % 4];
  V f;
  if constexpr (round == 0)
    f = d ^ (b & (c ^ d));
  else if constexpr (round == 1)
    f = c ^ (d & (b ^ c));
  else if constexpr (round == 2)
    f = b ^ c ^ d;
  else
    f = c ^ (b | ~d);
  a = b + rotl<s>(a + f + kK[I] + x[g]);
}

template <int... Is>
inline void steps(V &a, V &b, V &c, V &d, const V *x,
                  std::integer_sequence<int, Is...>) {
  // Rotating roles: step i updates a, d, c, b in turn.
  (
      [&] {
        if constexpr (Is % 4 == 0)
          step<Is>(a, b, c, d, x);
        else if constexpr (Is % 4 == 1)
          step<Is>(d, a, b, c, x);
        else if constexpr (Is % 4 == 2)
          step<Is>(c, d, a, b, x);
        else
          step<Is>(b, c, d, a, x);
      }(),
      ...);
}

struct State {
  V a, b, c, d;
};

/// One block of each lane: block[l] points at lane l's 64 bytes; lanes whose
/// bit in `active` is clear keep their state.
QOPT_MULTIVERSION
void compress(State &st, const uint8_t *const block[L], uint32_t active) {
  V x[16];
  for (unsigned w = 0; w < 16; ++w) {
    uint32_t t[L];
    for (unsigned l = 0; l < L; ++l)
      std::memcpy(&t[l], block[l] + 4 * w, 4); // little-endian words
    std::memcpy(&x[w], t, sizeof t);
  }
  V a = st.a, b = st.b, c = st.c, d = st.d;
  steps(a, b, c, d, x, std::make_integer_sequence<int, 64>());
  uint32_t mt[L];
  for (unsigned l = 0; l < L; ++l)
    mt[l] = (active >> l) & 1 ? ~0u : 0u;
  V m;
  std::memcpy(&m, mt, sizeof mt);
  st.a = ((st.a + a) & m) | (st.a & ~m);
  st.b = ((st.b + b) & m) | (st.b & ~m);
  st.c = ((st.c + c) & m) | (st.c & ~m);
  st.d = ((st.d + d) & m) | (st.d & ~m);
}

void initState(State &st) {
  for (unsigned l = 0; l < L; ++l) {
    st.a[l] = 0x67452301u;
    st.b[l] = 0xefcdab89u;
    st.c[l] = 0x98badcfeu;
    st.d[l] = 0x10325476u;
  }
}

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

/// Runs the blocks of one round: lane l has blocks[l] blocks at base[l].
void runBlocks(State &st, uint8_t *const base[L], const uint64_t blocks[L]) {
  static const uint8_t zero[64] = {};
  uint64_t most = *std::max_element(blocks, blocks + L);
  const uint8_t *ptr[L];
  for (uint64_t i = 0; i < most; ++i) {
    uint32_t active = 0;
    for (unsigned l = 0; l < L; ++l) {
      bool on = i < blocks[l];
      active |= uint32_t(on) << l;
      ptr[l] = on ? base[l] + i * 64 : zero;
    }
    compress(st, ptr, active);
  }
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
