//===- NumpyIsClose.cpp - numpy's isclose, in numpy's types -----*- C++ -*-===//

#include "qopt/Numerics/NumpyIsClose.h"

#include "qopt/Numerics/Convert.h"
#include "qopt/Numerics/Float.h"

#include <cmath>

using namespace qopt::numerics;

static bool isNumpyFloat(DType t) {
  return t == DType::F16 || t == DType::BF16 || t == DType::F32 ||
         t == DType::F64;
}

std::optional<DType> qopt::numerics::promoteFloatTypes(DType a, DType b) {
  if (!isNumpyFloat(a) || !isNumpyFloat(b))
    return std::nullopt;
  if (a == b)
    return a;
  if (a == DType::F64 || b == DType::F64)
    return DType::F64;
  // float32 with a narrower type, or float16 with bfloat16.
  return DType::F32;
}

/// A Python float converted to `t` as numpy converts a weak scalar to the
/// array's type, widened back to double: rounded once for float32 and
/// float16 (npy_double_to_half), through float32 for bfloat16 (ml_dtypes
/// converts a double to float32 first).
static double constantIn(double v, DType t) {
  switch (t) {
  case DType::F64:
    return v;
  case DType::F32:
    return float(v);
  case DType::BF16:
    return roundTo<FloatFormat::BF16>(float(v));
  default:
    break;
  }
  uint16_t bits = 0;
  float out = 0;
  convertElements(&v, DType::F64, &bits, DType::F16, 1);
  convertElements(&bits, DType::F16, &out, DType::F32, 1);
  return out;
}

/// The result of a float32 operation `r` rounded to `t` (F16, BF16, F32).
static double roundIn(float r, DType t) {
  switch (t) {
  case DType::F16:
    return roundTo<FloatFormat::F16>(r);
  case DType::BF16:
    return roundTo<FloatFormat::BF16>(r);
  default:
    return r;
  }
}

bool qopt::numerics::numpyIsClose(double x, DType xType, double y,
                                  DType yType) {
  std::optional<DType> diffType = promoteFloatTypes(xType, yType);
  if (!diffType)
    return false;
  if (x == y)
    return true;
  if (!std::isfinite(y))
    return false;
  // |x - y| in the promoted type.
  double diff = *diffType == DType::F64
                    ? std::fabs(x - y)
                    : std::fabs(roundIn(float(x) - float(y), *diffType));
  // atol + rtol * |y| in y's type.
  double tol;
  if (yType == DType::F64) {
    tol = 1e-8 + 1e-5 * std::fabs(y);
  } else {
    float rtol = float(constantIn(1e-5, yType));
    float atol = float(constantIn(1e-8, yType));
    float prod = float(roundIn(rtol * std::fabs(float(y)), yType));
    tol = roundIn(atol + prod, yType);
  }
  return diff <= tol;
}
