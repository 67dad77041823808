//===- AwqSearch.cpp - Activation-aware weight scaling (AWQ) ----*- C++ -*-===//
//
// The scale search of AWQ (qopt/Numerics/AwqSearch.h). Single-threaded and
// in a fixed order: the same bytes for any number of threads of the caller.
//
//===----------------------------------------------------------------------===//

#include "qopt/Numerics/AwqSearch.h"

#include "SimdAwq.h"

#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

namespace qopt::numerics {

void awqScalesForRatio(const float *imatrix, int64_t k, double alpha,
                       float *scales) {
  if (k <= 0)
    return;
  std::vector<double> t(static_cast<size_t>(k));
  double lo = 0, hi = 0;
  for (int64_t i = 0; i < k; ++i) {
    double m = std::sqrt(static_cast<double>(imatrix[i]));
    t[i] = std::max(std::pow(m, alpha), 1e-4);
    lo = i == 0 ? t[i] : std::min(lo, t[i]);
    hi = i == 0 ? t[i] : std::max(hi, t[i]);
  }
  double norm = std::sqrt(hi * lo);
  for (int64_t i = 0; i < k; ++i)
    scales[i] = static_cast<float>(t[i] / norm);
}

/// Adds the loss of `rows` rows of `k` values `w` (quantDequant made `q` of
/// their scaled copies) to `loss`, row by row in order: awqLoss's sum. With
/// a Hessian, `e` holds k doubles; without, `inv` holds the float32 inverse
/// scales and `rowLoss` `rows` floats.
static void addRowsLoss(const float *w, const float *q, int64_t rows,
                        int64_t k, const float *imatrix, const float *hessian,
                        const float *scales, const float *inv, double *e,
                        std::vector<float> &rowLoss, double &loss) {
  if (!hessian) {
    rowLoss.resize(size_t(rows));
    simd::awqDiagRowLosses(w, q, rows, k, inv, imatrix, rowLoss.data());
    for (int64_t r = 0; r < rows; ++r)
      loss += static_cast<double>(rowLoss[size_t(r)]);
    return;
  }
  for (int64_t r = 0; r < rows; ++r) {
    const float *row = w + r * k;
    const float *qr = q + r * k;
    for (int64_t c = 0; c < k; ++c)
      e[c] = static_cast<double>(qr[c]) / static_cast<double>(scales[c]) -
             static_cast<double>(row[c]);
    for (int64_t i = 0; i < k; ++i) {
      const float *h = hessian + i * k;
      // Four partial sums (j mod 4), added in a fixed order: the same
      // result everywhere, and loops the compiler can vectorize.
      double d[4] = {0, 0, 0, 0};
      int64_t j = 0;
      for (; j + 4 <= k; j += 4)
        for (int l = 0; l < 4; ++l)
          d[l] += static_cast<double>(h[j + l]) * e[j + l];
      for (; j < k; ++j)
        d[j % 4] += static_cast<double>(h[j]) * e[j];
      loss += e[i] * ((d[0] + d[1]) + (d[2] + d[3]));
    }
  }
}

/// The float32 inverses 1 / s_k of `k` scales.
static std::vector<float> inverseScales(const float *scales, int64_t k) {
  std::vector<float> inv(static_cast<size_t>(k));
  for (int64_t c = 0; c < k; ++c)
    inv[size_t(c)] = 1.0f / scales[c];
  return inv;
}

/// quantDequant of `rows` rows of `w` times `scales` into `deq`, through
/// the `scaled` buffer.
static std::string scaleAndQuantize(const float *w, int64_t rows, int64_t k,
                                    const float *scales,
                                    const AwqQuantDequantFn &quantDequant,
                                    std::vector<float> &scaled,
                                    std::vector<float> &deq) {
  size_t n = static_cast<size_t>(rows * k);
  scaled.resize(n);
  deq.resize(n);
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t c = 0; c < k; ++c)
      scaled[r * k + c] = w[r * k + c] * scales[c];
  return quantDequant(scaled.data(), rows, k, deq.data());
}

