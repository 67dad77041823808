//===- SimdCalibrated.cpp - Highway kernels of GPTQ -------------*- C++ -*-===//
//
// The O(k^3) steps of prepareGptq (Gptq.cpp): two Cholesky
// factorizations, a triangular inverse and its Gram product, blocked so
// that each vector load serves 8 rows, with the rows they reuse packed
// (GPTQ's row phase is SimdGptq.cpp). Scalable targets (SVE, RVV), whose vectors cannot live in arrays, run
// the scalar definitions of the blocked kernels (same bits). Every element's sum
// runs over the block's columns in ascending order from +0, each product
// rounded before it is added (no FMA: the library builds with
// -ffp-contract=off), exactly as the scalar definition in Gptq.cpp, so the
// bytes do not depend on the target or the tile. Compiled once per Highway
// target (foreach_target); the HWY_ONCE part holds the dispatch
// (SimdCalibrated.h).
//
//===----------------------------------------------------------------------===//

// The register blocks below are arrays of vectors, which SVE's sizeless
// vector types do not allow: on Arm this file compiles for NEON only (its
// dispatch, which is per file, then runs NEON on SVE CPUs; the bytes are
// the same on every target). Found by the Arm cross build, test/arm/run.sh.
#if defined(__aarch64__) && !defined(HWY_DISABLED_TARGETS)
#define HWY_DISABLED_TARGETS (HWY_SVE | HWY_SVE2 | HWY_SVE_256 | HWY_SVE2_128)
#endif

#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "lib/Numerics/SimdCalibrated.cpp"
#include <hwy/foreach_target.h> // IWYU pragma: keep

#include <hwy/highway.h>

#include "SimdRules-inl.h"

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <vector>

HWY_BEFORE_NAMESPACE();
namespace qopt::numerics::HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

/// Rows of a factor per cache chunk: about 1 MiB of them (half an L2).
inline int64_t chunkRows(int64_t n) {
  return std::max<int64_t>(8, std::min<int64_t>(96, (int64_t(1) << 17) / n));
}

/// Rows [i0, i1) of the upper factor R of a left-looking Cholesky (see
/// simd::choleskyRows), from V[b n + j] = A(i0 + b, j) for j >= i0.
/// Returns false at a pivot that is not positive.
template <class D>
HWY_INLINE bool CholeskyBlock(D d, int64_t n, int64_t tStart, int64_t i0,
                              int64_t i1, double *HWY_RESTRICT v,
                              double *HWY_RESTRICT r) {
  const int64_t nb = i1 - i0;
  // The rows tStart <= t < i0 of R (those before tStart are subtracted
  // already), from the block's rows, t ascending.
  int64_t j = i0;
#if HWY_HAVE_SCALABLE
  (void)d;
#else
  constexpr int64_t IB = 8;
  const auto N = int64_t(hn::Lanes(d));
  using V = hn::Vec<D>;
  if (nb == IB) {
    for (; j + 2 * N <= n; j += 2 * N) {
      V a0[IB], a1[IB];
      for (int64_t b = 0; b < IB; ++b) {
        a0[b] = hn::LoadU(d, v + b * n + j);
        a1[b] = hn::LoadU(d, v + b * n + j + N);
      }
      for (int64_t t = tStart; t < i0; ++t) {
        const double *rt = r + t * n;
        const V u0 = hn::LoadU(d, rt + j), u1 = hn::LoadU(d, rt + j + N);
        for (int64_t b = 0; b < IB; ++b) {
          const V c = hn::Set(d, rt[i0 + b]);
          a0[b] = hn::Sub(a0[b], hn::Mul(c, u0));
          a1[b] = hn::Sub(a1[b], hn::Mul(c, u1));
        }
      }
      for (int64_t b = 0; b < IB; ++b) {
        hn::StoreU(a0[b], d, v + b * n + j);
        hn::StoreU(a1[b], d, v + b * n + j + N);
      }
    }
  }
#endif
  for (; j < n; ++j)
    for (int64_t b = 0; b < nb; ++b) {
      double x = v[b * n + j];
      for (int64_t t = tStart; t < i0; ++t) {
        double p = r[t * n + i0 + b] * r[t * n + j];
        x -= p;
      }
      v[b * n + j] = x;
    }
  // Then the block's own rows, in order.
  for (int64_t b = 0; b < nb; ++b) {
    const int64_t i = i0 + b;
    double *vb = v + b * n;
    for (int64_t jj = i; jj < n; ++jj) {
      double x = vb[jj];
      for (int64_t t = i0; t < i; ++t) {
        double p = r[t * n + i] * r[t * n + jj];
        x -= p;
      }
      vb[jj] = x;
    }
    const double s = vb[i];
    if (!(s > 0))
      return false;
    const double rii = std::sqrt(s);
    r[i * n + i] = rii;
    for (int64_t jj = i + 1; jj < n; ++jj)
      r[i * n + jj] = vb[jj] / rii;
  }
  return true;
}

