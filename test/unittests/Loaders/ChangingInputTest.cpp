//===- ChangingInputTest.cpp - Inputs that change or block under us -------===//
//
// A checkpoint that shrinks while its rows are mapped gives a located error,
// never SIGBUS; a FIFO is refused without blocking (docs/reliability.md).
//
//===----------------------------------------------------------------------===//

#include "qopt/Loaders/Safetensors.h"
#include "qopt/Loaders/TensorReader.h"

#include "LoaderTestUtil.h"

#include "llvm/Support/FileSystem.h"

#include <gtest/gtest.h>

#include <fstream>
#include <sys/stat.h>
#include <unistd.h>

using namespace qopt::loaders;
using namespace qopt::loaders::test;

namespace {

TEST(ChangingInputTest, ShrinkingFileUnderMappedRowsIsAnErrorNotSigbus) {
  // A copy of the fixture, so that it can be truncated.
  llvm::SmallString<128> path;
  ASSERT_FALSE(llvm::sys::fs::createTemporaryFile("shrink", "safetensors",
                                                  path));
  std::string bytes = readFile(inputPath("llama-bf16-st/model.safetensors"));
  {
    std::ofstream out(path.c_str(), std::ios::binary);
    out.write(bytes.data(), std::streamsize(bytes.size()));
  }
  llvm::Expected<CheckpointFile> st = readSafetensorsHeader(path);
  ASSERT_TRUE(bool(st)) << llvm::toString(st.takeError());
  const TensorInfo *lm = st->find("lm_head.weight"); // [512, 128] bf16 @2192
  ASSERT_NE(lm, nullptr);
  TensorReader reader;
  {
    std::unique_ptr<MappedBytes> m = reader.mapRows(*lm, 0, 512);
    ASSERT_NE(m, nullptr);
    EXPECT_FALSE(m->lostPages());
    // The file is cut to 1000 bytes (a re-download starting over): every
    // page of the mapping past the first is gone. Touching them used to
    // raise SIGBUS; now they read as zeros and the mapping is marked.
    ASSERT_EQ(::truncate(path.c_str(), 1000), 0);
    unsigned sum = 0;
    for (size_t i = 0; i < m->size(); i += 512)
      sum += m->data()[i];
    const uint8_t *last = m->data() + m->size() - 1;
    EXPECT_EQ(*last, 0u);
    EXPECT_TRUE(m->lostPages());
    (void)sum;
  }
  llvm::Error err = reader.takeChangedFileError();
  ASSERT_TRUE(bool(err));
  EXPECT_EQ(llvm::toString(std::move(err)),
            std::string(path) +
                ": tensor 'lm_head.weight': the file changed while it was "
                "read (it shrank to 1000 bytes)");
  // Reported once.
  EXPECT_FALSE(bool(reader.takeChangedFileError()));
  // Rows read with pread after the change: an end-of-file error.
  std::vector<uint8_t> row(256);
  llvm::Error readErr = reader.readRows(*lm, 10, 11, row.data());
  ASSERT_TRUE(bool(readErr));
  EXPECT_EQ(llvm::toString(std::move(readErr)),
            std::string(path) +
                ": unexpected end of file reading 256 bytes at offset 4752");
  // Mapping the lost range is declined (readRows reports it).
  EXPECT_EQ(reader.mapRows(*lm, 0, 2), nullptr);
  llvm::sys::fs::remove(path);
}

TEST(ChangingInputTest, FifoIsRefusedWithoutBlocking) {
  llvm::SmallString<128> dir;
  ASSERT_FALSE(llvm::sys::fs::createUniqueDirectory("fifo", dir));
  std::string fifo = std::string(dir) + "/model.safetensors";
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
  // Opening a FIFO for reading blocks until a writer comes; this returns.
  llvm::Expected<RandomAccessFile> f = RandomAccessFile::open(fifo);
  ASSERT_FALSE(bool(f));
  EXPECT_EQ(llvm::toString(f.takeError()),
            fifo + ": cannot open: not a regular file");
  llvm::Expected<CheckpointFile> st = readSafetensorsHeader(fifo);
  ASSERT_FALSE(bool(st));
  EXPECT_EQ(llvm::toString(st.takeError()),
            fifo + ": cannot open: not a regular file");
  llvm::sys::fs::remove(fifo);
  llvm::sys::fs::remove(dir);
}

} // namespace
