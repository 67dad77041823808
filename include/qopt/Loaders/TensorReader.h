//===- TensorReader.h - Positioned reads of checkpoint tensors -*- C++ -*-===//
//
// RandomAccessFile: a read-only file for positioned reads (pread), used by the
// header readers. TensorReader: copies a TensorInfo's elements into a
// contiguous row-major buffer, gathering strided views, with bounded scratch
// memory and one cached descriptor per file. Both are safe to use from several
// threads at once (pread has no shared file offset).
//
//===----------------------------------------------------------------------===//

#ifndef QOPT_LOADERS_TENSORREADER_H
#define QOPT_LOADERS_TENSORREADER_H

#include "qopt/Loaders/Checkpoint.h"
#include "qopt/Support/PageDrop.h"

#include "llvm/ADT/StringRef.h"
#include "llvm/Support/Error.h"

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <unordered_map>

namespace qopt::loaders {

/// A read-only file opened for positioned reads. Errors name the file.
class RandomAccessFile {
public:
  /// Opens `path`; fails with "<path>: cannot open: <reason>" (also for a
  /// directory).
  static llvm::Expected<RandomAccessFile> open(llvm::StringRef path);

  RandomAccessFile(RandomAccessFile &&other) noexcept;
  RandomAccessFile &operator=(RandomAccessFile &&other) noexcept;
  RandomAccessFile(const RandomAccessFile &) = delete;
  RandomAccessFile &operator=(const RandomAccessFile &) = delete;
  ~RandomAccessFile();

  /// The file's length when it was opened.
  uint64_t size() const { return fileSize; }
  const std::string &path() const { return filePath; }
  int descriptor() const { return fd; }

  /// Reads exactly `len` bytes at `offset` into `dst`. A range past the end
  /// of the file is "<path>: unexpected end of file reading <len> bytes at
  /// offset <offset>".
  llvm::Error readAt(uint64_t offset, uint64_t len, void *dst) const;
  /// readAt into a new string.
  llvm::Expected<std::string> readString(uint64_t offset, uint64_t len) const;

private:
  RandomAccessFile(int fd, uint64_t size, std::string path)
      : fd(fd), fileSize(size), filePath(std::move(path)) {}
  int fd = -1;
  uint64_t fileSize = 0;
  std::string filePath;
};

class TensorReader;
class MappingRange;

/// What TensorReader::mapRows did with the address space (QOPT_EXEC_STATS).
struct MappingCounters {
  std::atomic<uint64_t> mappings{0};   // mapRows results
  std::atomic<uint64_t> placed{0};     // of them, placed in a thread's range
  std::atomic<uint64_t> rangeDrops{0}; // ranges emptied by one remapping
  std::atomic<uint64_t> rangesUnmapped{0}; // ranges unmapped when let go
  std::atomic<uint64_t> viewed{0};     // of them, views of a mapped file
  std::atomic<uint64_t> viewDrops{0};  // calls that dropped views' pages
  /// Calls that unmapped rows or dropped their pages (each a possible TLB
  /// shootdown): each mapping of its own once, each drop of a range or of
  /// views' pages and each range let go once.
  uint64_t unmappings() const {
    return mappings - placed - viewed + rangeDrops + rangesUnmapped +
           viewDrops;
  }
};

/// Bytes of a checkpoint mapped read-only (mmap); unmapped when destroyed.
///
/// If the file shrinks while the bytes are mapped (a re-download, a
/// truncation), touching the lost pages would raise SIGBUS. A SIGBUS handler
/// maps zero pages over them instead and marks the mapping; when it is
/// destroyed, the owning TensorReader records a located error
/// (TensorReader::takeChangedFileError), so the run fails with a message,
/// never with a signal.
class MappedBytes {
public:
  MappedBytes(void *base, size_t length, const uint8_t *data, size_t size,
              int slot, TensorReader *owner, std::string file,
              std::string tensor, std::shared_ptr<MappingRange> range = {})
      : base(base), length(length), ptr(data), len(size), slot(slot),
        owner(owner), file(std::move(file)), tensor(std::move(tensor)),
        range(std::move(range)) {}
  ~MappedBytes();
  MappedBytes(const MappedBytes &) = delete;
  MappedBytes &operator=(const MappedBytes &) = delete;
  const uint8_t *data() const { return ptr; }
  size_t size() const { return len; }
  /// True once a page of the mapping was lost (the file shrank).
  bool lostPages() const;

private:
  void *base;
  size_t length;
  const uint8_t *ptr;
  size_t len;
  int slot;
  TensorReader *owner;
  std::string file, tensor;
  /// Where the mapping was placed (released, not unmapped, on destruction);
  /// null for a mapping of its own.
  std::shared_ptr<MappingRange> range;
  /// A view of the owner's mapping of the whole file, [viewLo, viewLo +
  /// viewLength): its pages are handed to the owner to drop, nothing is
  /// unmapped.
  const uint8_t *viewLo = nullptr;
  uint64_t viewLength = 0;
  friend class TensorReader;
};

/// Reads tensor bytes as contiguous row-major buffers.
class TensorReader {
public:
  /// `maxScratchBytes` bounds the scratch buffer used to gather strided
  /// views (contiguous tensors are read straight into the destination).
  explicit TensorReader(uint64_t maxScratchBytes = 64ull << 20);
  ~TensorReader();
  TensorReader(const TensorReader &) = delete;
  TensorReader &operator=(const TensorReader &) = delete;

