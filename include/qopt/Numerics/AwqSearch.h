//===- AwqSearch.h - Activation-aware weight scaling (AWQ) ------*- C++ -*-===//
//
// AWQ (Lin et al., "AWQ: Activation-aware Weight Quantization", MLSys 2024;
// the llm-awq and AutoAWQ implementations): the linears that share an input
// x are multiplied column-wise by s and the operation feeding x (a norm, or
// the rows of a previous linear) is divided by s, so the model computes the
// same function while the quantizer sees W diag(s), whose salient columns
// (those with large activations) lose less to rounding. Per group, s is
// x_mean^alpha normalized, alpha taken from a grid, minimizing the output
// error of quantize(W s) / s. Here x_mean is the RMS of each input channel
// (the square root of the importance matrix, mean of x_k^2), and the error
// is measured with the calibration statistics: exactly as
// tr(dW H dW^T) with the second moment H = mean(x x^T), or with its
// diagonal, sum_k imatrix_k dW_ik^2. docs/calibration.md, "AWQ".
//
//===----------------------------------------------------------------------===//

#ifndef QOPT_NUMERICS_AWQSEARCH_H
#define QOPT_NUMERICS_AWQSEARCH_H

#include "qopt/Numerics/DType.h"

#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

namespace qopt::numerics {

/// Quantizes `rows` rows of `k` float32 values (the scaled weight) the way
/// the weight will be stored and writes the float32 values the stored form
/// stands for to `out`. Returns an empty string, or why it failed.
using AwqQuantDequantFn =
    std::function<std::string(const float *w, int64_t rows, int64_t k,
                              float *out)>;

/// One linear of a group: `rows` rows of `k` float32 values, row-major.
struct AwqWeight {
  const float *values = nullptr;
  int64_t rows = 0;
};

/// What awqSearchScales found.
struct AwqSearchResult {
  /// The scale of each input channel, [k].
  std::vector<float> scales;
  /// The chosen ratio: alpha = ratioIndex / grid.
  int ratioIndex = 0;
  /// The loss at the chosen ratio, and at ratio 0 (s = 1: plain rounding).
  double loss = 0;
  double plainLoss = 0;
};

/// The scales of ratio `alpha` for an importance matrix (mean of x_k^2) of
/// `k` finite non-negative values, as AutoAWQ's `_search_best_scale` forms
/// them from its activation magnitudes: in double precision,
///   m_k = sqrt(imatrix_k),  t_k = max(m_k^alpha, 1e-4),
///   s_k = t_k / sqrt(max_k t_k * min_k t_k),
/// each s_k then rounded to float32. alpha = 0 gives s = 1.
void awqScalesForRatio(const float *imatrix, int64_t k, double alpha,
                       float *scales);

/// The loss of one candidate, for every weight row w and the values q that
/// quantDequant made of w * s (float32 products):
///  - without `hessian` (the importance matrix alone), in float32 with
///    every operation rounded, inv_k = 1 / s_k,
///      e_k = q_k * inv_k - w_k,   t_k = (e_k * e_k) * imatrix_k,
///    per row 16 lane sums (lane l = +0 + t_l + t_{l+16} + ... in order)
///    combined pairwise (for h = 8, 4, 2, 1: lane i += lane i + h), and
///    the rows' float32 losses added in double in row order: the same bits
///    on every SIMD target (a fixed 16 lanes whatever the vector width);
///  - with `hessian` ([k, k] row-major), in double,
///    e_k = double(q_k) / double(s_k) - double(w_k) and
///    sum_rows sum_i sum_j e_i H_ij e_j (each H e product as four partial
///    sums over j mod 4, added pairwise; rows in order).
/// Rows are taken in the order of `weights`. Returns an empty string, or
/// quantDequant's error.
std::string awqLoss(const std::vector<AwqWeight> &weights, int64_t k,
                    const float *imatrix, const float *hessian,
                    const float *scales, const AwqQuantDequantFn &quantDequant,
                    double &loss);

/// AWQ's grid search: for i = 0 .. grid-1, alpha = i / grid (AutoAWQ's
/// n_grid = 20 gives 0, 0.05, ..., 0.95), the scales of awqScalesForRatio
/// and their awqLoss; the first smallest loss wins, so the result is never
/// worse (by this loss) than plain rounding (i = 0, s = 1). Deterministic:
/// one fixed order of every sum. Returns an empty string, or why not:
/// "importance matrix entry 3 is -1 (must be finite and >= 0)", a grid
/// below 1, or quantDequant's error.
std::string awqSearchScales(const std::vector<AwqWeight> &weights, int64_t k,
                            const float *imatrix, const float *hessian,
                            const AwqQuantDequantFn &quantDequant, int grid,
                            AwqSearchResult &result);


/// How many rows of a weight of `rows` rows the search reads with a budget
/// of `sample` rows (0: every row): min(rows, sample).
int64_t awqSampleCount(int64_t rows, int64_t sample);
/// The i-th of them (i < awqSampleCount): row i where every row is read,
/// else floor((2 i + 1) rows / (2 sample)), the middle of the i-th of
/// `sample` equal slices, so the rows are spread evenly over the weight
/// (over each of q, k and v of a fused q/k/v, in proportion).
int64_t awqSampledRow(int64_t i, int64_t rows, int64_t sample);

/// awqSearchScales over rows given a block at a time, so that no weight is
/// held whole (a 1.1B model's fused gate/up is 92 MB as float32, and every
/// candidate needed its scaled and dequantized copies). Every candidate's
/// loss is a running sum that takes the rows in the order awqLoss takes
/// them (weights in order, rows in order), so the losses, and the result,
/// are those of awqSearchScales over the same rows whatever the blocks,
/// provided quantDequant treats each row alone.
class AwqStreamedSearch {
public:
  /// One thread's buffers for addCandidateRows.
  struct Scratch {
    std::vector<float> scaled, deq, rowLoss;
    std::vector<double> e;
  };

  /// Checks the importance matrix and the grid as awqSearchScales does and
  /// forms every candidate's scales; `imatrix` and `hessian` must outlive
  /// the search. Returns an empty string, or why not.
  std::string start(int64_t k, const float *imatrix, const float *hessian,
                    int grid);
  /// The next `rows` rows (row-major, `k` float32 values each) of the
  /// weights, in order: adds them to every candidate's loss. Returns an
  /// empty string, or quantDequant's error.
  std::string addRows(const float *w, int64_t rows,
                      const AwqQuantDequantFn &quantDequant);
  /// The number of candidates (the grid's points).
  int numCandidates() const { return int(scales.size()); }
  /// addRows for candidate `i` alone, with the caller's buffers: different
  /// candidates may take their rows on different threads at the same time
  /// (each adds to its own loss, rows in the order given), with the same
  /// result as addRows.
  std::string addCandidateRows(int i, const float *w, int64_t rows,
                               const AwqQuantDequantFn &quantDequant,
                               Scratch &scratch);
  /// The first smallest loss's candidate, as awqSearchScales chooses.
  AwqSearchResult finish() const;

private:
  int64_t k = 0;
  const float *imatrix = nullptr, *hessian = nullptr;
  std::vector<std::vector<float>> scales;   // [grid][k]
  std::vector<std::vector<float>> inverses; // [grid][k], 1 / scales
  std::vector<double> losses;             // [grid]
  Scratch scratch;
};

} // namespace qopt::numerics

#endif // QOPT_NUMERICS_AWQSEARCH_H
