//===- NumpyElementwise.cpp - numpy's elementwise exp and division -------===//
//
// numpyExpF32 restates, one lane at a time, the float32 exp numpy runs on
// x86-64 (numpy/_core/src/umath/loops_exponent_log.dispatch.c.src,
// simd_exp_FLOAT, with the constants of npy_simd_data.h). Every fused
// multiply-add of the vector code is an explicit std::fma here (this
// library builds with -ffp-contract=off, so no other operation is fused).
//
//===----------------------------------------------------------------------===//

#include "qopt/Numerics/NumpyElementwise.h"
#include "qopt/Numerics/Float.h"

#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>

using namespace qopt::numerics;

float qopt::numerics::numpyExpF32(float x) {
  // Cody-Waite split of -ln(2) (NPY_CODY_WAITE_LOGE_2_HIGHf / _LOWf).
  constexpr float kLn2High = -6.93145752e-1f;
  constexpr float kLn2Low = -1.42860677e-6f;
  // NPY_COEFF_P0..P5_EXPf and NPY_COEFF_Q0..Q2_EXPf.
  constexpr float kP0 = 9.999999999980870924916e-01f;
  constexpr float kP1 = 7.257664613233124478488e-01f;
  constexpr float kP2 = 2.473615434895520810817e-01f;
  constexpr float kP3 = 5.114512081637298353406e-02f;
  constexpr float kP4 = 6.757896990527504603057e-03f;
  constexpr float kP5 = 5.082762527590693718096e-04f;
  constexpr float kQ0 = 1.000000000000000000000e+00f;
  constexpr float kQ1 = -2.742335390411667452936e-01f;
  constexpr float kQ2 = 2.159509375685829852307e-02f;
  constexpr float kRintMagic = 0x1.8p+23f;                    // NPY_RINT_CVT_MAGICf
  constexpr float kLog2e = 1.442695040888963407359924681001892137f; // NPY_LOG2Ef
  constexpr float kXMax = 88.72283935546875f;
  constexpr float kXMin = -103.97208404541015625f;

  if (std::isnan(x)) // NPY_NANF, whatever the payload
    return std::numeric_limits<float>::quiet_NaN();
  if (x >= kXMax)
    return INFINITY;
  if (x <= kXMin)
    return 0.0f;
  // k = rint(x * log2(e)) by the add-and-subtract of 1.5 * 2^23.
  float k = x * kLog2e;
  k = k + kRintMagic;
  k = k - kRintMagic;
  // y = x - k ln(2) in two steps (the third constant of the vector code is
  // 0: fma(k, 0, y) = y).
  float y = std::fma(k, kLn2High, x);
  y = std::fma(k, kLn2Low, y);
  float num = std::fma(kP5, y, kP4);
  num = std::fma(num, y, kP3);
  num = std::fma(num, y, kP2);
  num = std::fma(num, y, kP1);
  num = std::fma(num, y, kP0);
  float den = std::fma(kQ2, y, kQ1);
  den = std::fma(den, y, kQ0);
  float poly = num / den;
  // poly * 2^k: exact for normal results; a subnormal result is rounded
  // once to nearest even (AVX512F's scalef; the AVX2 path scales by 2^-125
  // exactly, then divides by the rest: the same single rounding).
  return std::ldexp(poly, int(k));
}

void qopt::numerics::numpyExpF32Rows(const float *in, float *out, size_t n,
                                     bool negate) {
  for (size_t i = 0; i < n; ++i)
    out[i] = numpyExpF32(negate ? -in[i] : in[i]);
}

bool qopt::numerics::divideByPowerOfTwo(void *data, DType dtype, size_t n,
                                        int exponent) {
  if (exponent < 0 || exponent > 15)
    return false;
  float divisor = float(1 << exponent);
  auto *bytes = static_cast<unsigned char *>(data);
  switch (dtype) {
  case DType::F32:
    for (size_t i = 0; i < n; ++i) {
      float v;
      std::memcpy(&v, bytes + 4 * i, 4);
      v = v / divisor;
      std::memcpy(bytes + 4 * i, &v, 4);
    }
    return true;
  case DType::F16:
  case DType::BF16:
    for (size_t i = 0; i < n; ++i) {
      uint16_t h;
      std::memcpy(&h, bytes + 2 * i, 2);
      h = dtype == DType::F16 ? floatToHalf(halfToFloat(h) / divisor)
                              : floatToBFloat16(bfloat16ToFloat(h) / divisor);
      std::memcpy(bytes + 2 * i, &h, 2);
    }
    return true;
  default:
    return false;
  }
}
