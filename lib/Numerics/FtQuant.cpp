//===- FtQuant.cpp - MLC q4f16_ft (FasterTransformer int4) ------*- C++ -*-===//
//
// See qopt/Numerics/FtQuant.h. Written from mlc_llm's ft_quantization.py and
// FasterTransformer's cutlass_preprocessors (as TVM's
// cutlass.ft_preprocess_weight calls them); plain index maps, the weight is
// small next to the rest of a convert.
//
//===----------------------------------------------------------------------===//

#include "qopt/Numerics/FtQuant.h"
#include "qopt/Numerics/QuantRules.h"

#include <vector>

namespace qopt::numerics {

static bool ftInterleaves(int sm) { return sm >= 75 && sm < 90; }

std::string validateFtInt4(int64_t n, int64_t k, int sm) {
  if (sm < 70 || sm >= 90)
    return "FasterTransformer's weight preprocessing supports sm 70..89, "
           "not sm " +
           std::to_string(sm);
  if (n <= 0 || k <= 0)
    return "empty weight";
  if (n % 8 != 0)
    return "out_features " + std::to_string(n) + " is not a multiple of 8";
  if (ftInterleaves(sm)) {
    // permute_B_rows: k % 32; subbyte_transpose: both byte extents multiples
    // of 32; interleave_column_major_tensor: n % 64 (its columns are the
    // weight's rows), k % 8.
    if (k % 64 != 0)
      return "in_features " + std::to_string(k) +
             " is not a multiple of 64 (FasterTransformer's int4 transpose)";
    if (n % 64 != 0)
      return "out_features " + std::to_string(n) +
             " is not a multiple of 64 (FasterTransformer's int4 transpose)";
  } else if ((n * k / 2) % 4 != 0) {
    return "the packed weight is not a whole number of uint32 registers";
  }
  return {};
}

void ftQuantizeInt4(const uint16_t *w, int64_t n, int64_t k, uint8_t *packed,
                    uint16_t *scale) {
  using M = rules::Model<FloatFormat::F16>;
  for (int64_t r = 0; r < n; ++r) {
    const uint16_t *row = w + r * k;
    float maxAbs = M::lowest();
    for (int64_t c = 0; c < k; ++c) {
      float a = M::absBitsToFloat(M::absBits(row[c]));
      maxAbs = a > maxAbs ? a : maxAbs;
    }
    // f16(max_abs) / f16(7), one float16 division.
    scale[r] = floatToHalf(rules::divide(maxAbs, 7.0f));
    const float s = halfToFloat(scale[r]);
    for (int64_t c = 0; c < k; ++c) {
      float t = halfToFloat(floatToHalf(rules::divide(halfToFloat(row[c]), s)));
      float q = rules::roundToIntegral<RoundingMode::NearestEven>(t);
      // tir.max(x, -8) then tir.min(x, 7): selects, a NaN gives -8.
      q = q > -8.0f ? q : -8.0f;
      q = q < 7.0f ? q : 7.0f;
      uint8_t nib = uint8_t(int8_t(q)) & 0xF;
      uint8_t &byte = packed[c * (n / 2) + r / 2];
      if (r % 2 == 0)
        byte = nib;
      else
        byte = uint8_t(byte | (nib << 4));
    }
  }
}

static uint32_t loadWord(const uint8_t *p, int64_t i) {
  p += 4 * i;
  return uint32_t(p[0]) | uint32_t(p[1]) << 8 | uint32_t(p[2]) << 16 |
         uint32_t(p[3]) << 24;
}

static void storeWord(uint8_t *p, int64_t i, uint32_t v) {
  p += 4 * i;
  for (int b = 0; b < 4; ++b)
    p[b] = uint8_t(v >> (8 * b));
}

static unsigned nibble(const uint8_t *p, int64_t i) {
  return (p[i / 2] >> (4 * (i % 2))) & 0xF;
}

static void setNibble(uint8_t *p, int64_t i, unsigned v) {
  uint8_t &b = p[i / 2];
  b = uint8_t((b & ~(0xF << (4 * (i % 2)))) | (v << (4 * (i % 2))));
}

void ftPreprocessInt4(const uint8_t *in, int64_t k, int64_t n, int sm,
                      uint8_t *out) {
  const int64_t bytes = k * n / 2;
  std::vector<uint8_t> cur(in, in + bytes), next(bytes);
  if (ftInterleaves(sm)) {
    // (a) Rows of [k][n / 8 words], in blocks of 32: write row t of a block
    // reads row 8 * ((t % 8) / 2) + t % 2 + 2 * (t / 8).
    const int64_t rowWords = n / 8;
    for (int64_t base = 0; base < k; base += 32)
      for (int64_t t = 0; t < 32; ++t) {
        int64_t src = base + 8 * ((t % 8) / 2) + t % 2 + 2 * (t / 8);
        for (int64_t w = 0; w < rowWords; ++w)
          storeWord(next.data(), (base + t) * rowWords + w,
                    loadWord(cur.data(), src * rowWords + w));
      }
    cur.swap(next);
    // (b) Transpose the int4 matrix [k][n] to [n][k].
    for (int64_t r = 0; r < k; ++r)
      for (int64_t c = 0; c < n; ++c)
        setNibble(next.data(), c * k + r, nibble(cur.data(), r * n + c));
    cur.swap(next);
    // (c) Column c (k / 8 words) goes to column group c / 4; inside it,
    // tiles of 8 words (64 rows) of the 4 columns alternate.
    const int64_t colWords = k / 8;
    for (int64_t c = 0; c < n; ++c)
      for (int64_t v = 0; v < colWords; ++v) {
        int64_t dst = (c / 4) * colWords * 4 + 4 * (v - v % 8) + 8 * (c % 4) +
                      v % 8;
        storeWord(next.data(), dst, loadWord(cur.data(), c * colWords + v));
      }
    cur.swap(next);
  }
  // (d) Signed nibble + 8 (flips bit 3), then nibble d of each uint32 takes
  // nibble 2d (d < 4) or 2(d - 4) + 1.
  for (int64_t i = 0; i < bytes / 4; ++i) {
    uint32_t src = loadWord(cur.data(), i) ^ 0x88888888u, dst = 0;
    for (int d = 0; d < 8; ++d) {
      int s = d < 4 ? 2 * d : 2 * (d - 4) + 1;
      dst |= ((src >> (4 * s)) & 0xFu) << (4 * d);
    }
    storeWord(out, i, dst);
  }
}

int64_t ftPreprocessSource(int64_t o, int64_t k, int64_t n, int sm) {
  // (d): nibble d of a word from nibble 2d or 2(d - 4) + 1.
  int64_t word = o / 8, d = o % 8;
  int64_t s = d < 4 ? 2 * d : 2 * (d - 4) + 1;
  if (!ftInterleaves(sm))
    return word * 8 + s;
  // (c) inverted: word = group * (4 colWords) + tile * 32 + (c % 4) * 8 + v % 8.
  const int64_t colWords = k / 8;
  int64_t group = word / (4 * colWords), rem = word % (4 * colWords);
  int64_t c = group * 4 + (rem % 32) / 8;
  int64_t v = (rem / 32) * 8 + rem % 8;
  // (b): nibble s of column c's word v is row v * 8 + s of column c.
  int64_t r = v * 8 + s;
  // (a): that row was read from row base + 8((t % 8) / 2) + t % 2 + 2(t / 8).
  int64_t base = r - r % 32, t = r % 32;
  int64_t src = base + 8 * ((t % 8) / 2) + t % 2 + 2 * (t / 8);
  return src * n + c;
}

void ftDequantizeInt4(const uint8_t *q, const uint16_t *scale, int64_t n,
                      int64_t k, int sm, float *out) {
  for (int64_t o = 0; o < n * k; ++o) {
    int64_t src = ftPreprocessSource(o, k, n, sm);
    // Input nibble (row kk, column nn) of [k][n] is element [nn, kk].
    int64_t kk = src / n, nn = src % n;
    int code = int(nibble(q, o)) - 8;
    out[nn * k + kk] = float(code) * halfToFloat(scale[nn]);
  }
}

} // namespace qopt::numerics
