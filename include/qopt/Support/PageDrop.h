//===- PageDrop.h - Dropping mapped pages with one TLB shootdown -*- C++ -*-===//
//
// Part of quant-opt.
//
//===----------------------------------------------------------------------===//
//
// The converter reads its input and reads back its staged shards through
// read-only mappings of the files, and drops the pages it has read so that
// its resident memory stays bounded. Creating or removing a mapping takes
// the process's address-space lock for writing, which stalls every other
// thread's page faults (measured at 2 threads: 100-165 ms of waiting per
// 1.1B conversion), and dropping pages that another CPU may have cached in
// its TLB interrupts that CPU (a shootdown). So each file is mapped once and
// its pages are dropped with MADV_DONTNEED, which takes the lock only for
// reading; ranges are collected and dropped by one process_madvise(2) call,
// which the kernel (6.13 and later allow MADV_DONTNEED on the calling
// process; 6.16 and later batch the flush) turns into one shootdown for all
// of them. Where process_madvise is missing or refuses the advice, each
// range gets its own madvise(2): the same result, one shootdown each.
//
// No library wraps process_madvise (glibc's wrapper is recent), hence this
// file.
//
//===----------------------------------------------------------------------===//

#ifndef QOPT_SUPPORT_PAGEDROP_H
#define QOPT_SUPPORT_PAGEDROP_H

#include <cstddef>
#include <cstdint>
#include <vector>

namespace qopt::support {

/// The system's page size.
size_t pageSize();

/// Ranges of read-only shared file mappings whose pages are to be dropped
/// (the file keeps them in its page cache; touching them again maps them
/// again). Not thread-safe: one owner at a time.
class PageDropList {
public:
  /// `batched` false: one madvise per range even where process_madvise
  /// could take them all (to test that path).
  explicit PageDropList(bool batched = true) : batched(batched) {}
  /// Adds the whole pages that [begin, begin + length) touches.
  void add(const void *begin, size_t length);
  /// Bytes of the ranges added since the last drop (page-rounded).
  size_t bytes() const { return total; }
  bool empty() const { return ranges.empty(); }
  /// Drops every range added and empties the list. Returns the number of
  /// system calls that dropped pages (each a possible shootdown): 1 where
  /// process_madvise takes the whole list, else one per range.
  unsigned drop();

private:
  struct Range {
    uintptr_t begin, end;
  };
  std::vector<Range> ranges;
  size_t total = 0;
  bool batched;
};

/// Whether drops can be batched by process_madvise on this system (checked
/// once; QOPT_NO_PROCESS_MADVISE=1 says no, to time the fallback).
bool pageDropsAreBatched();

} // namespace qopt::support

#endif // QOPT_SUPPORT_PAGEDROP_H
