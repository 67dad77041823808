//===- GroupQuant.cpp - MLC symmetric group quantization --------*- C++ -*-===//
//
// MLC's GroupQuantize._quantize as TVM compiles it, per group of a row:
//
//   max_abs = max(|w|)                          (model dtype)
//   scale   = max_abs / max_int                 (one model-dtype division)
//   q       = min(max(round(w / scale + max_int), 0), 2 * max_int)
//
// where each + and / rounds to the model dtype (the rules of
// qopt/Numerics/QuantRules.h). groupQuantizeRows runs the Highway kernel
// (SimdKernels.cpp) unless the SIMD kernels are off; the loops here are the
// portable path, which calls the scalar rules element by element.
//
//===----------------------------------------------------------------------===//

#include "qopt/Numerics/GroupQuant.h"
#include "Pack.h"
#include "Simd.h"
#include "qopt/Numerics/Convert.h"
#include "qopt/Numerics/QuantRules.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <vector>

namespace qopt::numerics {

using rules::Model;

template <typename T>
static inline T loadElem(const unsigned char *base, size_t i) {
  T v;
  std::memcpy(&v, base + i * sizeof(T), sizeof(T));
  return v;
}

/// The group's max |w| (rules::groupMaxAbs) on possibly unaligned storage.
template <FloatFormat F>
static float groupMaxAbs(const unsigned char *w, int64_t len,
                         int64_t groupSize) {
  using T = typename Model<F>::Storage;
  std::vector<T> copy(static_cast<size_t>(len));
  std::memcpy(copy.data(), w, size_t(len) * sizeof(T));
  return rules::groupMaxAbs<F>(copy.data(), len, groupSize);
}

/// Quantizes n values into q (one byte each), value i with the nonzero
/// scale scales[i] (rules::quantizeValue).
template <FloatFormat F, RoundingMode R>
static void quantizeSpan(const unsigned char *w, int64_t n, const float *scales,
                         float maxInt, float hi, uint8_t *q) {
  using M = Model<F>;
  using T = typename M::Storage;
  for (int64_t i = 0; i < n; ++i)
    q[i] = uint8_t(rules::quantizeValue<F, R>(
        M::toFloat(loadElem<T>(w, size_t(i))), scales[i], maxInt, hi));
}

/// scale == 0 (rules::quantizeValueZeroScale).
template <FloatFormat F>
static void quantizeGroupZeroScale(const unsigned char *w, int64_t len,
                                   uint8_t hi, uint8_t *q) {
  using M = Model<F>;
  using T = typename M::Storage;
  for (int64_t i = 0; i < len; ++i)
    q[i] = uint8_t(rules::quantizeValueZeroScale(
        M::toFloat(loadElem<T>(w, size_t(i))), float(hi)));
}

/// A row at a time: the group scales first, then one long loop over the row's
/// values (with each value's group scale spread into a row-sized buffer, so
/// the loop vectorizes without per-group overhead), then the packing.
/// The model-format bytes of a row stored as `stored`: the row itself, or
/// (stored wider than the model format) the row converted into `buf` by
/// convertElements, weights.cast's own conversion.
template <FloatFormat F>
static const unsigned char *modelRow(const unsigned char *src,
                                     FloatFormat stored, int64_t k,
                                     std::vector<unsigned char> &buf) {
  if (stored == F)
    return src;
  auto dtypeOf = [](FloatFormat f) {
    return f == FloatFormat::F16    ? DType::F16
           : f == FloatFormat::BF16 ? DType::BF16
                                    : DType::F32;
  };
  convertElements(src, dtypeOf(stored), buf.data(), dtypeOf(F), size_t(k));
  return buf.data();
}

static size_t storageSize(FloatFormat f) {
  return f == FloatFormat::F32 ? 4 : 2;
}

template <FloatFormat F, RoundingMode R, int Bits>
static int64_t quantizeRowsImpl(const unsigned char *src, FloatFormat stored,
                                int64_t rows, int64_t k,
                                const GroupQuantSpec &spec, uint32_t *qweight,
                                unsigned char *scale) {
  using M = Model<F>;
  using T = typename M::Storage;
  const int bits = Bits ? Bits : spec.bits;
  const int64_t groupSize = spec.groupSize;
  const int64_t numGroups = groupsPerRow(spec, k);
  const int64_t numWords = wordsPerRow(spec, k);
  const auto maxInt = float(maxIntValue(bits));
  const float hi = 2.0f * maxInt;
  const size_t paddedK = size_t(numGroups) * size_t(groupSize);
  // Quantized values of a row; the padding positions [k, paddedK) stay 0.
  std::vector<uint8_t> q(paddedK + 8, 0);
  std::vector<float> valueScales(paddedK, 1.0f);
  std::vector<float> groupScales(static_cast<size_t>(numGroups));
  std::vector<uint32_t> groupBits(static_cast<size_t>(numGroups));
  std::vector<T> scaleValues(static_cast<size_t>(numGroups));
  std::vector<unsigned char> converted(stored == F ? 0
                                                   : size_t(k) * sizeof(T));
  const size_t storedRowBytes = size_t(k) * storageSize(stored);
  int64_t firstNonFinite = rows;
  for (int64_t row = 0; row < rows; ++row) {
    const unsigned char *wRow =
        modelRow<F>(src + size_t(row) * storedRowBytes, stored, k, converted);
    unsigned char *scaleRow =
        scale + size_t(row) * size_t(numGroups) * sizeof(T);
    uint32_t *qRow = qweight + size_t(row) * size_t(numWords);
    // 1. Largest magnitude bits per group: an integer max that vectorizes.
    bool anyNaN = false, anyNonFinite = false;
    for (int64_t g = 0; g < numGroups; ++g) {
      const int64_t begin = g * groupSize;
      const int64_t len = std::min(groupSize, k - begin);
      const unsigned char *wg = wRow + size_t(begin) * sizeof(T);
      uint32_t m = 0;
      for (int64_t i = 0; i < len; ++i)
        m = std::max(m, M::absBits(loadElem<T>(wg, size_t(i))));
      groupBits[size_t(g)] = m;
      anyNaN |= m > M::kInfBits;
      anyNonFinite |= m >= M::kInfBits;
    }
    if (anyNonFinite && firstNonFinite == rows)
      firstNonFinite = row;
    // 2. All scales at once: one model-dtype division each, branch-free.
    for (int64_t g = 0; g < numGroups; ++g) {
      const T sv =
          rules::groupScale<F>(M::absBitsToFloat(groupBits[size_t(g)]), maxInt);
      scaleValues[size_t(g)] = sv;
    }
    // 3. Groups holding a NaN replay TVM's select chain (rare).
    if (anyNaN)
      for (int64_t g = 0; g < numGroups; ++g)
        if (groupBits[size_t(g)] > M::kInfBits) {
          const int64_t begin = g * groupSize;
          scaleValues[size_t(g)] = rules::groupScale<F>(
              groupMaxAbs<F>(wRow + size_t(begin) * sizeof(T),
                             std::min(groupSize, k - begin), groupSize),
              maxInt);
        }
    std::memcpy(scaleRow, scaleValues.data(), size_t(numGroups) * sizeof(T));
    bool anyZeroScale = false;
    for (int64_t g = 0; g < numGroups; ++g) {
      const int64_t begin = g * groupSize;
      const int64_t len = std::min(groupSize, k - begin);
      const float s = M::toFloat(scaleValues[size_t(g)]);
      groupScales[size_t(g)] = s;
      anyZeroScale |= s == 0.0f;
      // A zero scale's group is redone below; divide by 1 meanwhile.
      std::fill_n(valueScales.begin() + begin, len, s != 0.0f ? s : 1.0f);
    }
    quantizeSpan<F, R>(wRow, k, valueScales.data(), maxInt, hi, q.data());
    if (anyZeroScale) {
      for (int64_t g = 0; g < numGroups; ++g) {
        if (groupScales[size_t(g)] != 0.0f)
          continue;
        const int64_t begin = g * groupSize;
        quantizeGroupZeroScale<F>(wRow + size_t(begin) * sizeof(T),
                                  std::min(groupSize, k - begin), uint8_t(hi),
                                  q.data() + begin);
      }
    }
    packCodeWords(q.data(), numWords, bits, qRow);
  }
  return firstNonFinite;
}

template <FloatFormat F, RoundingMode R>
static int64_t dispatchBits(const unsigned char *w, FloatFormat stored,
                            int64_t rows, int64_t k, const GroupQuantSpec &spec,
                            uint32_t *qweight, unsigned char *scale) {
  switch (spec.bits) {
  case 3:
    return quantizeRowsImpl<F, R, 3>(w, stored, rows, k, spec, qweight, scale);
  case 4:
    return quantizeRowsImpl<F, R, 4>(w, stored, rows, k, spec, qweight, scale);
  case 8:
    return quantizeRowsImpl<F, R, 8>(w, stored, rows, k, spec, qweight, scale);
  default:
    return quantizeRowsImpl<F, R, 0>(w, stored, rows, k, spec, qweight, scale);
  }
}

template <FloatFormat F>
static int64_t dispatchRounding(const unsigned char *w, FloatFormat stored,
                                int64_t rows, int64_t k,
                                const GroupQuantSpec &spec, uint32_t *qweight,
                                unsigned char *scale) {
  if (spec.rounding == RoundingMode::NearestEven)
    return dispatchBits<F, RoundingMode::NearestEven>(w, stored, rows, k, spec,
                                                      qweight, scale);
  return dispatchBits<F, RoundingMode::NearestAway>(w, stored, rows, k, spec,
                                                    qweight, scale);
}

std::string validateGroupQuantSpec(const GroupQuantSpec &spec) {
  if (spec.bits < 2 || spec.bits > 8)
    return "quantized bits must be in [2, 8], got " + std::to_string(spec.bits);
  if (spec.groupSize <= 0)
    return "group size must be positive, got " + std::to_string(spec.groupSize);
  const int64_t epw = elemsPerWord(spec.bits);
  if (spec.groupSize % epw != 0)
    return "group size " + std::to_string(spec.groupSize) +
           " is not a multiple of " + std::to_string(epw) +
           " values per uint32 word (int" + std::to_string(spec.bits) + ")";
  switch (spec.modelFormat) {
  case FloatFormat::F16:
  case FloatFormat::BF16:
  case FloatFormat::F32:
    break;
  default:
    return "unknown model float format";
  }
  switch (spec.rounding) {
  case RoundingMode::NearestEven:
  case RoundingMode::NearestAway:
    break;
  default:
    return "unknown rounding mode";
  }
  return {};
}

int64_t groupsPerRow(const GroupQuantSpec &spec, int64_t k) {
  if (k <= 0 || spec.groupSize <= 0)
    return 0;
  return k / spec.groupSize + (k % spec.groupSize != 0 ? 1 : 0);
}

int64_t wordsPerRow(const GroupQuantSpec &spec, int64_t k) {
  if (spec.bits < 1 || spec.bits > 32)
    return 0;
  return (spec.groupSize / elemsPerWord(spec.bits)) * groupsPerRow(spec, k);
}

bool groupQuantizeAcceptsStorage(FloatFormat stored, FloatFormat model) {
  return stored == model ||
         (model == FloatFormat::F16 &&
          (stored == FloatFormat::BF16 || stored == FloatFormat::F32));
}

int64_t groupQuantizeRowsFrom(const void *w, FloatFormat stored, int64_t rows,
                              int64_t k, const GroupQuantSpec &spec,
                              uint32_t *qweight, void *scale) {
  if (!validateGroupQuantSpec(spec).empty() ||
      !groupQuantizeAcceptsStorage(stored, spec.modelFormat))
    return -1;
  if (rows <= 0 || k <= 0)
    return std::max<int64_t>(rows, 0);
  if (simd::enabled())
    return simd::groupQuantizeRows(w, stored, rows, k, spec, qweight, scale);
  auto *in = static_cast<const unsigned char *>(w);
  auto *out = static_cast<unsigned char *>(scale);
  switch (spec.modelFormat) {
  case FloatFormat::F16:
    return dispatchRounding<FloatFormat::F16>(in, stored, rows, k, spec,
                                              qweight, out);
  case FloatFormat::BF16:
    return dispatchRounding<FloatFormat::BF16>(in, stored, rows, k, spec,
                                               qweight, out);
  case FloatFormat::F32:
    return dispatchRounding<FloatFormat::F32>(in, stored, rows, k, spec,
                                              qweight, out);
  }
  return -1;
}

void groupQuantizeRows(const void *w, int64_t rows, int64_t k,
                       const GroupQuantSpec &spec, uint32_t *qweight,
                       void *scale) {
  groupQuantizeRowsFrom(w, spec.modelFormat, rows, k, spec, qweight, scale);
}

template <FloatFormat F, int Bits>
static void dequantizeRowsImpl(const uint32_t *qweight,
                               const unsigned char *scale, int64_t rows,
                               int64_t k, const GroupQuantSpec &spec,
                               float *out) {
  using M = Model<F>;
  using T = typename M::Storage;
  const int bits = Bits ? Bits : spec.bits;
  const int64_t epw = elemsPerWord(bits);
  const int64_t groupSize = spec.groupSize;
  const int64_t numGroups = groupsPerRow(spec, k);
  const int64_t wordsPerGroup = groupSize / epw;
  const int64_t numWords = numGroups * wordsPerGroup;
  const auto maxInt = int32_t(maxIntValue(bits));
  const uint32_t mask = (1u << bits) - 1u;
  for (int64_t row = 0; row < rows; ++row) {
    const uint32_t *qRow = qweight + size_t(row) * size_t(numWords);
    float *outRow = out + size_t(row) * size_t(k);
    for (int64_t g = 0; g < numGroups; ++g) {
      const float s = M::toFloat(
          loadElem<T>(scale, size_t(row) * size_t(numGroups) + size_t(g)));
      const int64_t begin = g * groupSize;
      const int64_t len = std::min(groupSize, k - begin);
      const uint32_t *words = qRow + size_t(g) * size_t(wordsPerGroup);
      float *dst = outRow + begin;
      // Whole words, then the values of a partial last word.
      const int64_t fullWords = len / epw;
      for (int64_t j = 0; j < fullWords; ++j) {
        const uint32_t word = words[j];
        for (int64_t r = 0; r < epw; ++r)
          dst[j * epw + r] =
              float(int32_t((word >> (r * bits)) & mask) - maxInt) * s;
      }
      for (int64_t i = fullWords * epw; i < len; ++i)
        dst[i] = float(int32_t((words[i / epw] >> ((i % epw) * bits)) & mask) -
                       maxInt) *
                 s;
    }
  }
}

template <FloatFormat F>
static void dequantizeDispatchBits(const uint32_t *qweight,
                                   const unsigned char *scale, int64_t rows,
                                   int64_t k, const GroupQuantSpec &spec,
                                   float *out) {
  switch (spec.bits) {
  case 3:
    return dequantizeRowsImpl<F, 3>(qweight, scale, rows, k, spec, out);
  case 4:
    return dequantizeRowsImpl<F, 4>(qweight, scale, rows, k, spec, out);
  default:
    return dequantizeRowsImpl<F, 0>(qweight, scale, rows, k, spec, out);
  }
}

void groupDequantizeRows(const uint32_t *qweight, const void *scale,
                         int64_t rows, int64_t k, const GroupQuantSpec &spec,
                         float *out) {
  if (!validateGroupQuantSpec(spec).empty() || rows <= 0 || k <= 0)
    return;
  auto *in = static_cast<const unsigned char *>(scale);
  switch (spec.modelFormat) {
  case FloatFormat::F16:
    return dequantizeDispatchBits<FloatFormat::F16>(qweight, in, rows, k, spec,
                                                    out);
  case FloatFormat::BF16:
    return dequantizeDispatchBits<FloatFormat::BF16>(qweight, in, rows, k, spec,
                                                     out);
  case FloatFormat::F32:
    return dequantizeDispatchBits<FloatFormat::F32>(qweight, in, rows, k, spec,
                                                    out);
  }
}

} // namespace qopt::numerics
