//===- TensorReader.cpp - Positioned reads of checkpoint tensors ---------===//
//
// Part of quant-opt.
//
//===----------------------------------------------------------------------===//

#include "qopt/Loaders/TensorReader.h"
#include "MappingRange.h"


#include "llvm/ADT/SmallVector.h"
#include "llvm/Support/MathExtras.h"

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

namespace qopt::loaders {

//===----------------------------------------------------------------------===//
// RandomAccessFile
//===----------------------------------------------------------------------===//

llvm::Expected<RandomAccessFile> RandomAccessFile::open(llvm::StringRef path) {
  std::string p = path.str();
  int fd;
  do {
    // O_NONBLOCK: opening a FIFO for reading would wait for a writer; the
    // S_ISREG check below then turns it away. (Regular files ignore it.)
    fd = ::open(p.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK);
  } while (fd < 0 && errno == EINTR);
  if (fd < 0)
    return llvm::createStringError("%s: cannot open: %s", p.c_str(),
                                   std::strerror(errno));
  struct stat st;
  if (::fstat(fd, &st) != 0) {
    int err = errno;
    ::close(fd);
    return llvm::createStringError("%s: cannot stat: %s", p.c_str(),
                                   std::strerror(err));
  }
  if (!S_ISREG(st.st_mode)) {
    ::close(fd);
    return llvm::createStringError("%s: cannot open: not a regular file",
                                   p.c_str());
  }
  return RandomAccessFile(fd, static_cast<uint64_t>(st.st_size), std::move(p));
}

RandomAccessFile::RandomAccessFile(RandomAccessFile &&other) noexcept
    : fd(other.fd), fileSize(other.fileSize),
      filePath(std::move(other.filePath)) {
  other.fd = -1;
}

RandomAccessFile &
RandomAccessFile::operator=(RandomAccessFile &&other) noexcept {
  if (this == &other)
    return *this;
  if (fd >= 0)
    ::close(fd);
  fd = other.fd;
  fileSize = other.fileSize;
  filePath = std::move(other.filePath);
  other.fd = -1;
  return *this;
}

RandomAccessFile::~RandomAccessFile() {
  if (fd >= 0)
    ::close(fd);
}

llvm::Error RandomAccessFile::readAt(uint64_t offset, uint64_t len,
                                     void *dst) const {
  auto eof = [&] {
    return llvm::createStringError(
        "%s: unexpected end of file reading %llu bytes at offset %llu",
        filePath.c_str(), (unsigned long long)len, (unsigned long long)offset);
  };
  if (offset > fileSize || len > fileSize - offset)
    return eof();
  char *out = static_cast<char *>(dst);
  while (len > 0) {
    size_t chunk = static_cast<size_t>(std::min<uint64_t>(len, 1ull << 30));
    ssize_t got = ::pread(fd, out, chunk, static_cast<off_t>(offset));
    if (got < 0) {
      if (errno == EINTR)
        continue;
      return llvm::createStringError(
          "%s: read error at offset %llu: %s", filePath.c_str(),
          (unsigned long long)offset, std::strerror(errno));
    }
    if (got == 0)
      return eof(); // The file shrank since it was opened.
    out += got;
    offset += static_cast<uint64_t>(got);
    len -= static_cast<uint64_t>(got);
  }
  return llvm::Error::success();
}

llvm::Expected<std::string> RandomAccessFile::readString(uint64_t offset,
                                                         uint64_t len) const {
  if (offset > fileSize || len > fileSize - offset)
    return readAt(offset, len, nullptr); // Reports the end-of-file error.
  std::string s(static_cast<size_t>(len), '\0');
  if (llvm::Error e = readAt(offset, len, s.data()))
    return e;
  return s;
}

//===----------------------------------------------------------------------===//
// TensorReader
//===----------------------------------------------------------------------===//

namespace {
/// One dimension of a gather: extent and strides in elements.
struct GatherDim {
  int64_t size;
  uint64_t srcStride;
  uint64_t dstStride;
};
} // namespace

static llvm::Error tensorError(const TensorInfo &t, const llvm::Twine &msg) {
  return llvm::createStringError(
      llvm::inconvertibleErrorCode(),
      (t.file + ": tensor '" + t.name + "': " + msg).str());
}

/// Checks shape, strides and storage bounds of `t`. Sets `numel` and
/// `spanElems` (1 + the largest element index the view reaches; 0 if empty).
static llvm::Error validateView(const TensorInfo &t, uint64_t &numel,
                                uint64_t &spanElems) {
  uint64_t elem = numerics::dtypeSize(t.dtype);
  if (elem == 0)
    return tensorError(t, "unknown element type");
  if (!t.strides.empty() && t.strides.size() != t.shape.size())
    return tensorError(t, "has " + llvm::Twine(t.strides.size()) +
                              " strides for " + llvm::Twine(t.shape.size()) +
                              " dimensions");
  numel = 1;
  uint64_t maxIndex = 0;
  bool overflow = false;
  for (size_t i = 0; i < t.shape.size(); ++i) {
    if (t.shape[i] < 0)
      return tensorError(t,
                         "negative dimension in shape " + formatShape(t.shape));
    bool step = false; // SaturatingMultiply resets its flag: keep it sticky.
    numel = llvm::SaturatingMultiply(numel, uint64_t(t.shape[i]), &step);
    overflow |= step || numel > uint64_t(INT64_MAX);
    if (!t.strides.empty() && t.strides[i] < 0)
      return tensorError(t, "negative stride");
  }
  if (overflow || numel > uint64_t(INT64_MAX) / elem)
    return tensorError(t, "shape " + formatShape(t.shape) +
                              " overflows the byte count");
  if (numel == 0) {
    spanElems = 0;
    return llvm::Error::success();
  }
  if (t.strides.empty()) {
    maxIndex = numel - 1;
  } else {
    for (size_t i = 0; i < t.shape.size(); ++i) {
      uint64_t term = llvm::SaturatingMultiply(
          uint64_t(t.shape[i] - 1), uint64_t(t.strides[i]), &overflow);
      maxIndex = llvm::SaturatingAdd(maxIndex, term, &overflow);
    }
  }
  uint64_t reach = llvm::SaturatingMultiply(
      llvm::SaturatingAdd(maxIndex, uint64_t(1), &overflow), elem, &overflow);
  if (overflow || reach > t.storageBytes)
    return tensorError(t, "view reaches past its storage of " +
                              llvm::Twine(t.storageBytes) + " bytes");
  spanElems = maxIndex + 1;
  return llvm::Error::success();
}

/// Copies the view `dims` (element strides) from `src` to `dst`.
static void copyStrided(const char *src, char *dst,
                        llvm::ArrayRef<GatherDim> dims, size_t elem) {
  if (dims.empty()) {
    std::memcpy(dst, src, elem);
    return;
  }
  size_t rank = dims.size();
  const GatherDim &inner = dims.back();
  llvm::SmallVector<int64_t, 8> idx(rank, 0);
  while (true) {
    uint64_t srcOff = 0, dstOff = 0;
    for (size_t i = 0; i + 1 < rank; ++i) {
      srcOff += uint64_t(idx[i]) * dims[i].srcStride;
      dstOff += uint64_t(idx[i]) * dims[i].dstStride;
    }
    const char *s = src + srcOff * elem;
    char *d = dst + dstOff * elem;
    if (inner.srcStride == 1 && inner.dstStride == 1) {
      std::memcpy(d, s, size_t(inner.size) * elem);
    } else {
      for (int64_t j = 0; j < inner.size; ++j)
        std::memcpy(d + uint64_t(j) * inner.dstStride * elem,
                    s + uint64_t(j) * inner.srcStride * elem, elem);
    }
    // Advance the outer index (all but the innermost dimension).
    size_t k = rank - 1;
    while (true) {
      if (k == 0)
        return;
      --k;
      if (++idx[k] < dims[k].size)
        break;
      idx[k] = 0;
    }
  }
}

/// Gathers the view `dims` at absolute byte `srcByte` of `file` into `dst`,
/// reading spans of at most `maxScratch` bytes.
static llvm::Error gather(const RandomAccessFile &file, uint64_t srcByte,
                          llvm::SmallVector<GatherDim, 8> dims, char *dst,
                          size_t elem, uint64_t maxScratch,
                          std::vector<char> &scratch) {
  uint64_t maxElems = std::max<uint64_t>(1, maxScratch / elem);
  uint64_t rest = 0; // Largest index reached.
  for (const GatherDim &d : dims)
    rest += uint64_t(d.size - 1) * d.srcStride;
  if (rest + 1 <= maxElems) {
    uint64_t span = (rest + 1) * elem;
    if (scratch.size() < span)
      scratch.resize(span);
    if (llvm::Error e = file.readAt(srcByte, span, scratch.data()))
      return e;
    copyStrided(scratch.data(), dst, dims, elem);
    return llvm::Error::success();
  }
  // Too wide: split the dimension with the largest source stride.
  size_t d = 0;
  for (size_t i = 1; i < dims.size(); ++i)
    if (dims[i].srcStride > dims[d].srcStride)
      d = i;
  GatherDim split = dims[d];
  uint64_t others = rest - uint64_t(split.size - 1) * split.srcStride;
  int64_t chunk = 1;
  if (others + 1 <= maxElems && split.srcStride > 0)
    chunk = int64_t(std::min<uint64_t>(
        uint64_t(split.size), (maxElems - others - 1) / split.srcStride + 1));
  for (int64_t i = 0; i < split.size; i += chunk) {
    int64_t n = std::min<int64_t>(chunk, split.size - i);
    llvm::SmallVector<GatherDim, 8> sub = dims;
    if (n == 1)
      sub.erase(sub.begin() + d);
    else
      sub[d].size = n;
    if (llvm::Error e =
            gather(file, srcByte + uint64_t(i) * split.srcStride * elem, sub,
                   dst + uint64_t(i) * split.dstStride * elem, elem, maxScratch,
                   scratch))
      return e;
  }
  return llvm::Error::success();
}

static bool fileViewsByDefault() {
  const char *v = std::getenv("QOPT_NO_FILE_VIEWS");
  return !(v && *v && *v != '0');
}

TensorReader::TensorReader(uint64_t maxScratchBytes)
    : maxScratch(std::max<uint64_t>(maxScratchBytes, 16)),
      fileViews(fileViewsByDefault()) {}

TensorReader::~TensorReader() {
  releaseMappingRanges();
  for (auto &[fd, v] : views)
    if (v.base)
      ::munmap(v.base, size_t(v.length));
}

void TensorReader::releaseMappingRanges() {
  {
    std::lock_guard<std::mutex> lock(mutex);
    ranges.clear();
  }
  std::lock_guard<std::mutex> lock(dropMutex);
  if (viewDrops && !viewDrops->empty())
    counters->viewDrops.fetch_add(viewDrops->drop(), std::memory_order_relaxed);
}

const uint8_t *TensorReader::getView(const RandomAccessFile &file,
                                     uint64_t &length) {
  if (!fileViews || file.size() == 0)
    return nullptr;
  std::lock_guard<std::mutex> lock(mutex);
  auto [it, inserted] = views.try_emplace(file.descriptor());
  FileView &v = it->second;
  if (inserted) {
    void *p = ::mmap(nullptr, size_t(file.size()), PROT_READ, MAP_SHARED,
                     file.descriptor(), 0);
    if (p != MAP_FAILED) {
      v.base = static_cast<uint8_t *>(p);
      v.length = file.size();
    }
  }
  length = v.length;
  return v.base;
}

/// Page faults map the pages around them that the page cache holds, in the
/// aligned block of fault_around_bytes (64 KiB unless configured): what a
/// view's populating or reading mapped reaches up to that far beyond it, so
/// the pages dropped are those of the aligned blocks it touches (inside the
/// file's mapping). A neighbouring view still held that loses a page maps it
/// again when it reads it: the same bytes, from the page cache.
void TensorReader::dropView(const uint8_t *lo, uint64_t viewLength,
                            const uint8_t *base, size_t length) {
  constexpr uintptr_t kBlock = 64 << 10;
  uintptr_t l = reinterpret_cast<uintptr_t>(lo), h = l + viewLength;
  uintptr_t b = std::max(l, reinterpret_cast<uintptr_t>(base) / kBlock * kBlock);
  uintptr_t e = std::min(h, (reinterpret_cast<uintptr_t>(base) + length +
                             kBlock - 1) / kBlock * kBlock);
  support::PageDropList full;
  {
    std::lock_guard<std::mutex> lock(dropMutex);
    if (!viewDrops)
      viewDrops = std::make_unique<support::PageDropList>();
    viewDrops->add(reinterpret_cast<const void *>(b), e - b);
    if (viewDrops->bytes() < kViewDropBytes)
      return;
    std::swap(full, *viewDrops);
  }
  counters->viewDrops.fetch_add(full.drop(), std::memory_order_relaxed);
}

llvm::Expected<const RandomAccessFile *>
TensorReader::getFile(const std::string &path) {
  std::lock_guard<std::mutex> lock(mutex);
  auto it = files.find(path);
  if (it != files.end())
    return it->second.get();
  llvm::Expected<RandomAccessFile> f = RandomAccessFile::open(path);
  if (!f)
    return f.takeError();
  auto owned = std::make_unique<RandomAccessFile>(std::move(*f));
  const RandomAccessFile *raw = owned.get();
  files.emplace(path, std::move(owned));
  return raw;
}

llvm::Error TensorReader::read(const TensorInfo &t, void *dst) {
  uint64_t numel = 0, spanElems = 0;
  if (llvm::Error e = validateView(t, numel, spanElems))
    return e;
  if (numel == 0)
    return llvm::Error::success();
  llvm::Expected<const RandomAccessFile *> file = getFile(t.file);
  if (!file)
    return file.takeError();
  size_t elem = numerics::dtypeSize(t.dtype);
  if (t.isContiguous())
    return (*file)->readAt(t.offset, numel * elem, dst);

  // Strided: drop unit dimensions, destination strides are row-major.
  llvm::SmallVector<GatherDim, 8> dims;
  uint64_t dstStride = 1;
  for (size_t i = t.shape.size(); i-- > 0;) {
    if (t.shape[i] != 1)
      dims.push_back({t.shape[i], uint64_t(t.strides[i]), dstStride});
    dstStride *= uint64_t(t.shape[i]);
  }
  std::reverse(dims.begin(), dims.end());
  std::vector<char> scratch;
  return gather(**file, t.offset, std::move(dims), static_cast<char *>(dst),
                elem, maxScratch, scratch);
}

llvm::Error TensorReader::readRows(const TensorInfo &t, int64_t row0,
                                   int64_t row1, void *dst) {
  uint64_t numel = 0, spanElems = 0;
  if (llvm::Error e = validateView(t, numel, spanElems))
    return e;
  if (t.shape.empty())
    return tensorError(t, "cannot read rows of a scalar");
  if (row0 < 0 || row1 < row0 || row1 > t.shape[0])
    return tensorError(t, "row range [" + llvm::Twine(row0) + ", " +
                              llvm::Twine(row1) + ") is outside [0, " +
                              llvm::Twine(t.shape[0]) + ")");
  if (row0 == row1 || numel == 0)
    return llvm::Error::success();
  uint64_t stride0 = 1;
  if (t.strides.empty()) {
    for (size_t i = 1; i < t.shape.size(); ++i)
      stride0 *= uint64_t(t.shape[i]);
  } else {
    stride0 = uint64_t(t.strides[0]);
  }
  // row0 < shape[0], so row0 * stride0 is an element the view reaches and
  // the shift stays inside the storage (validated above).
  uint64_t shift = uint64_t(row0) * stride0 * numerics::dtypeSize(t.dtype);
  TensorInfo sub = t;
  sub.shape[0] = row1 - row0;
  sub.offset += shift;
  sub.storageBytes -= shift;
  return read(sub, dst);
}

//===----------------------------------------------------------------------===//
// Mapped rows and SIGBUS
//===----------------------------------------------------------------------===//

namespace {
/// A live mapping the SIGBUS handler may repair. `end` is set before
/// `begin`, and `begin` cleared first, so the handler never sees half of one.
struct MapSlot {
  std::atomic<int> state{0}; // 0 free, 1 taken
  std::atomic<uintptr_t> begin{0}, end{0};
  std::atomic<bool> lost{false};
};
} // namespace

static MapSlot mapSlots[256];
static struct sigaction previousSigbus;
static uintptr_t pageSize = 4096;

static void onSigbus(int sig, siginfo_t *info, void *) {
  uintptr_t addr = reinterpret_cast<uintptr_t>(info->si_addr);
  for (MapSlot &s : mapSlots) {
    uintptr_t b = s.begin.load(), e = s.end.load();
    if (b == 0 || addr < b || addr >= e)
      continue;
    // The file under this page is gone: read zeros from here on, and let
    // the owner report it.
    void *page = reinterpret_cast<void *>(addr & ~(pageSize - 1));
    if (::mmap(page, pageSize, PROT_READ,
               MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0) != MAP_FAILED) {
      s.lost.store(true);
      return;
    }
  }
  // Not a mapping of ours: the previous disposition handles the fault when
  // the instruction runs again.
  ::sigaction(sig, &previousSigbus, nullptr);
}

static int claimMapSlot(uintptr_t begin, uintptr_t end) {
  static std::once_flag installed;
  std::call_once(installed, [] {
    pageSize = uintptr_t(::sysconf(_SC_PAGESIZE));
    struct sigaction sa;
    std::memset(&sa, 0, sizeof(sa));
    sa.sa_sigaction = onSigbus;
    sa.sa_flags = SA_SIGINFO;
    sigemptyset(&sa.sa_mask);
    ::sigaction(SIGBUS, &sa, &previousSigbus);
  });
  for (int i = 0; i < int(std::size(mapSlots)); ++i) {
    int expected = 0;
    if (!mapSlots[i].state.compare_exchange_strong(expected, 1))
      continue;
    mapSlots[i].lost.store(false);
    mapSlots[i].end.store(end);
    mapSlots[i].begin.store(begin);
    return i;
  }
  return -1;
}

bool MappedBytes::lostPages() const { return mapSlots[slot].lost.load(); }

MappedBytes::~MappedBytes() {
  bool lost = lostPages();
  mapSlots[slot].begin.store(0);
  mapSlots[slot].end.store(0);
  mapSlots[slot].state.store(0);
  if (viewLo) {
    if (owner)
      owner->dropView(viewLo, viewLength, static_cast<const uint8_t *>(base),
                      length);
  } else if (range) {
    range->release();
  } else {
    ::munmap(base, length);
  }
  if (!lost || !owner)
    return;
  struct stat st;
  std::string size = ::stat(file.c_str(), &st) == 0
                         ? std::to_string(uint64_t(st.st_size)) + " bytes"
                         : std::string("nothing");
  std::lock_guard<std::mutex> lock(owner->mutex);
  if (owner->changedFileError.empty())
    owner->changedFileError = file + ": tensor '" + tensor +
                              "': the file changed while it was read (it "
                              "shrank to " +
                              size + ")";
}

llvm::Error TensorReader::takeChangedFileError() {
  std::lock_guard<std::mutex> lock(mutex);
  if (changedFileError.empty())
    return llvm::Error::success();
  std::string msg = std::move(changedFileError);
  changedFileError.clear();
  return llvm::createStringError(llvm::inconvertibleErrorCode(), msg);
}

std::unique_ptr<MappedBytes> TensorReader::mapRows(const TensorInfo &t,
                                                   int64_t row0, int64_t row1) {
  if (t.shape.empty() ||
      !t.isContiguous() || row0 < 0 || row1 <= row0 || row1 > t.shape[0])
    return nullptr;
  uint64_t numel = 0, spanElems = 0;
  if (llvm::Error e = validateView(t, numel, spanElems)) {
    llvm::consumeError(std::move(e));
    return nullptr;
  }
  if (numel == 0)
    return nullptr;
  uint64_t elem = numerics::dtypeSize(t.dtype);
  uint64_t rowBytes = numel / uint64_t(t.shape[0]) * elem;
  uint64_t begin = t.offset + uint64_t(row0) * rowBytes;
  uint64_t len = uint64_t(row1 - row0) * rowBytes;
  llvm::Expected<const RandomAccessFile *> file = getFile(t.file);
  if (!file) {
    llvm::consumeError(file.takeError());
    return nullptr;
  }
  // Only ranges inside the file as it was opened (a mapping past the end
  // would fault on access; readRows reports the error instead).
  struct stat st;
  if (begin > (*file)->size() || len > (*file)->size() - begin ||
      ::fstat((*file)->descriptor(), &st) != 0 ||
      uint64_t(st.st_size) < begin + len)
    return nullptr;
  static const uint64_t page = uint64_t(::sysconf(_SC_PAGESIZE));
  uint64_t start = begin / page * page;
  size_t length = size_t(begin + len - start);
  // A view of the whole file's mapping, populated now (MADV_POPULATE_READ
  // takes the address-space lock for reading only). Where populating fails
  // because the file lost pages, the caller reads the rows and reports it;
  // where the kernel cannot populate (before Linux 5.14), the reads fault
  // the pages in.
  uint64_t viewLength = 0;
  if (const uint8_t *view = getView(**file, viewLength);
      view && start + length <= viewLength) {
    uint8_t *at = const_cast<uint8_t *>(view) + start;
#ifdef MADV_POPULATE_READ
    if (::madvise(at, length, MADV_POPULATE_READ) != 0 && errno != EINVAL)
      return nullptr;
#endif
    int slot = claimMapSlot(reinterpret_cast<uintptr_t>(at),
                            reinterpret_cast<uintptr_t>(at) + length);
    if (slot >= 0) {
      counters->mappings.fetch_add(1, std::memory_order_relaxed);
      counters->viewed.fetch_add(1, std::memory_order_relaxed);
      auto m = std::make_unique<MappedBytes>(at, length, at + (begin - start),
                                             size_t(len), slot, this, t.file,
                                             t.name);
      m->viewLo = view;
      m->viewLength = viewLength;
      return m;
    }
    return nullptr; // every slot in use: the caller reads the rows
  }
  std::shared_ptr<MappingRange> range;
  {
    std::lock_guard<std::mutex> lock(mutex);
    std::shared_ptr<MappingRange> &mine = ranges[std::this_thread::get_id()];
    if (!mine)
      mine = MappingRange::create(counters);
    range = mine;
  }
  void *base = range ? range->place((*file)->descriptor(), off_t(start), length)
                     : nullptr;
  if (!base)
    range.reset();
  if (!base) {
    base = ::mmap(nullptr, length, PROT_READ, MAP_SHARED | MAP_POPULATE,
                  (*file)->descriptor(), off_t(start));
    if (base == MAP_FAILED)
      return nullptr;
  }
  int slot = claimMapSlot(reinterpret_cast<uintptr_t>(base),
                          reinterpret_cast<uintptr_t>(base) + length);
  if (slot < 0) { // Every slot in use: the caller reads the rows instead.
    if (range)
      range->release();
    else
      ::munmap(base, length);
    return nullptr;
  }
  counters->mappings.fetch_add(1, std::memory_order_relaxed);
  if (range)
    counters->placed.fetch_add(1, std::memory_order_relaxed);
  return std::make_unique<MappedBytes>(
      base, length, static_cast<const uint8_t *>(base) + (begin - start),
      size_t(len), slot, this, t.file, t.name, std::move(range));
}

} // namespace qopt::loaders
