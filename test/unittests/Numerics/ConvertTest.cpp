//===- ConvertTest.cpp - Bulk conversions, TVM bf16 encoding, transpose ---===//
//
// Expected values are worked out by hand in the comments, or come from simple
// references written here.
//
//===----------------------------------------------------------------------===//

#include "qopt/Numerics/Convert.h"
#include "qopt/Numerics/Float.h"
#include "qopt/Numerics/GroupQuant.h"
#include "SimdTargets.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <limits>
#include <vector>

using namespace qopt::numerics;

namespace {

template <typename T>
std::vector<unsigned char> bytesOf(const std::vector<T> &values) {
  std::vector<unsigned char> out(values.size() * sizeof(T));
  std::memcpy(out.data(), values.data(), out.size());
  return out;
}

template <typename T>
std::vector<T> valuesOf(const unsigned char *bytes, size_t n) {
  std::vector<T> out(n);
  std::memcpy(out.data(), bytes, n * sizeof(T));
  return out;
}

/// Converts through an output buffer filled with 0xEE, so untouched bytes
/// show up.
template <typename D, typename S>
std::vector<D> convert(const std::vector<S> &src, DType from, DType to) {
  std::vector<unsigned char> dst(src.size() * sizeof(D), 0xEE);
  EXPECT_TRUE(convertElements(src.data(), from, dst.data(), to, src.size()));
  return valuesOf<D>(dst.data(), src.size());
}

float fromBits(uint32_t u) {
  float f;
  std::memcpy(&f, &u, sizeof(f));
  return f;
}

} // namespace

TEST(ConvertTest, F32ToF16) {
  std::vector<float> src = {1.0f / 3.0f, 65520.0f,     -0.0f,
                            0x1p-25f,    3 * 0x1p-25f, 1.0f + 0x1p-11f};
  // 1/3 -> 0x3555; 65520 ties to inf; -0 keeps its sign; 2^-25 ties to 0;
  // 1.5 subnormal steps ties to 2; 1 + half an ulp ties to 0x3C00.
  std::vector<uint16_t> want = {0x3555, 0x7C00, 0x8000, 0x0000, 0x0002, 0x3C00};
  EXPECT_EQ(convert<uint16_t>(src, DType::F32, DType::F16), want);
}

TEST(ConvertTest, F16ToF32AndF64AreExact) {
  std::vector<uint16_t> src = {0x3555, 0x0001, 0xFC00, 0x7BFF};
  std::vector<float> wantF = {0.333251953125f, 0x1p-24f, -INFINITY, 65504.0f};
  EXPECT_EQ(convert<float>(src, DType::F16, DType::F32), wantF);
  std::vector<double> wantD = {0.333251953125, 0x1p-24, -INFINITY, 65504.0};
  EXPECT_EQ(convert<double>(src, DType::F16, DType::F64), wantD);
}

TEST(ConvertTest, BF16ToF16RoundsOnce) {
  // bf16 0x3F81 = 1 + 2^-7 fits half exactly: 0x3C00 + (2^-7 / 2^-10) =
  // 0x3C08. bf16 0x4780 = 65536 -> inf. bf16 0x477F = 65280 = 0x7BF8.
  // bf16 0x3EAB = 0.333984375 = 1.0101011b * 2^-2 -> 0x3558 exactly.
  std::vector<uint16_t> src = {0x3F81, 0x4780, 0x477F, 0x3EAB, 0xFFC0};
  std::vector<uint16_t> got = convert<uint16_t>(src, DType::BF16, DType::F16);
  EXPECT_EQ(got[0], 0x3C08);
  EXPECT_EQ(got[1], 0x7C00);
  EXPECT_EQ(got[2], 0x7BF8);
  EXPECT_EQ(got[3], 0x3558);
  EXPECT_EQ(got[4], 0xFE00); // NaN stays a NaN with its sign.
}

TEST(ConvertTest, F16ToBF16) {
  // f16 0x3555 = 1365/4096 = 1.0101010101b * 2^-2 = f32 0x3EAAA000; the
  // dropped 0xA000 > 0x8000 rounds up -> 0x3EAB. f16 0x3C01 = 1 + 2^-10 =
  // f32 0x3F802000 -> 0x3F80 (below the tie).
  std::vector<uint16_t> src = {0x3555, 0x3C01, 0x7C00};
  std::vector<uint16_t> want = {0x3EAB, 0x3F80, 0x7F80};
  EXPECT_EQ(convert<uint16_t>(src, DType::F16, DType::BF16), want);
}

