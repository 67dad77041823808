//===- Range.cpp - Non-finite and out-of-range weights ----------*- C++ -*-===//

#include "qopt/Numerics/Range.h"
#include "Simd.h"
#include "SimdPipeline.h"

#include <cstring>

namespace qopt::numerics {

namespace {
/// Magnitude bounds, in the bits of `format`: an element is unrepresentable
/// when (bits & mask) >= limit; `clampBits` is the largest magnitude that is
/// not.
struct Bounds {
  uint32_t mask, limit, clampBits;
};
} // namespace

static Bounds boundsOf(FloatFormat format, FloatFormat target) {
  target = narrowerFormat(format, target);
  switch (format) {
  case FloatFormat::F16:
    return {0x7FFFu, 0x7C00u, 0x7BFFu}; // target is F16: inf/NaN only
  case FloatFormat::BF16:
    if (target == FloatFormat::F16)
      return {0x7FFFu, 0x4780u, 0x477Fu}; // 65536 rounds past 65504; 65280
    return {0x7FFFu, 0x7F80u, 0x7F7Fu};
  case FloatFormat::F32:
    if (target == FloatFormat::F16)
      return {0x7FFFFFFFu, 0x477FF000u, 0x477FE000u}; // 65520; 65504
    if (target == FloatFormat::BF16)
      return {0x7FFFFFFFu, 0x7F7F8000u, 0x7F7F0000u};
    return {0x7FFFFFFFu, 0x7F800000u, 0x7F7FFFFFu};
  }
  return {0, 1, 0};
}

/// The largest masked element of a block: the Highway kernel, or the
/// scalar definition.
static uint32_t blockMax(const uint16_t *p, size_t n, uint32_t mask) {
  if (simd::enabled())
    return simd::maxMasked16(p, n, uint16_t(mask));
  uint32_t r = 0;
  for (size_t i = 0; i < n; ++i)
    r = (p[i] & mask) > r ? (p[i] & mask) : r;
  return r;
}
static uint32_t blockMax(const uint32_t *p, size_t n, uint32_t mask) {
  if (simd::enabled())
    return simd::maxMasked32(p, n, mask);
  uint32_t r = 0;
  for (size_t i = 0; i < n; ++i)
    r = (p[i] & mask) > r ? (p[i] & mask) : r;
  return r;
}

template <typename T>
static std::optional<size_t> scan(const T *p, size_t n, Bounds b) {
  // Blocks whose largest magnitude is representable are skipped; in the
  // first other one, the exact position.
  constexpr size_t kBlock = 16384;
  for (size_t base = 0; base < n; base += kBlock) {
    size_t end = base + kBlock < n ? base + kBlock : n;
    if (blockMax(p + base, end - base, b.mask) < b.limit)
      continue;
    for (size_t i = base; i < end; ++i)
      if ((uint32_t(p[i]) & b.mask) >= b.limit)
        return i;
  }
  return std::nullopt;
}

std::optional<size_t> findUnrepresentable(const void *data, size_t n,
                                          FloatFormat format,
                                          FloatFormat target) {
  Bounds b = boundsOf(format, target);
  if (format == FloatFormat::F32)
    return scan(static_cast<const uint32_t *>(data), n, b);
  return scan(static_cast<const uint16_t *>(data), n, b);
}

template <typename T>
static size_t clamp(T *p, size_t n, Bounds b, uint32_t signBit,
                    uint32_t infBits) {
  size_t changed = 0;
  for (size_t i = 0; i < n; ++i) {
    uint32_t a = uint32_t(p[i]) & b.mask;
    if (a < b.limit)
      continue;
    uint32_t sign = uint32_t(p[i]) & signBit;
    p[i] = T(a > infBits ? 0u : (sign | b.clampBits)); // NaN -> +0
    ++changed;
  }
  return changed;
}

size_t clampUnrepresentable(void *data, size_t n, FloatFormat format,
                            FloatFormat target) {
  Bounds b = boundsOf(format, target);
  switch (format) {
  case FloatFormat::F16:
    return clamp(static_cast<uint16_t *>(data), n, b, 0x8000u, 0x7C00u);
  case FloatFormat::BF16:
    return clamp(static_cast<uint16_t *>(data), n, b, 0x8000u, 0x7F80u);
  case FloatFormat::F32:
    return clamp(static_cast<uint32_t *>(data), n, b, 0x80000000u,
                 0x7F800000u);
  }
  return 0;
}

float elementAsFloat(const void *data, size_t i, FloatFormat format) {
  const auto *bytes = static_cast<const unsigned char *>(data);
  if (format == FloatFormat::F32) {
    float f;
    std::memcpy(&f, bytes + 4 * i, 4);
    return f;
  }
  uint16_t h;
  std::memcpy(&h, bytes + 2 * i, 2);
  if (format == FloatFormat::F16)
    return halfToFloat(h);
  uint32_t u = uint32_t(h) << 16;
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}

} // namespace qopt::numerics
