//===- PageDropTest.cpp - Dropping mapped pages together -----------------===//
//
// Part of quant-opt.
//
//===----------------------------------------------------------------------===//
//
// PageDropList drops the pages of read-only file mappings: afterwards the
// mapping holds none of them (its Rss in /proc/self/smaps is 0), reading
// maps the file's bytes again, and the number of system calls is one where
// process_madvise batches the ranges, one per range where it does not.
//
//===----------------------------------------------------------------------===//

#include "qopt/Support/PageDrop.h"

#include "SmapsRss.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <cstring>
#include <fcntl.h>
#include <fstream>
#include <sstream>
#include <string>
#include <sys/mman.h>
#include <unistd.h>
#include <vector>

using namespace qopt::support;
using qopt::test::smapsRssKiB;

namespace {

/// A file of `pages` pages whose byte i is i * 7 % 251, mapped read-only and
/// read whole (so every page is mapped).
struct MappedFile {
  std::string path;
  size_t size;
  uint8_t *base = nullptr;
  explicit MappedFile(const std::string &name, size_t pages) {
    path = std::string(QOPT_TEST_TMPDIR) + "/" + name + "-" +
           std::to_string(::getpid());
    size = pages * pageSize();
    std::vector<uint8_t> bytes(size);
    for (size_t i = 0; i < size; ++i)
      bytes[i] = uint8_t(i * 7 % 251);
    std::ofstream(path, std::ios::binary)
        .write(reinterpret_cast<const char *>(bytes.data()), long(size));
    int fd = ::open(path.c_str(), O_RDONLY);
    void *p = ::mmap(nullptr, size, PROT_READ, MAP_SHARED, fd, 0);
    ::close(fd);
    if (p != MAP_FAILED)
      base = static_cast<uint8_t *>(p);
  }
  ~MappedFile() {
    if (base)
      ::munmap(base, size);
    ::unlink(path.c_str());
  }
  /// Reads every byte, checking it; returns false on the first wrong one.
  bool readAll() const {
    for (size_t i = 0; i < size; ++i)
      if (base[i] != uint8_t(i * 7 % 251))
        return false;
    return true;
  }
};

void dropThreeRanges(bool batched, unsigned expectedCalls) {
  MappedFile f(batched ? "batched" : "one-by-one", 64);
  ASSERT_NE(f.base, nullptr);
  ASSERT_TRUE(f.readAll());
  long page = long(pageSize() / 1024);
  ASSERT_EQ(smapsRssKiB(f.base), 64 * page);
  PageDropList list(batched);
  // Pages [0, 8), [8, 20) (extends the first: one range), [30, 40) and
  // [50, 64), given with unaligned ends: whole pages are dropped.
  list.add(f.base + 1, 8 * pageSize() - 2);
  list.add(f.base + 8 * pageSize(), 12 * pageSize());
  list.add(f.base + 30 * pageSize() + 5, 10 * pageSize() - 10);
  list.add(f.base + 50 * pageSize(), 14 * pageSize());
  EXPECT_EQ(list.bytes(), (20 + 10 + 14) * pageSize());
  EXPECT_EQ(list.drop(), expectedCalls);
  EXPECT_TRUE(list.empty());
  EXPECT_EQ(list.bytes(), 0u);
  // Pages 20..29 and 40..49 stay.
  EXPECT_EQ(smapsRssKiB(f.base), 20 * page);
  EXPECT_TRUE(f.readAll());
  EXPECT_EQ(smapsRssKiB(f.base), 64 * page);
}

TEST(PageDropTest, BatchedDropsEveryRangeInOneCall) {
  if (!pageDropsAreBatched())
    GTEST_SKIP() << "process_madvise(MADV_DONTNEED) is not available here";
  dropThreeRanges(/*batched=*/true, 1);
}

TEST(PageDropTest, OneCallPerRangeWithoutBatching) {
  dropThreeRanges(/*batched=*/false, 3);
}

TEST(PageDropTest, NothingToDrop) {
  PageDropList list;
  EXPECT_EQ(list.drop(), 0u);
}

} // namespace