/// Rows [t0, t1) of a row-major n x n factor, columns [c0, c0 + nch W),
/// packed by column chunks of W = 2N: pk[(c (t1 - t0) + t - t0) W + lane].
/// The factor's rows are n apart (a multiple of 4 KiB for the usual n, so a
/// column chunk falls in one L1 set and the hardware prefetchers, which stay
/// inside a page, do not follow it); the packed chunk is read in order.
template <class D>
HWY_INLINE void PackChunk(D d, const double *HWY_RESTRICT r, int64_t n,
                          int64_t t0, int64_t t1, int64_t c0, int64_t nch,
                          double *HWY_RESTRICT pk) {
  const auto N = int64_t(hn::Lanes(d)), W = 2 * N;
  for (int64_t c = 0; c < nch; ++c)
    for (int64_t t = t0; t < t1; ++t) {
      const double *src = r + t * n + c0 + c * W;
      double *dst = pk + (c * (t1 - t0) + t - t0) * W;
      hn::StoreU(hn::LoadU(d, src), d, dst);
      hn::StoreU(hn::LoadU(d, src + N), d, dst + N);
    }
}

/// V[b n + j] -= R[t][i0 + b] R[t][j] for t in [t0, t1) ascending, the
/// rows b < nb, the columns j >= i0 (and, for full blocks, any j >= the
/// start of i0's column chunk: those land left of the diagonal, which
/// nothing reads). pk: R's rows [t0, t1) packed from column c0 (PackChunk,
/// nch chunks); coef: room for IB (t1 - t0) values.
template <class D>
HWY_INLINE void SubtractRows(D d, int64_t n, int64_t t0, int64_t t1,
                             int64_t i0, int64_t nb, double *HWY_RESTRICT v,
                             const double *HWY_RESTRICT r,
                             const double *HWY_RESTRICT pk, int64_t c0,
                             int64_t nch, double *HWY_RESTRICT coef) {
  int64_t j = i0;
#if HWY_HAVE_SCALABLE
  (void)d;
  (void)pk;
  (void)c0;
  (void)nch;
  (void)coef;
#else
  constexpr int64_t IB = 8;
  const auto N = int64_t(hn::Lanes(d)), W = 2 * N;
  using V = hn::Vec<D>;
  if (nb == IB && nch > (i0 - c0) / W) {
    const int64_t tn = t1 - t0;
    for (int64_t t = t0; t < t1; ++t)
      for (int64_t b = 0; b < IB; ++b)
        coef[(t - t0) * IB + b] = r[t * n + i0 + b];
    for (int64_t c = (i0 - c0) / W; c < nch; ++c) {
      j = c0 + c * W;
      V a0[IB], a1[IB];
      for (int64_t b = 0; b < IB; ++b) {
        a0[b] = hn::LoadU(d, v + b * n + j);
        a1[b] = hn::LoadU(d, v + b * n + j + N);
      }
      const double *pc = pk + c * tn * W;
      for (int64_t t = 0; t < tn; ++t) {
        const V u0 = hn::LoadU(d, pc + t * W),
                u1 = hn::LoadU(d, pc + t * W + N);
        for (int64_t b = 0; b < IB; ++b) {
          const V cv = hn::Set(d, coef[t * IB + b]);
          a0[b] = hn::Sub(a0[b], hn::Mul(cv, u0));
          a1[b] = hn::Sub(a1[b], hn::Mul(cv, u1));
        }
      }
      for (int64_t b = 0; b < IB; ++b) {
        hn::StoreU(a0[b], d, v + b * n + j);
        hn::StoreU(a1[b], d, v + b * n + j + N);
      }
    }
    j = c0 + nch * W;
  }
#endif
  for (; j < n; ++j)
    for (int64_t b = 0; b < nb; ++b) {
      double x = v[b * n + j];
      for (int64_t t = t0; t < t1; ++t) {
        double p = r[t * n + i0 + b] * r[t * n + j];
        x -= p;
      }
      v[b * n + j] = x;
    }
}

