//===- SimdCalibrated.cpp - Highway kernels of GPTQ -------------*- C++ -*-===//
//
// GPTQ's lazy-batch update (Gptq.cpp) for a tile of rows at once: a rank-B
// update x -= E U by a register-blocked matrix product. Every element's sum
// runs over the block's columns in ascending order from +0, each product
// rounded before it is added (no FMA: the library builds with
// -ffp-contract=off), exactly as the scalar definition in Gptq.cpp, so the
// bytes do not depend on the target or the tile. Compiled once per Highway
// target (foreach_target); the HWY_ONCE part holds the dispatch
// (SimdCalibrated.h).
//
//===----------------------------------------------------------------------===//

#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "lib/Numerics/SimdCalibrated.cpp"
#include <hwy/foreach_target.h> // IWYU pragma: keep

#include <hwy/highway.h>

#include <cstddef>
#include <cstdint>

HWY_BEFORE_NAMESPACE();
namespace qopt::numerics::HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

/// Rows [r0, r0 + RT) and the 2 vectors of columns at c.
template <int RT, class D>
HWY_INLINE void LazyTile(D d, const double *HWY_RESTRICT err, int64_t b,
                         const double *HWY_RESTRICT u, int64_t ldu, int64_t c,
                         double *HWY_RESTRICT x, int64_t ldx, int64_t r0) {
  const size_t n = hn::Lanes(d);
  using V = hn::Vec<D>;
  V a0[RT], a1[RT];
  for (int r = 0; r < RT; ++r) {
    a0[r] = hn::Zero(d);
    a1[r] = hn::Zero(d);
  }
  for (int64_t t = 0; t < b; ++t) {
    const V u0 = hn::LoadU(d, u + t * ldu + c);
    const V u1 = hn::LoadU(d, u + t * ldu + c + int64_t(n));
    for (int r = 0; r < RT; ++r) {
      const V e = hn::Set(d, err[(r0 + r) * b + t]);
      a0[r] = hn::Add(a0[r], hn::Mul(e, u0));
      a1[r] = hn::Add(a1[r], hn::Mul(e, u1));
    }
  }
  for (int r = 0; r < RT; ++r) {
    double *xr = x + (r0 + r) * ldx + c;
    hn::StoreU(hn::Sub(hn::LoadU(d, xr), a0[r]), d, xr);
    hn::StoreU(hn::Sub(hn::LoadU(d, xr + n), a1[r]), d, xr + n);
  }
}

void GptqLazyUpdate(const double *err, int64_t rows, int64_t b,
                    const double *u, int64_t ldu, int64_t c0, int64_t c1,
                    double *x, int64_t ldx) {
  const hn::ScalableTag<double> d;
  const int64_t step = 2 * int64_t(hn::Lanes(d));
  int64_t c = c0;
  for (; c + step <= c1; c += step) {
    int64_t r = 0;
    for (; r + 4 <= rows; r += 4)
      LazyTile<4>(d, err, b, u, ldu, c, x, ldx, r);
    for (; r < rows; ++r)
      LazyTile<1>(d, err, b, u, ldu, c, x, ldx, r);
  }
  // The last columns, one at a time in the same order.
  for (; c < c1; ++c)
    for (int64_t r = 0; r < rows; ++r) {
      double acc = 0.0;
      for (int64_t t = 0; t < b; ++t) {
        double p = err[r * b + t] * u[t * ldu + c];
        acc += p;
      }
      x[r * ldx + c] -= acc;
    }
}

} // namespace qopt::numerics::HWY_NAMESPACE
HWY_AFTER_NAMESPACE();

#if HWY_ONCE

#include "Simd.h"
#include "SimdCalibrated.h"

namespace qopt::numerics {

HWY_EXPORT(GptqLazyUpdate);

namespace simd {

void gptqLazyUpdate(const double *err, int64_t rows, int64_t b,
                    const double *u, int64_t ldu, int64_t c0, int64_t c1,
                    double *x, int64_t ldx) {
  if (!enabled()) {
    for (int64_t r = 0; r < rows; ++r)
      for (int64_t c = c0; c < c1; ++c) {
        double acc = 0.0;
        for (int64_t t = 0; t < b; ++t) {
          double p = err[r * b + t] * u[t * ldu + c];
          acc += p;
        }
        x[r * ldx + c] -= acc;
      }
    return;
  }
  HWY_DYNAMIC_DISPATCH(GptqLazyUpdate)(err, rows, b, u, ldu, c0, c1, x, ldx);
}

} // namespace simd
} // namespace qopt::numerics

#endif // HWY_ONCE
