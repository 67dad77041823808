//===- GptqTestUtil.h - Random Hessians for the GPTQ tests ------*- C++ -*-===//
//
// The GPTQ tests compare paths (SIMD targets, row tiles, the scalar
// definition) on the same Hessian; this makes one from random inputs.
//
//===----------------------------------------------------------------------===//

#ifndef QOPT_TEST_UNITTESTS_NUMERICS_GPTQTESTUTIL_H
#define QOPT_TEST_UNITTESTS_NUMERICS_GPTQTESTUTIL_H

#include <cstdint>
#include <random>
#include <vector>

namespace qopt::numerics::testing {

/// H = X^T X / T + ridge I (float32, row-major k x k) for X of T = tokens
/// rows of k standard normal values drawn from rng.
inline std::vector<float> randomHessian(int64_t k, int64_t tokens,
                                        std::mt19937 &rng, double ridge) {
  std::normal_distribution<float> nd(0.0f, 1.0f);
  std::vector<float> x(size_t(tokens * k));
  for (float &v : x)
    v = nd(rng);
  std::vector<float> h(size_t(k * k));
  for (int64_t i = 0; i < k; ++i)
    for (int64_t j = 0; j < k; ++j) {
      double s = 0;
      for (int64_t t = 0; t < tokens; ++t)
        s += double(x[size_t(t * k + i)]) * x[size_t(t * k + j)];
      h[size_t(i * k + j)] = float(s / double(tokens) + (i == j ? ridge : 0.0));
    }
  return h;
}

} // namespace qopt::numerics::testing

#endif // QOPT_TEST_UNITTESTS_NUMERICS_GPTQTESTUTIL_H
