//===- MappingRange.h - One thread's reserved range for mapped rows -*- C++ -*-===//
//
// Part of quant-opt.
//
//===----------------------------------------------------------------------===//
//
// The fallback of TensorReader's views of whole-file mappings, for files
// that cannot be mapped whole (TensorReader.h).
//
// Unmapping a range of a process whose other threads run on other CPUs
// interrupts those CPUs to flush their TLBs (a shootdown, ~17 us each on the
// bench machine). A worker maps one chunk of input rows after another; each
// chunk's own munmap was such a shootdown. A MappingRange is a reserved
// (PROT_NONE) span of address space into which one thread places its row
// mappings one after the other (MAP_FIXED over the reservation, which unmaps
// nothing that was ever touched); a released mapping stays in place, and when
// the next one does not fit and none is held, one mapping of PROT_NONE over
// the whole span drops them all: one shootdown for several chunks.
//
//===----------------------------------------------------------------------===//

#ifndef QOPT_LIB_LOADERS_MAPPINGRANGE_H
#define QOPT_LIB_LOADERS_MAPPINGRANGE_H

#include "qopt/Loaders/TensorReader.h"

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <sys/types.h>

namespace qopt::loaders {

class MappingRange {
public:
  /// Reserves TensorReader::kMappingRangeBytes; nullptr when the address
  /// space cannot be had (the caller then maps anywhere).
  static std::shared_ptr<MappingRange> create(std::shared_ptr<MappingCounters> counters);
  ~MappingRange();
  MappingRange(const MappingRange &) = delete;
  MappingRange &operator=(const MappingRange &) = delete;

  /// Maps `length` bytes of `fd` at `offset` (page aligned) read-only and
  /// populated at the range's next free place, dropping the range first
  /// when it is full and holds no live mapping. nullptr when the mapping
  /// does not fit (longer than the range, or the range is full and a
  /// mapping in it is still held) or fails. Only the owning thread calls it.
  void *place(int fd, off_t offset, size_t length);
  /// One mapping placed here is no longer used (any thread).
  void release() { live.fetch_sub(1, std::memory_order_acq_rel); }

private:
  MappingRange(uint8_t *base, std::shared_ptr<MappingCounters> counters)
      : base(base), counters(std::move(counters)) {}
  uint8_t *base;
  size_t used = 0;
  bool broken = false; // a failed mapping left the reservation unknown
  std::atomic<int> live{0};
  std::shared_ptr<MappingCounters> counters;
};

} // namespace qopt::loaders

#endif // QOPT_LIB_LOADERS_MAPPINGRANGE_H
