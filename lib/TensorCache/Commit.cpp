//===- Commit.cpp - Crash-safe publication of a staged cache ----*- C++ -*-===//
//
// publish() replaces the cache in an output directory by the staged one in
// steps that are each one rename, fsynced in order, with a plan file in the
// staging directory that lets the next run finish or undo a switch that a
// crash interrupted:
//
//   staging/  params_shard_*.bin  tensor-cache[-b16].json  (written, fsynced)
//   1. write staging/commit-plan (the new names), mkdir staging/old, fsync
//   2. move OUT's tensor-cache.json, tensor-cache-b16.json, then every
//      params_shard_*.bin into staging/old; fsync both directories
//   3. move the new shards into OUT, then tensor-cache-b16.json; fsync OUT
//   4. move tensor-cache.json into OUT (the commit point); fsync OUT
//
// OUT never holds an index next to shards it does not describe: the old
// index leaves before any old shard, the new index arrives after every new
// shard. Any other file in OUT (mlc-chat-config.json, tokenizer files) is
// never touched.
//
//===----------------------------------------------------------------------===//

#include "Commit.h"

#include "llvm/ADT/SmallString.h"
#include "llvm/ADT/StringExtras.h"
#include "llvm/ADT/StringSet.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/Path.h"

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <fcntl.h>
#include <mutex>
#include <sys/file.h>
#include <sys/syscall.h>
#include <unistd.h>

