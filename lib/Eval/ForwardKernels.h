//===- ForwardKernels.h - Loops shared by the reference forwards -*- C++ -*-===//
//
// Part of quant-opt (lib/Eval, private). The thread split, the dot product
// and the rotary tables of the float32 reference forward passes (Llama.cpp,
// Decoder*.cpp), in one place so that every forward computes them in the
// same order and gives the same bits.
//
//===----------------------------------------------------------------------===//

#ifndef QOPT_LIB_EVAL_FORWARDKERNELS_H
#define QOPT_LIB_EVAL_FORWARDKERNELS_H

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <thread>
#include <vector>

namespace qopt::eval {

/// Runs fn(begin, end) over [0, n) split into `threads` contiguous ranges.
template <typename Fn>
void parallelFor(int64_t n, unsigned threads, Fn fn) {
  if (threads <= 1 || n <= 1) {
    fn(int64_t(0), n);
    return;
  }
  int64_t parts = std::min<int64_t>(threads, n);
  int64_t chunk = (n + parts - 1) / parts;
  std::vector<std::thread> pool;
  for (int64_t begin = chunk; begin < n; begin += chunk)
    pool.emplace_back(fn, begin, std::min(n, begin + chunk));
  fn(int64_t(0), std::min(n, chunk));
  for (std::thread &t : pool)
    t.join();
}

/// Dot product with eight partial sums (vectorizes without -ffast-math; the
/// order is fixed, so results are reproducible).
inline float dot(const float *a, const float *b, int64_t k) {
  float s[8] = {0, 0, 0, 0, 0, 0, 0, 0};
  int64_t i = 0;
  for (; i + 8 <= k; i += 8)
    for (int u = 0; u < 8; ++u)
      s[u] += a[i + u] * b[i + u];
  float r = ((s[0] + s[1]) + (s[2] + s[3])) + ((s[4] + s[5]) + (s[6] + s[7]));
  for (; i < k; ++i)
    r += a[i] * b[i];
  return r;
}

/// cos/sin of pos * invFreq[i] for i < headDim/2, as HF computes them in
/// float32: invFreq = 1 / theta^(2i/d).
inline void rotaryAngles(int64_t headDim, int64_t pos, double theta,
                         float *cosOut, float *sinOut) {
  int64_t half = headDim / 2;
  for (int64_t i = 0; i < half; ++i) {
    float exponent = float(2 * i) / float(headDim);
    float invFreq = 1.0f / std::pow(float(theta), exponent);
    float angle = float(pos) * invFreq;
    cosOut[i] = std::cos(angle);
    sinOut[i] = std::sin(angle);
  }
}

/// The rotation of one head vector by precomputed cos/sin.
inline void rotate(float *v, int64_t headDim, const float *c, const float *s) {
  int64_t half = headDim / 2;
  for (int64_t i = 0; i < half; ++i) {
    float a = v[i], b = v[i + half];
    v[i] = a * c[i] - b * s[i];
    v[i + half] = b * c[i] + a * s[i];
  }
}

} // namespace qopt::eval

#endif // QOPT_LIB_EVAL_FORWARDKERNELS_H
