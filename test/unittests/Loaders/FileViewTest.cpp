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

#include <gtest/gtest.h>

#include <cstdio>
#include <cstring>
#include <fstream>
#include <thread>

using namespace qopt::loaders;
using namespace qopt::loaders::test;
using qopt::numerics::DType;

namespace {

constexpr int64_t kRows = 20, kRowFloats = 1 << 18; // rows of 1 MiB

/// The Rss (KiB) that /proc/self/smaps gives the mapping starting at `p`.
long rssKiB(const void *p) {
  std::ifstream smaps("/proc/self/smaps");
  std::string line;
  char head[32];
  std::snprintf(head, sizeof(head), "%lx-", reinterpret_cast<unsigned long>(p));
  bool in = false;
  while (std::getline(smaps, line)) {
    if (line.rfind(head, 0) == 0) {
      in = true;
      continue;
    }
    if (in && line.rfind("Rss:", 0) == 0)
      return std::stol(line.substr(4));
  }
  return -1;
}

TEST(FileViewTest, ViewsOfOneMappingDropTheirPagesTogether) {
  ASSERT_EQ(TensorReader::kViewDropBytes, size_t(8) << 20);
  std::vector<float> v(size_t(kRows * kRowFloats));
  for (int64_t r = 0; r < kRows; ++r)
    for (int64_t c = 0; c < kRowFloats; ++c)
      v[size_t(r * kRowFloats + c)] = float(r * 1000 + c % 1000);
  std::string bytes(reinterpret_cast<const char *>(v.data()), v.size() * 4);
  std::string path =
      scratchDir("ViewsOfOneMappingDropTheirPagesTogether") + "/rows.bin";
  writeFile(path, bytes);
  TensorInfo t;
  t.name = "w";
  t.dtype = DType::F32;
  t.shape = {kRows, kRowFloats};
  t.file = path;
  t.storageBytes = bytes.size();

  TensorReader reader;
  const uint8_t *view = nullptr;
  auto map = [&](int64_t r0, int64_t r1) {
    std::unique_ptr<MappedBytes> m = reader.mapRows(t, r0, r1);
    EXPECT_NE(m, nullptr);
    if (!m)
      return m;
    size_t n = size_t(r1 - r0) * kRowFloats * 4;
    EXPECT_EQ(m->size(), n);
    EXPECT_EQ(std::memcmp(m->data(), bytes.data() + size_t(r0) * kRowFloats * 4,
                          n),
              0)
        << "rows " << r0 << ".." << r1;
    // One mapping of the file: row r is always at view + r MiB.
    if (r0 == 0)
      view = m->data();
    else if (view)
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
  EXPECT_EQ(rssKiB(view), 0);
  // Chunk 4 held while 5..7 come and go: 6 MiB wait, nothing is dropped,
  // and 8 MiB stay mapped.
  {
    std::unique_ptr<MappedBytes> held = map(8, 10);
    for (int64_t k = 5; k < 8; ++k)
      map(2 * k, 2 * k + 2);
    EXPECT_EQ(c.viewDrops.load(), 1u);
    EXPECT_GE(rssKiB(view), 8 << 10);
  } // released: 8 MiB wait, dropped (2)
  EXPECT_EQ(c.viewDrops.load(), 2u);
  EXPECT_EQ(rssKiB(view), 0);
  // Another thread's views are views of the same mapping.
  std::thread([&] { map(16, 18); }).join();
  map(18, 20);
  EXPECT_EQ(c.viewDrops.load(), 2u);
  EXPECT_GE(rssKiB(view), 4 << 10);
  // The end of the run drops what waits (3).
  reader.releaseMappingRanges();
  EXPECT_EQ(c.viewDrops.load(), 3u);
  EXPECT_EQ(rssKiB(view), 0);
  EXPECT_EQ(c.mappings.load(), 10u);
  EXPECT_EQ(c.viewed.load(), 10u);
  EXPECT_EQ(c.placed.load(), 0u);
  EXPECT_EQ(c.unmappings(), 3u);
}

} // namespace
