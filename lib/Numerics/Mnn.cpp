//===- Mnn.cpp - MNN-style weight quantization ------------------*- C++ -*-===//
//
// MNNConvert's weight quantization (WeightQuantAndCoding.cpp and the code
// computation of IDSTEncoder.hpp) on float32 rows, with the codes packed as
// MNN's FillBuffer packs them (an MSB-first bit stream), one stream per row.
// The HQQ step lives in Hqq.cpp.
//
//===----------------------------------------------------------------------===//

#include "qopt/Numerics/Mnn.h"
#include "Simd.h"
#include "qopt/Numerics/QuantRules.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <vector>

namespace qopt::numerics {

/// MNN's threshold below which a block's scale is treated as zero
/// (IDSTEncoder: `alpha > 1e-6f`).
static constexpr float kMnnScaleEpsilon = 1e-6f;

/// codes[i] = rules::mnnCode(w[i], sub, scale, lo, hi, offset).
static void mnnCodes(const float *w, int64_t n, float sub, float scale,
                     float lo, float hi, int offset, uint8_t *codes) {
  if (simd::enabled())
    return simd::mnnCodes(w, n, sub, scale, lo, hi, offset, codes);
  for (int64_t i = 0; i < n; ++i)
    codes[i] = rules::mnnCode(w[i], sub, scale, lo, hi, offset);
}

std::string validateMnnQuantSpec(const MnnQuantSpec &spec) {
  if (spec.bits < 2 || spec.bits > 8)
    return "MNN weight bits must be in [2, 8], got " +
           std::to_string(spec.bits);
  return {};
}

int64_t mnnBlocksPerRow(const MnnQuantSpec &spec, int64_t k) {
  if (k <= 0)
    return 0;
  const int64_t block = spec.block;
  if (block >= 16 && block % 16 == 0 && k % block == 0)
    return k / block;
  return 1;
}

int64_t mnnBlockSize(const MnnQuantSpec &spec, int64_t k) {
  const int64_t blocks = mnnBlocksPerRow(spec, k);
  return blocks > 0 ? k / blocks : 0;
}

int64_t mnnPackedRowBytes(const MnnQuantSpec &spec, int64_t k) {
  if (k <= 0 || spec.bits < 2 || spec.bits > 8)
    return 0;
  if (k > (std::numeric_limits<int64_t>::max() - 7) / spec.bits)
    return 0;
  return (k * spec.bits + 7) / 8;
}

void mnnRtnQuantizeBlock(const float *w, int64_t n, int bits, bool asymmetric,
                         uint8_t *codes, float &scale, float &min) {
  if (bits < 2 || bits > 8 || n <= 0)
    return;
  const int offset = 1 << (bits - 1);
  if (!asymmetric) {
    // findAbsMax: NaNs after the first value are skipped by the comparison.
    float absMax = std::fabs(w[0]);
    for (int64_t i = 1; i < n; ++i) {
      float v = std::fabs(w[i]);
      if (v > absMax)
        absMax = v;
    }
    const auto threshold = float(offset - 1);
    scale = absMax / threshold;
    min = 0.0f;
    if (!(scale > kMnnScaleEpsilon)) {
      std::fill_n(codes, n, uint8_t(offset));
      return;
    }
    mnnCodes(w, n, 0.0f, scale, -float(offset), threshold, offset, codes);
    return;
  }
  // findMinMax, likewise.
  float lo = w[0];
  float hi = w[0];
  for (int64_t i = 1; i < n; ++i) {
    float v = w[i];
    if (v > hi)
      hi = v;
    if (v < lo)
      lo = v;
  }
  const auto qmax = float((1 << bits) - 1);
  scale = (hi - lo) / qmax;
  min = lo;
  if (!(scale > kMnnScaleEpsilon)) {
    std::fill_n(codes, n, uint8_t(0));
    return;
  }
  mnnCodes(w, n, lo, scale, 0.0f, qmax, 0, codes);
}

/// Packs n codes of `bits` bits into a zeroed MSB-first bit stream.
static void packCodes(const uint8_t *codes, int64_t n, int bits, uint8_t *out) {
  if (bits == 8) {
    std::memcpy(out, codes, size_t(n));
    return;
  }
  std::memset(out, 0, size_t((n * bits + 7) / 8));
  int64_t bit = 0;
  for (int64_t i = 0; i < n; ++i, bit += bits) {
    // The code's bits, left-aligned in a 16-bit window starting at the byte
    // that holds its first bit.
    const int64_t byte = bit >> 3;
    const int shift = 16 - bits - int(bit & 7);
    const auto window = uint32_t(codes[i]) << shift;
    out[byte] |= uint8_t(window >> 8);
    if (shift < 8)
      out[byte + 1] |= uint8_t(window & 0xFFu);
  }
}

void mnnPackCodes(const uint8_t *codes, int64_t n, int bits, uint8_t *out) {
  if (bits >= 2 && bits <= 8 && n > 0)
    packCodes(codes, n, bits, out);
}

/// Inverse of packCodes.
static void unpackCodes(const uint8_t *in, int64_t n, int bits,
                        uint8_t *codes) {
  if (bits == 8) {
    std::memcpy(codes, in, size_t(n));
    return;
  }
  const uint32_t mask = (1u << bits) - 1u;
  int64_t bit = 0;
  for (int64_t i = 0; i < n; ++i, bit += bits) {
    const int64_t byte = bit >> 3;
    const int shift = 16 - bits - int(bit & 7);
    uint32_t window = uint32_t(in[byte]) << 8;
    if (shift < 8)
      window |= in[byte + 1];
    codes[i] = uint8_t((window >> shift) & mask);
  }
}

void mnnQuantizeRows(const float *w, int64_t rows, int64_t k,
                     const MnnQuantSpec &spec, uint8_t *packed, float *scale,
                     float *zero) {
  if (!validateMnnQuantSpec(spec).empty() || rows <= 0 || k <= 0)
    return;
  if (spec.asymmetric && !zero)
    return;
  const int64_t rowBytes = mnnPackedRowBytes(spec, k);
  if (rowBytes <= 0)
    return;
  const int64_t blocks = mnnBlocksPerRow(spec, k);
  const int64_t blockSize = k / blocks;
  const bool hqq = spec.asymmetric && spec.hqq;
  std::vector<uint8_t> codes(static_cast<size_t>(k));
  for (int64_t row = 0; row < rows; ++row) {
    const float *wRow = w + size_t(row) * size_t(k);
    for (int64_t b = 0; b < blocks; ++b) {
      const size_t at = size_t(row) * size_t(blocks) + size_t(b);
      float blockMin = 0.0f;
      const float *wBlock = wRow + size_t(b) * size_t(blockSize);
      uint8_t *blockCodes = codes.data() + size_t(b) * size_t(blockSize);
      if (hqq)
        mnnHqqQuantizeBlock(wBlock, blockSize, spec.bits, blockCodes, scale[at],
                            blockMin);
      else
        mnnRtnQuantizeBlock(wBlock, blockSize, spec.bits, spec.asymmetric,
                            blockCodes, scale[at], blockMin);
      if (spec.asymmetric)
        zero[at] = blockMin;
    }
    packCodes(codes.data(), k, spec.bits,
              packed + size_t(row) * size_t(rowBytes));
  }
}

void mnnDequantizeRows(const uint8_t *packed, const float *scale,
                       const float *zero, int64_t rows, int64_t k,
                       const MnnQuantSpec &spec, float *out) {
  if (!validateMnnQuantSpec(spec).empty() || rows <= 0 || k <= 0)
    return;
  if (spec.asymmetric && !zero)
    return;
  const int64_t rowBytes = mnnPackedRowBytes(spec, k);
  if (rowBytes <= 0)
    return;
  const int64_t blocks = mnnBlocksPerRow(spec, k);
  const int64_t blockSize = k / blocks;
  const int offset = 1 << (spec.bits - 1);
  std::vector<uint8_t> codes(static_cast<size_t>(k));
  for (int64_t row = 0; row < rows; ++row) {
    unpackCodes(packed + size_t(row) * size_t(rowBytes), k, spec.bits,
                codes.data());
    float *outRow = out + size_t(row) * size_t(k);
    for (int64_t b = 0; b < blocks; ++b) {
      const size_t at = size_t(row) * size_t(blocks) + size_t(b);
      const float s = scale[at];
      const uint8_t *c = codes.data() + size_t(b) * size_t(blockSize);
      float *dst = outRow + size_t(b) * size_t(blockSize);
      if (spec.asymmetric) {
        const float m = zero[at];
        for (int64_t i = 0; i < blockSize; ++i) {
          // Two float32 roundings: the product, then the sum.
          const float p = float(c[i]) * s;
          dst[i] = p + m;
        }
      } else {
        for (int64_t i = 0; i < blockSize; ++i)
          dst[i] = float(int(c[i]) - offset) * s;
      }
    }
  }
}

} // namespace qopt::numerics
