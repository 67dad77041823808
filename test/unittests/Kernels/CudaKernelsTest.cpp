//===- CudaKernelsTest.cpp - CUDA kernels vs the CPU numerics --*- C++ -*-===//
//
// The GPU kernels must produce the CPU numerics' bytes exactly. Hand-worked
// group quantization rows pin the format independently; the rest compares
// with qopt::numerics on random inputs and on edge cases (ties, zero groups,
// subnormals, inf, NaN in every position, K not a multiple of the group,
// int3, inputs spanning several pipeline chunks, unaligned host buffers,
// concurrent threads); casts and float8 are in CudaConvertTest.cpp. Tests
// that need a device skip, with the reason, when
// cudaDeviceAvailable() is false; the argument checks run everywhere.
//
//===----------------------------------------------------------------------===//

#include "qopt/Kernels/Cuda.h"
#include "qopt/Numerics/Convert.h"
#include "qopt/Numerics/Float.h"
#include "qopt/Numerics/Fp8.h"
#include "qopt/Numerics/GroupQuant.h"

#include "CudaTestUtil.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>
#include <limits>
#include <random>
#include <string>
#include <thread>
#include <vector>

using namespace qopt::numerics;
using qopt::kernels::castHalfToFp8E5M2Cuda;
using qopt::kernels::convertElementsCuda;
using qopt::kernels::cudaDeviceAvailable;
using qopt::kernels::fp8E4M3PerTensorCuda;
using qopt::kernels::fp8E4M3PerTensorScaleCuda;
using qopt::kernels::groupQuantizeRowsCuda;
using qopt::kernels::isCudaConversionSupported;
using qopt::kernels::quantizeFp8E4M3Cuda;
using qopt::kernels::test::firstDiff;
using qopt::kernels::test::message;

