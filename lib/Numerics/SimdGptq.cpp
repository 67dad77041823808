//===- SimdGptq.cpp - Highway kernels of GPTQ's row phase -------*- C++ -*-===//
//
// The two rank-b updates of GPTQ's row phase (Gptq.cpp) for a tile of rows:
// the lazy-batch update (a sum from +0 per element, then subtracted) and
// the deferred immediate update (each product subtracted in turn). Both are
// register-blocked matrix products: RT rows x CV vectors of columns live in
// registers while t runs, so that each loaded vector of U serves RT rows
// and each broadcast error CV vectors. Every element still sees its
// products rounded and added (subtracted) in ascending t, with no FMA (the
// library builds with -ffp-contract=off), so the bytes are those of the
// scalar definitions (SimdGptq.h) on every target and for every tile.
// Scalable targets (SVE, RVV), whose vectors cannot live in arrays, run the
// scalar definitions (same bits). Compiled once per Highway target
// (foreach_target); the HWY_ONCE part holds the dispatch.
//
//===----------------------------------------------------------------------===//

// Arrays of vectors below: on Arm this file compiles for NEON only (as
// SimdCalibrated.cpp; the bytes are the same on every target).
#if defined(__aarch64__) && !defined(HWY_DISABLED_TARGETS)
#define HWY_DISABLED_TARGETS (HWY_SVE | HWY_SVE2 | HWY_SVE_256 | HWY_SVE2_128)
#endif

#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "lib/Numerics/SimdGptq.cpp"
#include <hwy/foreach_target.h> // IWYU pragma: keep

#include <hwy/highway.h>

#include "SimdRules-inl.h"

#include <cstddef>
#include <cstdint>
#include <vector>

#ifndef QOPT_LIB_NUMERICS_SIMDGPTQ_SCALAR
#define QOPT_LIB_NUMERICS_SIMDGPTQ_SCALAR
namespace qopt::numerics::gptq_scalar {

/// The scalar definitions of SimdGptq.h, for columns [c0, c1).
inline void lazyUpdate(const double *err, int64_t lde, int64_t rows,
                       int64_t b, const double *u, int64_t ldu, int64_t c0,
                       int64_t c1, double *x, int64_t ldx) {
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t c = c0; c < c1; ++c) {
      double acc = 0.0;
      for (int64_t t = 0; t < b; ++t) {
        double p = err[r * lde + t] * u[t * ldu + c];
        acc += p;
      }
      x[r * ldx + c] -= acc;
    }
}

inline void subtractUpdate(const double *err, int64_t lde, int64_t rows,
                           int64_t b, const double *u, int64_t ldu,
                           int64_t c0, int64_t c1, double *x, int64_t ldx) {
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t c = c0; c < c1; ++c) {
      double v = x[r * ldx + c];
      for (int64_t t = 0; t < b; ++t) {
        double p = err[r * lde + t] * u[t * ldu + c];
        v -= p;
      }
      x[r * ldx + c] = v;
    }
}

} // namespace qopt::numerics::gptq_scalar
#endif

HWY_BEFORE_NAMESPACE();
namespace qopt::numerics::HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

#if !HWY_HAVE_SCALABLE
/// Rows [r0, r0 + RT) and the CV vectors of columns that u and x point
/// at. kLazy: the sum from +0, then subtracted from x; otherwise each
/// product subtracted.
template <int RT, int CV, bool kLazy, class D>
HWY_INLINE void Tile(D d, const double *HWY_RESTRICT err, int64_t lde,
                     int64_t b, const double *HWY_RESTRICT u, int64_t ldu,
                     double *HWY_RESTRICT x, int64_t ldx, int64_t r0) {
  const auto N = int64_t(hn::Lanes(d));
  using V = hn::Vec<D>;
  V a[RT][CV];
  for (int r = 0; r < RT; ++r)
    for (int v = 0; v < CV; ++v)
      a[r][v] = kLazy ? hn::Zero(d)
                      : hn::LoadU(d, x + (r0 + r) * ldx + v * N);
  for (int64_t t = 0; t < b; ++t) {
    V uv[CV];
    for (int v = 0; v < CV; ++v)
      uv[v] = hn::LoadU(d, u + t * ldu + v * N);
    for (int r = 0; r < RT; ++r) {
      const V e = hn::Set(d, err[(r0 + r) * lde + t]);
      for (int v = 0; v < CV; ++v)
        a[r][v] = kLazy ? hn::Add(a[r][v], hn::Mul(e, uv[v]))
                        : hn::Sub(a[r][v], hn::Mul(e, uv[v]));
    }
  }
  for (int r = 0; r < RT; ++r)
    for (int v = 0; v < CV; ++v) {
      double *xr = x + (r0 + r) * ldx + v * N;
      hn::StoreU(kLazy ? hn::Sub(hn::LoadU(d, xr), a[r][v]) : a[r][v], d,
                 xr);
    }
}