bool CholeskyRows(const double *a, int64_t lda, int64_t ldb, int64_t n,
                  double *r, double *v) {
  const hn::ScalableTag<double> d;
  constexpr int64_t IB = 8, P = 64;
  const int64_t TC = chunkRows(n);
  const auto W = 2 * int64_t(hn::Lanes(d));
  std::vector<double> pk(size_t(TC * n)), coef(size_t(TC * IB));
  // Panels of P rows: the rows above a panel are subtracted from all of it
  // in chunks of TC rows of R that stay in cache (packed); inside the
  // panel, blocks of IB rows left-looking. Every element still subtracts
  // its terms in ascending t.
  for (int64_t p0 = 0; p0 < n; p0 += P) {
    const int64_t p1 = std::min(p0 + P, n);
    // The panel's rows of A, read along A's memory (a transposed A, lda 1,
    // is read a row of memory per j).
    if (lda < ldb) {
      for (int64_t j = p0; j < n; ++j)
        for (int64_t b = 0; b < p1 - p0; ++b)
          v[b * n + j] = a[(p0 + b) * lda + j * ldb];
    } else {
      for (int64_t b = 0; b < p1 - p0; ++b)
        for (int64_t j = p0; j < n; ++j)
          v[b * n + j] = a[(p0 + b) * lda + j * ldb];
    }
    const int64_t nch = HWY_HAVE_SCALABLE ? 0 : (n - p0) / W;
    for (int64_t t0 = 0; t0 < p0; t0 += TC) {
      const int64_t t1 = std::min(t0 + TC, p0);
#if !HWY_HAVE_SCALABLE
      PackChunk(d, r, n, t0, t1, p0, nch, pk.data());
#endif
      for (int64_t i0 = p0; i0 < p1; i0 += IB)
        SubtractRows(d, n, t0, t1, i0, std::min(IB, p1 - i0),
                     v + (i0 - p0) * n, r, pk.data(), p0, nch, coef.data());
    }
    for (int64_t i0 = p0; i0 < p1; i0 += IB)
      if (!CholeskyBlock(d, n, p0, i0, std::min(i0 + IB, p1),
                         v + (i0 - p0) * n, r))
        return false;
  }
  return true;
}

#if !HWY_HAVE_SCALABLE
/// Row i of Linv in the columns [c0, c0 + 4N) from its sums a[0..3] (over
/// t in [c0, i)): -s / L[i][i], with the diagonal 1 / L[i][i] and zeros
/// above it; also copied to row i - c0 of the panel.
template <class D, class V>
HWY_INLINE void FinishInverseRow(D d, int64_t n, int64_t c0, int64_t i,
                                 const double *HWY_RESTRICT l, const V *a,
                                 double *HWY_RESTRICT li,
                                 double *HWY_RESTRICT panel) {
  const auto N = int64_t(hn::Lanes(d));
  const double lii = l[i * n + i];
  const V vlii = hn::Set(d, lii);
  double *out = li + i * n + c0;
  for (int64_t q = 0; q < 4; ++q)
    hn::StoreU(hn::Div(hn::Neg(a[q]), vlii), d, out + q * N);
  for (int64_t c = std::max(c0, i); c < c0 + 4 * N; ++c)
    out[c - c0] = c == i ? 1.0 / lii : 0.0;
  for (int64_t q = 0; q < 4; ++q)
    hn::StoreU(hn::LoadU(d, out + q * N), d, panel + (i - c0) * 4 * N + q * N);
}