namespace qopt::tensorcache::detail {

static constexpr const char *kIndexName = "tensor-cache.json";
static constexpr const char *kB16IndexName = "tensor-cache-b16.json";
static constexpr const char *kPlanName = "commit-plan";
static constexpr const char *kOldDir = "old";

static std::error_code lastError() {
  return std::error_code(errno, std::generic_category());
}

static std::string join(llvm::StringRef dir, llvm::StringRef name) {
  llvm::SmallString<256> p(dir);
  llvm::sys::path::append(p, name);
  return std::string(p);
}

/// "params_shard_<k>.bin" with k in plain decimal, as tvmjs names shards.
static bool isShardName(llvm::StringRef name) {
  llvm::StringRef digits = name;
  uint64_t k;
  return digits.consume_front("params_shard_") && digits.consume_back(".bin") &&
         !digits.getAsInteger(10, k) && std::to_string(k) == digits;
}

//===----------------------------------------------------------------------===//
// Fault injection
//===----------------------------------------------------------------------===//

namespace {
struct Fault {
  FsOp op;
  unsigned nth;
  bool kill;
};
struct FaultState {
  std::mutex mutex;
  std::vector<Fault> faults;
  unsigned counts[5] = {0, 0, 0, 0, 0};
};
} // namespace

static FaultState &faultState() {
  static FaultState *state = [] {
    auto *s = new FaultState();
    const char *env = std::getenv("QOPT_FAULT_INJECT");
    llvm::SmallVector<llvm::StringRef> items;
    llvm::StringRef(env ? env : "").split(items, ',', -1, false);
    for (llvm::StringRef item : items) {
      Fault f{FsOp::Write, 0, item.consume_front("kill@")};
      auto [name, count] = item.split(':');
      static const std::pair<const char *, FsOp> names[] = {
          {"write", FsOp::Write}, {"fsync", FsOp::Fsync},
          {"rename", FsOp::Rename}, {"mkdir", FsOp::Mkdir},
          {"unlink", FsOp::Unlink}};
      bool known = false;
      for (auto [n, op] : names)
        if (name == n) {
          f.op = op;
          known = true;
        }
      if (known && !count.getAsInteger(10, f.nth) && f.nth > 0)
        s->faults.push_back(f);
    }
    return s;
  }();
  return *state;
}

std::error_code injectFault(FsOp op) {
  FaultState &s = faultState();
  if (s.faults.empty())
    return {};
  std::lock_guard<std::mutex> lock(s.mutex);
  unsigned n = ++s.counts[int(op)];
  for (const Fault &f : s.faults)
    if (f.op == op && f.nth == n) {
      if (f.kill)
        ::raise(SIGKILL);
      return std::make_error_code(std::errc::io_error);
    }
  return {};
}

//===----------------------------------------------------------------------===//
// File operations (each one injectable)
//===----------------------------------------------------------------------===//

std::error_code fsyncPath(llvm::StringRef path) {
  if (std::error_code ec = injectFault(FsOp::Fsync))
    return ec;
  std::string p = path.str();
  int fd = ::open(p.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return lastError();
  int rc;
  do {
    rc = ::fsync(fd);
  } while (rc != 0 && errno == EINTR);
  std::error_code ec = rc != 0 ? lastError() : std::error_code();
  ::close(fd);
  return ec;
}

static llvm::Error fsyncOrFail(llvm::StringRef path) {
  if (std::error_code ec = fsyncPath(path))
    return llvm::createStringError(ec, "cannot fsync '" + path +
                                           "': " + ec.message());
  return llvm::Error::success();
}

static std::error_code renameFile(const std::string &from,
                                  const std::string &to) {
  if (std::error_code ec = injectFault(FsOp::Rename))
    return ec;
  if (::rename(from.c_str(), to.c_str()) != 0)
    return lastError();
  return {};
}

static llvm::Error moveOrFail(const std::string &from, const std::string &to) {
  if (std::error_code ec = renameFile(from, to))
    return llvm::createStringError(ec, "cannot move '" + from + "' to '" + to +
                                           "': " + ec.message());
  return llvm::Error::success();
}

static bool exists(const std::string &path) {
  return ::access(path.c_str(), F_OK) == 0;
}

/// Names of the entries of `dir` (not "." or "..").
static llvm::Expected<std::vector<std::string>> listDir(llvm::StringRef dir) {
  std::vector<std::string> names;
  std::error_code ec;
  for (llvm::sys::fs::directory_iterator it(dir, ec), end; it != end && !ec;
       it.increment(ec))
    names.push_back(llvm::sys::path::filename(it->path()).str());
  if (ec)
    return llvm::createStringError(ec, "cannot list '" + dir +
                                           "': " + ec.message());
  return names;
}

//===----------------------------------------------------------------------===//
// Lock
//===----------------------------------------------------------------------===//

llvm::Expected<int> lockDirectory(llvm::StringRef dir, bool shared) {
  std::string d = dir.str();
  int fd = ::open(d.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) {
    std::error_code ec = lastError();
    return llvm::createStringError(ec, "cannot open output directory '" + dir +
                                           "': " + ec.message());
  }
  int rc;
  do {
    rc = ::flock(fd, (shared ? LOCK_SH : LOCK_EX) | LOCK_NB);
  } while (rc != 0 && errno == EINTR);
  if (rc != 0) {
    std::error_code ec = lastError();
    ::close(fd);
    if (ec == std::errc::resource_unavailable_try_again ||
        ec == std::errc::operation_would_block)
      return llvm::createStringError(
          ec, "cannot write tensor cache '" + dir +
                  "': another quant-opt process is writing to it (the "
                  "directory is locked)");
    return llvm::createStringError(ec, "cannot lock output directory '" + dir +
                                           "': " + ec.message());
  }
  return fd;
}

//===----------------------------------------------------------------------===//
// Publish, roll back, recover
//===----------------------------------------------------------------------===//

namespace {
/// What a publish has done so far, to undo it.
struct Journal {
  std::string outDir, stagingDir, oldDir;
  std::vector<std::string> movedOut; // Old names moved into oldDir.
  std::vector<std::string> movedIn;  // New names moved into outDir.

  /// Undoes the moves in reverse; stops at the first failure.
  llvm::Error rollBack() {
    for (auto it = movedIn.rbegin(); it != movedIn.rend(); ++it) {
      if (llvm::Error err =
              moveOrFail(join(outDir, *it), join(stagingDir, *it)))
        return err;
    }
    movedIn.clear();
    for (auto it = movedOut.rbegin(); it != movedOut.rend(); ++it) {
      if (llvm::Error err = moveOrFail(join(oldDir, *it), join(outDir, *it)))
        return err;
    }
    movedOut.clear();
    return fsyncOrFail(outDir);
  }
};
} // namespace

static llvm::Error writePlan(const std::string &path,
                             llvm::ArrayRef<std::string> names) {
  std::string text;
  for (const std::string &n : names)
    text += n + "\n";
  auto fail = [&](std::error_code ec) {
    return llvm::createStringError(ec, "error writing '" + path +
                                           "': " + ec.message());
  };
  if (std::error_code ec = injectFault(FsOp::Write))
    return fail(ec);
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0666);
  if (fd < 0)
    return fail(lastError());
  ssize_t n = ::write(fd, text.data(), text.size());
  std::error_code ec = n < 0 ? lastError()
                       : size_t(n) != text.size()
                           ? std::make_error_code(std::errc::no_space_on_device)
                           : std::error_code();
  if (::close(fd) != 0 && !ec)
    ec = lastError();
  return ec ? fail(ec) : fsyncOrFail(path);
}

static llvm::Error publishSteps(Journal &j,
                                llvm::ArrayRef<std::string> newNames) {
  // The staged files and the staging directory are on disk first.
  for (const std::string &name : newNames)
    if (llvm::Error err = fsyncOrFail(join(j.stagingDir, name)))
      return err;
  if (llvm::Error err = writePlan(join(j.stagingDir, kPlanName), newNames))
    return err;
  if (std::error_code ec = injectFault(FsOp::Mkdir))
    return llvm::createStringError(ec, "cannot create '" + j.oldDir +
                                           "': " + ec.message());
  if (std::error_code ec = llvm::sys::fs::create_directory(j.oldDir, false))
    return llvm::createStringError(ec, "cannot create '" + j.oldDir +
                                           "': " + ec.message());
  if (llvm::Error err = fsyncOrFail(j.stagingDir))
    return err;

  // The old cache leaves: its index files first, then every shard.
  llvm::Expected<std::vector<std::string>> present = listDir(j.outDir);
  if (!present)
    return present.takeError();
  std::vector<std::string> oldNames;
  for (const char *index : {kIndexName, kB16IndexName})
    if (llvm::is_contained(*present, index))
      oldNames.push_back(index);
  size_t firstShard = oldNames.size();
  for (const std::string &name : *present)
    if (isShardName(name))
      oldNames.push_back(name);
  // Directory order differs between file systems: move shards by number.
  std::sort(oldNames.begin() + firstShard, oldNames.end(),
            [](const std::string &a, const std::string &b) {
              return a.size() != b.size() ? a.size() < b.size() : a < b;
            });
  for (const std::string &name : oldNames) {
    if (llvm::Error err = moveOrFail(join(j.outDir, name), join(j.oldDir, name)))
      return err;
    j.movedOut.push_back(name);
  }
  if (llvm::Error err = fsyncOrFail(j.oldDir))
    return err;
  if (llvm::Error err = fsyncOrFail(j.outDir))
    return err;

  // The new cache arrives: shards, the b16 index, then tensor-cache.json.
  for (const std::string &name : newNames) {
    if (name == kIndexName)
      continue;
    if (llvm::Error err =
            moveOrFail(join(j.stagingDir, name), join(j.outDir, name)))
      return err;
    j.movedIn.push_back(name);
  }
  if (llvm::Error err = fsyncOrFail(j.outDir))
    return err;
  if (llvm::Error err = moveOrFail(join(j.stagingDir, kIndexName),
                                   join(j.outDir, kIndexName)))
    return err;
  j.movedIn.push_back(kIndexName);
  return fsyncOrFail(j.outDir);
}

/// Signals that arrive while publish() moves files wait until it is done
/// (a half-switched directory is exactly what the journal avoids).
static std::atomic<bool> publishing{false};
static std::atomic<int> pendingSignal{0};

llvm::Error publish(llvm::StringRef outDir, llvm::StringRef stagingDir,
                    llvm::ArrayRef<std::string> newNames, bool &keepStaging) {
  Journal j{outDir.str(), stagingDir.str(), join(stagingDir, kOldDir), {}, {}};
  publishing.store(true);
  llvm::Error err = publishSteps(j, newNames);
  if (err) {
    if (llvm::Error undo = j.rollBack()) {
      keepStaging = true;
      err = llvm::joinErrors(
          std::move(err),
          llvm::createStringError(
              "and the previous cache could not be put back (" +
              llvm::toString(std::move(undo)) + "); it is kept in '" +
              j.oldDir + "' and the next quant-opt run on '" + outDir +
              "' restores it"));
    }
  }
  publishing.store(false);
  return err;
}

void raisePendingSignal() {
  if (int sig = pendingSignal.exchange(0))
    ::raise(sig);
}

/// Finishes or undoes the publish of a dead process (see the file comment).
static llvm::Error recover(llvm::StringRef outDir, llvm::StringRef staging) {
  std::string plan = join(staging, kPlanName);
  std::string oldDir = join(staging, kOldDir);
  if (!exists(plan) || !exists(oldDir))
    return llvm::Error::success(); // Died before moving anything.
  if (!exists(join(staging, kIndexName)))
    return llvm::Error::success(); // Died after the commit point.
  auto buffer = llvm::sys::fs::openNativeFileForRead(plan);
  if (!buffer)
    return llvm::errorCodeToError(
        std::error_code(errno, std::generic_category()));
  std::string text(4096, '\0'), all;
  for (;;) {
    llvm::Expected<size_t> n = llvm::sys::fs::readNativeFile(
        *buffer, llvm::MutableArrayRef<char>(text.data(), text.size()));
    if (!n) {
      llvm::sys::fs::closeFile(*buffer);
      return n.takeError();
    }
    if (*n == 0)
      break;
    all.append(text.data(), *n);
  }
  llvm::sys::fs::closeFile(*buffer);
  llvm::SmallVector<llvm::StringRef> newNames;
  llvm::StringRef(all).split(newNames, '\n', -1, false);
  // A new file that left staging was moved into OUT by the dead run.
  for (llvm::StringRef name : newNames) {
    if (exists(join(staging, name)) || !exists(join(outDir, name)))
      continue;
    if (std::error_code ec = injectFault(FsOp::Unlink))
      return llvm::createStringError(ec, "cannot remove '" +
                                             join(outDir, name) +
                                             "': " + ec.message());
    if (std::error_code ec = llvm::sys::fs::remove(join(outDir, name)))
      return llvm::createStringError(ec, "cannot remove '" +
                                             join(outDir, name) +
                                             "': " + ec.message());
  }
  llvm::Expected<std::vector<std::string>> old = listDir(oldDir);
  if (!old)
    return old.takeError();
  for (const std::string &name : *old)
    if (llvm::Error err = moveOrFail(join(oldDir, name), join(outDir, name)))
      return err;
  return fsyncOrFail(outDir);
}

llvm::Error removeStaleStaging(llvm::StringRef outDir) {
  llvm::Expected<std::vector<std::string>> names = listDir(outDir);
  if (!names)
    return names.takeError();
  for (const std::string &name : *names) {
    llvm::StringRef rest(name);
    if (!rest.consume_front(kStagingPrefix))
      continue;
    int pid;
    if (rest.split('-').first.getAsInteger(10, pid) || pid <= 0)
      continue;
    // Alive (or not ours to signal): leave it.
    if (pid == ::getpid() || ::kill(pid, 0) == 0 || errno != ESRCH)
      continue;
    std::string staging = join(outDir, name);
    if (llvm::Error err = recover(outDir, staging))
      return llvm::createStringError(
          "cannot restore the cache that an interrupted run left in '" +
          staging + "': " + llvm::toString(std::move(err)));
    if (std::error_code ec = llvm::sys::fs::remove_directories(staging))
      return llvm::createStringError(ec, "cannot remove stale staging "
                                         "directory '" +
                                             staging + "': " + ec.message());
  }
  return llvm::Error::success();
}

//===----------------------------------------------------------------------===//
// Signals
//===----------------------------------------------------------------------===//

namespace {
/// A staging directory the signal handler removes. Filled before `state`
/// becomes 2 and only read while it is 2.
struct Slot {
  std::atomic<int> state{0}; // 0 free, 1 being filled, 2 active
  char staging[4096];
  char outDir[4096];
};
} // namespace

static Slot slots[16];
static const int kSignals[] = {SIGINT, SIGTERM, SIGHUP};
static struct sigaction previous[3];

/// Unlinks the regular files of `dir` (flat) and removes it, with system
/// calls only: this runs inside a signal handler.
static void removeFlatDirectory(const char *dir) {
  int fd = ::open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0)
    return;
  alignas(8) static char buf[8192];
  for (;;) {
    long n = ::syscall(SYS_getdents64, fd, buf, sizeof(buf));
    if (n <= 0)
      break;
    for (long off = 0; off < n;) {
      // struct linux_dirent64: ino (8), off (8), reclen (2), type (1), name.
      unsigned short reclen;
      std::memcpy(&reclen, buf + off + 16, sizeof(reclen));
      const char *name = buf + off + 19;
      if (std::strcmp(name, ".") != 0 && std::strcmp(name, "..") != 0)
        ::unlinkat(fd, name, 0); // "old" is a directory: left alone.
      off += reclen;
    }
  }
  ::close(fd);
  ::rmdir(dir);
}

