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

/// The loss of one candidate: for every weight row w and the values q that
/// quantDequant made of w * s (float32 products),
/// e_k = double(q_k) / double(s_k) - double(w_k) and
///   with `hessian` ([k, k] row-major): sum_rows sum_i sum_j e_i H_ij e_j,
///   without:                            sum_rows sum_k imatrix_k e_k^2,
/// summed in double in a fixed order (rows in the order of `weights`; each
/// H e product as four partial sums over j mod 4, added pairwise).
/// Returns an empty string, or quantDequant's error.
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

/// awqSearchScales over rows given a block at a time, so that no weight is
/// held whole (a 1.1B model's fused gate/up is 92 MB as float32, and every
/// candidate needed its scaled and dequantized copies). Every candidate's
/// loss is a running sum that takes the rows in the order awqLoss takes
/// them (weights in order, rows in order), so the losses, and the result,
/// are those of awqSearchScales over the same rows whatever the blocks,
/// provided quantDequant treats each row alone.
class AwqStreamedSearch {
public:
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
  /// The first smallest loss's candidate, as awqSearchScales chooses.
  AwqSearchResult finish() const;

private:
  int64_t k = 0;
  const float *imatrix = nullptr, *hessian = nullptr;
  std::vector<std::vector<float>> scales; // [grid][k]
  std::vector<double> losses;             // [grid]
  std::vector<float> scaled, deq;
  std::vector<double> e;
};

} // namespace qopt::numerics

#endif // QOPT_NUMERICS_AWQSEARCH_H