/// Columns [c0, c0 + 4N) of Linv, row-major (see simd::invertLower), read
/// back from the panel (rows t - c0 of 4N); rows RB at a time: they take their terms t < i (the first row's) with shared
/// loads, then each row, once the rows before it are done, their terms in
/// order (ascending t for every row).
template <class D>
HWY_INLINE void InvertColumns(D d, int64_t n, int64_t c0,
                              const double *HWY_RESTRICT l,
                              double *HWY_RESTRICT li,
                              double *HWY_RESTRICT panel) {
  constexpr int64_t RB = 4;
  const auto N = int64_t(hn::Lanes(d));
  using V = hn::Vec<D>;
  int64_t i = c0;
  for (; i + RB <= n; i += RB) {
    V a[RB][4];
    for (int64_t r = 0; r < RB; ++r)
      for (int64_t q = 0; q < 4; ++q)
        a[r][q] = hn::Zero(d);
    for (int64_t t = c0; t < i; ++t) {
      const double *row = panel + (t - c0) * 4 * N;
      V u[4];
      for (int64_t q = 0; q < 4; ++q)
        u[q] = hn::LoadU(d, row + q * N);
      for (int64_t r = 0; r < RB; ++r) {
        const V c = hn::Set(d, l[(i + r) * n + t]);
        for (int64_t q = 0; q < 4; ++q)
          a[r][q] = hn::Add(a[r][q], hn::Mul(c, u[q]));
      }
    }
    for (int64_t r = 0; r < RB; ++r) {
      for (int64_t t = i; t < i + r; ++t) {
        const double *row = panel + (t - c0) * 4 * N;
        const V c = hn::Set(d, l[(i + r) * n + t]);
        for (int64_t q = 0; q < 4; ++q)
          a[r][q] = hn::Add(a[r][q], hn::Mul(c, hn::LoadU(d, row + q * N)));
      }
      FinishInverseRow(d, n, c0, i + r, l, a[r], li, panel);
    }
  }
  for (; i < n; ++i) {
    V a[4];
    for (int64_t q = 0; q < 4; ++q)
      a[q] = hn::Zero(d);
    for (int64_t t = c0; t < i; ++t) {
      const double *row = panel + (t - c0) * 4 * N;
      const V c = hn::Set(d, l[i * n + t]);
      for (int64_t q = 0; q < 4; ++q)
        a[q] = hn::Add(a[q], hn::Mul(c, hn::LoadU(d, row + q * N)));
    }
    FinishInverseRow(d, n, c0, i, l, a, li, panel);
  }
}

#endif // !HWY_HAVE_SCALABLE
void InvertLower(const double *l, int64_t n, double *li) {
  int64_t c0 = 0;
#if !HWY_HAVE_SCALABLE
  const hn::ScalableTag<double> d;
  const auto W = 4 * int64_t(hn::Lanes(d));
  // The column block's finished rows, packed: Linv's rows are n apart (a
  // multiple of 4 KiB for the usual n, one L1 set), the panel's 4N.
  std::vector<double> panel(size_t(n * W));
  for (; c0 + W <= n; c0 += W)
    InvertColumns(d, n, c0, l, li, panel.data());
#endif
  // The last columns one at a time, as the scalar definition.
  for (int64_t c = c0; c < n; ++c) {
    li[c * n + c] = 1.0 / l[c * n + c];
    for (int64_t i = c + 1; i < n; ++i) {
      double s = 0;
      for (int64_t t = c; t < i; ++t) {
        double p = l[i * n + t] * li[t * n + c];
        s += p;
      }
      li[i * n + c] = -s / l[i * n + i];
    }
  }
}

