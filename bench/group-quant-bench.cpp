//===- group-quant-bench.cpp - CPU time per weight of group quantize ----===//
//
// Thread CPU time per weight of groupQuantizeRows (q4: 4 bits, groups of 32;
// q3: 3 bits, groups of 40; float16, round half to even) on a 1024 x 2048
// float16 tensor (4 MB, in cache), best of 5 rounds, and of the source
// range check (findUnrepresentable) on the same data; a hash of the bytes so
// that two builds can be compared. QOPT_SIMD_TARGET=AVX2 times what an AVX2
// CPU runs (docs/simd.md).
//
//   qopt-bench-group-quant [--reps N]
//
//===----------------------------------------------------------------------===//

#include "qopt/Numerics/Float.h"
#include "qopt/Numerics/GroupQuant.h"
#include "qopt/Numerics/Range.h"
#include "qopt/Numerics/Simd.h"

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <random>
#include <vector>

namespace num = qopt::numerics;

static double threadCpu() {
  timespec t;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
  return double(t.tv_sec) + double(t.tv_nsec) * 1e-9;
}

/// Best of 5 rounds of `reps` calls, in seconds per call.
template <typename Fn> static double best(int reps, Fn fn) {
  double b = 1e30;
  for (int r = 0; r < 5; ++r) {
    double t0 = threadCpu();
    for (int i = 0; i < reps; ++i)
      fn();
    b = std::min(b, (threadCpu() - t0) / reps);
  }
  return b;
}

int main(int argc, char **argv) {
  int reps = 40;
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--reps") == 0 && i + 1 < argc) {
      reps = std::max(1, std::atoi(argv[++i]));
    } else {
      std::fprintf(stderr, "usage: qopt-bench-group-quant [--reps N]\n");
      return 2;
    }
  }
  const int64_t rows = 1024, k = 2048;
  std::mt19937 rng(1);
  std::normal_distribution<float> normal(0.0f, 0.02f);
  std::vector<uint16_t> w(size_t(rows * k));
  for (uint16_t &h : w)
    h = num::floatToHalf(normal(rng));
  std::printf("SIMD target: %s\n", num::simdTargetName().c_str());
  for (auto [bits, group] : {std::pair{4, 32}, {3, 40}}) {
    const num::GroupQuantSpec spec{bits, group, num::FloatFormat::F16};
    std::vector<uint32_t> q(size_t(rows * num::wordsPerRow(spec, k)));
    std::vector<uint16_t> s(size_t(rows * num::groupsPerRow(spec, k)));
    const double t = best(reps, [&] {
      num::groupQuantizeRows(w.data(), rows, k, spec, q.data(), s.data());
    });
    uint32_t h = 0;
    for (uint32_t x : q)
      h = h * 31 + x;
    for (uint16_t x : s)
      h = h * 31 + x;
    std::printf("q%d (group %d): %.3f ns per weight, bytes hash %08x\n", bits,
                group, t * 1e9 / double(rows * k), h);
  }
  const double t = best(reps, [&] {
    if (num::findUnrepresentable(w.data(), w.size(), num::FloatFormat::F16,
                                 num::FloatFormat::F16))
      std::abort();
  });
  std::printf("range check: %.3f ns per weight\n", t * 1e9 / double(rows * k));
  return 0;
}
