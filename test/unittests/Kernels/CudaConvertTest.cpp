//===- CudaConvertTest.cpp - CUDA casts and float8 vs the CPU ---*- C++ -*-===//
//
// The element conversions and the float8 per-tensor quantization of the
// CUDA kernels must give the bytes of qopt::numerics: hand-worked values,
// then every bit pattern of the narrow types and edge cases (NaN rules,
// given scales). Tests that need a device skip, with the reason, when
// cudaDeviceAvailable() is false.
//
//===----------------------------------------------------------------------===//

#include "qopt/Kernels/Cuda.h"
#include "qopt/Numerics/Convert.h"
#include "qopt/Numerics/Float.h"
#include "qopt/Numerics/Fp8.h"

#include "CudaTestUtil.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>
#include <limits>
#include <random>
#include <string>
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