/// Rows per register block: targets with 32 vector registers (AVX-512,
/// NEON) hold 8 rows x 2 vectors of sums, the others (16) 4 x 2.
#if (HWY_ARCH_X86 && HWY_TARGET <= HWY_AVX3) || HWY_ARCH_ARM_A64
constexpr int kRowBlock = 8;
#else
constexpr int kRowBlock = 4;
#endif
/// Vectors of columns per register block (4 x 4 and 12 x 2 measured slower
/// than 8 x 2 on AVX-512).
constexpr int kColVecs = 2;

/// Columns [c0, c1) by tiles, then the scalar definition for the last
/// columns (fewer than a vector).
template <bool kLazy>
HWY_INLINE int64_t Tiles(const double *err, int64_t lde, int64_t rows,
                         int64_t b, const double *u, int64_t ldu, int64_t c0,
                         int64_t c1, double *x, int64_t ldx) {
  const hn::ScalableTag<double> d;
  const auto N = int64_t(hn::Lanes(d));
  int64_t c = c0;
  // The CV N columns of U's b rows, packed: U's rows are k apart, a multiple
  // of 4 KiB for the usual k, so that its column chunk would fall in one L1
  // set and leave the cache before the next row block reads it again.
  constexpr int CV = kColVecs;
  std::vector<double> packed(size_t(b * CV * N));
  for (; c + CV * N <= c1; c += CV * N) {
    for (int64_t t = 0; t < b; ++t)
      for (int64_t v = 0; v < CV; ++v)
        hn::StoreU(hn::LoadU(d, u + t * ldu + c + v * N), d,
                   packed.data() + (CV * t + v) * N);
    const double *pu = packed.data();
    const int64_t ldp = CV * N;
    int64_t r = 0;
    for (; r + kRowBlock <= rows; r += kRowBlock)
      Tile<kRowBlock, CV, kLazy>(d, err, lde, b, pu, ldp, x + c, ldx, r);
    for (; r + 2 <= rows; r += 2)
      Tile<2, CV, kLazy>(d, err, lde, b, pu, ldp, x + c, ldx, r);
    for (; r < rows; ++r)
      Tile<1, CV, kLazy>(d, err, lde, b, pu, ldp, x + c, ldx, r);
  }
  for (; c + N <= c1; c += N) {
    int64_t r = 0;
    for (; r + 4 <= rows; r += 4)
      Tile<4, 1, kLazy>(d, err, lde, b, u + c, ldu, x + c, ldx, r);
    for (; r < rows; ++r)
      Tile<1, 1, kLazy>(d, err, lde, b, u + c, ldu, x + c, ldx, r);
  }
  return c;
}
#endif // !HWY_HAVE_SCALABLE

void GptqLazyUpdate(const double *err, int64_t lde, int64_t rows, int64_t b,
                    const double *u, int64_t ldu, int64_t c0, int64_t c1,
                    double *x, int64_t ldx) {
  int64_t c = c0;
#if !HWY_HAVE_SCALABLE
  c = Tiles<true>(err, lde, rows, b, u, ldu, c0, c1, x, ldx);
#endif
  gptq_scalar::lazyUpdate(err, lde, rows, b, u, ldu, c, c1, x, ldx);
}

void GptqSubtractUpdate(const double *err, int64_t lde, int64_t rows,
                        int64_t b, const double *u, int64_t ldu, int64_t c0,
                        int64_t c1, double *x, int64_t ldx) {
  int64_t c = c0;
#if !HWY_HAVE_SCALABLE
  c = Tiles<false>(err, lde, rows, b, u, ldu, c0, c1, x, ldx);
#endif
  gptq_scalar::subtractUpdate(err, lde, rows, b, u, ldu, c, c1, x, ldx);
}

