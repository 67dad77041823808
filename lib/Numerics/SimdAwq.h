//===- SimdAwq.h - Highway kernel of AWQ's search ---------------*- C++ -*-===//
//
// Internal to lib/Numerics (SimdAwq.cpp, AwqSearch.cpp). Runs the scalar
// definition when the SIMD kernels are off (simd::enabled()); both give the
// same bits on every target.
//
//===----------------------------------------------------------------------===//

#ifndef QOPT_LIB_NUMERICS_SIMDAWQ_H
#define QOPT_LIB_NUMERICS_SIMDAWQ_H

#include <cstddef>
#include <cstdint>

namespace qopt::numerics::simd {

/// The lane sums of a row loss, whatever the vector width.
inline constexpr size_t kAwqLanes = 16;

/// The 16 lane sums combined pairwise in one fixed order: for h = 8, 4, 2,
/// 1, lane i += lane i + h (i < h); the result is lane 0.
inline float awqCombineLanes(float *lanes) {
  for (size_t h = kAwqLanes / 2; h >= 1; h /= 2)
    for (size_t i = 0; i < h; ++i)
      lanes[i] = lanes[i] + lanes[i + h];
  return lanes[0];
}

/// For each of `rows` rows of `k` float32 values w (and q, what the
/// quantizer made of them), in float32 with every operation rounded:
///   e_c = q_c * inv_c - w_c,   t_c = (e_c * e_c) * im_c,
///   lane l (l < 16) = +0 + t_l + t_{l+16} + t_{l+32} + ... in order,
///   rowLoss[r] = awqCombineLanes(lanes).
void awqDiagRowLosses(const float *w, const float *q, int64_t rows, int64_t k,
                      const float *inv, const float *im, float *rowLoss);

/// The same, always the scalar definition (for the tests' reference of the
/// dispatch; awqDiagRowLosses runs it when the SIMD kernels are off).
void awqDiagRowLossesScalar(const float *w, const float *q, int64_t rows,
                            int64_t k, const float *inv, const float *im,
                            float *rowLoss);

} // namespace qopt::numerics::simd

#endif // QOPT_LIB_NUMERICS_SIMDAWQ_H
