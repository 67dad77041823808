//===- TensorCacheWriter.cpp - Staged tensor-cache output -------*- C++ -*-===//
//
// Writes shards into a staging directory with pwrite at planned offsets,
// hashing every piece as it is written (ShardHasher), then publishes them
// into the output directory (Commit.h: locked, fsynced, journaled; the index
// last).
//
//===----------------------------------------------------------------------===//

#include "qopt/TensorCache/TensorCache.h"

#include "Commit.h"

#include "llvm/ADT/StringSet.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/Path.h"
#include "qopt/TensorCache/ShardHasher.h"

#include <thread>

#include <cerrno>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

namespace qopt::tensorcache {

static constexpr const char *kIndexName = "tensor-cache.json";
static constexpr const char *kB16IndexName = "tensor-cache-b16.json";

static std::error_code lastError() {
  return std::error_code(errno, std::generic_category());
}

static std::string joinPath(llvm::StringRef dir, llvm::StringRef name) {
  llvm::SmallString<256> p(dir);
  llvm::sys::path::append(p, name);
  return std::string(p);
}

static std::string shardFileName(size_t shard) {
  return "params_shard_" + std::to_string(shard) + ".bin";
}

static std::string shapeString(const std::vector<int64_t> &shape) {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); ++i) {
    if (i != 0)
      s += ", ";
    s += std::to_string(shape[i]);
  }
  return s + "]";
}

/// Closes `fd`, retrying on EINTR; returns the close error if any.
static std::error_code closeFd(int fd) {
  if (::close(fd) != 0 && errno != EINTR)
    return lastError();
  return {};
}

/// Checks names, shapes and sizes of the records before anything is written.
static llvm::Error validateRecords(llvm::StringRef outDir,
                                   const std::vector<RecordSpec> &records) {
  auto fail = [&](const llvm::Twine &msg) {
    return llvm::createStringError("cannot write tensor cache '" + outDir +
                                   "': " + msg);
  };
  llvm::StringSet<> names;
  for (const RecordSpec &rec : records) {
    if (!isValidUtf8(rec.name))
      return fail("tensor name " + pythonJsonString(rec.name) +
                  " is not valid UTF-8");
    if (!names.insert(rec.name).second)
      return fail("duplicate tensor name '" + rec.name + "'");
    for (int64_t d : rec.shape)
      if (d < 0)
        return fail("tensor '" + rec.name +
                    "' has a negative dimension in "
                    "shape " +
                    shapeString(rec.shape));
    size_t elemSize = numerics::dtypeSize(rec.dtype);
    if (elemSize == 0)
      return fail("tensor '" + rec.name + "' has an unknown dtype");
    std::optional<uint64_t> numel = rec.numElements();
    uint64_t bytes;
    if (!numel || __builtin_mul_overflow(*numel, uint64_t(elemSize), &bytes) ||
        bytes > uint64_t(INT64_MAX))
      return fail("tensor '" + rec.name + "' with shape " +
                  shapeString(rec.shape) + " is too large");
  }
  return llvm::Error::success();
}

llvm::Expected<std::unique_ptr<TensorCacheWriter>>
TensorCacheWriter::create(llvm::StringRef outDir,
                          std::vector<RecordSpec> records, uint64_t capBytes) {
  return createImpl(outDir, std::move(records), capBytes, std::nullopt);
}

llvm::Expected<std::unique_ptr<TensorCacheWriter>>
TensorCacheWriter::createPart(llvm::StringRef outDir,
                              std::vector<RecordSpec> records, PartSpec part,
                              uint64_t capBytes) {
  if (part.count == 0 || part.index == 0 || part.index > part.count)
    return llvm::createStringError("invalid part " + llvm::Twine(part.index) +
                                   "/" + llvm::Twine(part.count));
  return createImpl(outDir, std::move(records), capBytes, part);
}