TEST(ConvertTest, F64NarrowingRoundsOnce) {
  // 1 + 2^-11 + 2^-40 is just above the half tie between 0x3C00 and 0x3C01,
  // so the correct result is 0x3C01. Rounding to float first would lose the
  // 2^-40 (float ulp 2^-23), land on the tie and give 0x3C00.
  std::vector<double> src = {1.0 + 0x1p-11 + 0x1p-40,
                             1.0 + 0x1p-11,
                             -(1.0 + 0x1p-11 + 0x1p-40),
                             65519.999999,
                             65520.0,
                             1e300,
                             0x1p-25 + 0x1p-60,
                             1e-300};
  std::vector<uint16_t> want = {0x3C01, 0x3C00, 0xBC01, 0x7BFF,
                                0x7C00, 0x7C00, 0x0001, 0x0000};
  EXPECT_EQ(convert<uint16_t>(src, DType::F64, DType::F16), want);

  // Same for bfloat16: 1 + 2^-8 + 2^-40 -> 0x3F81 (via float: tie, 0x3F80).
  std::vector<double> srcB = {1.0 + 0x1p-8 + 0x1p-40, 1.0 + 0x1p-8, 1e300,
                              -1e300};
  std::vector<uint16_t> wantB = {0x3F81, 0x3F80, 0x7F80, 0xFF80};
  EXPECT_EQ(convert<uint16_t>(srcB, DType::F64, DType::BF16), wantB);

  // F64 -> F32: 1 + 2^-24 ties to 1; 1 + 2^-24 + 2^-50 rounds up.
  std::vector<double> srcF = {1.0 + 0x1p-24, 1.0 + 0x1p-24 + 0x1p-50};
  std::vector<float> wantF = {1.0f, 1.0f + 0x1p-23f};
  EXPECT_EQ(convert<float>(srcF, DType::F64, DType::F32), wantF);

  std::vector<uint16_t> nan = convert<uint16_t>(
      std::vector<double>{std::nan("")}, DType::F64, DType::F16);
  EXPECT_EQ(nan[0] & 0x7E00, 0x7E00);
}

TEST(ConvertTest, Fp8Widening) {
  // e4m3fn 0x7E = 448, 0x01 = 2^-9, 0xB8 = -1; e5m2 0x7B = 57344, 0x7C = inf.
  std::vector<uint8_t> e4m3 = {0x7E, 0x01, 0xB8};
  std::vector<float> wantE4 = {448.0f, 0x1p-9f, -1.0f};
  EXPECT_EQ(convert<float>(e4m3, DType::F8E4M3FN, DType::F32), wantE4);
  // In half: 448 = 1.75 * 2^8 -> 0x5F00; 2^-9 -> 0x1800; -1 -> 0xBC00.
  std::vector<uint16_t> wantE4H = {0x5F00, 0x1800, 0xBC00};
  EXPECT_EQ(convert<uint16_t>(e4m3, DType::F8E4M3FN, DType::F16), wantE4H);
  std::vector<uint8_t> e5m2 = {0x7B, 0x7C, 0x01};
  // e5m2 is the top byte of a half.
  std::vector<uint16_t> wantE5H = {0x7B00, 0x7C00, 0x0100};
  EXPECT_EQ(convert<uint16_t>(e5m2, DType::F8E5M2, DType::F16), wantE5H);
}

TEST(ConvertTest, UnalignedBuffers) {
  // Source and destination start at odd addresses.
  std::vector<unsigned char> src(1 + 3 * sizeof(float));
  float values[3] = {1.0f, -2.0f, 0.5f};
  std::memcpy(src.data() + 1, values, sizeof(values));
  std::vector<unsigned char> dst(1 + 3 * sizeof(uint16_t), 0);
  ASSERT_TRUE(convertElements(src.data() + 1, DType::F32, dst.data() + 1,
                              DType::F16, 3));
  std::vector<uint16_t> got = valuesOf<uint16_t>(dst.data() + 1, 3);
  EXPECT_EQ(got, (std::vector<uint16_t>{0x3C00, 0xC000, 0x3800}));
  EXPECT_EQ(dst[0], 0);
}

