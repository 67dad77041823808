//===- TensorReaderTest.cpp - Tensor byte reader tests -------------------===//
//
// Part of quant-opt.
//
//===----------------------------------------------------------------------===//

#include "qopt/Loaders/TensorReader.h"

#include "qopt/Loaders/Safetensors.h"
#include "qopt/Loaders/TorchZip.h"

#include "LoaderTestUtil.h"

#include <gtest/gtest.h>

#include <thread>

using namespace qopt::loaders;
using namespace qopt::loaders::test;
using qopt::numerics::DType;

namespace {

const TensorInfo &findIn(const CheckpointFile &cf, const std::string &name) {
  const TensorInfo *t = cf.find(name);
  EXPECT_NE(t, nullptr) << name;
  static TensorInfo none;
  return t ? *t : none;
}

/// The raw bytes [offset, offset + n) of a file, read with std::ifstream.
std::string fileBytes(const std::string &path, uint64_t offset, uint64_t n) {
  std::string all = readFile(path);
  EXPECT_LE(offset + n, all.size());
  return all.substr(offset, n);
}

TEST(TensorReaderTest, Fp32BinEqualsBf16SafetensorsWidened) {
  // The fixtures hold the same weights: each fp32 value is the bf16 value
  // with 16 zero bits appended.
  llvm::Expected<CheckpointFile> st =
      readSafetensorsHeader(inputPath("llama-bf16-st/model.safetensors"));
  ASSERT_TRUE(bool(st)) << llvm::toString(st.takeError());
  llvm::Expected<CheckpointFile> pt =
      readTorchZipHeader(inputPath("llama-fp32-bin/pytorch_model.bin"));
  ASSERT_TRUE(bool(pt)) << llvm::toString(pt.takeError());
  TensorReader reader;
  for (const char *name : {"model.norm.weight", "lm_head.weight",
                           "model.layers.0.self_attn.k_proj.weight",
                           "model.layers.1.input_layernorm.weight",
                           "model.layers.1.mlp.down_proj.weight"}) {
    SCOPED_TRACE(name);
    const TensorInfo &a = findIn(*st, name);
    const TensorInfo &b = findIn(*pt, name);
    ASSERT_EQ(a.shape, b.shape);
    size_t n = size_t(a.numElements());
    std::vector<uint16_t> bf16(n);
    std::vector<uint32_t> fp32(n);
    ASSERT_FALSE(bool(reader.read(a, bf16.data())));
    ASSERT_FALSE(bool(reader.read(b, fp32.data())));
    size_t mismatches = 0, nonzero = 0;
    for (size_t i = 0; i < n; ++i) {
      mismatches += fp32[i] != (uint32_t(bf16[i]) << 16);
      nonzero += bf16[i] != 0;
    }
    EXPECT_EQ(mismatches, 0u);
    EXPECT_GT(nonzero, n / 2); // Real weights, not an all-zero read.
  }
}

TEST(TensorReaderTest, ContiguousReadMatchesFileBytes) {
  std::string path = inputPath("llama-bf16-st/model.safetensors");
  llvm::Expected<CheckpointFile> st = readSafetensorsHeader(path);
  ASSERT_TRUE(bool(st)) << llvm::toString(st.takeError());
  TensorReader reader;
  // model.norm.weight: 128 bf16 at 2192 + 852992 = 855184.
  std::string got(256, '\0');
  ASSERT_FALSE(bool(reader.read(findIn(*st, "model.norm.weight"), got.data())));
  EXPECT_EQ(got, fileBytes(path, 855184, 256));
  // Rows [100, 103) of lm_head.weight [512, 128] bf16 at 2192:
  // 2192 + 100 * 256 = 27792.
  std::string rows(3 * 256, '\0');
  ASSERT_FALSE(bool(
      reader.readRows(findIn(*st, "lm_head.weight"), 100, 103, rows.data())));
  EXPECT_EQ(rows, fileBytes(path, 27792, 768));
}

TEST(TensorReaderTest, MappedRowsAreTheFileBytes) {
  std::string path = inputPath("llama-bf16-st/model.safetensors");
  llvm::Expected<CheckpointFile> st = readSafetensorsHeader(path);
  ASSERT_TRUE(bool(st)) << llvm::toString(st.takeError());
  TensorReader reader;
  const TensorInfo &lm = findIn(*st, "lm_head.weight"); // [512, 128] bf16 @2192
  // Rows [100, 103): 2192 + 100 * 256 = 27792, not page aligned.
  std::unique_ptr<MappedBytes> m = reader.mapRows(lm, 100, 103);
  ASSERT_NE(m, nullptr);
  ASSERT_EQ(m->size(), 768u);
  EXPECT_EQ(std::string(reinterpret_cast<const char *>(m->data()), 768),
            fileBytes(path, 27792, 768));
  m = reader.mapRows(lm, 0, 512); // the whole tensor
  ASSERT_NE(m, nullptr);
  EXPECT_EQ(std::string(reinterpret_cast<const char *>(m->data()), m->size()),
            fileBytes(path, 2192, 512 * 256));
  // Not mappable (readRows reads or reports these): empty or bad row
  // ranges, strided views, ranges past the end of the file.
  EXPECT_EQ(reader.mapRows(lm, 3, 3), nullptr);
  EXPECT_EQ(reader.mapRows(lm, 500, 513), nullptr);
  TensorInfo strided = lm;
  strided.strides = {1, 512};
  strided.shape = {128, 512};
  EXPECT_EQ(reader.mapRows(strided, 0, 1), nullptr);
  // GGUF block tensors are their raw bytes (weights.dequantize_ggml decodes
  // them): mapped like any other rows.
  TensorInfo encoded = lm;
  encoded.encoding = "Q8_0";
  EXPECT_NE(reader.mapRows(encoded, 0, 1), nullptr);
  TensorInfo past = lm;
  past.offset = readFile(path).size() - 256;
  past.storageBytes = 512 * 256;
  EXPECT_EQ(reader.mapRows(past, 0, 2), nullptr);
}

TEST(TensorReaderTest, ShardedBinReadsRows) {
  std::string path =
      inputPath("llama-fp16-bin-sharded/pytorch_model-00002-of-00002.bin");
  llvm::Expected<CheckpointFile> pt = readTorchZipHeader(path);
  ASSERT_TRUE(bool(pt)) << llvm::toString(pt.takeError());
  TensorReader reader;
  // lm_head.weight [512, 128] fp16 at 298752; rows [511, 512).
  std::string row(256, '\0');
  ASSERT_FALSE(bool(
      reader.readRows(findIn(*pt, "lm_head.weight"), 511, 512, row.data())));
  EXPECT_EQ(row, fileBytes(path, 298752 + 511 * 256, 256));
}

/// A scratch file of `n` floats whose value is their index.
std::string writeIota(const std::string &name, size_t n) {
  std::vector<float> v(n);
  for (size_t i = 0; i < n; ++i)
    v[i] = float(i);
  std::string path = scratchDir(name) + "/iota.bin";
  writeFile(path, floatBytes(v));
  return path;
}

/// The reference gather: element (i0, i1, ...) of the view is
/// storage[offset + sum(i_k * stride_k)] = that index as a float.
std::vector<float> referenceGather(int64_t offset,
                                   const std::vector<int64_t> &shape,
                                   const std::vector<int64_t> &strides) {
  int64_t n = 1;
  for (int64_t d : shape)
    n *= d;
  std::vector<float> out;
  std::vector<int64_t> idx(shape.size(), 0);
  for (int64_t k = 0; k < n; ++k) {
    int64_t at = offset;
    for (size_t d = 0; d < shape.size(); ++d)
      at += idx[d] * strides[d];
    out.push_back(float(at));
    for (size_t d = shape.size(); d-- > 0;) {
      if (++idx[d] < shape[d])
        break;
      idx[d] = 0;
    }
  }
  return out;
}

TEST(TensorReaderTest, StridedGatherWithBoundedScratch) {
  std::string path = writeIota("StridedGather", 4096);
  struct Case {
    int64_t offset;
    std::vector<int64_t> shape, strides;
  };
  const Case cases[] = {
      // Transposed [53, 41] matrix from element 5.
      {5, {41, 53}, {1, 41}},
      // Permuted 3-D view.
      {0, {4, 5, 6}, {1, 24, 4}},
      // A broadcast (stride 0) dimension and a unit dimension.
      {7, {3, 1, 4, 5}, {0, 999, 5, 1}},
      // Every other column of a [20, 40] matrix.
      {1, {20, 20}, {40, 2}},
      // Contiguous rows of a larger matrix (row stride > row length).
      {100, {10, 7}, {30, 1}},
  };
  for (uint64_t scratch : {16ull, 64ull, 1000ull, 1ull << 20}) {
    TensorReader reader(scratch);
    for (const Case &c : cases) {
      SCOPED_TRACE("scratch " + std::to_string(scratch) + ", shape " +
                   std::to_string(c.shape.size()) + "-D from " +
                   std::to_string(c.offset));
      TensorInfo t;
      t.name = "v";
      t.dtype = DType::F32;
      t.shape = c.shape;
      t.strides = c.strides;
      t.file = path;
      t.offset = uint64_t(c.offset) * 4;
      t.storageBytes = 4096 * 4 - t.offset;
      std::vector<float> got(size_t(t.numElements()), -1.0f);
      ASSERT_FALSE(bool(reader.read(t, got.data())));
      EXPECT_EQ(got, referenceGather(c.offset, c.shape, c.strides));
      // Rows [1, 3) of the outermost dimension.
      std::vector<float> rows(got.size() / size_t(c.shape[0]) * 2);
      ASSERT_FALSE(bool(reader.readRows(t, 1, 3, rows.data())));
      std::vector<int64_t> sub = c.shape;
      sub[0] = 2;
      EXPECT_EQ(rows, referenceGather(c.offset + c.strides[0], sub, c.strides));
    }
  }
}

TEST(TensorReaderTest, ConcurrentReadsAgree) {
  llvm::Expected<CheckpointFile> pt =
      readTorchZipHeader(inputPath("llama-fp32-bin/pytorch_model.bin"));
  ASSERT_TRUE(bool(pt)) << llvm::toString(pt.takeError());
  TensorReader reader;
  std::vector<std::string> expected;
  for (const TensorInfo &t : pt->tensors) {
    std::string buf(t.contiguousBytes(), '\0');
    ASSERT_FALSE(bool(reader.read(t, buf.data())));
    expected.push_back(std::move(buf));
  }
  TensorReader shared;
  std::vector<int> failures(4, 0);
  std::vector<std::thread> threads;
  for (int th = 0; th < 4; ++th)
    threads.emplace_back([&, th] {
      for (int round = 0; round < 3; ++round)
        for (size_t i = 0; i < pt->tensors.size(); ++i) {
          size_t k = (i + size_t(th) * 5) % pt->tensors.size();
          std::string buf(pt->tensors[k].contiguousBytes(), '\0');
          if (llvm::Error e = shared.read(pt->tensors[k], buf.data())) {
            llvm::consumeError(std::move(e));
            ++failures[th];
          } else if (buf != expected[k]) {
            ++failures[th];
          }
        }
    });
  for (std::thread &t : threads)
    t.join();
  EXPECT_EQ(failures, (std::vector<int>{0, 0, 0, 0}));
}

TEST(TensorReaderTest, Errors) {
  std::string path = writeIota("Errors", 16); // 64 bytes
  TensorInfo t;
  t.name = "w";
  t.dtype = DType::F32;
  t.shape = {4, 4};
  t.file = path;
  t.offset = 0;
  t.storageBytes = 60; // One float short.
  std::vector<float> buf(16);
  TensorReader reader;
  EXPECT_EQ(errorOf(reader.read(t, buf.data())),
            path + ": tensor 'w': view reaches past its storage of 60 bytes");
  t.storageBytes = 64;
  t.strides = {1, 5}; // Reaches element 3 + 15 = 18.
  EXPECT_EQ(errorOf(reader.read(t, buf.data())),
            path + ": tensor 'w': view reaches past its storage of 64 bytes");
  t.strides = {4};
  EXPECT_EQ(errorOf(reader.read(t, buf.data())),
            path + ": tensor 'w': has 1 strides for 2 dimensions");
  t.strides = {};
  EXPECT_EQ(errorOf(reader.readRows(t, 2, 5, buf.data())),
            path + ": tensor 'w': row range [2, 5) is outside [0, 4)");
  // The storage claims bytes the file does not have.
  t.offset = 32;
  t.storageBytes = 64;
  EXPECT_EQ(errorOf(reader.read(t, buf.data())),
            path + ": unexpected end of file reading 64 bytes at offset 32");
  t.file = path + ".absent";
  EXPECT_EQ(errorOf(reader.read(t, buf.data())),
            path + ".absent: cannot open: No such file or directory");
  // Empty tensors read nothing, even from a missing file.
  t.shape = {0, 4};
  EXPECT_EQ(errorOf(reader.read(t, buf.data())), "<success>");
}

} // namespace
