//===- MappingRangeTest.cpp - Mapped rows placed in per-thread ranges ----===//
//
// Part of quant-opt.
//
//===----------------------------------------------------------------------===//
//
// Where a file cannot be mapped whole (useFileViews(false) here),
// TensorReader::mapRows places each thread's mappings one after the other in
// a reserved range of kMappingRangeBytes (8 MiB) and drops the range's
// released mappings together (TensorReader.h). The counts below are worked
// by hand from that rule for chunks of 2 MiB (2 rows of 1 MiB), so four fit
// in a range.
//
//===----------------------------------------------------------------------===//

#include "qopt/Loaders/TensorReader.h"

#include "LoaderTestUtil.h"
#include "RowsFixture.h"

#include <gtest/gtest.h>

#include <cstring>
#include <thread>

using namespace qopt::loaders;
using namespace qopt::loaders::test;
using qopt::numerics::DType;

namespace {

struct Counts {
  uint64_t mappings, placed, drops, unmapped, unmappings;
};
Counts counts(const TensorReader &r) {
  const MappingCounters &c = r.mappingCounters();
  return {c.mappings, c.placed, c.rangeDrops, c.rangesUnmapped,
          c.unmappings()};
}
#define EXPECT_COUNTS(reader, m, p, d, u, total)                               \
  do {                                                                         \
    Counts c = counts(reader);                                                 \
    EXPECT_EQ(c.mappings, m);                                                  \
    EXPECT_EQ(c.placed, p);                                                    \
    EXPECT_EQ(c.drops, d);                                                     \
    EXPECT_EQ(c.unmapped, u);                                                  \
    EXPECT_EQ(c.unmappings, total);                                            \
  } while (0)

TEST(MappingRangeTest, ChunksShareOneUnmappingPerRange) {
  ASSERT_EQ(TensorReader::kMappingRangeBytes, size_t(8) << 20);
  RowsFixture f("ChunksShareOneUnmappingPerRange");
  TensorReader reader;
  reader.useFileViews(false); // the ranges are the fallback of views
  // Ten chunks of 2 MiB, each released before the next: 0-3 fill the range,
  // 4 drops it (1) and lands where 0 was, 4-7 fill it again, 8 drops it (2).
  const uint8_t *first = nullptr;
  for (int64_t k = 0; k < 10; ++k) {
    std::unique_ptr<MappedBytes> m = f.map(reader, 2 * k, 2 * k + 2);
    ASSERT_NE(m, nullptr);
    if (k == 0)
      first = m->data();
    if (k == 4 || k == 8)
      EXPECT_EQ(m->data(), first) << k;
    if (k % 4 != 0)
      EXPECT_NE(m->data(), first) << k;
  }
  EXPECT_COUNTS(reader, 10u, 10u, 2u, 0u, 2u);

  // Chunks 8 and 9 use 4 MiB. A (6 MiB) is held; B fills the range (8 MiB)
  // and is released; C does not fit and A is held: C is mapped on its own
  // (one unmapping when released). With A released, D drops the range (3).
  std::unique_ptr<MappedBytes> a = f.map(reader, 0, 2);
  f.map(reader, 2, 4);
  {
    std::unique_ptr<MappedBytes> c = f.map(reader, 4, 6);
    EXPECT_COUNTS(reader, 13u, 12u, 2u, 0u, 3u);
  }
  a.reset();
  std::unique_ptr<MappedBytes> d = f.map(reader, 6, 8);
  EXPECT_EQ(d->data(), first);
  EXPECT_COUNTS(reader, 14u, 13u, 3u, 0u, 4u);

  // Longer than a range (10 MiB): on its own.
  f.map(reader, 0, 10);
  EXPECT_COUNTS(reader, 15u, 13u, 3u, 0u, 5u);

  // Another thread places its mappings in a range of its own.
  const uint8_t *other = nullptr;
  std::thread([&] { other = f.map(reader, 10, 12)->data(); }).join();
  EXPECT_TRUE(other < first || other >= first + (8 << 20));
  EXPECT_COUNTS(reader, 16u, 14u, 3u, 0u, 5u);

  // Letting go of the ranges unmaps the other thread's at once; this
  // thread's waits for D, which still reads the file's bytes.
  reader.releaseMappingRanges();
  EXPECT_COUNTS(reader, 16u, 14u, 3u, 1u, 6u);
  EXPECT_EQ(std::memcmp(d->data(), f.bytes.data() + 6 * kRowFloats * 4,
                        2 * kRowFloats * 4),
            0);
  d.reset();
  EXPECT_COUNTS(reader, 16u, 14u, 3u, 2u, 7u);
}

} // namespace
