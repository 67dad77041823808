//===- Hqq.cpp - HQQ zero-point optimization for MNN blocks -----*- C++ -*-===//
//
// Half-Quadratic Quantization (mobiusml/hqq, as MNNConvert's HQQQuantizer
// runs it) for one asymmetric block. With scale = (max - min) / (2^b - 1)
// (MNN's float32 value), the inverse scale s = 1 / scale fixed, and the zero
// z = -min * s (not rounded), each step is
//
//   W_q = clamp(round(W * s + z), 0, 2^b - 1)           round: half to even
//   W_r = (W_q - z) * scale
//   W_e = sign(W - W_r) * max(|W - W_r| - max(|W - W_r|, 1e-8)^(p-1) / beta, 0)
//   z   = mean(W_q - (W - W_e) * s)
//
// with p = 0.7 and beta = 10 (never multiplied by kappa), 20 steps, as
// MNNConvert runs it. MNNConvert keeps the last z; here every z visited (the
// initial one and the result of each step, 21 in all) is scored by the
// squared error sum of (W - W_r)^2, and the first one with the smallest error
// is kept (a z equal to its predecessor ends the loop early: the steps would
// repeat). The block is then stored in MNN's form (scale, min = -z * scale),
// its codes computed from them as IDSTEncoder does, and kept only if its
// exact squared error (through the float32 dequantization) is smaller than
// that of MNN's plain asymmetric rounding; otherwise the plain rounding is
// returned. All HQQ arithmetic is in double (sums: see hqqStep).
//
//===----------------------------------------------------------------------===//

#include "qopt/Numerics/Mnn.h"
#include "SearchRules.h"
#include "Simd.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <vector>