llvm::Expected<std::unique_ptr<TensorCacheWriter>>
TensorCacheWriter::createImpl(llvm::StringRef outDir,
                              std::vector<RecordSpec> records,
                              uint64_t capBytes, std::optional<PartSpec> part) {
  if (outDir.empty())
    return llvm::createStringError("output directory path is empty");
  if (llvm::Error err = validateRecords(outDir, records))
    return err;

  std::unique_ptr<TensorCacheWriter> writer(new TensorCacheWriter());
  writer->outDir = outDir.str();
  writer->shardPlan = planShards(records, capBytes);
  for (size_t i = 0; i < records.size(); ++i)
    if (writer->shardPlan.placements[i].shard == ShardPlan::kDropped)
      return llvm::createStringError(
          "cannot write tensor cache '" + outDir + "': tensor '" +
          records[i].name +
          "' has zero bytes and no later bytes share its shard, so "
          "tvmjs.dump_tensor_cache would drop it from the index");
  if (writer->shardPlan.shardBytes.size() >= ShardPlan::kDropped)
    return llvm::createStringError("cannot write tensor cache '" + outDir +
                                   "': too many shards");
  writer->recordSpecs = std::move(records);
  writer->capBytes = capBytes;
  writer->part = part;
  size_t numShards = writer->shardPlan.shardBytes.size();
  writer->inPart.assign(numShards, true);
  if (part) {
    std::vector<uint32_t> owner =
        assignShardsToParts(writer->shardPlan.shardBytes, part->count);
    for (size_t s = 0; s < numShards; ++s)
      writer->inPart[s] = owner[s] == part->index - 1;
  }
  writer->recordStates.reset(
      new std::atomic<uint8_t>[writer->recordSpecs.size()]);
  writer->partBytes.reset(
      new std::atomic<uint64_t>[writer->recordSpecs.size()]);
  for (size_t i = 0; i < writer->recordSpecs.size(); ++i) {
    writer->recordStates[i].store(NotWritten);
    writer->partBytes[i].store(0);
  }

  // The output directory.
  llvm::sys::fs::file_status st;
  std::error_code ec = llvm::sys::fs::status(outDir, st);
  if (!ec) {
    if (!llvm::sys::fs::is_directory(st))
      return llvm::createStringError(
          std::make_error_code(std::errc::not_a_directory),
          "cannot create output directory '" + outDir +
              "': it exists and is not a directory");
  } else {
    // 0777 before umask, like os.makedirs.
    ec = llvm::sys::fs::create_directories(outDir, /*IgnoreExisting=*/true,
                                           llvm::sys::fs::all_all);
    if (ec)
      return llvm::createStringError(ec, "cannot create output directory '" +
                                             outDir + "': " + ec.message());
    writer->createdOutDir = true;
  }

  // One writer per directory: the others fail here, before any work. The
  // parts of a --part run may write at the same time (a shared lock, which
  // still excludes a whole-cache writer).
  llvm::Expected<int> lock = detail::lockDirectory(outDir, part.has_value());
  if (!lock) {
    if (writer->createdOutDir)
      ::rmdir(writer->outDir.c_str());
    return lock.takeError();
  }
  writer->lockFd = *lock;
  // Staging directories of killed runs (and the cache a killed commit was
  // replacing) are cleaned up under the exclusive lock. (Parts may run on
  // other hosts, where a pid says nothing: they leave staging alone.)
  if (!part)
    if (llvm::Error err = detail::removeStaleStaging(outDir))
      return err;

  // The staging directory, unique within this process and among processes.
  static std::atomic<unsigned> stagingCounter{0};
  for (unsigned attempt = 0;; ++attempt) {
    std::string candidate =
        joinPath(outDir, ".quant-opt-staging-" + std::to_string(::getpid()) +
                             "-" + std::to_string(stagingCounter.fetch_add(1)));
    ec = llvm::sys::fs::create_directory(candidate, /*IgnoreExisting=*/false);
    if (!ec) {
      writer->stagingDir = std::move(candidate);
      writer->signalSlot = detail::registerStaging(
          writer->stagingDir, writer->createdOutDir ? outDir : "");
      break;
    }
    if (ec != std::errc::file_exists || attempt >= 1000)
      return llvm::createStringError(ec, "cannot create staging directory '" +
                                             candidate + "': " + ec.message());
  }

  // Pre-size every shard file (sparse) so that writes can land anywhere.
  std::vector<std::string> staged, display;
  for (size_t s = 0; s < numShards; ++s) {
    staged.push_back(writer->stagedShardPath(s));
    display.push_back(writer->finalShardPath(s));
  }
  // In-order pieces wait as ranges of the staged files (read back from the
  // page cache when hashed), not as copies: the peak RSS does not grow with
  // the bytes waiting for a batch (docs/design.md).
  // Waiting then costs no memory, so a batch can wait for more lanes: 64 MiB
  // fills about 14 of 16 lanes for q0f16 (12 MiB: 4).
  ShardHasher::Limits hashLimits;
  hashLimits.readyCopyBytes = 0;
  // Out-of-order pieces (q_scale rows written before their shard's frontier
  // reaches them) would be freed when it does (no in-order copies), so a
  // copy would only cost a memcpy and up to 2 MiB: they wait as file ranges
  // too.
  hashLimits.pendingBytes = 0;
  hashLimits.readyBytes = 64ull << 20;
  writer->hasher = std::make_unique<ShardHasher>(
      writer->shardPlan.shardBytes, staged, display, hashLimits);
  for (size_t s = 0; s < numShards; ++s) {
    if (!writer->inPart[s])
      continue;
    int fd = ::open(staged[s].c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC,
                    0666);
    if (fd < 0) {
      ec = lastError();
      return llvm::createStringError(ec, "cannot create '" +
                                             writer->finalShardPath(s) +
                                             "': " + ec.message());
    }
    int rc;
    do {
      rc = ::ftruncate(fd, static_cast<off_t>(writer->shardPlan.shardBytes[s]));
    } while (rc != 0 && errno == EINTR);
    ec = rc != 0 ? lastError() : std::error_code();
    std::error_code closeEc = closeFd(fd);
    if (!ec)
      ec = closeEc;
    if (ec)
      return llvm::createStringError(ec, "error writing '" +
                                             writer->finalShardPath(s) +
                                             "': " + ec.message());
  }
  return writer;
}

