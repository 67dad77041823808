//===- FileViewTest.cpp - Mapped rows as views of one file mapping -------===//
//
// Part of quant-opt.
//
//===----------------------------------------------------------------------===//
//
// TensorReader::mapRows maps each file once and hands out views of it; the
// pages of released views are dropped together once kViewDropBytes (8 MiB)
// of them wait (TensorReader.h). The counts below are worked by hand from
// that rule for chunks of 2 MiB (2 rows of 1 MiB): consecutive chunks form
// one range, so each drop is one call whatever the system.
//
//===----------------------------------------------------------------------===//

#include "qopt/Loaders/TensorReader.h"

#include "LoaderTestUtil.h"
#include "RowsFixture.h"
#include "../Support/SmapsRss.h"

#include <gtest/gtest.h>

#include <cstring>
#include <thread>

using namespace qopt::loaders;
using namespace qopt::loaders::test;
using qopt::test::smapsRssKiB;

namespace {

TEST(FileViewTest, ViewsOfOneMappingDropTheirPagesTogether) {
  ASSERT_EQ(TensorReader::kViewDropBytes, size_t(8) << 20);
  RowsFixture f("ViewsOfOneMappingDropTheirPagesTogether");
  TensorReader reader;
  const uint8_t *view = nullptr;
  auto map = [&](int64_t r0, int64_t r1) {
    std::unique_ptr<MappedBytes> m = f.map(reader, r0, r1);
    // One mapping of the file: row r is always at view + r MiB.
    if (m && r0 == 0)
      view = m->data();
    else if (m && view)
      EXPECT_EQ(m->data(), view + size_t(r0) * kRowFloats * 4);
    return m;
  };
  const MappingCounters &c = reader.mappingCounters();
  // Chunks 0..3 (8 MiB) released one after the other: the fourth release
  // drops them (1), and the mapping holds no page.
  for (int64_t k = 0; k < 4; ++k)
    map(2 * k, 2 * k + 2);
  ASSERT_NE(view, nullptr);
  EXPECT_EQ(c.viewDrops.load(), 1u);
  EXPECT_EQ(smapsRssKiB(view), 0);
  // Chunk 4 held while 5..7 come and go: 6 MiB wait, nothing is dropped,
  // and 8 MiB stay mapped.
  {
    std::unique_ptr<MappedBytes> held = map(8, 10);
    for (int64_t k = 5; k < 8; ++k)
      map(2 * k, 2 * k + 2);
    EXPECT_EQ(c.viewDrops.load(), 1u);
    EXPECT_GE(smapsRssKiB(view), 8 << 10);
  } // released: 8 MiB wait, dropped (2)
  EXPECT_EQ(c.viewDrops.load(), 2u);
  EXPECT_EQ(smapsRssKiB(view), 0);
  // Another thread's views are views of the same mapping.
  std::thread([&] { map(16, 18); }).join();
  map(18, 20);
  EXPECT_EQ(c.viewDrops.load(), 2u);
  EXPECT_GE(smapsRssKiB(view), 4 << 10);
  // The end of the run drops what waits (3).
  reader.releaseMappingRanges();
  EXPECT_EQ(c.viewDrops.load(), 3u);
  EXPECT_EQ(smapsRssKiB(view), 0);
  EXPECT_EQ(c.mappings.load(), 10u);
  EXPECT_EQ(c.viewed.load(), 10u);
  EXPECT_EQ(c.placed.load(), 0u);
  EXPECT_EQ(c.unmappings(), 3u);
}

} // namespace