namespace qopt::numerics {

namespace {

constexpr double kLpNorm = 0.7;
constexpr double kBeta = 10.0;
constexpr int kIters = 20;
constexpr float kMnnScaleEpsilon = 1e-6f;

} // namespace

using search::clampHqqCode;
using search::kSumLanes;
using search::roundHalfEven;
using search::sumLanes;

/// Squared error of the stored block: sum of (w - (float(u) * scale + min))^2
/// with the dequantization's two float32 roundings.
static double storedError(const float *w, int64_t n, const uint8_t *codes,
                          float scale, float min) {
  double err = 0.0;
  for (int64_t i = 0; i < n; ++i) {
    const float p = float(codes[i]) * scale;
    const float d = p + min;
    const double diff = double(w[i]) - double(d);
    err += diff * diff;
  }
  return err;
}

/// storedError(w, n, a, scale, minA) < storedError(w, n, b, scale, minB),
/// exactly. The two sums, i ascending, are one dependency chain of double
/// additions each (4 cycles an element): here the same terms are first
/// summed into kSumLanes accumulators. Each way of summing n nonnegative
/// terms is within (n - 1) 2^-53 (ascending) or (n / 8 + 2) 2^-53 (lanes) of
/// the exact sum, relative, plus at most 2^-1075 a term below the normal
/// range; so the two ways differ by less than 2 (n + 2) 2^-53 of the sum
/// plus n 2^-1074, here rounded up to n 2^-1022 (a normal double: arithmetic
/// on subnormals takes a microcode assist on x86), and only where the bounds
/// of the two errors overlap are the ascending sums computed.
static bool storedErrorLess(const float *w, int64_t n, const uint8_t *a,
                            float minA, const uint8_t *b, float minB,
                            float scale) {
  double ea[kSumLanes] = {}, eb[kSumLanes] = {};
  auto add = [&](int64_t i, int l) {
    const double wi = w[i];
    const float pa = float(a[i]) * scale, pb = float(b[i]) * scale;
    const float da = pa + minA, db = pb + minB;
    const double xa = wi - double(da), xb = wi - double(db);
    ea[l] += xa * xa;
    eb[l] += xb * xb;
  };
  // Lane by lane with constant lane numbers, so the accumulators are
  // registers (on vectors: the same lanes, the same operations).
  int64_t i = 0;
  if (simd::enabled()) {
    i = n - n % kSumLanes;
    simd::storedErrorLanes(w, i, a, minA, b, minB, scale, ea, eb);
  }
  for (; i + kSumLanes <= n; i += kSumLanes)
    for (int l = 0; l < kSumLanes; ++l)
      add(i + l, l);
  for (int l = 0; i < n; ++i, ++l)
    add(i, l);
  const double sa = sumLanes(ea), sb = sumLanes(eb);
  const double rel = 2.0 * double(n + 2) * 0x1p-53,
               tiny = double(n) * 0x1p-1022;
  const double ba = sa * rel + tiny, bb = sb * rel + tiny;
  if (sa + ba < sb - bb)
    return true;
  if (sa - ba >= sb + bb)
    return false;
  return storedError(w, n, a, scale, minA) < storedError(w, n, b, scale, minB);
}

/// Codes of the stored (scale, min), as IDSTEncoder computes them:
/// clamp(round((w - min) / scale), 0, qmax), round half away from zero.
static void storedCodes(const float *w, int64_t n, float scale, float min,
                        float qmax, uint8_t *codes) {
  if (simd::enabled())
    return simd::mnnCodes(w, n, min, scale, 0.0f, qmax, 0, codes);
  for (int64_t i = 0; i < n; ++i)
    codes[i] = rules::mnnCode(w[i], min, scale, 0.0f, qmax, 0);
}

/// One HQQ step at zero z over the block: the squared error of W_r against
/// W into \p err and, for the update, the sum of W_q - (W - W_e) * s into
/// \p acc. Element i accumulates into lane i % kLanes and the lanes are
/// summed in a fixed order: deterministic, with short dependency chains.
/// The shrinkage term W_e * s is added by a scalar pass over the (for
/// weights of ordinary magnitude: no) elements with |W - W_r| > shrinkCut.
static void hqqStep(const float *w, int64_t n, double s, double scale, double z,
                    double qmax, double shrinkCut, double &err, double &acc) {
  double e[kSumLanes] = {};
  double a[kSumLanes] = {};
  double maxAbs[kSumLanes] = {};
  const int64_t full = n - n % kSumLanes;
  if (simd::enabled()) {
    simd::hqqStepLanes(w, full, s, scale, z, qmax, e, a, maxAbs);
  } else {
    for (int64_t i = 0; i < full; i += kSumLanes) {
      for (int l = 0; l < kSumLanes; ++l) {
        const double wi = w[i + l];
        const double q = clampHqqCode(roundHalfEven(wi * s + z), qmax);
        const double x = wi - (q - z) * scale;
        e[l] += x * x;
        a[l] += q - wi * s;
        const double ax = std::fabs(x);
        maxAbs[l] = maxAbs[l] > ax ? maxAbs[l] : ax;
      }
    }
  }
  for (int64_t i = full; i < n; ++i) {
    const int l = int(i - full);
    const double wi = w[i];
    const double q = clampHqqCode(roundHalfEven(wi * s + z), qmax);
    const double x = wi - (q - z) * scale;
    e[l] += x * x;
    a[l] += q - wi * s;
    const double ax = std::fabs(x);
    maxAbs[l] = maxAbs[l] > ax ? maxAbs[l] : ax;
  }
  bool anyShrink = false;
  for (double m : maxAbs)
    anyShrink |= m > shrinkCut;
  if (anyShrink) {
    for (int64_t i = 0; i < n; ++i) {
      const double wi = w[i];
      const double q = clampHqqCode(roundHalfEven(wi * s + z), qmax);
      const double x = wi - (q - z) * scale;
      const double ax = std::fabs(x);
      if (!(ax > shrinkCut))
        continue;
      const double shrunk =
          ax - std::pow(std::max(ax, 1e-8), kLpNorm - 1.0) / kBeta;
      if (shrunk > 0.0)
        a[i % kSumLanes] += std::copysign(shrunk, x) * s;
    }
  }
  err = sumLanes(e);
  acc = sumLanes(a);
}

void mnnHqqQuantizeBlock(const float *w, int64_t n, int bits, uint8_t *codes,
                         float &scale, float &min) {
  if (bits < 2 || bits > 8 || n <= 0)
    return;
  mnnRtnQuantizeBlock(w, n, bits, /*asymmetric=*/true, codes, scale, min);
  // A (near-)constant block, and non-finite input, keep the plain rounding.
  if (!(scale > kMnnScaleEpsilon) || !std::isfinite(scale))
    return;
  // Exponent bits all ones: an infinity or NaN. Without an early exit, so
  // that the compiler vectorizes the loop (a branch per element was 3% of
  // a --hqq conversion).
  uint32_t nonFinite = 0;
  for (int64_t i = 0; i < n; ++i) {
    uint32_t bits;
    std::memcpy(&bits, &w[i], sizeof bits);
    nonFinite |= uint32_t((bits & 0x7f800000u) == 0x7f800000u);
  }
  if (nonFinite)
    return;

  const double qmax = double((1 << bits) - 1);
  const double scaleD = scale;
  const double s = 1.0 / scaleD;
  // Below this |W - W_r| the shrinkage is exactly 0 (|x|^(2-p) <= 1/beta);
  // the margin keeps the pow-free shortcut clear of rounding noise.
  const double shrinkCut = 0.999 * std::pow(1.0 / kBeta, 1.0 / (2.0 - kLpNorm));
  double z = -double(min) * s;
  double bestZ = z;
  double bestErr = std::numeric_limits<double>::infinity();
  for (int it = 0; it <= kIters; ++it) {
    double err = 0.0;
    double acc = 0.0;
    hqqStep(w, n, s, scaleD, z, qmax, shrinkCut, err, acc);
    if (err < bestErr) {
      bestErr = err;
      bestZ = z;
    }
    const double next = acc / double(n);
    // A fixed point repeats itself: no later z can score better.
    if (next == z)
      break;
    z = next;
  }

  // MNN's stored form: the scale is unchanged, min = -z * scale.
  const auto hqqMin = float(-bestZ * scaleD);
  thread_local std::vector<uint8_t> hqqCodes;
  hqqCodes.resize(static_cast<size_t>(n));
  storedCodes(w, n, scale, hqqMin, float(qmax), hqqCodes.data());
  // The same min and codes (HQQ kept the first z): the same error, not less.
  if (hqqMin == min && std::equal(hqqCodes.begin(), hqqCodes.end(), codes))
    return;
  if (!storedErrorLess(w, n, hqqCodes.data(), hqqMin, codes, min, scale))
    return;
  min = hqqMin;
  std::copy(hqqCodes.begin(), hqqCodes.end(), codes);
}

} // namespace qopt::numerics
