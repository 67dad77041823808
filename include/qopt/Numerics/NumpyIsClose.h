//===- NumpyIsClose.h - numpy's isclose, in numpy's types -------*- C++ -*-===//
//
// `np.isclose(x, y)` with its defaults (rtol 1e-5, atol 1e-8, equal_nan
// False), evaluated in the types numpy evaluates it in, for MLC's ministral3
// loader, which requires the static activation scales of fused projections
// to be `np.allclose` (docs/quantization.md, "Block-scale modes"). No MLIR.
//
//===----------------------------------------------------------------------===//

#ifndef QOPT_NUMERICS_NUMPYISCLOSE_H
#define QOPT_NUMERICS_NUMPYISCLOSE_H

#include "qopt/Numerics/DType.h"

#include <optional>

namespace qopt::numerics {

/// numpy's result type of two float dtypes among F16, BF16, F32 and F64
/// (ml_dtypes promotes bfloat16 with float16 to float32); nullopt for any
/// other dtype.
std::optional<DType> promoteFloatTypes(DType a, DType b);

/// `np.isclose(x, y)` for one pair of elements, x of dtype `xType` and y of
/// `yType` (each F16, BF16, F32 or F64, passed exactly widened to double),
/// as numpy 2 computes `(|x - y| <= atol + rtol * |y|) & isfinite(y) |
/// (x == y)`: the difference in the promoted type of x and y, the tolerance
/// in y's type (rtol and atol are Python floats, converted to y's type;
/// every float16 / bfloat16 operation rounds its float32 result, as numpy's
/// half loops and ml_dtypes' bfloat16 ones do). NaN is never close;
/// an infinity only to itself. numpy 1.x gives the same for equal types.
bool numpyIsClose(double x, DType xType, double y, DType yType);

} // namespace qopt::numerics

#endif // QOPT_NUMERICS_NUMPYISCLOSE_H
