//===- MappingRange.cpp - One thread's reserved range for mapped rows ----===//
//
// Part of quant-opt.
//
//===----------------------------------------------------------------------===//

#include "MappingRange.h"

#include <sys/mman.h>
#include <unistd.h>

namespace qopt::loaders {

static constexpr size_t kBytes = TensorReader::kMappingRangeBytes;
static constexpr int kReserve = MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE;

std::shared_ptr<MappingRange> MappingRange::create(std::shared_ptr<MappingCounters> counters) {
  void *p = ::mmap(nullptr, kBytes, PROT_NONE, kReserve, -1, 0);
  if (p == MAP_FAILED)
    return nullptr;
  return std::shared_ptr<MappingRange>(
      new MappingRange(static_cast<uint8_t *>(p), std::move(counters)));
}

MappingRange::~MappingRange() {
  ::munmap(base, kBytes);
  counters->rangesUnmapped.fetch_add(1, std::memory_order_relaxed);
}

void *MappingRange::place(int fd, off_t offset, size_t length) {
  static const size_t page = size_t(::sysconf(_SC_PAGESIZE));
  size_t span = (length + page - 1) / page * page;
  if (broken || span > kBytes)
    return nullptr;
  if (used + span > kBytes) {
    // Only this thread adds mappings, so none held now stays so.
    if (live.load(std::memory_order_acquire) != 0)
      return nullptr;
    if (::mmap(base, kBytes, PROT_NONE, kReserve | MAP_FIXED, -1, 0) ==
        MAP_FAILED) {
      // What is left there is unknown: stop using the range (the destructor
      // unmaps it).
      broken = true;
      return nullptr;
    }
    counters->rangeDrops.fetch_add(1, std::memory_order_relaxed);
    used = 0;
  }
  uint8_t *at = base + used;
  void *p = ::mmap(at, length, PROT_READ, MAP_SHARED | MAP_POPULATE | MAP_FIXED,
                   fd, offset);
  if (p == MAP_FAILED) {
    // A failed MAP_FIXED may have removed the reservation there: put it
    // back, or give the range up.
    if (::mmap(at, span, PROT_NONE, kReserve | MAP_FIXED, -1, 0) ==
        MAP_FAILED)
      broken = true;
    return nullptr;
  }
  used += span;
  live.fetch_add(1, std::memory_order_acq_rel);
  return p;
}

} // namespace qopt::loaders
