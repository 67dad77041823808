//===- AwqSearch.cpp - Activation-aware weight scaling (AWQ) ----*- C++ -*-===//
//
// The scale search of AWQ (qopt/Numerics/AwqSearch.h). Single-threaded and
// in a fixed order: the same bytes for any number of threads of the caller.
//
//===----------------------------------------------------------------------===//

#include "qopt/Numerics/AwqSearch.h"

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

std::string awqLoss(const std::vector<AwqWeight> &weights, int64_t k,
                    const float *imatrix, const float *hessian,
                    const float *scales, const AwqQuantDequantFn &quantDequant,
                    double &loss) {
  loss = 0;
  std::vector<float> scaled, deq;
  std::vector<double> e(static_cast<size_t>(k));
  for (const AwqWeight &w : weights) {
    size_t n = static_cast<size_t>(w.rows * k);
    scaled.resize(n);
    deq.resize(n);
    for (int64_t r = 0; r < w.rows; ++r)
      for (int64_t c = 0; c < k; ++c)
        scaled[r * k + c] = w.values[r * k + c] * scales[c];
    if (std::string err = quantDequant(scaled.data(), w.rows, k, deq.data());
        !err.empty())
      return err;
    for (int64_t r = 0; r < w.rows; ++r) {
      const float *row = w.values + r * k;
      const float *q = deq.data() + r * k;
      for (int64_t c = 0; c < k; ++c)
        e[c] = static_cast<double>(q[c]) / static_cast<double>(scales[c]) -
               static_cast<double>(row[c]);
      if (hessian) {
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
      } else {
        for (int64_t c = 0; c < k; ++c)
          loss += static_cast<double>(imatrix[c]) * e[c] * e[c];
      }
    }
  }
  return "";
}

std::string awqSearchScales(const std::vector<AwqWeight> &weights, int64_t k,
                            const float *imatrix, const float *hessian,
                            const AwqQuantDequantFn &quantDequant, int grid,
                            AwqSearchResult &result) {
  if (grid < 1)
    return "the grid needs at least 1 point, got " + std::to_string(grid);
  for (int64_t i = 0; i < k; ++i)
    if (!std::isfinite(imatrix[i]) || imatrix[i] < 0)
      return "importance matrix entry " + std::to_string(i) + " is " +
             std::to_string(imatrix[i]) + " (must be finite and >= 0)";
  std::vector<float> scales(static_cast<size_t>(k));
  result = AwqSearchResult();
  for (int i = 0; i < grid; ++i) {
    awqScalesForRatio(imatrix, k, static_cast<double>(i) / grid,
                      scales.data());
    double loss = 0;
    if (std::string err = awqLoss(weights, k, imatrix, hessian, scales.data(),
                                  quantDequant, loss);
        !err.empty())
      return err;
    if (i == 0)
      result.plainLoss = loss;
    if (i == 0 || loss < result.loss) {
      result.loss = loss;
      result.ratioIndex = i;
      result.scales = scales;
    }
  }
  return "";
}

} // namespace qopt::numerics