namespace {

size_t elemSize(FloatFormat f) { return f == FloatFormat::F32 ? 4 : 2; }

/// Both implementations' outputs for one input.
struct GroupResult {
  std::vector<uint32_t> words;
  std::vector<uint8_t> scales;
};

GroupResult cpuGroup(const void *w, int64_t rows, int64_t k,
                     const GroupQuantSpec &spec) {
  GroupResult r;
  r.words.assign(size_t(rows * wordsPerRow(spec, k)), 0xDEADBEEFu);
  r.scales.assign(
      size_t(rows * groupsPerRow(spec, k)) * elemSize(spec.modelFormat), 0xEE);
  groupQuantizeRows(w, rows, k, spec, r.words.data(), r.scales.data());
  return r;
}

GroupResult gpuGroup(const void *w, int64_t rows, int64_t k,
                     const GroupQuantSpec &spec) {
  GroupResult r;
  r.words.assign(size_t(rows * wordsPerRow(spec, k)), 0x12345678u);
  r.scales.assign(
      size_t(rows * groupsPerRow(spec, k)) * elemSize(spec.modelFormat), 0x55);
  EXPECT_EQ(message(groupQuantizeRowsCuda(w, rows, k, spec, r.words.data(),
                                          r.scales.data())),
            "");
  return r;
}


/// GPU == CPU for one input, with a readable failure.
void expectSameGroup(const void *w, int64_t rows, int64_t k,
                     const GroupQuantSpec &spec, const std::string &what) {
  GroupResult cpu = cpuGroup(w, rows, k, spec);
  GroupResult gpu = gpuGroup(w, rows, k, spec);
  std::string ctx = what + " (int" + std::to_string(spec.bits) + ", group " +
                    std::to_string(spec.groupSize) + ", format " +
                    std::to_string(int(spec.modelFormat)) + ", rounding " +
                    std::to_string(int(spec.rounding)) + ", " +
                    std::to_string(rows) + "x" + std::to_string(k) + ")";
  int64_t dw = firstDiff(cpu.words, gpu.words);
  EXPECT_EQ(dw, -1) << ctx << ": word " << dw << " cpu "
                    << (dw >= 0 ? cpu.words[size_t(dw)] : 0) << " gpu "
                    << (dw >= 0 ? gpu.words[size_t(dw)] : 0);
  int64_t ds = firstDiff(cpu.scales, gpu.scales);
  EXPECT_EQ(ds, -1) << ctx << ": scale byte " << ds;
}

/// Every (format, bits, rounding) combination of the MLC modes plus one
/// generic bit width.
std::vector<GroupQuantSpec> allSpecs() {
  const std::pair<int, int64_t> kBitsAndGroups[] = {{4, 32}, {3, 40}, {5, 24}};
  std::vector<GroupQuantSpec> specs;
  for (FloatFormat f : {FloatFormat::F16, FloatFormat::BF16, FloatFormat::F32})
    for (RoundingMode r :
         {RoundingMode::NearestEven, RoundingMode::NearestAway})
      for (auto [bits, group] : kBitsAndGroups)
        specs.push_back({bits, group, f, r});
  return specs;
}

/// Random weights ~N(0, 0.02) of a format, as storage bytes.
std::vector<uint8_t> randomWeights(FloatFormat f, size_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> dist(0.0f, 0.02f);
  std::vector<uint8_t> out(n * elemSize(f));
  for (size_t i = 0; i < n; ++i) {
    float v = dist(rng);
    if (f == FloatFormat::F32) {
      std::memcpy(out.data() + 4 * i, &v, 4);
    } else {
      uint16_t h = f == FloatFormat::F16 ? floatToHalf(v) : floatToBFloat16(v);
      std::memcpy(out.data() + 2 * i, &h, 2);
    }
  }
  return out;
}

//===----------------------------------------------------------------------===//
// Argument checks (no device needed)
//===----------------------------------------------------------------------===//

TEST(CudaKernelsArgs, InvalidSpecIsAnError) {
  uint16_t w[8] = {};
  uint32_t q[1];
  uint16_t s[1];
  GroupQuantSpec bad{9, 32, FloatFormat::F16};
  EXPECT_EQ(message(groupQuantizeRowsCuda(w, 1, 8, bad, q, s)),
            "groupQuantizeRowsCuda: quantized bits must be in [2, 8], got 9");
  GroupQuantSpec oddGroup{4, 30, FloatFormat::F16};
  EXPECT_EQ(message(groupQuantizeRowsCuda(w, 1, 8, oddGroup, q, s)),
            "groupQuantizeRowsCuda: group size 30 is not a multiple of 8 "
            "values per uint32 word (int4)");
}

TEST(CudaKernelsArgs, NegativeExtentsAreAnError) {
  GroupQuantSpec spec{4, 32, FloatFormat::F16};
  EXPECT_EQ(
      message(groupQuantizeRowsCuda(nullptr, -1, 32, spec, nullptr, nullptr)),
      "groupQuantizeRowsCuda: negative extent (rows -1, k 32)");
  EXPECT_EQ(
      message(groupQuantizeRowsCuda(nullptr, 2, -5, spec, nullptr, nullptr)),
      "groupQuantizeRowsCuda: negative extent (rows 2, k -5)");
}

TEST(CudaKernelsArgs, OverflowingSizesAreAnError) {
  GroupQuantSpec spec{4, 32, FloatFormat::F16};
  int64_t huge = int64_t(1) << 40;
  EXPECT_EQ(message(groupQuantizeRowsCuda(nullptr, huge, huge, spec, nullptr,
                                          nullptr)),
            "groupQuantizeRowsCuda: 1099511627776 x 1099511627776 values do "
            "not fit in memory");
  size_t n = SIZE_MAX / 2 + 1;
  EXPECT_EQ(
      message(convertElementsCuda(nullptr, DType::F16, nullptr, DType::F32, n)),
      "convertElementsCuda: " + std::to_string(n) +
          " elements do not fit in memory");
  EXPECT_EQ(message(castHalfToFp8E5M2Cuda(nullptr, n, nullptr)),
            "castHalfToFp8E5M2Cuda: " + std::to_string(n) +
                " elements do not fit in memory");
}

TEST(CudaKernelsArgs, EmptyInputsDoNothing) {
  GroupQuantSpec spec{4, 32, FloatFormat::F16};
  EXPECT_EQ(
      message(groupQuantizeRowsCuda(nullptr, 0, 32, spec, nullptr, nullptr)),
      "");
  EXPECT_EQ(
      message(groupQuantizeRowsCuda(nullptr, 3, 0, spec, nullptr, nullptr)),
      "");
  EXPECT_EQ(
      message(convertElementsCuda(nullptr, DType::F16, nullptr, DType::F32, 0)),
      "");
  EXPECT_EQ(message(quantizeFp8E4M3Cuda(nullptr, 0, 1.0f, nullptr)), "");
  // An empty tensor's e4m3 scale is the floor f16(1 / (448 * 512)) =
  // 73 * 2^-24, computed without a device.
  llvm::Expected<float> s = fp8E4M3PerTensorScaleCuda(nullptr, 0);
  ASSERT_TRUE(bool(s)) << llvm::toString(s.takeError());
  EXPECT_EQ(*s, 73.0f * 0x1p-24f);
}

TEST(CudaKernelsArgs, ConversionSupport) {
  EXPECT_TRUE(isCudaConversionSupported(DType::F16, DType::BF16));
  EXPECT_TRUE(isCudaConversionSupported(DType::F32, DType::F16));
  EXPECT_TRUE(isCudaConversionSupported(DType::F8E4M3FN, DType::F32));
  EXPECT_TRUE(isCudaConversionSupported(DType::F8E5M2, DType::BF16));
  EXPECT_TRUE(isCudaConversionSupported(DType::U32, DType::U32));
  EXPECT_FALSE(isCudaConversionSupported(DType::F64, DType::F16));
  EXPECT_FALSE(isCudaConversionSupported(DType::F16, DType::F64));
  EXPECT_FALSE(isCudaConversionSupported(DType::F16, DType::F8E4M3FN));
  EXPECT_FALSE(isCudaConversionSupported(DType::I32, DType::F32));
  EXPECT_EQ(
      message(convertElementsCuda(nullptr, DType::F64, nullptr, DType::F16, 4)),
      "convertElementsCuda: cannot convert float64 to float16 on the "
      "GPU");
}

TEST(CudaKernelsArgs, IdenticalTypesAreCopiedOnTheHost) {
  // Needs no device: a same-type conversion is a memcpy.
  const uint32_t src[3] = {1, 0xFFFFFFFFu, 42};
  uint32_t dst[3] = {};
  EXPECT_EQ(message(convertElementsCuda(src, DType::U32, dst, DType::U32, 3)),
            "");
  EXPECT_EQ(dst[0], 1u);
  EXPECT_EQ(dst[1], 0xFFFFFFFFu);
  EXPECT_EQ(dst[2], 42u);
}

TEST(CudaKernelsArgs, WithoutDeviceCallsFailCleanly) {
  std::string why;
  if (cudaDeviceAvailable(&why))
    GTEST_SKIP() << "a CUDA device is present";
  EXPECT_FALSE(why.empty());
#ifndef QOPT_HAVE_CUDA
  EXPECT_EQ(why, "libQuantOptCudaKernels.so not found (quant-opt was built "
                 "without CUDA, or the library is not installed)");
#endif
  uint16_t w[32] = {};
  uint32_t q[4];
  uint16_t s[1];
  std::string err = message(groupQuantizeRowsCuda(
      w, 1, 32, GroupQuantSpec{4, 32, FloatFormat::F16}, q, s));
  EXPECT_EQ(err.rfind("groupQuantizeRowsCuda: ", 0), 0u) << err;
  EXPECT_GT(err.size(), std::string("groupQuantizeRowsCuda: ").size());
}

//===----------------------------------------------------------------------===//
// Group quantization
//===----------------------------------------------------------------------===//

TEST(CudaGroupQuant, HandWorkedInt4Row) {
  REQUIRE_GPU();
  // max|w| = 7 -> scale = 7 / 7 = 1 (fp16 0x3C00); q = round(w + 7):
  // 14, 0, 7, round(10.5) = 10 (even), 8, 6, 9, round(13.5) = 14 (even).
  // LSB first: 0xE968A70E. Half away from zero: 10.5 -> 11 -> 0xE968B70E.
  const float vals[8] = {7, -7, 0, 3.5f, 1, -1, 2, 6.5f};
  uint16_t w[8];
  for (int i = 0; i < 8; ++i)
    w[i] = floatToHalf(vals[i]);
  uint32_t q = 0;
  uint16_t s = 0;
  GroupQuantSpec even{4, 8, FloatFormat::F16, RoundingMode::NearestEven};
  ASSERT_EQ(message(groupQuantizeRowsCuda(w, 1, 8, even, &q, &s)), "");
  EXPECT_EQ(q, 0xE968A70Eu);
  EXPECT_EQ(s, 0x3C00u);
  GroupQuantSpec away{4, 8, FloatFormat::F16, RoundingMode::NearestAway};
  ASSERT_EQ(message(groupQuantizeRowsCuda(w, 1, 8, away, &q, &s)), "");
  EXPECT_EQ(q, 0xE968B70Eu);
  EXPECT_EQ(s, 0x3C00u);
}

TEST(CudaGroupQuant, HandWorkedInt3PartialGroup) {
  REQUIRE_GPU();
  // k = 3 in a group of 10: max|w| = 3 -> scale 1 (bf16 0x3F80); q =
  // round(w + 3) = 6, round(1.5) = 2, 3; padding 0: 6 | 2 << 3 | 3 << 6 =
  // 0xD6. A second row of zeros: scale 0, all values 0.
  uint16_t w[6] = {floatToBFloat16(3.0f), floatToBFloat16(-1.5f), 0, 0, 0, 0};
  uint32_t q[2] = {0xFFFFFFFFu, 0xFFFFFFFFu};
  uint16_t s[2] = {0xFFFF, 0xFFFF};
  GroupQuantSpec spec{3, 10, FloatFormat::BF16};
  ASSERT_EQ(message(groupQuantizeRowsCuda(w, 2, 3, spec, q, s)), "");
  EXPECT_EQ(q[0], 0xD6u);
  EXPECT_EQ(s[0], 0x3F80u);
  EXPECT_EQ(q[1], 0u);
  EXPECT_EQ(s[1], 0u);
}

TEST(CudaGroupQuant, RandomRowsMatchCpu) {
  REQUIRE_GPU();
  const std::pair<int64_t, int64_t> kShapes[] = {
      {37, 256}, {5, 4096}, {64, 100}, {3, 7}, {300, 2048}};
  uint32_t seed = 1;
  for (const GroupQuantSpec &spec : allSpecs())
    for (auto [rows, k] : kShapes) {
      std::vector<uint8_t> w =
          randomWeights(spec.modelFormat, size_t(rows * k), seed++);
      expectSameGroup(w.data(), rows, k, spec, "random");
    }
}

TEST(CudaGroupQuant, EveryHalfBitPatternMatchesCpu) {
  REQUIRE_GPU();
  // All 65536 fp16 / bf16 patterns (subnormals, inf, NaN of both signs and
  // all payloads), shuffled so that every group mixes magnitudes, plus the
  // sorted order where whole groups are NaN, inf or subnormal.
  std::vector<uint16_t> sorted(65536);
  for (size_t i = 0; i < sorted.size(); ++i)
    sorted[i] = uint16_t(i);
  std::vector<uint16_t> shuffled = sorted;
  std::shuffle(shuffled.begin(), shuffled.end(), std::mt19937(7));
  for (const GroupQuantSpec &spec : allSpecs()) {
    if (spec.modelFormat == FloatFormat::F32)
      continue;
    expectSameGroup(sorted.data(), 512, 128, spec, "sorted patterns");
    expectSameGroup(shuffled.data(), 512, 128, spec, "shuffled patterns");
    // K not a multiple of the group, rows not aligned to anything.
    expectSameGroup(shuffled.data(), 1489, 44, spec, "shuffled, odd k");
  }
}

TEST(CudaGroupQuant, EdgeCasesMatchCpu) {
  REQUIRE_GPU();
  for (const GroupQuantSpec &spec : allSpecs()) {
    const FloatFormat f = spec.modelFormat;
    auto enc = [&](float v) -> std::vector<uint8_t> {
      std::vector<uint8_t> b(elemSize(f));
      if (f == FloatFormat::F32) {
        std::memcpy(b.data(), &v, 4);
      } else {
        uint16_t h =
            f == FloatFormat::F16 ? floatToHalf(v) : floatToBFloat16(v);
        std::memcpy(b.data(), &h, 2);
      }
      return b;
    };
    const float nan = std::numeric_limits<float>::quiet_NaN();
    const float inf = std::numeric_limits<float>::infinity();
    const int64_t g = spec.groupSize, k = 3 * g - 5;
    std::vector<std::vector<float>> rows;
    auto row = [&](auto fn) {
      std::vector<float> r(static_cast<size_t>(k));
      for (int64_t i = 0; i < k; ++i)
        r[size_t(i)] = fn(i);
      rows.push_back(r);
    };
    // Ties: max 7 * 2^e, values (m + 0.5) * 2^e give exact .5 after + maxInt.
    const float maxInt = float((1 << (spec.bits - 1)) - 1);
    row([&](int64_t i) {
      return i % g == 0 ? maxInt : float(int(i % 13) - 6) + 0.5f;
    });
    row([&](int64_t i) {
      return (i % g == 1 ? -maxInt : float(int(i % 7) - 3) + 0.5f) * 0.125f;
    });
    row([](int64_t) { return 0.0f; });
    row([](int64_t i) { return i % 2 ? -0.0f : 0.0f; });
    row([&](int64_t i) { return i == k - 1 ? 1e-3f : 0.0f; });
    // Subnormals of every format, alone and next to normals.
    row([](int64_t i) { return float(i + 1) * 0x1p-24f; });
    row([](int64_t i) { return float(i % 5) * 0x1p-133f; });
    row([](int64_t i) { return i % 3 ? float(i) * 0x1p-20f : 0x1p-14f; });
    // Huge values, overflow to inf in the format, inf, NaN at the first,
    // last, last-real (k - 1, followed by padding) position of a group.
    row([](int64_t i) { return i % 4 ? 60000.0f : -65504.0f; });
    row([](int64_t i) { return float(i) * 3e38f; });
    row([&](int64_t i) { return i == 3 ? inf : float(i) * 0.01f; });
    row([&](int64_t i) { return i == 4 ? -inf : 0.0f; });
    row([&](int64_t i) { return i % g == 0 ? nan : float(i) * 0.01f; });
    row([&](int64_t i) { return i % g == g - 1 ? -nan : float(i) * 0.01f; });
    row([&](int64_t i) { return i == k - 1 ? nan : float(i) * 0.01f; });
    row([&](int64_t i) { return i == k - 1 ? -nan : -float(i) * 0.01f; });
    row([&](int64_t) { return nan; });
    row([&](int64_t i) { return i % 2 ? nan : inf; });
    // Only negative values; values right at clamp boundaries.
    row([](int64_t i) { return -float(i + 1); });
    row([&](int64_t i) { return (i % 3 == 0 ? 1.0f : -1.0f) * maxInt; });
    std::vector<uint8_t> w;
    for (const auto &r : rows)
      for (float v : r) {
        std::vector<uint8_t> b = enc(v);
        w.insert(w.end(), b.begin(), b.end());
      }
    expectSameGroup(w.data(), int64_t(rows.size()), k, spec, "edge cases");
    // One row at a time too (chunks of one row, partial blocks).
    for (size_t r = 0; r < rows.size(); ++r)
      expectSameGroup(w.data() + r * size_t(k) * elemSize(f), 1, k, spec,
                      "edge row " + std::to_string(r));
  }
}

TEST(CudaGroupQuant, SeveralChunksAndUnalignedBuffers) {
  REQUIRE_GPU();
  // 23 MiB of fp16 input: more than one 16 MiB pipeline chunk, both slots
  // used; the input and outputs start at odd addresses.
  const int64_t rows = 5632, k = 2048;
  GroupQuantSpec spec{4, 32, FloatFormat::F16};
  std::vector<uint8_t> w =
      randomWeights(FloatFormat::F16, size_t(rows * k), 99);
  std::vector<uint8_t> shifted(w.size() + 1);
  std::memcpy(shifted.data() + 1, w.data(), w.size());
  GroupResult cpu = cpuGroup(w.data(), rows, k, spec);
  const size_t qBytes = cpu.words.size() * 4;
  std::vector<uint8_t> q(qBytes + 3), s(cpu.scales.size() + 1);
  ASSERT_EQ(message(groupQuantizeRowsCuda(
                shifted.data() + 1, rows, k, spec,
                reinterpret_cast<uint32_t *>(q.data() + 3), s.data() + 1)),
            "");
  EXPECT_EQ(std::memcmp(q.data() + 3, cpu.words.data(), qBytes), 0);
  EXPECT_EQ(std::memcmp(s.data() + 1, cpu.scales.data(), cpu.scales.size()), 0);
  // The KN-style long row: one row larger than a chunk.
  std::vector<uint8_t> big = randomWeights(FloatFormat::F32, 5'000'000, 5);
  expectSameGroup(big.data(), 1, 5'000'000,
                  GroupQuantSpec{3, 40, FloatFormat::F32}, "one huge row");
}

TEST(CudaGroupQuant, ConcurrentThreadsAndRelease) {
  REQUIRE_GPU();
  std::vector<std::thread> threads;
  std::vector<int> ok(4, 0);
  for (int t = 0; t < 4; ++t)
    threads.emplace_back([t, &ok] {
      GroupQuantSpec spec{t % 2 ? 3 : 4, t % 2 ? 40 : 32,
                          t < 2 ? FloatFormat::F16 : FloatFormat::BF16};
      bool same = true;
      for (int it = 0; it < 3; ++it) {
        std::vector<uint8_t> w = randomWeights(spec.modelFormat, 2000 * 1000,
                                               uint32_t(100 * t + it));
        GroupResult cpu = cpuGroup(w.data(), 2000, 1000, spec);
        GroupResult gpu = gpuGroup(w.data(), 2000, 1000, spec);
        same &= cpu.words == gpu.words && cpu.scales == gpu.scales;
      }
      qopt::kernels::releaseCudaThreadContext();
      ok[size_t(t)] = same;
    });
  for (std::thread &t : threads)
    t.join();
  for (int t = 0; t < 4; ++t)
    EXPECT_TRUE(ok[size_t(t)]) << "thread " << t;
  // The main thread's context is made again after a release.
  qopt::kernels::releaseCudaThreadContext();
  std::vector<uint8_t> w = randomWeights(FloatFormat::F16, 64 * 64, 3);
  expectSameGroup(w.data(), 64, 64, GroupQuantSpec{4, 32, FloatFormat::F16},
                  "after release");
}

} // namespace