TensorCacheWriter::~TensorCacheWriter() {
  if (!committed)
    cleanup();
  if (lockFd >= 0)
    ::close(lockFd);
}

std::string TensorCacheWriter::stagedShardPath(size_t shard) const {
  return joinPath(stagingDir, shardFileName(shard));
}

std::string TensorCacheWriter::finalShardPath(size_t shard) const {
  return joinPath(outDir, shardFileName(shard));
}

void TensorCacheWriter::cleanup() {
  // A staging directory that holds the previous cache (a commit that could
  // not be undone) stays for the next run to restore.
  detail::unregisterStaging(signalSlot);
  signalSlot = -1;
  // Shards a failed part commit had moved (parts do not replace a cache).
  for (auto it = movedFiles.rbegin(); it != movedFiles.rend(); ++it)
    llvm::sys::fs::remove(*it);
  movedFiles.clear();
  if (!stagingDir.empty() && !keepStaging)
    llvm::sys::fs::remove_directories(stagingDir, /*IgnoreErrors=*/true);
  if (createdOutDir && !keepStaging)
    ::rmdir(outDir.c_str()); // Only succeeds when empty.
  detail::raisePendingSignal();
}

llvm::Error TensorCacheWriter::writeAt(int fd, const void *data, uint64_t size,
                                       uint64_t offset,
                                       llvm::StringRef displayPath) {
  auto fail = [&](std::error_code ec) {
    return llvm::createStringError(ec, "error writing '" + displayPath +
                                           "': " + ec.message());
  };
  if (diskLimit != UINT64_MAX) {
    uint64_t before = bytesWritten.fetch_add(size);
    if (before > diskLimit || size > diskLimit - before) {
      bytesWritten.fetch_sub(size);
      return fail(std::make_error_code(std::errc::no_space_on_device));
    }
  }
  const auto *p = static_cast<const char *>(data);
  while (size > 0) {
    size_t chunk = size > (1u << 30) ? (1u << 30) : static_cast<size_t>(size);
    ssize_t n = ::pwrite(fd, p, chunk, static_cast<off_t>(offset));
    if (n < 0) {
      if (errno == EINTR)
        continue;
      return fail(lastError());
    }
    if (n == 0)
      return fail(std::make_error_code(std::errc::no_space_on_device));
    p += n;
    size -= static_cast<uint64_t>(n);
    offset += static_cast<uint64_t>(n);
  }
  return llvm::Error::success();
}