TEST(ConvertTest, IdenticalTypesAreCopied) {
  std::vector<int32_t> src = {1, -2, 0x7FFFFFFF};
  EXPECT_EQ(convert<int32_t>(src, DType::I32, DType::I32), src);
  // A NaN payload survives a same-type copy bit for bit.
  std::vector<uint16_t> nan = {0x7D01};
  EXPECT_EQ(convert<uint16_t>(nan, DType::F16, DType::F16), nan);
  std::vector<uint8_t> b = {1, 0, 1};
  EXPECT_EQ(convert<uint8_t>(b, DType::Bool, DType::Bool), b);
}

TEST(ConvertTest, UnsupportedPairsWriteNothing) {
  std::vector<unsigned char> src(16, 0x11), dst(16, 0xEE);
  EXPECT_FALSE(
      convertElements(src.data(), DType::F16, dst.data(), DType::I32, 2));
  EXPECT_FALSE(
      convertElements(src.data(), DType::U8, dst.data(), DType::F32, 2));
  EXPECT_FALSE(
      convertElements(src.data(), DType::F32, dst.data(), DType::F8E4M3FN, 2));
  EXPECT_FALSE(
      convertElements(src.data(), DType::I64, dst.data(), DType::U64, 2));
  EXPECT_EQ(dst, std::vector<unsigned char>(16, 0xEE));
  EXPECT_FALSE(isConversionSupported(DType::F32, DType::F8E5M2));
  EXPECT_TRUE(isConversionSupported(DType::F8E5M2, DType::F32));
  EXPECT_TRUE(isConversionSupported(DType::U32, DType::U32));
  EXPECT_TRUE(isConversionSupported(DType::BF16, DType::F64));
}

TEST(ConvertTest, ByteCountOverflowIsRejected) {
  unsigned char src[8] = {}, dst[8] = {};
  size_t huge = std::numeric_limits<size_t>::max() / 2;
  EXPECT_FALSE(convertElements(src, DType::F32, dst, DType::F16, huge));
  EXPECT_FALSE(convertElements(src, DType::U64, dst, DType::U64, huge));
  EXPECT_TRUE(convertElements(src, DType::F32, dst, DType::F16, 0));
}

TEST(ConvertTest, EncodeF32AsBF16Tvm) {
  std::vector<float> src = {1.0f,
                            1.0f / 3.0f,          // 0x3EAAAAAB
                            fromBits(0x3F808000), // tie -> even
                            fromBits(0x3F818000), // tie -> even
                            fromBits(0x7F7F8000), // >= limit: truncate
                            std::numeric_limits<float>::max(),
                            -INFINITY,
                            fromBits(0x7F800001)}; // NaN truncates
  std::vector<uint16_t> dst(src.size(), 0xEEEE);
  encodeF32AsBF16Tvm(src.data(), dst.data(), src.size());
  std::vector<uint16_t> want = {0x3F80, 0x3EAB, 0x3F80, 0x3F82,
                                0x7F7F, 0x7F7F, 0xFF80, 0x7F80};
  EXPECT_EQ(dst, want);
  // The bytes are little-endian uint16 (low byte first): 0x3EAB -> AB 3E.
  unsigned char bytes[2];
  std::memcpy(bytes, &dst[1], 2);
  EXPECT_EQ(bytes[0], 0xAB);
  EXPECT_EQ(bytes[1], 0x3E);
}

TEST(ConvertTest, Transpose2DSmall) {
  // [[1, 2, 3], [4, 5, 6]] -> [[1, 4], [2, 5], [3, 6]].
  std::vector<int32_t> src = {1, 2, 3, 4, 5, 6};
  std::vector<int32_t> dst(6, 0);
  transpose2D(src.data(), 2, 3, sizeof(int32_t), dst.data());
  EXPECT_EQ(dst, (std::vector<int32_t>{1, 4, 2, 5, 3, 6}));
}

