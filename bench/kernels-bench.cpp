//===- kernels-bench.cpp - CUDA kernels vs the CPU numerics -----*- C++ -*-===//
//
// Times groupQuantizeRowsCuda, convertElementsCuda and fp8E4M3PerTensorCuda
// against the single-threaded CPU numerics on Llama-1B-sized tensors
// (host buffers in, host buffers out, as the executor calls them), checks
// that the bytes agree, and prints a markdown table. Needs a CUDA device.
//
//   qopt-bench-kernels [--reps N]
//
//===----------------------------------------------------------------------===//

#include "qopt/Kernels/Cuda.h"
#include "qopt/Numerics/Convert.h"
#include "qopt/Numerics/Float.h"
#include "qopt/Numerics/Fp8.h"
#include "qopt/Numerics/GroupQuant.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <random>
#include <string>
#include <vector>

namespace num = qopt::numerics;
namespace kern = qopt::kernels;

namespace {

int reps = 3;

/// Best wall time of `reps` runs of fn, in seconds.
double best(const std::function<void()> &fn) {
  double b = 1e30;
  for (int i = 0; i < reps; ++i) {
    auto t0 = std::chrono::steady_clock::now();
    fn();
    b = std::min(
        b, std::chrono::duration<double>(std::chrono::steady_clock::now() - t0)
               .count());
  }
  return b;
}

void check(llvm::Error e) {
  if (e) {
    std::fprintf(stderr, "qopt-bench-kernels: %s\n",
                 llvm::toString(std::move(e)).c_str());
    std::exit(1);
  }
}

std::vector<uint16_t> randomHalves(size_t n, bool bf16) {
  std::mt19937 rng(1);
  std::normal_distribution<float> d(0.0f, 0.02f);
  std::vector<uint16_t> w(n);
  for (uint16_t &h : w)
    h = bf16 ? num::floatToBFloat16(d(rng)) : num::floatToHalf(d(rng));
  return w;
}

void row(const char *what, double bytes, double cpu, double gpu, bool same) {
  std::printf("| %s | %.0f | %.3f | %.2f | %.3f | %.2f | %.1fx | %s |\n", what,
              bytes / 1e6, cpu, bytes / cpu / 1e9, gpu, bytes / gpu / 1e9,
              cpu / gpu, same ? "yes" : "NO");
}

} // namespace

int main(int argc, char **argv) {
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--reps") == 0 && i + 1 < argc)
      reps = std::max(1, std::atoi(argv[++i]));
    else {
      std::fprintf(stderr, "usage: qopt-bench-kernels [--reps N]\n");
      return 2;
    }
  }
  std::string why;
  if (!kern::cudaDeviceAvailable(&why)) {
    std::fprintf(stderr, "qopt-bench-kernels: %s\n", why.c_str());
    return 1;
  }
  std::printf(
      "| operation | input MB | CPU 1 thread s | CPU GB/s | GPU s | "
      "GPU GB/s | speed-up | same bytes |\n|---|---|---|---|---|---|---|"
      "---|\n");
  // mlp.gate_proj of the 1B preset: 5632 x 2048; the embedding 32000 x 2048.
  for (auto [rows, k, name] :
       {std::tuple<int64_t, int64_t, const char *>{5632, 2048, "5632x2048"},
        {32000, 2048, "32000x2048"}}) {
    for (auto [spec, label] :
         {std::pair{num::GroupQuantSpec{4, 32, num::FloatFormat::F16},
                    "q4f16_1"},
          {num::GroupQuantSpec{3, 40, num::FloatFormat::F16}, "q3f16_1"},
          {num::GroupQuantSpec{4, 32, num::FloatFormat::BF16}, "q4bf16_1"}}) {
      std::vector<uint16_t> w = randomHalves(
          size_t(rows * k), spec.modelFormat == num::FloatFormat::BF16);
      const size_t nq = size_t(rows * num::wordsPerRow(spec, k));
      const size_t ns = size_t(rows * num::groupsPerRow(spec, k));
      std::vector<uint32_t> qc(nq), qg(nq);
      std::vector<uint16_t> sc(ns), sg(ns);
      check(kern::groupQuantizeRowsCuda(w.data(), rows, k, spec, qg.data(),
                                        sg.data())); // warm-up
      double cpu = best([&] {
        num::groupQuantizeRows(w.data(), rows, k, spec, qc.data(), sc.data());
      });
      double gpu = best([&] {
        check(kern::groupQuantizeRowsCuda(w.data(), rows, k, spec, qg.data(),
                                          sg.data()));
      });
      std::string what = std::string(label) + " " + name;
      row(what.c_str(), double(w.size() * 2), cpu, gpu, qc == qg && sc == sg);
    }
  }
  {
    const size_t n = size_t(32000) * 2048;
    std::vector<uint16_t> w = randomHalves(n, true);
    std::vector<uint16_t> c(n), g(n);
    check(kern::convertElementsCuda(w.data(), num::DType::BF16, g.data(),
                                    num::DType::F16, n));
    double cpu = best([&] {
      num::convertElements(w.data(), num::DType::BF16, c.data(),
                           num::DType::F16, n);
    });
    double gpu = best([&] {
      check(kern::convertElementsCuda(w.data(), num::DType::BF16, g.data(),
                                      num::DType::F16, n));
    });
    row("cast bf16->f16 32000x2048", double(n * 2), cpu, gpu, c == g);
  }
  {
    const size_t n = size_t(5632) * 2048;
    std::vector<uint16_t> w = randomHalves(n, false);
    std::vector<uint8_t> c(n), g(n);
    float sg = 0;
    double cpu = best([&] {
      float s = num::fp8E4M3PerTensorScale(w.data(), n);
      num::quantizeFp8E4M3(w.data(), n, s, c.data());
    });
    double gpu = best(
        [&] { check(kern::fp8E4M3PerTensorCuda(w.data(), n, &sg, g.data())); });
    row("e4m3 per-tensor 5632x2048", double(n * 2), cpu, gpu,
        c == g && sg == num::fp8E4M3PerTensorScale(w.data(), n));
  }
  return 0;
}