/// GPTQ's columns [s0, s1) of a tile in a group mode (see
/// simd::gptqGroupColumns), rows a vector of doubles at a time: the
/// sub-block's weights transposed into xt (column q's rows contiguous), each
/// column's codes, dequantized values and errors for all rows, and its
/// error subtracted from the sub-block's later columns, element by element
/// in the scalar order.
template <FloatFormat F, RoundingMode R>
void GroupColumnsT(double *xs, int64_t ldx, int64_t rows, int64_t s0,
                   int64_t s1, const double *u, int64_t ldu,
                   const float *colScale, float maxInt, double *err,
                   int64_t lde, int64_t errCol0, float *codesT) {
  const hn::ScalableTag<double> dd;
  const hn::Rebind<float, decltype(dd)> df;
  const auto N = int64_t(hn::Lanes(dd));
  const int64_t S = s1 - s0, rp = (rows + N - 1) / N * N;
  std::vector<double> xt(size_t(S * rp), 0.0), et(size_t(S * rp));
  std::vector<float> sc(size_t(S * rp), 1.0f);
  for (int64_t i = 0; i < rows; ++i)
    for (int64_t q = 0; q < S; ++q) {
      xt[size_t(q * rp + i)] = xs[i * ldx + s0 + q];
      sc[size_t(q * rp + i)] = colScale[q * rows + i];
    }
  const auto vmax = hn::Set(df, maxInt), vtop = hn::Set(df, 2 * maxInt);
  for (int64_t q = 0; q < S; ++q) {
    const double *urow = u + (s0 + q) * ldu + s0;
    const auto upp = hn::Set(dd, urow[q]);
    for (int64_t i = 0; i < rp; i += N) {
      double *xq = xt.data() + q * rp + i;
      const auto xd = hn::LoadU(dd, xq);
      const auto v = hn::DemoteTo(df, xd);
      const auto s = hn::LoadU(df, sc.data() + q * rp + i);
      // CodeRule::code with mlcCodes: MLC's code, or for a zero scale the
      // sign rule; then minus M. CodeRule::value: code * s.
      const auto code = hn::Sub(
          hn::IfThenElse(hn::Eq(s, hn::Zero(df)),
                         QuantizeValuesZeroScale(df, v, vtop),
                         QuantizeValues<F, R>(df, v, s, vmax, vtop)),
          vmax);
      hn::StoreU(code, df, codesT + q * rp + i);
      const auto dj = hn::Mul(code, s);
      const auto e = hn::Div(hn::Sub(xd, hn::PromoteTo(dd, dj)), upp);
      hn::StoreU(e, dd, et.data() + q * rp + i);
      for (int64_t q2 = q + 1; q2 < S; ++q2) {
        double *x2 = xt.data() + q2 * rp + i;
        hn::StoreU(hn::Sub(hn::LoadU(dd, x2), hn::Mul(e, hn::Set(dd, urow[q2]))),
                   dd, x2);
      }
    }
  }
  for (int64_t i = 0; i < rows; ++i)
    for (int64_t q = 0; q < S; ++q)
      err[i * lde + errCol0 + q] = et[size_t(q * rp + i)];
}

int64_t GptqGroupColumns(FloatFormat f, RoundingMode r, double *xs,
                         int64_t ldx, int64_t rows, int64_t s0, int64_t s1,
                         const double *u, int64_t ldu, const float *colScale,
                         float maxInt, double *err, int64_t lde,
                         int64_t errCol0, float *codesT) {
  using FF = FloatFormat;
  using RM = RoundingMode;
  const bool away = r == RM::NearestAway;
  auto go = [&](auto fn) {
    fn(xs, ldx, rows, s0, s1, u, ldu, colScale, maxInt, err, lde, errCol0,
       codesT);
  };
  switch (f) {
  case FF::F16:
    away ? go(GroupColumnsT<FF::F16, RM::NearestAway>)
         : go(GroupColumnsT<FF::F16, RM::NearestEven>);
    break;
  case FF::BF16:
    away ? go(GroupColumnsT<FF::BF16, RM::NearestAway>)
         : go(GroupColumnsT<FF::BF16, RM::NearestEven>);
    break;
  case FF::F32:
    away ? go(GroupColumnsT<FF::F32, RM::NearestAway>)
         : go(GroupColumnsT<FF::F32, RM::NearestEven>);
    break;
  }
  const hn::ScalableTag<double> dd;
  const auto N = int64_t(hn::Lanes(dd));
  return (rows + N - 1) / N * N;
}

} // namespace qopt::numerics::HWY_NAMESPACE
HWY_AFTER_NAMESPACE();

#if HWY_ONCE

#include "Simd.h"
#include "SimdGptq.h"

namespace qopt::numerics {

HWY_EXPORT(GptqLazyUpdate);
HWY_EXPORT(GptqSubtractUpdate);
HWY_EXPORT(GptqGroupColumns);

namespace simd {

void gptqLazyUpdate(const double *err, int64_t lde, int64_t rows, int64_t b,
                    const double *u, int64_t ldu, int64_t c0, int64_t c1,
                    double *x, int64_t ldx) {
  if (!enabled())
    return gptq_scalar::lazyUpdate(err, lde, rows, b, u, ldu, c0, c1, x,
                                   ldx);
  HWY_DYNAMIC_DISPATCH(GptqLazyUpdate)(err, lde, rows, b, u, ldu, c0, c1, x,
                                       ldx);
}

void gptqSubtractUpdate(const double *err, int64_t lde, int64_t rows,
                        int64_t b, const double *u, int64_t ldu, int64_t c0,
                        int64_t c1, double *x, int64_t ldx) {
  if (!enabled())
    return gptq_scalar::subtractUpdate(err, lde, rows, b, u, ldu, c0, c1, x,
                                       ldx);
  HWY_DYNAMIC_DISPATCH(GptqSubtractUpdate)(err, lde, rows, b, u, ldu, c0, c1,
                                           x, ldx);
}

int64_t gptqGroupColumns(FloatFormat f, RoundingMode r, double *xs,
                         int64_t ldx, int64_t rows, int64_t s0, int64_t s1,
                         const double *u, int64_t ldu, const float *colScale,
                         float maxInt, double *err, int64_t lde,
                         int64_t errCol0, float *codesT) {
  return HWY_DYNAMIC_DISPATCH(GptqGroupColumns)(f, r, xs, ldx, rows, s0, s1,
                                                u, ldu, colScale, maxInt, err,
                                                lde, errCol0, codesT);
}

} // namespace simd
} // namespace qopt::numerics

#endif // HWY_ONCE
