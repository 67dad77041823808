//===- SimdX86.cpp - AVX-512 kernels of the numerics ------------*- C++ -*-===//
//
// See Simd.h. Compiled for baseline x86-64; each kernel carries
// its own target attribute and runs only after the CPU check.
//
//===----------------------------------------------------------------------===//

#include "Simd.h"
#include "qopt/Numerics/GroupQuant.h"

#include <atomic>
#include <cstdlib>

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#define QOPT_HAVE_X86_KERNELS 1
#define QOPT_AVX512 __attribute__((target("avx512f,avx512bw,avx512vl,f16c")))
#endif

namespace qopt::numerics {

static std::atomic<bool> simdEnabled{true};

void setSimdKernelsEnabled(bool enabled) { simdEnabled.store(enabled); }

namespace simd {

#if QOPT_HAVE_X86_KERNELS

static bool cpuHasAvx512() {
  __builtin_cpu_init();
  return __builtin_cpu_supports("avx512f") &&
         __builtin_cpu_supports("avx512bw") &&
         __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("f16c");
}

/// Round to nearest even, no exceptions: every conversion and rounding here.
constexpr int kRne = _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC;

/// Lanes [0, min(left, 16)) of a 16-lane step.
static inline __mmask16 tailMask16(size_t left) {
  return left >= 16 ? __mmask16(0xFFFF) : __mmask16((1u << left) - 1);
}

bool useAvx512() {
  // QOPT_DISABLE_SIMD (any value) keeps the portable loops, for comparisons.
  static const bool has = cpuHasAvx512() && !std::getenv("QOPT_DISABLE_SIMD");
  return has && simdEnabled.load(std::memory_order_relaxed);
}

QOPT_AVX512 bool quantizeRowF16(const uint16_t *w, int64_t k,
                                int64_t groupSize, float maxInt, float hi,
                                uint16_t *scales, uint8_t *q) {
  const __m512i absMask = _mm512_set1_epi16(0x7FFF);
  const __m128i ones = _mm_set1_epi16(-1);
  const __m512 vMax = _mm512_set1_ps(maxInt);
  const __m512 vHi = _mm512_set1_ps(hi);
  const __m512 zero = _mm512_setzero_ps();
  const __m128 maxIntS = _mm_set_ss(maxInt);
  for (int64_t begin = 0, g = 0; begin < k; begin += groupSize, ++g) {
    const int64_t len = groupSize < k - begin ? groupSize : k - begin;
    const uint16_t *wg = w + begin;
    // Largest |w| bits of the group (an unsigned max of the low 15 bits).
    __m512i m = _mm512_setzero_si512();
    for (int64_t i = 0; i < len; i += 32) {
      const int64_t n = len - i;
      const __mmask32 mask = n >= 32 ? ~__mmask32(0) : __mmask32((1u << n) - 1);
      m = _mm512_max_epu16(
          m, _mm512_and_si512(_mm512_maskz_loadu_epi16(mask, wg + i), absMask));
    }
    __m256i m256 = _mm256_max_epu16(_mm512_castsi512_si256(m),
                                    _mm512_extracti64x4_epi64(m, 1));
    __m128i m128 = _mm_max_epu16(_mm256_castsi256_si128(m256),
                                 _mm256_extracti128_si256(m256, 1));
    // max = ~min(~x): phminposuw finds the minimum of eight u16 at once.
    __m128i mn = _mm_minpos_epu16(_mm_xor_si128(m128, ones));
    const uint32_t maxBits = 0xFFFFu - (uint32_t(_mm_cvtsi128_si32(mn)) & 0xFFFFu);
    if (maxBits > 0x7C00u)
      return false; // a NaN
    // scale = f16(maxAbs / maxInt): one division rounded to float16.
    __m128 maxAbs = _mm_cvtph_ps(_mm_cvtsi32_si128(int(maxBits)));
    __m128i s16 = _mm_cvtps_ph(_mm_div_ss(maxAbs, maxIntS), kRne);
    scales[g] = uint16_t(_mm_cvtsi128_si32(s16));
    const float s = _mm_cvtss_f32(_mm_cvtph_ps(s16));
    const __m512 vs = _mm512_set1_ps(s);
    for (int64_t i = 0; i < len; i += 16) {
      const __mmask16 mask = tailMask16(size_t(len - i));
      __m512 x = _mm512_cvtph_ps(_mm256_maskz_loadu_epi16(mask, wg + i));
      __m512 r;
      if (s != 0.0f) {
        // Each step rounds to float16 (TVM computes in the model dtype).
        __m512 t = _mm512_cvtph_ps(_mm512_cvtps_ph(_mm512_div_ps(x, vs), kRne));
        t = _mm512_cvtph_ps(_mm512_cvtps_ph(_mm512_add_ps(t, vMax), kRne));
        r = _mm512_min_ps(
            _mm512_max_ps(_mm512_roundscale_ps(t, kRne), zero), vHi);
      } else {
        // w / 0: +inf for w > 0 (clamped to hi), -inf or NaN otherwise (0).
        r = _mm512_maskz_mov_ps(_mm512_cmp_ps_mask(x, zero, _CMP_GT_OQ), vHi);
      }
      _mm_mask_storeu_epi8(q + begin + i, mask,
                           _mm512_cvtepi32_epi8(_mm512_cvttps_epi32(r)));
    }
  }
  return true;
}

QOPT_AVX512 void bf16ToF16(const uint16_t *src, uint16_t *dst, size_t n) {
  for (size_t i = 0; i < n; i += 16) {
    const __mmask16 mask = tailMask16(n - i);
    __m512i b = _mm512_cvtepu16_epi32(_mm256_maskz_loadu_epi16(mask, src + i));
    __m512 f = _mm512_castsi512_ps(_mm512_slli_epi32(b, 16));
    _mm256_mask_storeu_epi16(dst + i, mask, _mm512_cvtps_ph(f, kRne));
  }
}

QOPT_AVX512 void f32ToF16(const float *src, uint16_t *dst, size_t n) {
  for (size_t i = 0; i < n; i += 16) {
    const __mmask16 mask = tailMask16(n - i);
    _mm256_mask_storeu_epi16(dst + i, mask,
                             _mm512_cvtps_ph(_mm512_maskz_loadu_ps(mask, src + i), kRne));
  }
}

#else

void bf16ToF16(const uint16_t *, uint16_t *, size_t) {}
void f32ToF16(const float *, uint16_t *, size_t) {}
bool useAvx512() { return false; }
bool quantizeRowF16(const uint16_t *, int64_t, int64_t, float, float,
                    uint16_t *, uint8_t *) {
  return false;
}

#endif

} // namespace simd
} // namespace qopt::numerics