static void onSignal(int sig) {
  int saved = errno;
  if (publishing.load()) {
    pendingSignal.store(sig);
    errno = saved;
    return;
  }
  for (Slot &s : slots) {
    if (s.state.load() != 2)
      continue;
    removeFlatDirectory(s.staging);
    if (s.outDir[0])
      ::rmdir(s.outDir); // Only when empty.
  }
  for (int i = 0; i < 3; ++i)
    if (kSignals[i] == sig) {
      ::sigaction(sig, &previous[i], nullptr);
      if (previous[i].sa_handler == SIG_IGN) {
        errno = saved;
        return;
      }
      if (!(previous[i].sa_flags & SA_SIGINFO) &&
          previous[i].sa_handler != SIG_DFL) {
        previous[i].sa_handler(sig);
        errno = saved;
        return;
      }
    }
  ::raise(sig); // Delivered with the previous action once we return.
  errno = saved;
}

int registerStaging(llvm::StringRef stagingDir, llvm::StringRef createdOutDir) {
  static std::once_flag once;
  std::call_once(once, [] {
    for (int i = 0; i < 3; ++i) {
      struct sigaction sa;
      std::memset(&sa, 0, sizeof(sa));
      sa.sa_handler = onSignal;
      sigemptyset(&sa.sa_mask);
      ::sigaction(kSignals[i], &sa, &previous[i]);
      // A signal ignored at start (nohup, a background job) stays ignored.
      if (!(previous[i].sa_flags & SA_SIGINFO) &&
          previous[i].sa_handler == SIG_IGN)
        ::sigaction(kSignals[i], &previous[i], nullptr);
    }
  });
  if (stagingDir.size() >= sizeof(Slot::staging) ||
      createdOutDir.size() >= sizeof(Slot::outDir))
    return -1;
  for (int i = 0; i < int(std::size(slots)); ++i) {
    int expected = 0;
    if (!slots[i].state.compare_exchange_strong(expected, 1))
      continue;
    std::memcpy(slots[i].staging, stagingDir.data(), stagingDir.size());
    slots[i].staging[stagingDir.size()] = 0;
    std::memcpy(slots[i].outDir, createdOutDir.data(), createdOutDir.size());
    slots[i].outDir[createdOutDir.size()] = 0;
    slots[i].state.store(2);
    return i;
  }
  return -1;
}

void unregisterStaging(int slot) {
  if (slot >= 0 && slot < int(std::size(slots)))
    slots[slot].state.store(0);
}

} // namespace qopt::tensorcache::detail