llvm::Error TensorCacheWriter::writeRecordPart(size_t i, uint64_t offset,
                                               const void *data, size_t size) {
  if (i >= recordSpecs.size())
    return llvm::createStringError(
        "cannot write record " + llvm::Twine(i) + " of tensor cache '" +
        outDir + "': it has only " + llvm::Twine(recordSpecs.size()) +
        " records");
  const RecordSpec &rec = recordSpecs[i];
  if (commitAttempted)
    return llvm::createStringError("cannot write tensor '" + rec.name +
                                   "': commit() was already called on "
                                   "tensor cache '" +
                                   outDir + "'");
  uint64_t expected = rec.fileBytes();
  if (offset > expected || size > expected - offset)
    return llvm::createStringError(
        "cannot write tensor '" + rec.name + "' to '" + outDir + "': bytes [" +
        llvm::Twine(offset) + ", " + llvm::Twine(offset + uint64_t(size)) +
        ") are outside its " + llvm::Twine(expected) + " bytes");
  if (size == 0) {
    if (expected == 0)
      recordStates[i].store(Written);
    return llvm::Error::success();
  }
  if (!data)
    return llvm::createStringError("cannot write tensor '" + rec.name +
                                   "': no data");
  if (recordStates[i].load() == Written)
    return llvm::createStringError("tensor '" + rec.name + "' written twice");
  const ShardPlan::Placement &place = shardPlan.placements[i];
  if (!inPart[place.shard]) {
    // Another part writes this record.
    if (partBytes[i].fetch_add(size) + size == expected)
      recordStates[i].store(Written);
    return llvm::Error::success();
  }
  std::string staged = stagedShardPath(place.shard);
  std::string display = finalShardPath(place.shard);
  int fd = ::open(staged.c_str(), O_WRONLY | O_CLOEXEC);
  if (fd < 0) {
    std::error_code ec = lastError();
    return llvm::createStringError(ec, "error writing '" + display +
                                           "': " + ec.message());
  }
  llvm::Error err =
      writeAt(fd, data, size, place.byteOffset + offset, display);
  std::error_code closeEc = closeFd(fd);
  if (!err && closeEc)
    err = llvm::createStringError(closeEc, "error writing '" + display +
                                               "': " + closeEc.message());
  if (!err)
    err = hasher->add(place.shard, place.byteOffset + offset, data, size);
  if (err)
    return err;
  if (partBytes[i].fetch_add(size) + size == expected)
    recordStates[i].store(Written);
  return llvm::Error::success();
}

llvm::Error TensorCacheWriter::writeRecord(size_t i, const void *data,
                                           size_t size) {
  if (i >= recordSpecs.size())
    return llvm::createStringError(
        "cannot write record " + llvm::Twine(i) + " of tensor cache '" +
        outDir + "': it has only " + llvm::Twine(recordSpecs.size()) +
        " records");
  const RecordSpec &rec = recordSpecs[i];
  if (commitAttempted)
    return llvm::createStringError("cannot write tensor '" + rec.name +
                                   "': commit() was already called on "
                                   "tensor cache '" +
                                   outDir + "'");
  uint64_t expected = rec.fileBytes();
  if (size != expected)
    return llvm::createStringError("cannot write tensor '" + rec.name +
                                   "' to '" + outDir + "': expected " +
                                   llvm::Twine(expected) + " bytes, got " +
                                   llvm::Twine(uint64_t(size)));
  if (size != 0 && !data)
    return llvm::createStringError("cannot write tensor '" + rec.name +
                                   "': no data");
  uint8_t state = NotWritten;
  if (!recordStates[i].compare_exchange_strong(state, Writing))
    return llvm::createStringError("tensor '" + rec.name + "' written twice");

  const ShardPlan::Placement &place = shardPlan.placements[i];
  auto finish = [&](llvm::Error err) {
    recordStates[i].store(err ? NotWritten : Written);
    return err;
  };
  if (size == 0 || !inPart[place.shard])
    return finish(llvm::Error::success());
  std::string staged = stagedShardPath(place.shard);
  std::string display = finalShardPath(place.shard);
  int fd = ::open(staged.c_str(), O_WRONLY | O_CLOEXEC);
  if (fd < 0) {
    std::error_code ec = lastError();
    return finish(llvm::createStringError(ec, "error writing '" + display +
                                                  "': " + ec.message()));
  }
  llvm::Error err = writeAt(fd, data, size, place.byteOffset, display);
  std::error_code closeEc = closeFd(fd);
  if (!err && closeEc)
    err = llvm::createStringError(closeEc, "error writing '" + display +
                                               "': " + closeEc.message());
  if (!err)
    err = hasher->add(place.shard, place.byteOffset, data, size);
  return finish(std::move(err));
}

