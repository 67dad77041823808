//===- GroupQuantTestUtil.h - Group quantization test helpers --*- C++ -*-===//
//
// Part of quant-opt.
//
// Shared by the hand-worked group quantization tests (GroupQuantTest.cpp)
// and the property tests (GroupQuantReferenceTest.cpp): runners of
// groupQuantizeRows and a deliberately simple reference written in double
// precision, with one rounding per operation.
//
//===----------------------------------------------------------------------===//

#ifndef QOPT_TEST_UNITTESTS_NUMERICS_GROUPQUANTTESTUTIL_H
#define QOPT_TEST_UNITTESTS_NUMERICS_GROUPQUANTTESTUTIL_H

#include "qopt/Numerics/GroupQuant.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <random>
#include <vector>

namespace qopt::numerics::test {

inline const GroupQuantSpec kQ4F16{4, 32, FloatFormat::F16};
inline const GroupQuantSpec kQ3F16{3, 40, FloatFormat::F16};

struct Quantized {
  std::vector<uint32_t> words;
  std::vector<uint16_t> scales; // F16 / BF16 bits.
  std::vector<float> scalesF32; // F32 model.
};

/// Runs groupQuantizeRows on 16-bit model values (F16 or BF16 bits).
inline Quantized quantize16(const std::vector<uint16_t> &w, int64_t rows, int64_t k,
                     const GroupQuantSpec &spec) {
  Quantized out;
  out.words.assign(size_t(rows * wordsPerRow(spec, k)), 0xDEADBEEF);
  out.scales.assign(size_t(rows * groupsPerRow(spec, k)), 0xEEEE);
  groupQuantizeRows(w.data(), rows, k, spec, out.words.data(),
                    out.scales.data());
  return out;
}

inline Quantized quantize32(const std::vector<float> &w, int64_t rows, int64_t k,
                     const GroupQuantSpec &spec) {
  Quantized out;
  out.words.assign(size_t(rows * wordsPerRow(spec, k)), 0xDEADBEEF);
  out.scalesF32.assign(size_t(rows * groupsPerRow(spec, k)), -1.0f);
  groupQuantizeRows(w.data(), rows, k, spec, out.words.data(),
                    out.scalesF32.data());
  return out;
}

//===----------------------------------------------------------------------===//
// The reference: plain loops, double arithmetic, one rounding per operation.
//===----------------------------------------------------------------------===//

/// Rounds x to `mantissaBits` bits after the leading one, smallest normal
/// exponent minExp, ties to even; beyond maxFinite -> inf. NaN/inf pass.
inline double refRound(double x, int mantissaBits, int minExp, double maxFinite) {
  if (x == 0.0 || !std::isfinite(x))
    return x;
  int e = std::max(std::ilogb(x), minExp);
  double ulp = std::ldexp(1.0, e - mantissaBits);
  double r = std::nearbyint(x / ulp) * ulp;
  return std::fabs(r) > maxFinite ? std::copysign(INFINITY, r) : r;
}

inline double refRoundTo(double x, FloatFormat f) {
  switch (f) {
  case FloatFormat::F16:
    return refRound(x, 10, -14, 65504.0);
  case FloatFormat::BF16:
    return refRound(x, 7, -126, 0x1.FEp127);
  case FloatFormat::F32:
    return refRound(x, 23, -126, 0x1.FFFFFEp127);
  }
  return x;
}

/// Decodes binary16 bits from the field formula.
inline double refDecodeHalf(uint16_t h) {
  int e = (h >> 10) & 0x1F, m = h & 0x3FF;
  double mag = e == 0    ? std::ldexp(double(m), -24)
               : e == 31 ? (m ? NAN : INFINITY)
                         : std::ldexp(1.0 + m / 1024.0, e - 15);
  return (h & 0x8000) ? -mag : mag;
}

inline double refDecodeBFloat16(uint16_t b) {
  uint32_t u = uint32_t(b) << 16;
  float f;
  std::memcpy(&f, &u, sizeof(f));
  return f;
}

/// Reference group quantizer over rows of already-decoded values.
inline void refQuantize(const std::vector<double> &w, int64_t rows, int64_t k,
                 int bits, int64_t groupSize, FloatFormat f, RoundingMode mode,
                 std::vector<uint32_t> &words, std::vector<double> &scales) {
  const int perWord = 32 / bits;
  const double maxInt = (1 << (bits - 1)) - 1;
  const int64_t groups = (k + groupSize - 1) / groupSize;
  const int64_t rowWords = groups * groupSize / perWord;
  words.assign(size_t(rows * rowWords), 0);
  scales.assign(size_t(rows * groups), 0);
  for (int64_t r = 0; r < rows; ++r) {
    for (int64_t g = 0; g < groups; ++g) {
      double biggest = 0;
      for (int64_t i = g * groupSize; i < std::min(k, (g + 1) * groupSize); ++i)
        biggest = std::max(biggest, std::fabs(w[size_t(r * k + i)]));
      double scale = refRoundTo(biggest / maxInt, f);
      scales[size_t(r * groups + g)] = scale;
      for (int64_t i = g * groupSize; i < std::min(k, (g + 1) * groupSize);
           ++i) {
        double x = w[size_t(r * k + i)];
        double t;
        if (scale != 0)
          t = refRoundTo(x / scale, f);
        else // IEEE x / 0.
          t = x > 0 ? INFINITY : (x < 0 ? -INFINITY : NAN);
        t = refRoundTo(t + maxInt, f);
        double v = mode == RoundingMode::NearestEven ? std::nearbyint(t)
                                                     : std::round(t);
        v = std::fmin(std::fmax(v, 0.0), 2 * maxInt); // fmax drops a NaN.
        words[size_t(r * rowWords + i / perWord)] |= uint32_t(v)
                                                     << ((i % perWord) * bits);
      }
    }
  }
}

/// fp16 bits of N(0, sigma) samples with occasional outliers, zeros, and
/// whole groups of tiny (subnormal) values.
inline std::vector<uint16_t> randomHalfWeights(size_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<double> normal(0.0, 0.02);
  std::vector<uint16_t> out(n);
  for (size_t i = 0; i < n; ++i) {
    double v = normal(rng);
    switch (rng() % 16) {
    case 0:
      v *= 50; // Outlier.
      break;
    case 1:
      v = 0;
      break;
    default:
      break;
    }
    if ((i / 64) % 9 == 4) // A stretch of subnormals.
      v = std::ldexp(double(int(rng() % 64) - 32), -24);
    // Exact RNE to half via the reference, then encode the fields.
    double r = refRoundTo(v, FloatFormat::F16);
    uint16_t sign = std::signbit(r) ? 0x8000 : 0;
    double a = std::fabs(r);
    uint16_t bitsOut;
    if (a < 0x1p-14) {
      bitsOut = uint16_t(a / 0x1p-24);
    } else {
      int e = std::ilogb(a);
      bitsOut = uint16_t(((e + 15) << 10) |
                         int((a / std::ldexp(1.0, e) - 1.0) * 1024.0));
    }
    out[i] = sign | bitsOut;
  }
  return out;
}

} // namespace qopt::numerics::test

#endif // QOPT_TEST_UNITTESTS_NUMERICS_GROUPQUANTTESTUTIL_H
