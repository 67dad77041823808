//===- RowsFixture.h - A file of 1 MiB rows for mapped-row tests -*- C++ -*-===//
//
// Part of quant-opt. The tensor MappingRangeTest and FileViewTest map rows
// of: written here from a formula, checked byte for byte when mapped.
//
//===----------------------------------------------------------------------===//

#ifndef QOPT_TEST_UNITTESTS_LOADERS_ROWSFIXTURE_H
#define QOPT_TEST_UNITTESTS_LOADERS_ROWSFIXTURE_H

#include "qopt/Loaders/TensorReader.h"

#include "LoaderTestUtil.h"

#include <gtest/gtest.h>

#include <cstring>
#include <memory>
#include <string>
#include <vector>

namespace qopt::loaders::test {

constexpr int64_t kRows = 20, kRowFloats = 1 << 18; // rows of 1 MiB

/// A [20, 262144] float32 tensor whose element (r, c) is r * 1000 + c % 1000.
struct RowsFixture {
  std::string path;
  std::string bytes;
  TensorInfo t;
  explicit RowsFixture(const std::string &name) {
    std::vector<float> v(size_t(kRows * kRowFloats));
    for (int64_t r = 0; r < kRows; ++r)
      for (int64_t c = 0; c < kRowFloats; ++c)
        v[size_t(r * kRowFloats + c)] = float(r * 1000 + c % 1000);
    bytes.assign(reinterpret_cast<const char *>(v.data()), v.size() * 4);
    path = scratchDir(name) + "/rows.bin";
    writeFile(path, bytes);
    t.name = "w";
    t.dtype = qopt::numerics::DType::F32;
    t.shape = {kRows, kRowFloats};
    t.file = path;
    t.offset = 0;
    t.storageBytes = bytes.size();
  }
  /// Maps rows [r0, r1) and checks they are the file's bytes.
  std::unique_ptr<MappedBytes> map(TensorReader &reader, int64_t r0,
                                   int64_t r1) {
    std::unique_ptr<MappedBytes> m = reader.mapRows(t, r0, r1);
    EXPECT_NE(m, nullptr) << r0;
    if (!m)
      return m;
    size_t n = size_t(r1 - r0) * kRowFloats * 4;
    EXPECT_EQ(m->size(), n);
    EXPECT_EQ(std::memcmp(m->data(), bytes.data() + size_t(r0) * kRowFloats * 4,
                          n),
              0)
        << "rows " << r0 << ".." << r1;
    return m;
  }
};

} // namespace qopt::loaders::test

#endif // QOPT_TEST_UNITTESTS_LOADERS_ROWSFIXTURE_H