llvm::Error TensorCacheWriter::commit(const Metadata &meta) {
  if (committed)
    return llvm::createStringError("tensor cache '" + outDir +
                                   "' was already committed");
  if (commitAttempted)
    return llvm::createStringError("tensor cache '" + outDir +
                                   "' cannot be committed after a failed "
                                   "commit");
  if (part)
    return llvm::createStringError("tensor cache '" + outDir +
                                   "' is written in parts: use commitPart()");
  commitAttempted = true;
  if (llvm::Error err = commitImpl(meta)) {
    cleanup();
    return err;
  }
  committed = true;
  return llvm::Error::success();
}

llvm::Error TensorCacheWriter::commitImpl(const Metadata &meta) {
  for (size_t i = 0; i < recordSpecs.size(); ++i)
    if (recordStates[i].load() != Written)
      return llvm::createStringError("cannot commit tensor cache '" + outDir +
                                     "': tensor '" + recordSpecs[i].name +
                                     "' was never written");

  size_t numShards = shardPlan.shardBytes.size();
  // The md5 was computed as the bytes were written; what still waits in the
  // hasher's buffers is hashed now.
  llvm::Expected<std::vector<std::string>> hashed = hasher->finish();
  if (!hashed)
    return hashed.takeError();
  std::vector<std::string> md5Hex = std::move(*hashed);

  bool hasF32 = false;
  for (const RecordSpec &rec : recordSpecs)
    hasF32 |= rec.dtype == numerics::DType::F32;

  // Stage the index files.
  std::vector<const char *> indexNames = {kIndexName};
  if (hasF32)
    indexNames.push_back(kB16IndexName);
  for (const char *name : indexNames) {
    std::string text =
        renderTensorCacheJson(recordSpecs, shardPlan, md5Hex, meta,
                              llvm::StringRef(name) == kB16IndexName);
    std::string staged = joinPath(stagingDir, name);
    std::string display = joinPath(outDir, name);
    if (std::error_code ec = detail::injectFault(detail::FsOp::Write))
      return llvm::createStringError(ec, "error writing '" + display +
                                             "': " + ec.message());
    int fd =
        ::open(staged.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0666);
    if (fd < 0) {
      std::error_code ec = lastError();
      return llvm::createStringError(ec, "error writing '" + display +
                                             "': " + ec.message());
    }
    llvm::Error err = writeAt(fd, text.data(), text.size(), 0, display);
    std::error_code closeEc = closeFd(fd);
    if (err)
      return err;
    if (closeEc)
      return llvm::createStringError(closeEc, "error writing '" + display +
                                                  "': " + closeEc.message());
  }

  // Shards, the b16 index, then tensor-cache.json: the order publish()
  // moves them in.
  std::vector<std::string> newNames;
  for (size_t s = 0; s < numShards; ++s)
    newNames.push_back(shardFileName(s));
  if (hasF32)
    newNames.push_back(kB16IndexName);
  newNames.push_back(kIndexName);
  if (llvm::Error err =
          detail::publish(outDir, stagingDir, newNames, keepStaging))
    return err;

  detail::unregisterStaging(signalSlot);
  signalSlot = -1;
  llvm::sys::fs::remove_directories(stagingDir, /*IgnoreErrors=*/true);
  stagingDir.clear();
  detail::raisePendingSignal();
  return llvm::Error::success();
}

} // namespace qopt::tensorcache
