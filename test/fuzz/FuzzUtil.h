//===- FuzzUtil.h - Helpers shared by the libFuzzer targets ----*- C++ -*-===//
//
// The header readers take a path, so each input is first written to one
// in-memory scratch file per process.
//
//===----------------------------------------------------------------------===//

#ifndef QOPT_TEST_FUZZ_FUZZUTIL_H
#define QOPT_TEST_FUZZ_FUZZUTIL_H

#include "llvm/Support/Error.h"

#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <fcntl.h>
#include <string>
#include <sys/mman.h>
#include <unistd.h>

namespace qopt::fuzz {

/// Writes `data` to this process's scratch file and returns a path that
/// opens it. The file is an in-memory memfd (opened through /proc/self/fd),
/// or, where that fails, `$TMPDIR/qopt-fuzz-<pid><suffix>`.
inline const std::string &writeScratch(const uint8_t *data, size_t size,
                                       const char *suffix) {
  static int fd = -1;
  static const std::string path = [&] {
    fd = ::memfd_create("qopt-fuzz", MFD_CLOEXEC);
    if (fd >= 0)
      return "/proc/self/fd/" + std::to_string(fd);
    const char *dir = std::getenv("TMPDIR");
    std::string p = std::string(dir && *dir ? dir : "/tmp") + "/qopt-fuzz-" +
                    std::to_string(::getpid()) + suffix;
    fd = ::open(p.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    return p;
  }();
  if (fd < 0 || ::ftruncate(fd, 0) != 0)
    std::abort();
  off_t at = 0;
  while (size > 0) {
    ssize_t n = ::pwrite(fd, data, size, at);
    if (n <= 0)
      std::abort();
    data += n;
    at += n;
    size -= size_t(n);
  }
  return path;
}

/// Drops an Expected's value or error (fuzzing only looks for crashes).
template <typename T>
void ignore(llvm::Expected<T> &&e) {
  if (!e)
    llvm::consumeError(e.takeError());
}
inline void ignore(llvm::Error e) { llvm::consumeError(std::move(e)); }

/// Reads at most this many bytes of tensor data per input.
constexpr uint64_t kMaxReadBytes = 1u << 20;

} // namespace qopt::fuzz

#endif // QOPT_TEST_FUZZ_FUZZUTIL_H
