//===- calibrated-bench.cpp - Cost of the data-aware quantizers -*- C++ -*-===//
//
// CPU time per weight of the importance-weighted search (--imatrix), the
// scale search (--optimize-scales) and GPTQ
// (--gptq, its prepare step apart) against plain rounding (MLC's group
// rule) on one synthetic rows x K weight with a synthetic Hessian, single
// threaded, and a hash of the bytes so that two builds (or the SIMD kernels
// against the scalar definitions: QOPT_DISABLE_SIMD=1) can be checked to
// agree. Prints a markdown table.
//
//   qopt-bench-calibrated [--rows N] [--k K] [--bits 3|4] [--group G]
//                         [--gptq 0|1] [--repeat R] [--only 0|1|2]
//
// --gptq 0 leaves GPTQ out (the searches only); --repeat R times each search
// and GPTQ's rows R times and reports the best (GPTQ's prepare runs once); --only 1 (2) runs only --imatrix
// (--optimize-scales) after plain rounding, for profiles and counters.
//
//===----------------------------------------------------------------------===//

#include "qopt/Numerics/Calibrated.h"
#include "qopt/Numerics/Float.h"
#include "qopt/Numerics/GroupQuant.h"
#include "qopt/Numerics/ScaleSearch.h"
#include "qopt/Numerics/Simd.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <random>
#include <string>
#include <vector>

namespace num = qopt::numerics;

namespace {

/// CPU seconds of this process (user + sys).
double cpuSeconds() {
  timespec t;
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
  return double(t.tv_sec) + double(t.tv_nsec) * 1e-9;
}

/// FNV-1a of bytes.
uint64_t fnv(const void *p, size_t n) {
  const auto *b = static_cast<const unsigned char *>(p);
  uint64_t h = 1469598103934665603ull;
  for (size_t i = 0; i < n; ++i) {
    h ^= b[i];
    h *= 1099511628211ull;
  }
  return h;
}

} // namespace