void GramUpper(const double *li, int64_t n, double *g) {
  auto scalar = [&](int64_t i, int64_t j) {
    double s = 0;
    for (int64_t t = j; t < n; ++t) {
      double p = li[t * n + i] * li[t * n + j];
      s += p;
    }
    g[i * n + j] = s;
  };
  // Rows of li in chunks of TC that stay in cache (packed, PackChunk) while
  // every block of 8 rows of g takes their terms; partial sums wait in g
  // between chunks (the terms of each element are still added in ascending
  // t from +0; terms with t < j, or t < i, are products with li[t][j] = 0
  // or li[t][i] = 0, which leave +0 unchanged, so a vector starts at
  // t = max(its first column, i0)).
#if HWY_HAVE_SCALABLE
  const int64_t fullI = 0;
#else
  const hn::ScalableTag<double> d;
  const auto N = int64_t(hn::Lanes(d)), W = 2 * N;
  using V = hn::Vec<decltype(d)>;
  constexpr int64_t IB = 8;
  const int64_t TC = chunkRows(n);
  const int64_t fullI = n / IB * IB, nch = n / W;
  std::vector<double> pk(size_t(TC * n)), coef(size_t(TC * IB));
  for (int64_t t0 = 0; t0 < n; t0 += TC) {
    const int64_t t1 = std::min(t0 + TC, n), tn = t1 - t0;
    PackChunk(d, li, n, t0, t1, 0, nch, pk.data());
    for (int64_t i0 = 0; i0 < fullI && i0 < t1; i0 += IB) {
      for (int64_t t = t0; t < t1; ++t)
        for (int64_t b = 0; b < IB; ++b)
          coef[(t - t0) * IB + b] = li[t * n + i0 + b];
      for (int64_t c = i0 / W; c < nch; ++c) {
        const int64_t j = c * W, jt = std::max(j, i0);
        if (jt >= t1)
          break;
        V a0[IB], a1[IB];
        const bool first = jt >= t0;
        for (int64_t b = 0; b < IB; ++b) {
          double *gb = g + (i0 + b) * n + j;
          a0[b] = first ? hn::Zero(d) : hn::LoadU(d, gb);
          a1[b] = first ? hn::Zero(d) : hn::LoadU(d, gb + N);
        }
        const double *pc = pk.data() + c * tn * W;
        for (int64_t t = std::max(t0, jt) - t0; t < tn; ++t) {
          const V u0 = hn::LoadU(d, pc + t * W),
                  u1 = hn::LoadU(d, pc + t * W + N);
          for (int64_t b = 0; b < IB; ++b) {
            const V cv = hn::Set(d, coef[t * IB + b]);
            a0[b] = hn::Add(a0[b], hn::Mul(cv, u0));
            a1[b] = hn::Add(a1[b], hn::Mul(cv, u1));
          }
        }
        // Lanes j < i land in the lower triangle, which nothing reads.
        for (int64_t b = 0; b < IB; ++b) {
          hn::StoreU(a0[b], d, g + (i0 + b) * n + j);
          hn::StoreU(a1[b], d, g + (i0 + b) * n + j + N);
        }
      }
    }
  }
  // What the blocks left: the last columns of each row block, the last rows.
  for (int64_t i0 = 0; i0 < fullI; i0 += IB)
    for (int64_t b = 0; b < IB; ++b)
      for (int64_t jj = std::max(nch * W, i0 + b); jj < n; ++jj)
        scalar(i0 + b, jj);
#endif
  const int64_t i0 = fullI;
  for (int64_t i = i0; i < n; ++i)
    for (int64_t j = i; j < n; ++j)
      scalar(i, j);
}


