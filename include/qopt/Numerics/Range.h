//===- Range.h - Non-finite and out-of-range weights ------------*- C++ -*-===//
//
// The policy for weights a cache cannot hold faithfully (docs/reliability.md):
// NaN, an infinity, or a finite value that a cast to a narrower float type
// would turn into an infinity (70000 in an fp32 checkpoint quantized with an
// f16 mode). By default such a weight is an error naming the file, the
// tensor and the first bad element; `--clamp-weights` replaces NaN by 0 and
// the others by the largest finite value of the target type, with the sign.
//
//===----------------------------------------------------------------------===//

#ifndef QOPT_NUMERICS_RANGE_H
#define QOPT_NUMERICS_RANGE_H

#include "qopt/Numerics/Float.h"

#include <cstddef>
#include <cstdint>
#include <optional>

namespace qopt::numerics {

/// The first of the `n` elements of `data` (stored in `format`) that is NaN
/// or infinite, or whose cast to `target` would overflow to an infinity
/// (for float16: |x| >= 65520, which rounds past 65504); nullopt if none.
/// A vectorizable scan for the common case of no such element.
std::optional<size_t> findUnrepresentable(const void *data, size_t n,
                                          FloatFormat format,
                                          FloatFormat target);

/// Replaces, in place, NaN by 0 and every other element findUnrepresentable
/// reports by the largest value of `format` that `target` holds finitely,
/// with the element's sign. Returns how many elements changed.
size_t clampUnrepresentable(void *data, size_t n, FloatFormat format,
                            FloatFormat target);

/// Element i of `data` as a float (for messages).
float elementAsFloat(const void *data, size_t i, FloatFormat format);

/// The narrower (smaller range) of two formats: F16 < BF16 < F32.
constexpr FloatFormat narrowerFormat(FloatFormat a, FloatFormat b) {
  auto rank = [](FloatFormat f) {
    return f == FloatFormat::F16 ? 0 : f == FloatFormat::BF16 ? 1 : 2;
  };
  return rank(a) <= rank(b) ? a : b;
}

} // namespace qopt::numerics

#endif // QOPT_NUMERICS_RANGE_H
