//===- ScaleSearch.h - Optimized scales for MLC group modes -----*- C++ -*-===//
//
// A drop-in replacement for groupQuantizeRows (MLC's q3*/q4* group
// quantization) that searches each group's scale to minimize the squared
// reconstruction error instead of taking max|w| / max_int. The output format
// is unchanged (uint32 words packed LSB-first, scale in the model dtype), so
// MLC's runtime dequantizes it as (q - max_int) * scale unchanged. Also the
// error measures used to compare quantizers.
//
//===----------------------------------------------------------------------===//

#ifndef QOPT_NUMERICS_SCALESEARCH_H
#define QOPT_NUMERICS_SCALESEARCH_H

#include "qopt/Numerics/GroupQuant.h"

#include <cstddef>
#include <cstdint>

namespace qopt::numerics {

/// Options of groupQuantizeRowsOptimized. (Extension of the brief's API.)
struct ScaleSearchOptions {
  /// Also use the stored value 2M + 1 (15 for int4, 7 for int3), which MLC's
  /// quantizer never writes but its dequantization decodes like any other,
  /// as (2M + 1 - M) * scale, and negative scales: each group then has 2^bits
  /// levels, M + 1 of them on the side of the scale's sign (llama.cpp Q4_0's
  /// level set). Off by default: the stored values then stay in [0, 2M], the
  /// scales non-negative, exactly MLC's value ranges.
  bool fullCodeRange = false;
};

/// Like groupQuantizeRows (same arguments, same output shapes and format),
/// but each group's scale is searched. Per group of values x (the model-dtype
/// weights as float32), with M = maxIntValue(bits) and the signed values
/// q = stored - M in [-M, M] (or [-M, M + 1] with the full code range):
///  1. The group is first quantized exactly as groupQuantizeRows does (the
///     RTN result), and that result is the one to beat.
///  2. Screened scales s = roundTo(model)(base * r) for the clipping ratios
///     r = 1, 0.9 and 0.8, base = the smallest scale that reaches max|x|
///     without clipping (max|x| / M; with the full code range
///     max(max(x) / (M + 1), max(-x) / M)), q = clamp(nearest(x / s)); from
///     the screened one of least error (the first on ties), up to two
///     least-squares refinements s = roundTo(model)(sum(x q) / sum(q^2))
///     with q reassigned (as llama.cpp's make_qx_quants); a scale already
///     scored ends them. With the full code range the same is done for -x,
///     a winner there being stored with the scale -s.
///  3. Every candidate (s, q) is scored by its exact squared error
///     sum (x - float(q) * s)^2, the float32 product being what
///     groupDequantizeRows computes (sums in double, in a fixed order); the
///     first candidate with the smallest error wins, and replaces the RTN
///     result only if strictly better.
/// So each group's error is never larger than groupQuantizeRows'. Groups
/// holding a non-finite value and all-zero groups keep the RTN result;
/// padding positions (beyond k) stay 0. Deterministic; rows are independent
/// (any split of the rows gives the same bytes). Does nothing if the spec is
/// not valid or rows, k <= 0.
void groupQuantizeRowsOptimized(const void *w, int64_t rows, int64_t k,
                                const GroupQuantSpec &spec, uint32_t *qweight,
                                void *scale,
                                const ScaleSearchOptions &options = {});

/// Error measures with double accumulation: the sum of w^2 (signal) and the
/// sum of (w - wq)^2 (noise) over every value added.
struct ErrorAccumulator {
  double signal = 0;
  double noise = 0;
  /// Adds \p n values: w (reference) and wq (reconstruction).
  void add(const float *w, const float *wq, size_t n);
  /// sqrt(noise / signal); 0 when both are 0, +inf when only signal is 0.
  double relFrobenius() const;
  /// 10 log10(signal / noise); +inf when noise is 0.
  double sqnrDb() const;
};

} // namespace qopt::numerics

#endif // QOPT_NUMERICS_SCALESEARCH_H
