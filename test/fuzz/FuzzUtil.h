//===- FuzzUtil.h - Helpers shared by the libFuzzer targets ----*- C++ -*-===//
//
// The header readers take a path, so each input is written to one scratch
// file per process first (under $TMPDIR, default /tmp).
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
#include <unistd.h>

namespace qopt::fuzz {

/// Writes `data` to this process's scratch file (named with `suffix`) and
/// returns its path.
inline const std::string &writeScratch(const uint8_t *data, size_t size,
                                       const char *suffix) {
  static const std::string path = [&] {
    const char *dir = std::getenv("TMPDIR");
    return std::string(dir && *dir ? dir : "/tmp") + "/qopt-fuzz-" +
           std::to_string(::getpid()) + suffix;
  }();
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0)
    std::abort();
  while (size > 0) {
    ssize_t n = ::write(fd, data, size);
    if (n <= 0)
      std::abort();
    data += n;
    size -= size_t(n);
  }
  ::close(fd);
  return path;
}

/// Drops an Expected's value or error (fuzzing only looks for crashes).
template <typename T> void ignore(llvm::Expected<T> &&e) {
  if (!e)
    llvm::consumeError(e.takeError());
}
inline void ignore(llvm::Error e) { llvm::consumeError(std::move(e)); }

/// Reads at most this many bytes of tensor data per input.
constexpr uint64_t kMaxReadBytes = 1u << 20;

} // namespace qopt::fuzz

#endif // QOPT_TEST_FUZZ_FUZZUTIL_H