int main(int argc, char **argv) {
  int64_t rows = 256, k = 2048, group = 32;
  int bits = 4;
  bool withGptq = true;
  int repeat = 1;
  int only = 0;
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string a = argv[i];
    long v = std::atol(argv[i + 1]);
    if (a == "--rows")
      rows = v;
    else if (a == "--k")
      k = v;
    else if (a == "--bits")
      bits = int(v);
    else if (a == "--group")
      group = v;
    else if (a == "--gptq")
      withGptq = v != 0;
    else if (a == "--only")
      only = int(v);
    else if (a == "--repeat")
      repeat = std::max(1, int(v));
    else {
      std::fprintf(stderr, "qopt-bench-calibrated: unknown option %s\n",
                   a.c_str());
      return 2;
    }
  }
  const num::GroupQuantSpec spec{bits, group, num::FloatFormat::F16,
                                 num::RoundingMode::NearestEven};
  if (std::string why = num::validateGroupQuantSpec(spec); !why.empty() ||
      rows <= 0 || k <= 0 || k % group != 0) {
    std::fprintf(stderr, "qopt-bench-calibrated: unusable shape (%s)\n",
                 why.c_str());
    return 2;
  }
  std::mt19937 rng(1);
  std::normal_distribution<float> nd(0.0f, 1.0f);
  std::vector<uint16_t> w(size_t(rows * k));
  for (uint16_t &v : w)
    v = num::floatToHalf(0.02f * nd(rng));
  // H = X^T X / T + diag(imatrix) with X 64 x K; imatrix log-normal.
  std::vector<float> imp(static_cast<size_t>(k)), x(size_t(64 * k));
  for (float &a : imp)
    a = std::exp(nd(rng));
  for (float &v : x)
    v = nd(rng);
  std::vector<float> h(size_t(k * k));
  for (int64_t i = 0; i < (withGptq ? k : 0); ++i)
    for (int64_t j = 0; j < k; ++j) {
      double s = 0;
      for (int64_t t = 0; t < 64; ++t)
        s += double(x[size_t(t * k + i)]) * x[size_t(t * k + j)];
      h[size_t(i * k + j)] = float(s / 64 + (i == j ? imp[size_t(i)] : 0.0));
    }
  const int64_t words = num::wordsPerRow(spec, k),
                groups = num::groupsPerRow(spec, k);
  std::vector<uint32_t> q(size_t(rows * words));
  std::vector<uint16_t> s(size_t(rows * groups));
  auto hash = [&] { return fnv(q.data(), q.size() * 4) ^ fnv(s.data(), s.size() * 2); };

  // Plain rounding: the best of 20 (it is short).
  double plain = 1e30;
  for (int r = 0; r < 20; ++r) {
    double t0 = cpuSeconds();
    num::groupQuantizeRows(w.data(), rows, k, spec, q.data(), s.data());
    plain = std::min(plain, cpuSeconds() - t0);
  }
  uint64_t plainHash = hash();
  double imatrix = 1e30, optimized = 1e30, t0;
  for (int r = 0; r < (only == 2 ? 0 : repeat); ++r) {
    t0 = cpuSeconds();
    num::groupQuantizeRowsWeighted(w.data(), rows, k, spec, imp.data(),
                                   q.data(), s.data());
    imatrix = std::min(imatrix, cpuSeconds() - t0);
  }
  uint64_t imatrixHash = hash();
  // --optimize-scales (no statistics), for comparison.
  for (int r = 0; r < (only == 1 ? 0 : repeat); ++r) {
    t0 = cpuSeconds();
    num::groupQuantizeRowsOptimized(w.data(), rows, k, spec, q.data(),
                                    s.data(), {});
    optimized = std::min(optimized, cpuSeconds() - t0);
  }
  uint64_t optimizedHash = hash();
  const double n = double(rows * k);
  auto row = [&](const char *name, double secs, uint64_t hsh) {
    std::printf("| %s | %.4f | %.2f | %.1f | %016llx |\n", name, secs,
                secs / n * 1e9, secs / plain, (unsigned long long)hsh);
  };
  if (!withGptq) {
    std::printf("SIMD: %s; weight %lld x %lld, q%df16 group %lld, 1 thread, "
                "CPU seconds (best of %d)\n\n",
                num::simdTargetName().c_str(), (long long)rows, (long long)k,
                bits, (long long)group, repeat);
    std::printf("| method | CPU s | ns / weight | x plain | bytes (FNV-1a) |\n");
    std::printf("|---|---|---|---|---|\n");
    row("plain rounding", plain, plainHash);
    row("--imatrix", imatrix, imatrixHash);
    row("--optimize-scales", optimized, optimizedHash);
    return 0;
  }
  num::GptqOptions opts;
  num::GptqFactor f;
  t0 = cpuSeconds();
  std::string why = num::prepareGptq(h.data(), k, opts, f);
  double prepare = cpuSeconds() - t0;
  if (!why.empty()) {
    std::fprintf(stderr, "qopt-bench-calibrated: %s\n", why.c_str());
    return 1;
  }
  // The rows (best of --repeat).
  double gptq = 1e30, gptqImp = 1e30;
  for (int r = 0; r < repeat; ++r) {
    t0 = cpuSeconds();
    num::gptqGroupQuantizeRows(w.data(), rows, k, spec, f, opts, nullptr,
                               q.data(), s.data());
    gptq = std::min(gptq, cpuSeconds() - t0);
  }
  uint64_t gptqHash = hash();
  for (int r = 0; r < repeat; ++r) {
    t0 = cpuSeconds();
    num::gptqGroupQuantizeRows(w.data(), rows, k, spec, f, opts, imp.data(),
                               q.data(), s.data());
    gptqImp = std::min(gptqImp, cpuSeconds() - t0);
  }
  uint64_t gptqImpHash = hash();

  std::printf("SIMD: %s; weight %lld x %lld, q%df16 group %lld, 1 thread, "
              "CPU seconds (best of %d; prepare: one run)\n\n",
              num::simdTargetName().c_str(), (long long)rows, (long long)k,
              bits, (long long)group, repeat);
  std::printf("| method | CPU s | ns / weight | x plain | bytes (FNV-1a) |\n");
  std::printf("|---|---|---|---|---|\n");
  row("plain rounding", plain, plainHash);
  row("--imatrix", imatrix, imatrixHash);
  row("--optimize-scales", optimized, optimizedHash);
  row("--gptq (rows)", gptq, gptqHash);
  row("--gptq --imatrix (rows)", gptqImp, gptqImpHash);
  std::printf("| GPTQ prepare (once per K x K Hessian) | %.3f | %.2f (over "
              "these %lld rows) | %.1f | |\n",
              prepare, prepare / n * 1e9, (long long)rows, prepare / plain);
  // GPTQ's arithmetic: per weight, its error is spread on the later columns
  // (K/2 multiply-adds on average, in double); prepare is about 2K^3/3
  // multiply-adds per Hessian (two Cholesky factorizations, the triangular
  // inverse and its Gram product, K^3/6 each). The rates below count a
  // multiply-add as one (a separate multiply and add: no FMA).
  const double spread = double(k) / 2 * n;
  const double prep = 2.0 * double(k) * double(k) * double(k) / 3;
  std::printf("\nGPTQ arithmetic: %.0f multiply-adds (double) per weight for "
              "the error spreading (%.1f G/s in --gptq's rows); prepare "
              "%.2e per Hessian (%.1f G/s).\n",
              double(k) / 2, spread / gptq * 1e-9, prep, prep / prepare * 1e-9);
  return 0;
}
