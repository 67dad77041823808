//===- GgufDequant.cpp - ggml block formats to float32 -------------------===//
//
// Part of quant-opt.
//
// Pure functions decoding ggml blocks exactly as llama.cpp's
// `dequantize_row_*` (docs/source-formats.md section 3): the same block layouts, the
// same integer arithmetic (signed, so `q - 16` never wraps) and the same
// float operation order (`d * sc` first, then `* q`, then `- dmin * m`), so
// the results match bit for bit.
//
//===----------------------------------------------------------------------===//

#include "qopt/Loaders/Gguf.h"

#include "qopt/Numerics/Float.h"

#include <cstring>

namespace qopt::loaders {

namespace {
using Bytes = const uint8_t *;

/// An IEEE half at `p` (little-endian), widened exactly.
float half(Bytes p) {
  return numerics::halfToFloat(uint16_t(p[0] | (uint16_t(p[1]) << 8)));
}

uint32_t le32(Bytes p) {
  return uint32_t(p[0]) | uint32_t(p[1]) << 8 | uint32_t(p[2]) << 16 |
         uint32_t(p[3]) << 24;
}

int lo(uint8_t b) { return b & 0x0F; }
int hi(uint8_t b) { return b >> 4; }

/// Q4_0: d:f16 @0, qs[16] @2; y[j] = (lo - 8) * d, y[j+16] = (hi - 8) * d.
void q4_0(Bytes b, float *y) {
  float d = half(b);
  Bytes qs = b + 2;
  for (int j = 0; j < 16; ++j) {
    y[j] = float(lo(qs[j]) - 8) * d;
    y[j + 16] = float(hi(qs[j]) - 8) * d;
  }
}

/// Q4_1: d @0, m @2, qs[16] @4; y = q * d + m.
void q4_1(Bytes b, float *y) {
  float d = half(b), m = half(b + 2);
  Bytes qs = b + 4;
  for (int j = 0; j < 16; ++j) {
    y[j] = float(lo(qs[j])) * d + m;
    y[j + 16] = float(hi(qs[j])) * d + m;
  }
}

/// The 5-bit quants of Q5_0 / Q5_1: low nibble plus bit j (j+16) of `h`.
void fiveBit(uint32_t h, Bytes qs, int *q) {
  for (int j = 0; j < 16; ++j) {
    q[j] = lo(qs[j]) | int((h >> j) & 1) << 4;
    q[j + 16] = hi(qs[j]) | int((h >> (j + 16)) & 1) << 4;
  }
}

/// Q5_0: d @0, qh[4] @2, qs[16] @6; y = (q - 16) * d.
void q5_0(Bytes b, float *y) {
  float d = half(b);
  int q[32];
  fiveBit(le32(b + 2), b + 6, q);
  for (int j = 0; j < 32; ++j)
    y[j] = float(q[j] - 16) * d;
}

/// Q5_1: d @0, m @2, qh[4] @4, qs[16] @8; y = q * d + m.
void q5_1(Bytes b, float *y) {
  float d = half(b), m = half(b + 2);
  int q[32];
  fiveBit(le32(b + 4), b + 8, q);
  for (int j = 0; j < 32; ++j)
    y[j] = float(q[j]) * d + m;
}

/// Q8_0: d @0, qs[32]:i8 @2; y = qs * d.
void q8_0(Bytes b, float *y) {
  float d = half(b);
  for (int j = 0; j < 32; ++j)
    y[j] = float(int8_t(b[2 + j])) * d;
}

/// Q8_1: d @0, s @2 (unused), qs[32]:i8 @4; y = qs * d.
void q8_1(Bytes b, float *y) {
  float d = half(b);
  for (int j = 0; j < 32; ++j)
    y[j] = float(int8_t(b[4 + j])) * d;
}

/// Q2_K: scales[16] @0, qs[64] @16, d @80, dmin @82.
void q2_k(Bytes b, float *y) {
  Bytes scales = b, qs = b + 16;
  float d = half(b + 80), dmin = half(b + 82);
  for (int h = 0; h < 2; ++h)
    for (int j = 0; j < 4; ++j)
      for (int s = 0; s < 2; ++s) {
        uint8_t sc = scales[8 * h + 2 * j + s];
        float dl = d * float(sc & 15), ml = dmin * float(sc >> 4);
        for (int l = 0; l < 16; ++l) {
          int q = (qs[32 * h + 16 * s + l] >> (2 * j)) & 3;
          y[128 * h + 32 * j + 16 * s + l] = dl * float(q) - ml;
        }
      }
}

/// Q3_K: hmask[32] @0, qs[64] @32, scales[12] @96, d @108.
void q3_k(Bytes b, float *y) {
  Bytes hmask = b, qs = b + 32, packed = b + 96;
  float d = half(b + 108);
  int sc[16];
  for (int i = 0; i < 16; ++i) {
    int low4 = i < 8 ? (packed[i] & 15) : (packed[i - 8] >> 4);
    int high2 = (packed[8 + i % 4] >> (2 * (i / 4))) & 3;
    sc[i] = (low4 | high2 << 4) - 32;
  }
  for (int h = 0; h < 2; ++h)
    for (int j = 0; j < 4; ++j)
      for (int s = 0; s < 2; ++s) {
        float dl = d * float(sc[8 * h + 2 * j + s]);
        for (int l = 0; l < 16; ++l) {
          int q2 = (qs[32 * h + 16 * s + l] >> (2 * j)) & 3;
          int hb = (hmask[16 * s + l] >> (4 * h + j)) & 1;
          y[128 * h + 32 * j + 16 * s + l] = dl * float(q2 - (hb ? 0 : 4));
        }
      }
}

/// get_scale_min_k4: the 6-bit scale and min of sub-block `i` (0..7).
void scaleMin(int i, Bytes p, int &sc, int &mn) {
  if (i < 4) {
    sc = p[i] & 63;
    mn = p[i + 4] & 63;
  } else {
    sc = (p[i + 4] & 15) | ((p[i - 4] >> 6) << 4);
    mn = (p[i + 4] >> 4) | ((p[i] >> 6) << 4);
  }
}

/// Q4_K: d @0, dmin @2, scales[12] @4, qs[128] @16.
void q4_k(Bytes b, float *y) {
  float d = half(b), dmin = half(b + 2);
  Bytes scales = b + 4, qs = b + 16;
  for (int c = 0; c < 4; ++c) {
    int sc1, mn1, sc2, mn2;
    scaleMin(2 * c, scales, sc1, mn1);
    scaleMin(2 * c + 1, scales, sc2, mn2);
    float d1 = d * float(sc1), m1 = dmin * float(mn1);
    float d2 = d * float(sc2), m2 = dmin * float(mn2);
    for (int l = 0; l < 32; ++l) {
      y[64 * c + l] = d1 * float(lo(qs[32 * c + l])) - m1;
      y[64 * c + 32 + l] = d2 * float(hi(qs[32 * c + l])) - m2;
    }
  }
}

/// Q5_K: d @0, dmin @2, scales[12] @4, qh[32] @16, qs[128] @48.
void q5_k(Bytes b, float *y) {
  float d = half(b), dmin = half(b + 2);
  Bytes scales = b + 4, qh = b + 16, qs = b + 48;
  for (int c = 0; c < 4; ++c) {
    int sc1, mn1, sc2, mn2;
    scaleMin(2 * c, scales, sc1, mn1);
    scaleMin(2 * c + 1, scales, sc2, mn2);
    float d1 = d * float(sc1), m1 = dmin * float(mn1);
    float d2 = d * float(sc2), m2 = dmin * float(mn2);
    for (int l = 0; l < 32; ++l) {
      int qLo = lo(qs[32 * c + l]) + 16 * ((qh[l] >> (2 * c)) & 1);
      int qHi = hi(qs[32 * c + l]) + 16 * ((qh[l] >> (2 * c + 1)) & 1);
      y[64 * c + l] = d1 * float(qLo) - m1;
      y[64 * c + 32 + l] = d2 * float(qHi) - m2;
    }
  }
}

/// Q6_K: ql[128] @0, qh[64] @128, scales[16]:i8 @192, d @208.
void q6_k(Bytes b, float *y) {
  float d = half(b + 208);
  for (int h = 0; h < 2; ++h) {
    Bytes ql = b + 64 * h, qh = b + 128 + 32 * h;
    const auto *sc = reinterpret_cast<const int8_t *>(b + 192 + 8 * h);
    float *out = y + 128 * h;
    for (int l = 0; l < 32; ++l) {
      int is = l / 16;
      int q1 = (lo(ql[l]) | ((qh[l] >> 0) & 3) << 4) - 32;
      int q2 = (lo(ql[l + 32]) | ((qh[l] >> 2) & 3) << 4) - 32;
      int q3 = (hi(ql[l]) | ((qh[l] >> 4) & 3) << 4) - 32;
      int q4 = (hi(ql[l + 32]) | ((qh[l] >> 6) & 3) << 4) - 32;
      out[l] = d * float(sc[is + 0]) * float(q1);
      out[l + 32] = d * float(sc[is + 2]) * float(q2);
      out[l + 64] = d * float(sc[is + 4]) * float(q3);
      out[l + 96] = d * float(sc[is + 6]) * float(q4);
    }
  }
}

/// Q8_K: d:f32 @0, qs[256]:i8 @4, bsums (unused) @260; y = d * qs.
void q8_k(Bytes b, float *y) {
  float d;
  uint32_t bits = le32(b);
  std::memcpy(&d, &bits, 4);
  for (int k = 0; k < 256; ++k)
    y[k] = d * float(int8_t(b[4 + k]));
}

using BlockFn = void (*)(Bytes, float *);

BlockFn blockDecoder(GgmlType type) {
  switch (type) {
  case GgmlType::Q4_0:
    return q4_0;
  case GgmlType::Q4_1:
    return q4_1;
  case GgmlType::Q5_0:
    return q5_0;
  case GgmlType::Q5_1:
    return q5_1;
  case GgmlType::Q8_0:
    return q8_0;
  case GgmlType::Q8_1:
    return q8_1;
  case GgmlType::Q2_K:
    return q2_k;
  case GgmlType::Q3_K:
    return q3_k;
  case GgmlType::Q4_K:
    return q4_k;
  case GgmlType::Q5_K:
    return q5_k;
  case GgmlType::Q6_K:
    return q6_k;
  case GgmlType::Q8_K:
    return q8_k;
  default:
    return nullptr;
  }
}
} // namespace

bool canDequantizeGgml(GgmlType type) {
  return type == GgmlType::F32 || type == GgmlType::F16 ||
         type == GgmlType::BF16 || blockDecoder(type) != nullptr;
}

bool ggmlDequantize(GgmlType type, const void *src, uint64_t numElements,
                    float *dst) {
  const GgmlTypeInfo *info = ggmlTypeInfo(uint32_t(type));
  if (!info || !canDequantizeGgml(type) || numElements % info->blockSize != 0)
    return false;
  Bytes p = static_cast<Bytes>(src);
  switch (type) {
  case GgmlType::F32:
    std::memcpy(dst, p, size_t(numElements) * 4);
    return true;
  case GgmlType::F16:
    for (uint64_t i = 0; i < numElements; ++i)
      dst[i] = half(p + 2 * i);
    return true;
  case GgmlType::BF16:
    for (uint64_t i = 0; i < numElements; ++i)
      dst[i] = numerics::bfloat16ToFloat(
          uint16_t(p[2 * i] | (uint16_t(p[2 * i + 1]) << 8)));
    return true;
  default:
    break;
  }
  BlockFn fn = blockDecoder(type);
  for (uint64_t b = 0, n = numElements / info->blockSize; b < n; ++b)
    fn(p + b * info->typeSize, dst + b * info->blockSize);
  return true;
}

} // namespace qopt::loaders