/// The weighted search's per-element terms for one candidate scale of the
/// group rule (see simd::weightedTerms).
template <FloatFormat F, RoundingMode R>
void WeightedTermsT(const float *x, const float *a, int64_t n, float s,
                    float hi, float *q, float *te, float *tx, float *tq) {
  const hn::ScalableTag<float> df;
  const auto N = int64_t(hn::Lanes(df));
  const auto vs = hn::Set(df, s), vmax = hn::Set(df, hi),
             vtop = hn::Set(df, 2 * hi);
  int64_t i = 0;
  for (; i + N <= n; i += N) {
    const auto xv = hn::LoadU(df, x + i);
    const auto code =
        hn::Sub(QuantizeValues<F, R>(df, xv, vs, vmax, vtop), vmax);
    hn::StoreU(code, df, q + i);
    const auto av = hn::LoadU(df, a + i);
    const auto e = hn::Sub(xv, hn::Mul(code, vs));
    hn::StoreU(hn::Mul(av, hn::Mul(e, e)), df, te + i);
    const auto aq = hn::Mul(av, code);
    hn::StoreU(hn::Mul(aq, xv), df, tx + i);
    hn::StoreU(hn::Mul(aq, code), df, tq + i);
  }
  for (; i < n; ++i) {
    const float code =
        float(int32_t(rules::quantizeValue<F, R>(x[i], s, hi, 2 * hi))) - hi;
    q[i] = code;
    float e = x[i] - code * s;
    float t = e * e;
    te[i] = a[i] * t;
    float aq = a[i] * code;
    tx[i] = aq * x[i];
    tq[i] = aq * code;
  }
}

void WeightedTerms(FloatFormat f, RoundingMode r, const float *x,
                   const float *a, int64_t n, float s, float hi, float *q,
                   float *te, float *tx, float *tq) {
  using FF = FloatFormat;
  using RM = RoundingMode;
  const bool away = r == RM::NearestAway;
  switch (f) {
  case FF::F16:
    return away ? WeightedTermsT<FF::F16, RM::NearestAway>(x, a, n, s, hi, q,
                                                           te, tx, tq)
                : WeightedTermsT<FF::F16, RM::NearestEven>(x, a, n, s, hi, q,
                                                           te, tx, tq);
  case FF::BF16:
    return away ? WeightedTermsT<FF::BF16, RM::NearestAway>(x, a, n, s, hi,
                                                            q, te, tx, tq)
                : WeightedTermsT<FF::BF16, RM::NearestEven>(x, a, n, s, hi,
                                                            q, te, tx, tq);
  case FF::F32:
    return away ? WeightedTermsT<FF::F32, RM::NearestAway>(x, a, n, s, hi, q,
                                                           te, tx, tq)
                : WeightedTermsT<FF::F32, RM::NearestEven>(x, a, n, s, hi, q,
                                                           te, tx, tq);
  }
}

} // namespace qopt::numerics::HWY_NAMESPACE
HWY_AFTER_NAMESPACE();

#if HWY_ONCE

#include "Simd.h"
#include "SimdCalibrated.h"

namespace qopt::numerics {

HWY_EXPORT(CholeskyRows);
HWY_EXPORT(InvertLower);
HWY_EXPORT(GramUpper);
HWY_EXPORT(WeightedTerms);

namespace simd {

bool choleskyRows(const double *a, int64_t lda, int64_t ldb, int64_t n,
                  double *r) {
  std::vector<double> v(size_t(64 * n));
  return HWY_DYNAMIC_DISPATCH(CholeskyRows)(a, lda, ldb, n, r, v.data());
}

void invertLower(const double *l, int64_t n, double *li) {
  HWY_DYNAMIC_DISPATCH(InvertLower)(l, n, li);
}

void gramUpper(const double *li, int64_t n, double *g) {
  HWY_DYNAMIC_DISPATCH(GramUpper)(li, n, g);
}

void weightedTerms(FloatFormat f, RoundingMode r, const float *x,
                   const float *a, int64_t n, float s, float hi, float *q,
                   float *te, float *tx, float *tq) {
  HWY_DYNAMIC_DISPATCH(WeightedTerms)(f, r, x, a, n, s, hi, q, te, tx, tq);
}

} // namespace simd
} // namespace qopt::numerics

#endif // HWY_ONCE