std::string awqLoss(const std::vector<AwqWeight> &weights, int64_t k,
                    const float *imatrix, const float *hessian,
                    const float *scales, const AwqQuantDequantFn &quantDequant,
                    double &loss) {
  loss = 0;
  std::vector<float> scaled, deq;
  std::vector<double> e(static_cast<size_t>(k));
  std::vector<float> inv = inverseScales(scales, k), rowLoss;
  for (const AwqWeight &w : weights) {
    if (std::string err = scaleAndQuantize(w.values, w.rows, k, scales,
                                           quantDequant, scaled, deq);
        !err.empty())
      return err;
    addRowsLoss(w.values, deq.data(), w.rows, k, imatrix, hessian, scales,
                inv.data(), e.data(), rowLoss, loss);
  }
  return "";
}

int64_t awqSampleCount(int64_t rows, int64_t sample) {
  return sample <= 0 ? rows : std::min(rows, sample);
}

int64_t awqSampledRow(int64_t i, int64_t rows, int64_t sample) {
  if (sample <= 0 || rows <= sample)
    return i;
  // No overflow: i < sample < rows, and a weight has fewer than 2^31 rows.
  return (2 * i + 1) * rows / (2 * sample);
}

std::string AwqStreamedSearch::start(int64_t kIn, const float *imatrixIn,
                                     const float *hessianIn, int grid) {
  if (grid < 1)
    return "the grid needs at least 1 point, got " + std::to_string(grid);
  for (int64_t i = 0; i < kIn; ++i)
    if (!std::isfinite(imatrixIn[i]) || imatrixIn[i] < 0)
      return "importance matrix entry " + std::to_string(i) + " is " +
             std::to_string(imatrixIn[i]) + " (must be finite and >= 0)";
  k = kIn;
  imatrix = imatrixIn;
  hessian = hessianIn;
  scales.assign(size_t(grid), std::vector<float>(static_cast<size_t>(k)));
  inverses.clear();
  for (int i = 0; i < grid; ++i) {
    awqScalesForRatio(imatrix, k, static_cast<double>(i) / grid,
                      scales[size_t(i)].data());
    inverses.push_back(inverseScales(scales[size_t(i)].data(), k));
  }
  losses.assign(size_t(grid), 0.0);
  return "";
}

std::string AwqStreamedSearch::addRows(const float *w, int64_t rows,
                                       const AwqQuantDequantFn &quantDequant) {
  for (int i = 0; i < numCandidates(); ++i)
    if (std::string err = addCandidateRows(i, w, rows, quantDequant, scratch);
        !err.empty())
      return err;
  return "";
}

std::string AwqStreamedSearch::addCandidateRows(
    int i, const float *w, int64_t rows, const AwqQuantDequantFn &quantDequant,
    Scratch &s) {
  auto c = size_t(i);
  if (std::string err = scaleAndQuantize(w, rows, k, scales[c].data(),
                                         quantDequant, s.scaled, s.deq);
      !err.empty())
    return err;
  s.e.resize(static_cast<size_t>(k));
  addRowsLoss(w, s.deq.data(), rows, k, imatrix, hessian, scales[c].data(),
              inverses[c].data(), s.e.data(), s.rowLoss, losses[c]);
  return "";
}

AwqSearchResult AwqStreamedSearch::finish() const {
  AwqSearchResult result;
  for (size_t i = 0; i < losses.size(); ++i) {
    if (i == 0)
      result.plainLoss = losses[i];
    if (i == 0 || losses[i] < result.loss) {
      result.loss = losses[i];
      result.ratioIndex = int(i);
      result.scales = scales[i];
    }
  }
  return result;
}

std::string awqSearchScales(const std::vector<AwqWeight> &weights, int64_t k,
                            const float *imatrix, const float *hessian,
                            const AwqQuantDequantFn &quantDequant, int grid,
                            AwqSearchResult &result) {
  AwqStreamedSearch search;
  if (std::string err = search.start(k, imatrix, hessian, grid); !err.empty())
    return err;
  for (const AwqWeight &w : weights)
    if (std::string err = search.addRows(w.values, w.rows, quantDequant);
        !err.empty())
      return err;
  result = search.finish();
  return "";
}

} // namespace qopt::numerics
