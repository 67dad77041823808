//===- Simd.h - Highway kernels of the numerics -----------------*- C++ -*-===//
//
// Internal to lib/Numerics. The hot loops of the library, written once with
// Google Highway and compiled for every x86 target from SSSE3 to AVX-512
// (and NEON/SVE on Arm), one chosen at run time (HWY_DYNAMIC_DISPATCH).
// Each kernel computes the scalar rules of qopt/Numerics/QuantRules.h and
// Float.h in vector form; the public entry points call it unless the SIMD
// kernels are off (setSimdKernelsEnabled(false), QOPT_DISABLE_SIMD), in
// which case they run the scalar definitions directly.
//
//===----------------------------------------------------------------------===//

#ifndef QOPT_LIB_NUMERICS_SIMD_H
#define QOPT_LIB_NUMERICS_SIMD_H

#include "qopt/Numerics/GroupQuant.h"

#include <cstddef>
#include <cstdint>

namespace qopt::numerics::simd {

/// Whether the kernels below may run (see the file comment).
bool enabled();

/// groupQuantizeRowsFrom for a valid spec, a stored format it accepts,
/// rows > 0, k > 0.
int64_t groupQuantizeRows(const void *w, FloatFormat stored, int64_t rows,
                          int64_t k, const GroupQuantSpec &spec,
                          uint32_t *qweight, void *scale);

/// dst[i] = floatToHalf(bfloat16ToFloat(src[i])) for n values.
void bf16ToF16(const uint16_t *src, uint16_t *dst, size_t n);
/// dst[i] = floatToHalf(src[i]) for n values.
void f32ToF16(const float *src, uint16_t *dst, size_t n);
/// dst[i] = halfToFloat(src[i]) for n values, exactly (NaN payloads
/// included; the kernel is in SimdAwq.cpp, where AWQ's search first needed
/// it).
void halfToFloat(const uint16_t *src, float *dst, size_t n);

/// max(w[i] & 0x7FFF) over n binary16 values (0 for n == 0).
uint32_t maxAbsBits16(const uint16_t *w, size_t n);
/// out[i] = rules::fp8E4M3Code(w[i], scale) for a nonzero scale.
void quantizeFp8E4M3(const uint16_t *w, size_t n, float scale, uint8_t *out);
/// out[i] = rules::fp8E5M2Code(w[i]).
void castHalfToFp8E5M2(const uint16_t *w, size_t n, uint8_t *out);

/// One HQQ step (Hqq.cpp) over the first n values of w, n a multiple of
/// search::kSumLanes: with q = clampHqqCode(roundHalfEven(w s + z)) and
/// x = w - (q - z) scale (double), adds x^2 and q - w s to e and a at lane
/// i % kSumLanes and keeps max |x| per lane in maxAbs.
void hqqStepLanes(const float *w, int64_t n, double s, double scale, double z,
                  double qmax, double *e, double *a, double *maxAbs);

/// For the first n values of w, n a multiple of search::kSumLanes: adds
/// (w - double(float(a) * scale + minA))^2 (each product and sum rounded
/// to float32, the rest in double) to ea at lane i % kSumLanes, and the
/// same for b, minB into eb (Hqq.cpp's storedErrorLess).
void storedErrorLanes(const float *w, int64_t n, const uint8_t *a, float minA,
                      const uint8_t *b, float minB, float scale, double *ea,
                      double *eb);

/// codes[i] = rules::mnnCode(w[i], sub, scale, lo, hi, offset).
void mnnCodes(const float *w, int64_t n, float sub, float scale, float lo,
              float hi, int offset, uint8_t *codes);

} // namespace qopt::numerics::simd

#endif // QOPT_LIB_NUMERICS_SIMD_H