TEST(ConvertTest, Transpose2DMatchesNaiveLoop) {
  // Sizes straddling the tile size, all element widths incl. an odd one.
  for (size_t elem : {1, 2, 3, 4, 8, 12}) {
    for (auto [rows, cols] :
         {std::pair<int64_t, int64_t>{33, 65}, {1, 70}, {70, 1}, {64, 64}}) {
      size_t n = size_t(rows * cols);
      std::vector<unsigned char> src(n * elem);
      for (size_t i = 0; i < src.size(); ++i)
        src[i] = static_cast<unsigned char>(i * 131 + 7);
      std::vector<unsigned char> want(n * elem), got(n * elem, 0);
      for (int64_t r = 0; r < rows; ++r)
        for (int64_t c = 0; c < cols; ++c)
          for (size_t b = 0; b < elem; ++b)
            want[(size_t(c * rows + r)) * elem + b] =
                src[(size_t(r * cols + c)) * elem + b];
      transpose2D(src.data(), rows, cols, elem, got.data());
      EXPECT_EQ(got, want) << elem << " " << rows << "x" << cols;
    }
  }
}

TEST(ConvertTest, Transpose2DEmptyWritesNothing) {
  int32_t dst[2] = {7, 7};
  transpose2D(nullptr, 0, 5, 4, dst);
  transpose2D(nullptr, -1, 5, 4, dst);
  EXPECT_EQ(dst[0], 7);
  EXPECT_EQ(dst[1], 7);
}

TEST(ConvertTest, RoundTripsThroughF32) {
  // Every finite half and every bf16 value survives widening to float and
  // narrowing back.
  std::vector<uint16_t> all(0x10000);
  for (uint32_t i = 0; i < 0x10000; ++i)
    all[i] = uint16_t(i);
  for (DType t : {DType::F16, DType::BF16}) {
    std::vector<float> wide = convert<float>(all, t, DType::F32);
    std::vector<uint16_t> back = convert<uint16_t>(wide, DType::F32, t);
    uint32_t nanThreshold = t == DType::F16 ? 0x7C00 : 0x7F80;
    for (uint32_t i = 0; i < 0x10000; ++i) {
      if ((i & 0x7FFF) > nanThreshold)
        continue;
      ASSERT_EQ(back[i], i) << tvmName(t) << " " << std::hex << i;
    }
  }
}

TEST(ConvertTest, SimdCastsMatchTheScalarDefinition) {
  // Every bfloat16 pattern, and float32 patterns spread over the whole
  // range (with NaN payloads, infinities, subnormals, half-ulp ties), cast
  // to float16 with the SIMD kernels on and off: both equal floatToHalf of
  // the value, element by element (odd lengths: masked tails).
  std::vector<uint16_t> bf(65536 + 7);
  for (size_t i = 0; i < bf.size(); ++i)
    bf[i] = uint16_t(i * 40503u);
  std::vector<float> f32;
  for (uint64_t u = 0; u < (1ull << 32); u += 65521)
    f32.push_back(qopt::numerics::detail::bitsToFloat(uint32_t(u)));
  for (uint32_t u : {0x477FEFFFu, 0x477FF000u, 0x38800000u, 0x387FFFFFu,
                     0x33000000u, 0x33000001u, 0x7F800001u, 0xFFC00000u})
    f32.push_back(qopt::numerics::detail::bitsToFloat(u));
  // Exact ties between two halves (normal and subnormal results, both
  // parities of the kept bit, both signs) and their neighbours.
  for (uint32_t e : {103u, 110u, 112u, 113u, 127u, 140u, 142u})
    for (uint32_t m = 0; m < 1024; m += 7)
      for (uint32_t low : {0x1000u, 0x0FFFu, 0x1001u})
        for (uint32_t sign : {0u, 0x80000000u})
          f32.push_back(qopt::numerics::detail::bitsToFloat(
              sign | e << 23 | m << 13 | low));
  qopt::numerics::testing::forEachSimdTarget([&] {
    std::vector<uint16_t> out(bf.size());
    ASSERT_TRUE(convertElements(bf.data(), DType::BF16, out.data(), DType::F16,
                                bf.size()));
    for (size_t i = 0; i < bf.size(); ++i)
      ASSERT_EQ(out[i], floatToHalf(bfloat16ToFloat(bf[i]))) << bf[i];
    out.assign(f32.size(), 0);
    ASSERT_TRUE(convertElements(f32.data(), DType::F32, out.data(), DType::F16,
                                f32.size()));
    for (size_t i = 0; i < f32.size(); ++i)
      ASSERT_EQ(out[i], floatToHalf(f32[i]))
          << qopt::numerics::detail::floatBits(f32[i]);
  });
}
