//===- CudaKernelsTest.cpp - CUDA kernels vs the CPU numerics --*- C++ -*-===//
//
// The GPU kernels must produce the CPU numerics' bytes exactly. Hand-worked
// group quantization rows pin the format independently; the rest compares
// with qopt::numerics on random inputs and on edge cases (ties, zero groups,
// subnormals, inf, NaN in every position, K not a multiple of the group,
// int3, inputs spanning several pipeline chunks, unaligned host buffers,
// concurrent threads). Tests that need a device skip, with the reason, when
// cudaDeviceAvailable() is false; the argument checks run everywhere.
//
//===----------------------------------------------------------------------===//

#include "qopt/Kernels/Cuda.h"
#include "qopt/Numerics/Convert.h"
#include "qopt/Numerics/Float.h"
#include "qopt/Numerics/Fp8.h"
#include "qopt/Numerics/GroupQuant.h"

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

namespace {

#define REQUIRE_GPU()                                                          \
  do {                                                                         \
    std::string why;                                                           \
    if (!cudaDeviceAvailable(&why))                                            \
      GTEST_SKIP() << why;                                                     \
  } while (false)

/// The message of an error (empty for success), consuming it.
std::string message(llvm::Error e) {
  return e ? llvm::toString(std::move(e)) : std::string();
}

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

/// Index of the first differing element, or -1.
template <typename T>
int64_t firstDiff(const std::vector<T> &a, const std::vector<T> &b) {
  if (a.size() != b.size())
    return 0;
  for (size_t i = 0; i < a.size(); ++i)
    if (a[i] != b[i])
      return int64_t(i);
  return -1;
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

//===----------------------------------------------------------------------===//
// Casts
//===----------------------------------------------------------------------===//

/// GPU == CPU for n elements of src (as bytes) from s to d.
void expectSameConvert(const std::vector<uint8_t> &src, DType s, DType d,
                       size_t offset = 0) {
  const size_t n = src.size() / dtypeSize(s);
  std::vector<uint8_t> cpu(n * dtypeSize(d), 0xAB);
  std::vector<uint8_t> gpu(n * dtypeSize(d) + offset, 0xCD);
  ASSERT_TRUE(convertElements(src.data(), s, cpu.data(), d, n));
  std::vector<uint8_t> in(src.size() + offset);
  std::memcpy(in.data() + offset, src.data(), src.size());
  ASSERT_EQ(message(convertElementsCuda(in.data() + offset, s,
                                        gpu.data() + offset, d, n)),
            "");
  int64_t diff = -1;
  for (size_t i = 0; i < cpu.size() && diff < 0; ++i)
    if (cpu[i] != gpu[i + offset])
      diff = int64_t(i);
  EXPECT_EQ(diff, -1) << tvmName(s) << " -> " << tvmName(d) << ": byte "
                      << diff;
}

TEST(CudaConvert, HandWorkedValues) {
  REQUIRE_GPU();
  // 1 + 2^-11 is a tie between 1 and 1 + 2^-10 in fp16 (even: 1 = 0x3C00);
  // 1 + 3 * 2^-11 rounds up to 1 + 2^-9 (0x3C02); 65520 overflows to inf;
  // 2^-25 is half the smallest subnormal (tie to 0); 3 * 2^-26 rounds to
  // 2^-24 (0x0001).
  const float in[5] = {1.0f + 0x1p-11f, 1.0f + 3 * 0x1p-11f, 65520.0f, 0x1p-25f,
                       3 * 0x1p-26f};
  uint16_t out[5] = {};
  ASSERT_EQ(message(convertElementsCuda(in, DType::F32, out, DType::F16, 5)),
            "");
  EXPECT_EQ(out[0], 0x3C00u);
  EXPECT_EQ(out[1], 0x3C02u);
  EXPECT_EQ(out[2], 0x7C00u);
  EXPECT_EQ(out[3], 0x0000u);
  EXPECT_EQ(out[4], 0x0001u);
  // bf16 0x3F81 = 1 + 2^-7 -> fp16 0x3C08 exactly; fp16 0x0001 (2^-24) ->
  // bf16 0x3380.
  uint16_t b = 0x3F81, h = 0;
  ASSERT_EQ(message(convertElementsCuda(&b, DType::BF16, &h, DType::F16, 1)),
            "");
  EXPECT_EQ(h, 0x3C08u);
  h = 0x0001;
  ASSERT_EQ(message(convertElementsCuda(&h, DType::F16, &b, DType::BF16, 1)),
            "");
  EXPECT_EQ(b, 0x3380u);
}

TEST(CudaConvert, EveryNarrowPatternMatchesCpu) {
  REQUIRE_GPU();
  std::vector<uint8_t> halves(65536 * 2);
  for (size_t i = 0; i < 65536; ++i) {
    uint16_t v = uint16_t(i);
    std::memcpy(halves.data() + 2 * i, &v, 2);
  }
  for (DType s : {DType::F16, DType::BF16})
    for (DType d : {DType::F16, DType::BF16, DType::F32})
      if (s != d)
        expectSameConvert(halves, s, d);
  std::vector<uint8_t> bytes(256);
  for (size_t i = 0; i < 256; ++i)
    bytes[i] = uint8_t(i);
  for (DType s : {DType::F8E4M3FN, DType::F8E5M2})
    for (DType d : {DType::F16, DType::BF16, DType::F32})
      expectSameConvert(bytes, s, d);
}

TEST(CudaConvert, Float32PatternsMatchCpu) {
  REQUIRE_GPU();
  // Random bit patterns (every exponent, NaN payloads, subnormals), exact
  // ties of both narrow formats, and boundaries; 24M values = 96 MiB, so
  // several pipeline chunks; an unaligned run as well.
  std::mt19937 rng(11);
  std::vector<uint32_t> bits(24'000'000);
  for (uint32_t &u : bits)
    u = rng();
  const uint32_t special[] = {
      0x00000000u, 0x80000000u, 0x7F800000u, 0xFF800000u, 0x7FC00000u,
      0xFFC00001u, 0x7F800001u, 0x477FEFFFu, 0x477FF000u, 0x477FE000u,
      0x38800000u, 0x387FFFFFu, 0x33000000u, 0x33000001u, 0x7F7F8000u,
      0x7F7FFFFFu, 0x00000001u, 0x3F801000u, 0x3F803000u, 0x3F808000u,
      0x3F818000u};
  for (size_t i = 0; i < 1'000'000; ++i) {
    // Ties: the bit below the kept mantissa set, nothing below it.
    uint32_t top = bits[i] & 0xFFFFE000u;
    bits[i] = i % 2 ? (top | 0x1000u) : ((bits[i] & 0xFFFF0000u) | 0x8000u);
  }
  std::copy(std::begin(special), std::end(special), bits.begin());
  std::vector<uint8_t> src(bits.size() * 4);
  std::memcpy(src.data(), bits.data(), src.size());
  expectSameConvert(src, DType::F32, DType::F16);
  expectSameConvert(src, DType::F32, DType::BF16);
  src.resize(4 * 100'001);
  expectSameConvert(src, DType::F32, DType::F16, 3);
}

//===----------------------------------------------------------------------===//
// float8
//===----------------------------------------------------------------------===//

std::vector<uint16_t> randomHalves(size_t n, uint32_t seed, float sigma) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> dist(0.0f, sigma);
  std::vector<uint16_t> w(n);
  for (uint16_t &h : w)
    h = floatToHalf(dist(rng));
  return w;
}

/// GPU == CPU for the whole e4m3 mode on w.
void expectSameE4M3(const std::vector<uint16_t> &w, const std::string &what) {
  const float cpuScale = fp8E4M3PerTensorScale(w.data(), w.size());
  std::vector<uint8_t> cpu(w.size());
  quantizeFp8E4M3(w.data(), w.size(), cpuScale, cpu.data());
  float gpuScale = -1.0f;
  std::vector<uint8_t> gpu(w.size(), 0xEE);
  ASSERT_EQ(
      message(fp8E4M3PerTensorCuda(w.data(), w.size(), &gpuScale, gpu.data())),
      "")
      << what;
  EXPECT_EQ(detail::floatBits(gpuScale), detail::floatBits(cpuScale)) << what;
  EXPECT_EQ(firstDiff(cpu, gpu), -1) << what;
}

TEST(CudaFp8, HandWorkedE4M3) {
  REQUIRE_GPU();
  // max|w| = 448 -> scale = f16(448 / 448) = 1; w / 1 to e4m3 (bias 7):
  // 448 = 1.75 * 2^8 -> 0x7E, -2 -> 0xC0, 2^-7 (below the smallest normal
  // 2^-6) is the subnormal 4 * 2^-9 -> 0x04, 0 -> 0x00.
  const uint16_t w[4] = {floatToHalf(448.0f), floatToHalf(-2.0f),
                         floatToHalf(0x1p-7f), 0};
  float scale = 0;
  uint8_t q[4] = {};
  ASSERT_EQ(message(fp8E4M3PerTensorCuda(w, 4, &scale, q)), "");
  EXPECT_EQ(scale, 1.0f);
  EXPECT_EQ(q[0], 0x7Eu);
  EXPECT_EQ(q[1], 0xC0u);
  EXPECT_EQ(q[2], 0x04u);
  EXPECT_EQ(q[3], 0x00u);
}

TEST(CudaFp8, E4M3MatchesCpu) {
  REQUIRE_GPU();
  expectSameE4M3(randomHalves(1000, 1, 0.02f), "random small");
  expectSameE4M3(randomHalves(20'000'000, 2, 0.5f), "random, several chunks");
  expectSameE4M3(std::vector<uint16_t>(1000, 0), "all zero (floor scale)");
  expectSameE4M3(randomHalves(1000, 3, 1e-7f), "tiny (floor scale)");
  // Every fp16 pattern but NaN, in order and reversed.
  std::vector<uint16_t> all;
  for (uint32_t i = 0; i < 65536; ++i)
    if ((i & 0x7FFFu) <= 0x7C00u)
      all.push_back(uint16_t(i));
  expectSameE4M3(all, "all non-NaN patterns");
  std::reverse(all.begin(), all.end());
  expectSameE4M3(all, "all non-NaN patterns reversed");
}

TEST(CudaFp8, E4M3NaNRulesMatchCpu) {
  REQUIRE_GPU();
  // A NaN restarts TVM's max chain: only what follows the last NaN counts;
  // a trailing NaN gives the floor scale. Across chunk boundaries too.
  std::vector<uint16_t> w = randomHalves(20'000'000, 4, 0.1f);
  w[5] = 0x7E00; // NaN early, a big value before it
  w[2] = floatToHalf(1000.0f);
  expectSameE4M3(w, "NaN early");
  w[12'000'000] = 0xFC01; // negative signaling NaN in a later chunk
  expectSameE4M3(w, "NaN in a later chunk");
  w[w.size() - 2] = 0x7C01; // second-to-last
  expectSameE4M3(w, "NaN second to last");
  w.back() = 0xFE00; // last
  expectSameE4M3(w, "NaN last");
  expectSameE4M3(std::vector<uint16_t>(100, 0x7E00), "all NaN");
  expectSameE4M3(std::vector<uint16_t>{0x7E00, 0x7C00, 0x3C00}, "NaN, inf");
}

TEST(CudaFp8, QuantizeWithGivenScalesMatchesCpu) {
  REQUIRE_GPU();
  std::vector<uint16_t> w(65536);
  for (size_t i = 0; i < w.size(); ++i)
    w[i] = uint16_t(i);
  const float inf = std::numeric_limits<float>::infinity();
  for (float scale :
       {1.0f, 0.001f, -3.0f, 0.0f, -0.0f, inf, -inf,
        std::numeric_limits<float>::quiet_NaN(), 0x1p-149f, 73.0f * 0x1p-24f}) {
    std::vector<uint8_t> cpu(w.size()), gpu(w.size(), 0xEE);
    quantizeFp8E4M3(w.data(), w.size(), scale, cpu.data());
    ASSERT_EQ(
        message(quantizeFp8E4M3Cuda(w.data(), w.size(), scale, gpu.data())),
        "");
    EXPECT_EQ(firstDiff(cpu, gpu), -1) << "scale " << scale;
  }
}

TEST(CudaFp8, E5M2EveryPatternMatchesCpu) {
  REQUIRE_GPU();
  std::vector<uint16_t> w(65536);
  for (size_t i = 0; i < w.size(); ++i)
    w[i] = uint16_t(i);
  std::vector<uint8_t> cpu(w.size()), gpu(w.size(), 0xEE);
  castHalfToFp8E5M2(w.data(), w.size(), cpu.data());
  ASSERT_EQ(message(castHalfToFp8E5M2Cuda(w.data(), w.size(), gpu.data())), "");
  EXPECT_EQ(firstDiff(cpu, gpu), -1);
  // Hand-worked: 1.0 -> 0x3C; fp16 0x3C80 (1.125) is a tie -> even 0x3C;
  // 0x3D80 (1.375) a tie -> 0x3E; 65504 saturates to 57344 (0x7B); inf 0x7C.
  const uint16_t h[5] = {0x3C00, 0x3C80, 0x3D80, 0x7BFF, 0x7C00};
  uint8_t q[5] = {};
  ASSERT_EQ(message(castHalfToFp8E5M2Cuda(h, 5, q)), "");
  EXPECT_EQ(q[0], 0x3Cu);
  EXPECT_EQ(q[1], 0x3Cu);
  EXPECT_EQ(q[2], 0x3Eu);
  EXPECT_EQ(q[3], 0x7Bu);
  EXPECT_EQ(q[4], 0x7Cu);
}

} // namespace