  /// Reads all of `t`; `dst` holds t.contiguousBytes() bytes.
  llvm::Error read(const TensorInfo &t, void *dst);
  /// Reads rows [row0, row1) of the outermost dimension of `t`; `dst` holds
  /// (row1 - row0) * (bytes of one row).
  llvm::Error readRows(const TensorInfo &t, int64_t row0, int64_t row1,
                       void *dst);
  /// Rows [row0, row1) of `t` mapped instead of copied, when `t` is stored
  /// contiguously (no strides) and the rows
  /// lie inside the file; nullptr otherwise (then use readRows, which also
  /// reports the errors). The pages are populated at once.
  ///
  /// Each file is mapped once, whole, and the rows are a view of that
  /// mapping: creating and removing mappings takes the address-space lock
  /// for writing, which stalled the other threads' page faults (a mapping
  /// per 2 MiB chunk cost 2 threads converting the 1.1B 100-165 ms of
  /// waiting). The pages of released views are dropped together once
  /// kViewDropBytes of them wait (MADV_DONTNEED, one TLB shootdown for all
  /// of them where the system batches, qopt/Support/PageDrop.h), so memory
  /// stays bounded by the rows held plus kViewDropBytes.
  ///
  /// Where a file cannot be mapped whole, each calling thread places its
  /// mappings one after the other in a reserved range of kMappingRangeBytes
  /// of its own; a released mapping stays there until the next one does not
  /// fit and none in the range is held, when one remapping drops them all
  /// (one TLB shootdown of the other CPUs instead of one per mapping). A
  /// mapping longer than the range, or one made while the full range is
  /// still held, is mapped on its own and unmapped on destruction.
  /// useFileViews(false), or QOPT_NO_FILE_VIEWS=1 in the environment,
  /// turns the views off.
  std::unique_ptr<MappedBytes> mapRows(const TensorInfo &t, int64_t row0,
                                       int64_t row1);
  static constexpr size_t kMappingRangeBytes = size_t(8) << 20;
  static constexpr size_t kViewDropBytes = size_t(8) << 20;
  /// Whether mapRows makes views of whole-file mappings (before the first
  /// call only).
  void useFileViews(bool on) { fileViews = on; }
  /// Lets go of every thread's range (each is unmapped once its last
  /// mapping is released) and drops the released views' pages: for the end
  /// of a run, whose threads are done.
  void releaseMappingRanges();
  const MappingCounters &mappingCounters() const { return *counters; }

  /// The first "<file>: tensor '<name>': the file changed while it was read
  /// (it shrank to N bytes)" error of a mapping that lost pages, if any.
  llvm::Error takeChangedFileError();

private:
  friend class MappedBytes;
  llvm::Expected<const RandomAccessFile *> getFile(const std::string &path);
  /// The whole of `file` mapped read-only (made on first use), or null.
  const uint8_t *getView(const RandomAccessFile &file, uint64_t &length);
  /// Hands the pages of a released view [base, base + length) of the file
  /// mapped at [lo, lo + viewLength) to be dropped.
  void dropView(const uint8_t *lo, uint64_t viewLength, const uint8_t *base,
                size_t length);
  struct FileView {
    uint8_t *base = nullptr; // null: cannot be mapped
    uint64_t length = 0;
  };
  std::unordered_map<int, FileView> views; // by descriptor
  bool fileViews;
  std::mutex dropMutex;
  std::unique_ptr<support::PageDropList> viewDrops;
  std::string changedFileError;

  uint64_t maxScratch;
  std::shared_ptr<MappingCounters> counters =
      std::make_shared<MappingCounters>();
  std::mutex mutex;
  std::unordered_map<std::thread::id, std::shared_ptr<MappingRange>> ranges;
  std::unordered_map<std::string, std::unique_ptr<RandomAccessFile>> files;
};

} // namespace qopt::loaders

#endif // QOPT_LOADERS_TENSORREADER_H
