//===- Calibrated.h - Calibration-aware quantization ------------*- C++ -*-===//
//
// Quantizers that use statistics of a linear layer's input x (rows of the
// weight W [N, K] are output channels, columns input channels) and write
// the same formats as the plain ones (GroupQuant.h, Mnn.h):
//  - importance-weighted scale search: the importance a_k (mean of x_k^2,
//    an "imatrix") weights each element's squared error when a group's or
//    block's scale is chosen;
//  - GPTQ: with the Hessian H = mean of x x^T, each column's rounding error
//    is compensated on the columns not yet quantized, through the upper
//    Cholesky factor of the inverse of the damped H.
// Rows are independent (any split of the rows gives the same bytes).
// docs/calibration.md gives every formula; test/reference/calibrated.py
// is a deliberately simple Python model of them.
//
//===----------------------------------------------------------------------===//

#ifndef QOPT_NUMERICS_CALIBRATED_H
#define QOPT_NUMERICS_CALIBRATED_H

#include "qopt/Numerics/GroupQuant.h"
#include "qopt/Numerics/Mnn.h"

#include <cstdint>
#include <string>
#include <vector>

namespace qopt::numerics {

//===----------------------------------------------------------------------===//
// Importance-weighted scale search
//===----------------------------------------------------------------------===//

/// Like groupQuantizeRows (same arguments, same output), with each group's
/// scale searched for the least importance-weighted squared error
/// sum_i a_i (x_i - q_i s)^2 (float32, i ascending), a = \p importance (k
/// values, one per input channel). Per group: MLC's result is the one to
/// beat; the screened scales s = model(max|x| / M * r) for the clipping
/// ratios 1, 0.9, 0.8, then up to two weighted least-squares refinements
/// from the screened one of least error (docs/calibration.md), values
/// q = clamp(rne(x / s), -M, M); the first strictly better candidate wins.
/// Groups with a non-finite value, all zeros or zero total importance keep
/// MLC's result.
void groupQuantizeRowsWeighted(const void *w, int64_t rows, int64_t k,
                               const GroupQuantSpec &spec,
                               const float *importance, uint32_t *qweight,
                               void *scale);

/// Like mnnQuantizeRows, with each block's scale (and, asymmetric, min)
/// searched for the least importance-weighted squared error. HQQ is not
/// used (the spec's hqq flag must be off).
void mnnQuantizeRowsWeighted(const float *w, int64_t rows, int64_t k,
                             const MnnQuantSpec &spec, const float *importance,
                             uint8_t *packed, float *scale, float *zero);

//===----------------------------------------------------------------------===//
// GPTQ
//===----------------------------------------------------------------------===//

struct GptqOptions {
  /// Added to the Hessian's diagonal: damp * mean(diag(H)) (percdamp).
  double damp = 0.01;
  /// Columns whose error is applied to the later columns at once.
  int64_t blockSize = 128;
  /// Process columns by descending diag(H), groups' scales from the
  /// original weights ("static groups").
  bool actOrder = false;
};

/// What GPTQ needs of one Hessian, computed once per weight matrix.
struct GptqFactor {
  int64_t k = 0;
  /// Processing order of the columns (identity without act-order).
  std::vector<int64_t> order;
  /// Columns never seen by calibration (diag(H) = 0): zeroed.
  std::vector<uint8_t> dead;
  /// Upper Cholesky factor U of the inverse of the damped, permuted H
  /// (H^-1 = U^T U), row-major k x k (lower part zero).
  std::vector<double> u;
};

/// Prepares the factor of the k x k Hessian \p h (row-major float32).
/// Returns an empty string, or why it cannot (not positive definite after
/// dampening, non-finite values).
std::string prepareGptq(const float *h, int64_t k, const GptqOptions &options,
                        GptqFactor &out);

/// GPTQ into MLC's group format (groupQuantizeRows' outputs). Group scales:
/// with act-order, the scales groupQuantizeRows gives the original weights
/// (importance-searched when \p importance is not null); otherwise taken,
/// the same way, from the current (compensated) values when the group's
/// first column is reached.
void gptqGroupQuantizeRows(const void *w, int64_t rows, int64_t k,
                           const GroupQuantSpec &spec, const GptqFactor &f,
                           const GptqOptions &options, const float *importance,
                           uint32_t *qweight, void *scale);

/// GPTQ into MNN's format (mnnQuantizeRows' outputs), blocks' scales and
/// mins chosen as for the group format. HQQ is not used.
void gptqMnnQuantizeRows(const float *w, int64_t rows, int64_t k,
                         const MnnQuantSpec &spec, const GptqFactor &f,
                         const GptqOptions &options, const float *importance,
                         uint8_t *packed, float *scale, float *zero);

} // namespace qopt::numerics

#endif // QOPT_NUMERICS_CALIBRATED_H
