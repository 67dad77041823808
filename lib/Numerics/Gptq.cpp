//===- Gptq.cpp - GPTQ error compensation ----------------------*- C++ -*-===//
//
// GPTQ (Frantar et al., 2022, as AutoGPTQ implements it): the damped
// Hessian's inverse through Cholesky factors, then per row the columns
// quantized in order, each column's error spread on the later columns with
// the rows of the upper Cholesky factor U of H^-1, a block of columns at a
// time (the "lazy batch"). Every sum runs in a fixed order in double so
// that test/reference/calibrated.py gives the same bytes; rows are
// independent. docs/calibration.md, "GPTQ", gives the steps.
//
//===----------------------------------------------------------------------===//

#include "qopt/Numerics/Calibrated.h"
#include "qopt/Numerics/Convert.h"
#include "qopt/Numerics/DType.h"
#include "CalibratedSearch.h"
#include "Simd.h"
#include "SimdCalibrated.h"
#include "SimdGptq.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <numeric>

namespace qopt::numerics {

using namespace calibrated;

/// The steps below the scalar definitions of prepareGptq, through the
/// blocked Highway kernels (SimdCalibrated.h): the same operations in the
/// same order for every element, so the same bits. `a` and `p` are n x n
/// scratch; p holds the permuted, damped Hessian.
static std::string factorSimd(std::vector<double> &a, std::vector<double> &p,
                              size_t n, GptqFactor &out) {
  const auto k = int64_t(n);
  // L^T (= R, upper): row j of R is column j of L.
  std::fill(a.begin(), a.end(), 0.0);
  if (!simd::choleskyRows(p.data(), 1, k, k, a.data()))
    return "the Hessian is not positive definite after dampening "
           "(raise the dampening)";
  // L row-major in p (a transpose by tiles of 32 x 32).
  constexpr size_t T = 32;
  for (size_t i0 = 0; i0 < n; i0 += T)
    for (size_t j0 = 0; j0 < n; j0 += T)
      for (size_t i = i0; i < std::min(i0 + T, n); ++i)
        for (size_t j = j0; j < std::min(j0 + T, n); ++j)
          p[i * n + j] = a[j * n + i];
  // Linv row-major in a; Hinv's upper triangle in p.
  std::fill(a.begin(), a.end(), 0.0);
  simd::invertLower(p.data(), k, a.data());
  simd::gramUpper(a.data(), k, p.data());
  out.u.assign(n * n, 0.0);
  if (!simd::choleskyRows(p.data(), k, 1, k, out.u.data()))
    return "the inverse Hessian is not positive definite (raise the "
           "dampening)";
  return {};
}

std::string prepareGptq(const float *h, int64_t k, const GptqOptions &options,
                        GptqFactor &out) {
  if (k <= 0)
    return "empty Hessian";
  const size_t n = size_t(k);
  std::vector<double> a(n * n);
  for (size_t i = 0; i < n * n; ++i) {
    if (!std::isfinite(h[i]))
      return "the Hessian holds a non-finite value";
    a[i] = h[i];
  }
  // Columns no token reached: H_jj = 1, the weights zeroed.
  out.k = k;
  out.dead.assign(n, 0);
  for (size_t j = 0; j < n; ++j)
    if (a[j * n + j] == 0.0) {
      out.dead[j] = 1;
      a[j * n + j] = 1.0;
    }
  out.order.resize(n);
  std::iota(out.order.begin(), out.order.end(), int64_t(0));
  if (options.actOrder)
    std::stable_sort(out.order.begin(), out.order.end(),
                     [&](int64_t x, int64_t y) {
                       return a[size_t(x) * n + size_t(x)] >
                              a[size_t(y) * n + size_t(y)];
                     });
  double mean = 0;
  for (size_t j = 0; j < n; ++j)
    mean += a[j * n + j];
  mean = mean / double(k);
  const double damp = options.damp * mean;
  // P = the permuted Hessian, damped.
  std::vector<double> p(n * n);
  for (size_t i = 0; i < n; ++i)
    for (size_t j = 0; j < n; ++j)
      p[i * n + j] = a[size_t(out.order[i]) * n + size_t(out.order[j])];
  for (size_t j = 0; j < n; ++j)
    p[j * n + j] += damp;
  if (simd::enabled())
    return factorSimd(a, p, n, out);
  // L: P = L L^T (lower), column by column.
  std::vector<double> &l = a;
  std::fill(l.begin(), l.end(), 0.0);
  for (size_t j = 0; j < n; ++j) {
    for (size_t i = j; i < n; ++i) {
      double s = p[i * n + j];
      for (size_t t = 0; t < j; ++t)
        s -= l[i * n + t] * l[j * n + t];
      if (i == j) {
        if (!(s > 0))
          return "the Hessian is not positive definite after dampening "
                 "(raise the dampening)";
        l[j * n + j] = std::sqrt(s);
      } else {
        l[i * n + j] = s / l[j * n + j];
      }
    }
  }
  // Linv = L^-1 (lower), column by column; then Hinv = Linv^T Linv.
  // Linv is kept transposed (row c of `lit` = column c of Linv) and U
  // column-major so that every sum below reads memory contiguously; the
  // operations and their order are those of the row-major definitions.
  std::vector<double> &lit = p;
  std::fill(lit.begin(), lit.end(), 0.0);
  for (size_t c = 0; c < n; ++c) {
    double *col = lit.data() + c * n;
    col[c] = 1.0 / l[c * n + c];
    for (size_t i = c + 1; i < n; ++i) {
      const double *li = l.data() + i * n;
      double s = 0;
      for (size_t t = c; t < i; ++t)
        s += li[t] * col[t];
      col[i] = -s / l[i * n + i];
    }
  }
  std::vector<double> &hinv = l;
  for (size_t i = 0; i < n; ++i)
    for (size_t j = i; j < n; ++j) {
      const double *ci = lit.data() + i * n, *cj = lit.data() + j * n;
      double s = 0;
      for (size_t t = j; t < n; ++t)
        s += ci[t] * cj[t];
      hinv[i * n + j] = s;
    }
  // U: Hinv = U^T U (upper), row by row (Hinv's upper triangle is read);
  // ut holds U column-major.
  std::vector<double> &ut = lit;
  std::fill(ut.begin(), ut.end(), 0.0);
  for (size_t i = 0; i < n; ++i) {
    const double *ci = ut.data() + i * n;
    double s = hinv[i * n + i];
    for (size_t t = 0; t < i; ++t)
      s -= ci[t] * ci[t];
    if (!(s > 0))
      return "the inverse Hessian is not positive definite (raise the "
             "dampening)";
    const double uii = std::sqrt(s);
    ut[i * n + i] = uii;
    for (size_t j = i + 1; j < n; ++j) {
      const double *cj = ut.data() + j * n;
      double v = hinv[i * n + j];
      for (size_t t = 0; t < i; ++t)
        v -= ci[t] * cj[t];
      ut[j * n + i] = v / uii;
    }
  }
  std::vector<double> &u = out.u;
  u.assign(n * n, 0.0);
  for (size_t i = 0; i < n; ++i)
    for (size_t j = i; j < n; ++j)
      u[i * n + j] = ut[j * n + i];
  return {};
}

namespace {

/// Rows compensated together: the lazy-batch update of a tile is one
/// matrix product (simd::gptqLazyUpdate, SimdGptq.h) that reads each block
/// of U once per tile instead of once per row.
constexpr int64_t kTileRows = 64;
/// Columns of a block quantized one by one before the block's later columns
/// take their errors together (simd::gptqSubtractUpdate).
constexpr int64_t kSubBlock = 16;

/// GPTQ over rows of float32 values for any code rule whose parameters
/// are chosen per group of `groupSize` columns. `params(v, a, n, s, m, q)`
/// gives a group's scale and min from its values (q: room for n codes).
/// Writes each row's codes (as floats, in natural column order) and the
/// per-group (s, m). Rows are independent: every value is computed by the
/// same operations in the same order whatever the tile.
template <typename Params>
void gptqRows(const CodeRule &rule, const float *x0, int64_t rows, int64_t k,
              int64_t groupSize, const GptqFactor &f,
              const GptqOptions &options, const float *importance,
              Params params, float *codes, float *scales, float *mins) {
  const size_t n = size_t(k);
  const int64_t groups = (k + groupSize - 1) / groupSize;
  const int64_t block = std::max<int64_t>(options.blockSize, 1);
  const int64_t tile = std::min<int64_t>(rows, kTileRows);
  std::vector<double> xs(size_t(tile) * n), acc(n),
      err(static_cast<size_t>(tile * block));
  std::vector<float> v(static_cast<size_t>(groupSize)),
      q(static_cast<size_t>(groupSize));
  // The vector column step's scales and codes (sub-block x rows, rows
  // rounded up to a vector of at most 16 doubles).
  std::vector<float> colScale(size_t(kSubBlock * tile)),
      codesT(size_t(kSubBlock * (tile + 16)));
  for (int64_t r0 = 0; r0 < rows; r0 += tile) {
    const int64_t nr = std::min(tile, rows - r0);
    auto params1 = [&](int64_t r, int64_t g, const double *natural) {
      const int64_t begin = g * groupSize, len = std::min(groupSize, k - begin);
      for (int64_t i = 0; i < len; ++i)
        v[size_t(i)] = float(natural[size_t(begin + i)]);
      params(v.data(), importance ? importance + begin : nullptr, len,
             scales[r * groups + g], mins[r * groups + g], q.data());
    };
    for (int64_t i = 0; i < nr; ++i) {
      const int64_t r = r0 + i;
      double *x = xs.data() + size_t(i) * n;
      // x in processing order (without act-order, the natural order).
      for (size_t p = 0; p < n; ++p) {
        const size_t j = size_t(f.order[p]);
        x[p] = f.dead[j] ? 0.0 : double(x0[size_t(r) * n + j]);
      }
      if (options.actOrder) {
        // Static groups: the scales of the original (dead-zeroed) weights.
        for (size_t p = 0; p < n; ++p)
          acc[size_t(f.order[p])] = x[p];
        for (int64_t g = 0; g < groups; ++g)
          params1(r, g, acc.data());
      }
    }
    // Column p of row i: its code, and its error over U's diagonal (kept
    // in err for the updates).
    auto column = [&](int64_t i, int64_t b0, int64_t bl, int64_t pp) {
      const int64_t r = r0 + i;
      double *x = xs.data() + size_t(i) * n;
      float *s = scales + r * groups, *m = mins + r * groups;
      const size_t p = size_t(pp);
      const int64_t j = f.order[p];
      if (!options.actOrder && j % groupSize == 0)
        params1(r, j / groupSize, x);
      const int64_t g = j / groupSize;
      const float vj = float(x[p]);
      const float qj = rule.code(vj, s[g], m[g]);
      const float dj = rule.value(qj, s[g], m[g]);
      codes[r * k + j] = qj;
      const double e = (x[p] - double(dj)) / f.u[p * n + p];
      err[size_t(i * bl + (pp - b0))] = e;
      return e;
    };
    for (int64_t b0 = 0; b0 < k; b0 += block) {
      const int64_t b1 = std::min(b0 + block, k), bl = b1 - b0;
      if (!simd::enabled()) {
        // The definition: each column's error subtracted at once from the
        // block's later columns.
        for (int64_t i = 0; i < nr; ++i) {
          double *x = xs.data() + size_t(i) * n;
          for (int64_t pp = b0; pp < b1; ++pp) {
            const size_t p = size_t(pp);
            const double e = column(i, b0, bl, pp);
            const double *urow = f.u.data() + p * n;
            for (size_t p2 = p + 1; p2 < size_t(b1); ++p2) {
              double t = e * urow[p2];
              x[p2] -= t;
            }
          }
        }
      } else {
        // The same subtractions in the same order per element, sub-blocks
        // of kSubBlock columns at a time: inside one, column by column;
        // the block's columns after it take the sub-block's errors by one
        // register-blocked product over the tile's rows. A sub-block ends
        // before a group's first column (without act-order its scale is
        // chosen there from the group's values, which must then hold every
        // earlier column's terms).
        for (int64_t s0 = b0, s1; s0 < b1; s0 = s1) {
          s1 = std::min(s0 + kSubBlock, b1);
          if (!options.actOrder)
            s1 = std::min(s1, (s0 / groupSize + 1) * groupSize);
          if (rule.mlcCodes) {
            // Group modes: the column step for all rows by vectors
            // (simd::gptqGroupColumns); a group's scale first if the
            // sub-block starts one (only its first column can).
            if (!options.actOrder && f.order[size_t(s0)] % groupSize == 0)
              for (int64_t i = 0; i < nr; ++i)
                params1(r0 + i, f.order[size_t(s0)] / groupSize,
                        xs.data() + size_t(i) * n);
            for (int64_t pp = s0; pp < s1; ++pp)
              for (int64_t i = 0; i < nr; ++i)
                colScale[size_t((pp - s0) * nr + i)] =
                    scales[(r0 + i) * groups + f.order[size_t(pp)] / groupSize];
            const int64_t rp = simd::gptqGroupColumns(
                rule.scaleFormat, rule.mlcRounding, xs.data(), k, nr, s0, s1,
                f.u.data(), k, colScale.data(), rule.hi, err.data(), bl,
                s0 - b0, codesT.data());
            for (int64_t pp = s0; pp < s1; ++pp)
              for (int64_t i = 0; i < nr; ++i)
                codes[(r0 + i) * k + f.order[size_t(pp)]] =
                    codesT[size_t((pp - s0) * rp + i)];
          } else
          // Columns outer, rows inner: the rows' chains (each column's
          // code waits for the previous column's update) overlap.
          for (int64_t pp = s0; pp < s1; ++pp) {
            const size_t p = size_t(pp);
            const double *urow = f.u.data() + p * n;
            for (int64_t i = 0; i < nr; ++i) {
              double *x = xs.data() + size_t(i) * n;
              const double e = column(i, b0, bl, pp);
              for (size_t p2 = p + 1; p2 < size_t(s1); ++p2) {
                double t = e * urow[p2];
                x[p2] -= t;
              }
            }
          }
          if (s1 < b1)
            simd::gptqSubtractUpdate(err.data() + (s0 - b0), bl, nr, s1 - s0,
                                     f.u.data() + size_t(s0) * n, k, s1, b1,
                                     xs.data(), k);
        }
      }
      if (b1 == k)
        break;
      // x[p2] -= sum over the block's columns, in order, of e * U[pp][p2].
      simd::gptqLazyUpdate(err.data(), bl, nr, bl, f.u.data() + size_t(b0) * n,
                           k, b1, k, xs.data(), k);
    }
  }
}

} // namespace

void gptqGroupQuantizeRows(const void *w, int64_t rows, int64_t k,
                           const GroupQuantSpec &spec, const GptqFactor &f,
                           const GptqOptions &options, const float *importance,
                           uint32_t *qweight, void *scale) {
  if (!validateGroupQuantSpec(spec).empty() || rows <= 0 || k <= 0 ||
      f.k != k)
    return;
  const FloatFormat format = spec.modelFormat;
  const size_t es = format == FloatFormat::F32 ? 4 : 2;
  const int bits = spec.bits;
  const int64_t gs = spec.groupSize, groups = groupsPerRow(spec, k);
  const int64_t words = wordsPerRow(spec, k), epw = elemsPerWord(bits);
  const auto maxInt = float(maxIntValue(bits));
  CodeRule rule{-maxInt, maxInt, false, false, format, false, true,
                spec.rounding};
  auto *in = static_cast<const unsigned char *>(w);
  const DType srcType = format == FloatFormat::F32    ? DType::F32
                        : format == FloatFormat::BF16 ? DType::BF16
                                                      : DType::F16;
  auto *scaleOut = static_cast<unsigned char *>(scale);
  const size_t tileK = size_t(kTileRows * k), tileG = size_t(kTileRows * groups);
  std::vector<float> x(tileK), codes(tileK), tmp(static_cast<size_t>(gs));
  std::vector<float> s(tileG), m(tileG);
  // A group's scale: MLC's rule on the values rounded to the model format,
  // then, with an importance, the weighted search from there.
  auto params = [&](const float *v, const float *a, int64_t n, float &sc,
                    float &mn, float *q) {
    for (int64_t i = 0; i < n; ++i)
      tmp[size_t(i)] = roundTo(v[i], format);
    plainParams(rule, maxInt, tmp.data(), n, sc, mn);
    if (!a || !std::isfinite(sc))
      return;
    bool nonzero = false;
    double total = 0;
    for (int64_t i = 0; i < n; ++i) {
      nonzero |= v[i] != 0.0f;
      total += double(a[i]);
    }
    if (!nonzero || !(total > 0))
      return;
    for (int64_t i = 0; i < n; ++i)
      q[i] = rule.code(v[i], sc, mn);
    std::vector<float> scratch(static_cast<size_t>(n));
    weightedSearch(rule, v, a, n, sc, mn, q, scratch.data());
  };
  // Finite rows wait in `batch` (their values in x) for a tile of GPTQ.
  std::vector<int64_t> batch;
  auto flush = [&] {
    const auto nb = int64_t(batch.size());
    if (nb == 0)
      return;
    gptqRows(rule, x.data(), nb, k, gs, f, options, importance, params,
             codes.data(), s.data(), m.data());
    for (int64_t b = 0; b < nb; ++b) {
      const int64_t row = batch[size_t(b)];
      uint32_t *qRow = qweight + row * words;
      unsigned char *sRow = scaleOut + size_t(row * groups) * es;
      const float *c = codes.data() + b * k;
      // Group g's word w holds its codes w epw .. w epw + epw - 1; as gs
      // is a multiple of epw, that is word i / epw of the row for code i.
      std::memset(qRow, 0, size_t(words) * 4);
      for (int64_t i0 = 0, wi = 0; i0 < k; i0 += epw, ++wi) {
        uint32_t word = 0;
        for (int64_t e = 0; e < epw && i0 + e < k; ++e)
          word |= uint32_t(int32_t(c[size_t(i0 + e)] + maxInt))
                  << (e * bits);
        qRow[wi] = word;
      }
      for (int64_t g = 0; g < groups; ++g)
        storeModelValue(s[size_t(b * groups + g)], format,
                        sRow + size_t(g) * es);
    }
    batch.clear();
  };
  for (int64_t row = 0; row < rows; ++row) {
    const unsigned char *wRow = in + size_t(row * k) * es;
    float *xr = x.data() + int64_t(batch.size()) * k;
    // The row as float (exact; the SIMD casts), then whether all finite.
    convertElements(wRow, srcType, xr, DType::F32, size_t(k));
    bool finite = true;
    for (int64_t i = 0; i < k; ++i)
      finite &= std::isfinite(xr[size_t(i)]);
    if (!finite) {
      // MLC's rounding for a row GPTQ cannot handle.
      groupQuantizeRows(wRow, 1, k, spec, qweight + row * words,
                        scaleOut + size_t(row * groups) * es);
      continue;
    }
    batch.push_back(row);
    if (int64_t(batch.size()) == kTileRows)
      flush();
  }
  flush();
}

void gptqMnnQuantizeRows(const float *w, int64_t rows, int64_t k,
                         const MnnQuantSpec &spec, const GptqFactor &f,
                         const GptqOptions &options, const float *importance,
                         uint8_t *packed, float *scale, float *zero) {
  if (!validateMnnQuantSpec(spec).empty() || rows <= 0 || k <= 0 ||
      f.k != k || (spec.asymmetric && !zero))
    return;
  const int64_t blocks = mnnBlocksPerRow(spec, k), bs = k / blocks;
  const int64_t rowBytes = mnnPackedRowBytes(spec, k);
  const auto [offset, rule] = mnnCodes(spec);
  std::vector<float> codes(size_t(kTileRows * k)),
      s(size_t(kTileRows * blocks)), m(size_t(kTileRows * blocks));
  std::vector<uint8_t> u(static_cast<size_t>(k));
  auto params = [&](const float *v, const float *a, int64_t n, float &sc,
                    float &mn, float *q) {
    plainParams(rule, rule.hi, v, n, sc, mn);
    if (!a || !rule.usable(sc) || !std::isfinite(sc))
      return;
    double total = 0;
    for (int64_t i = 0; i < n; ++i)
      total += double(a[i]);
    if (!(total > 0))
      return;
    for (int64_t i = 0; i < n; ++i)
      q[i] = rule.code(v[i], sc, mn);
    std::vector<float> scratch(static_cast<size_t>(n));
    weightedSearch(rule, v, a, n, sc, mn, q, scratch.data());
  };
  auto finiteRow = [&](int64_t row) {
    return std::all_of(w + row * k, w + (row + 1) * k,
                       [](float v) { return std::isfinite(v); });
  };
  for (int64_t row = 0; row < rows;) {
    if (!finiteRow(row)) {
      MnnQuantSpec plain = spec;
      plain.hqq = false;
      mnnQuantizeRows(w + row * k, 1, k, plain, packed + row * rowBytes,
                      scale + row * blocks,
                      spec.asymmetric ? zero + row * blocks : nullptr);
      ++row;
      continue;
    }
    // A tile of consecutive finite rows.
    int64_t nr = 1;
    while (nr < kTileRows && row + nr < rows && finiteRow(row + nr))
      ++nr;
    gptqRows(rule, w + row * k, nr, k, bs, f, options, importance, params,
             codes.data(), s.data(), m.data());
    for (int64_t t = 0; t < nr; ++t, ++row) {
      for (int64_t i = 0; i < k; ++i)
        u[size_t(i)] = uint8_t(int(codes[size_t(t * k + i)]) + offset);
      mnnPackCodes(u.data(), k, spec.bits, packed + row * rowBytes);
      for (int64_t b = 0; b < blocks; ++b) {
        scale[row * blocks + b] = s[size_t(t * blocks + b)];
        if (spec.asymmetric)
          zero[row * blocks + b] = m[size_t(t * blocks + b)];
      }
    }
  }
}

} // namespace qopt::numerics
