//===- GroupQuantX86.cpp - AVX-512 kernels of GroupQuant --------*- C++ -*-===//
//
// See GroupQuantSimd.h. Compiled for baseline x86-64; each kernel carries
// its own target attribute and runs only after the CPU check.
//
//===----------------------------------------------------------------------===//

#include "GroupQuantSimd.h"
#include "qopt/Numerics/GroupQuant.h"

#include <atomic>

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

bool useAvx512() {
  static const bool has = cpuHasAvx512();
  return has && simdEnabled.load(std::memory_order_relaxed);
}

QOPT_AVX512 void groupMaxAbsBitsF16(const uint16_t *w, int64_t k,
                                    int64_t groupSize, uint32_t *out) {
  const __m512i absMask = _mm512_set1_epi16(0x7FFF);
  const __m128i ones = _mm_set1_epi16(-1);
  for (int64_t begin = 0, g = 0; begin < k; begin += groupSize, ++g) {
    const int64_t len = groupSize < k - begin ? groupSize : k - begin;
    __m512i m = _mm512_setzero_si512();
    for (int64_t i = 0; i < len; i += 32) {
      const int64_t n = len - i;
      const __mmask32 mask = n >= 32 ? ~__mmask32(0) : __mmask32((1u << n) - 1);
      __m512i v = _mm512_maskz_loadu_epi16(mask, w + begin + i);
      m = _mm512_max_epu16(m, _mm512_and_si512(v, absMask));
    }
    __m256i m256 = _mm256_max_epu16(_mm512_castsi512_si256(m),
                                    _mm512_extracti64x4_epi64(m, 1));
    __m128i m128 = _mm_max_epu16(_mm256_castsi256_si128(m256),
                                 _mm256_extracti128_si256(m256, 1));
    // max = ~min(~x): phminposuw finds the minimum of eight u16 at once.
    __m128i mn = _mm_minpos_epu16(_mm_xor_si128(m128, ones));
    out[g] = 0xFFFFu - (uint32_t(_mm_cvtsi128_si32(mn)) & 0xFFFFu);
  }
}

QOPT_AVX512 void quantizeSpanF16(const uint16_t *w, int64_t n,
                                 const float *scales, float maxInt, float hi,
                                 uint8_t *q) {
  constexpr int kRne = _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC;
  const __m512 vMax = _mm512_set1_ps(maxInt);
  const __m512 vHi = _mm512_set1_ps(hi);
  const __m512 zero = _mm512_setzero_ps();
  const __m512 one = _mm512_set1_ps(1.0f);
  for (int64_t i = 0; i < n; i += 16) {
    const int64_t left = n - i;
    const __mmask16 mask =
        left >= 16 ? __mmask16(0xFFFF) : __mmask16((1u << left) - 1);
    __m512 x = _mm512_cvtph_ps(_mm256_maskz_loadu_epi16(mask, w + i));
    __m512 s = _mm512_mask_loadu_ps(one, mask, scales + i);
    // Each step rounds to float16 (TVM computes in the model dtype).
    __m512 t = _mm512_cvtph_ps(_mm512_cvtps_ph(_mm512_div_ps(x, s), kRne));
    t = _mm512_cvtph_ps(_mm512_cvtps_ph(_mm512_add_ps(t, vMax), kRne));
    __m512 r = _mm512_roundscale_ps(t, kRne);
    // TVM's selects: NaN fails `r > 0` and becomes 0; vmaxps returns its
    // second operand when the first is NaN.
    r = _mm512_min_ps(_mm512_max_ps(r, zero), vHi);
    _mm_mask_storeu_epi8(q + i, mask,
                         _mm512_cvtepi32_epi8(_mm512_cvttps_epi32(r)));
  }
}

#else

bool useAvx512() { return false; }
void groupMaxAbsBitsF16(const uint16_t *, int64_t, int64_t, uint32_t *) {}
void quantizeSpanF16(const uint16_t *, int64_t, const float *, float, float,
                     uint8_t *) {}

#endif

} // namespace simd
} // namespace qopt::numerics
