//===- PageDrop.cpp - Dropping mapped pages with one TLB shootdown -------===//
//
// Part of quant-opt.
//
//===----------------------------------------------------------------------===//

#include "qopt/Support/PageDrop.h"

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdlib>
#include <mutex>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <unistd.h>

namespace qopt::support {

size_t pageSize() {
  static const size_t page = size_t(::sysconf(_SC_PAGESIZE));
  return page;
}

namespace {
/// A pidfd of this process for process_madvise, or -1 where the system
/// cannot batch drops.
struct SelfPidfd {
  std::atomic<int> fd{-1};
  pid_t pid = 0; // whose pidfd: a forked child must not advise its parent
  std::once_flag once;
};
SelfPidfd self;

int selfPidfd() {
  std::call_once(self.once, [] {
#if defined(SYS_pidfd_open) && defined(SYS_process_madvise)
    const char *off = std::getenv("QOPT_NO_PROCESS_MADVISE");
    if (off && *off && *off != '0')
      return;
    int fd = int(::syscall(SYS_pidfd_open, ::getpid(), 0));
    if (fd < 0)
      return;
    // Probe with a page of our own: kernels before 6.13 refuse
    // MADV_DONTNEED here (EINVAL).
    void *p = ::mmap(nullptr, pageSize(), PROT_READ | PROT_WRITE,
                     MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) {
      ::close(fd);
      return;
    }
    struct iovec iov = {p, pageSize()};
    long r = ::syscall(SYS_process_madvise, fd, &iov, 1, MADV_DONTNEED, 0);
    ::munmap(p, pageSize());
    if (r != long(pageSize())) {
      ::close(fd);
      return;
    }
    self.pid = ::getpid();
    self.fd.store(fd);
#endif
  });
  int fd = self.fd.load();
  return fd >= 0 && self.pid == ::getpid() ? fd : -1;
}
} // namespace

bool pageDropsAreBatched() { return selfPidfd() >= 0; }

void PageDropList::add(const void *begin, size_t length) {
  if (length == 0)
    return;
  uintptr_t page = pageSize();
  uintptr_t b = reinterpret_cast<uintptr_t>(begin) / page * page;
  uintptr_t e = (reinterpret_cast<uintptr_t>(begin) + length + page - 1) /
                page * page;
  // Extends the last range when this one follows (or overlaps) it: a lane
  // reads its file in order.
  if (!ranges.empty() && b <= ranges.back().end && b >= ranges.back().begin) {
    if (e > ranges.back().end) {
      total += e - ranges.back().end;
      ranges.back().end = e;
    }
    return;
  }
  ranges.push_back({b, e});
  total += e - b;
}

unsigned PageDropList::drop() {
  unsigned calls = 0;
  size_t done = 0;
#if defined(SYS_process_madvise)
  if (int fd = batched ? selfPidfd() : -1; fd >= 0 && !ranges.empty()) {
    // UIO_MAXIOV (1024) ranges per call at most.
    while (done < ranges.size()) {
      size_t n = std::min<size_t>(ranges.size() - done, 1024);
      std::vector<struct iovec> iov(n);
      size_t want = 0;
      for (size_t i = 0; i < n; ++i) {
        const Range &r = ranges[done + i];
        iov[i] = {reinterpret_cast<void *>(r.begin), size_t(r.end - r.begin)};
        want += r.end - r.begin;
      }
      long got = ::syscall(SYS_process_madvise, fd, iov.data(), n,
                           MADV_DONTNEED, 0);
      ++calls;
      if (got < 0)
        break; // the rest one by one below
      if (size_t(got) == want) {
        done += n;
        continue;
      }
      // A short count: the ranges it covered whole are done.
      size_t covered = size_t(got);
      while (done < ranges.size() &&
             covered >= ranges[done].end - ranges[done].begin) {
        covered -= ranges[done].end - ranges[done].begin;
        ++done;
      }
      break;
    }
  }
#endif
  for (; done < ranges.size(); ++done) {
    ::madvise(reinterpret_cast<void *>(ranges[done].begin),
              size_t(ranges[done].end - ranges[done].begin), MADV_DONTNEED);
    ++calls;
  }
  ranges.clear();
  total = 0;
  return calls;
}

} // namespace qopt::support
