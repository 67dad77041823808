//===- Commit.h - Crash-safe publication of a staged cache ------*- C++ -*-===//
//
// The pieces of TensorCacheWriter that touch the output directory as a
// whole: the directory lock, the journaled switch from the old cache to the
// new one, recovery from a run that died in the middle, signal clean-up of
// staging directories, and fault injection for the tests. The design and its
// guarantees are in docs/reliability.md.
//
//===----------------------------------------------------------------------===//

#ifndef QOPT_LIB_TENSORCACHE_COMMIT_H
#define QOPT_LIB_TENSORCACHE_COMMIT_H

#include "llvm/ADT/ArrayRef.h"
#include "llvm/ADT/StringRef.h"
#include "llvm/Support/Error.h"

#include <string>
#include <system_error>
#include <vector>

namespace qopt::tensorcache::detail {

/// The prefix of staging directories inside the output directory:
/// ".quant-opt-staging-<pid>-<n>".
inline constexpr const char *kStagingPrefix = ".quant-opt-staging-";

/// The file operations of a commit that QOPT_FAULT_INJECT can fail.
enum class FsOp { Write, Fsync, Rename, Mkdir, Unlink };

/// Test hook: QOPT_FAULT_INJECT="rename:3" fails the 3rd rename of the
/// process's commits (and recoveries) with EIO; several entries are
/// separated by commas ("rename:3,rename:5"); "kill@fsync:2" kills the
/// process with SIGKILL just before the 2nd fsync instead (a crash).
/// Returns the error to report for the next `op`, or success.
std::error_code injectFault(FsOp op);

/// Takes a non-blocking flock on the directory `dir` itself (no lock file
/// to leave behind): exclusive, or `shared` (the parts of a --part run).
/// Returns the descriptor that holds it.
llvm::Expected<int> lockDirectory(llvm::StringRef dir, bool shared = false);

/// fsync of a file or a directory.
std::error_code fsyncPath(llvm::StringRef path);

/// Removes the staging directories of dead processes in `outDir` (caller
/// holds the lock), first restoring the cache a commit was replacing when
/// the process died in the middle of it. Errors are returned; a staging
/// directory of a live process is left alone.
llvm::Error removeStaleStaging(llvm::StringRef outDir);

/// Moves the staged shards and index files (`newNames`, the index
/// "tensor-cache.json" last) from `stagingDir` into `outDir`, replacing the
/// old cache there (its index files and every params_shard_*.bin); fsyncs
/// each step. On failure the old cache is moved back; if that fails too,
/// `keepStaging` is set (the old cache waits in <stagingDir>/old for the
/// next run) and the error says so.
llvm::Error publish(llvm::StringRef outDir, llvm::StringRef stagingDir,
                    llvm::ArrayRef<std::string> newNames, bool &keepStaging);

/// Delivers a SIGINT/SIGTERM/SIGHUP that arrived during publish() (call it
/// once the staging directory is removed or unregistered).
void raisePendingSignal();

/// Signal clean-up: on SIGINT, SIGTERM or SIGHUP, the files of every
/// registered staging directory are unlinked, the directory removed (and
/// `createdOutDir` too when not empty), then the previous handler runs.
/// Returns a slot for unregisterStaging, or -1 when all slots are taken.
int registerStaging(llvm::StringRef stagingDir, llvm::StringRef createdOutDir);
void unregisterStaging(int slot);

} // namespace qopt::tensorcache::detail

#endif // QOPT_LIB_TENSORCACHE_COMMIT_H
