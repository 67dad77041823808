//===- Config.h - Host/device annotations for the numerics ------*- C++ -*-===//
//
// The scalar element functions of the numerics library are shared by the CPU
// passes and the CUDA kernels. They are written once, header-inline, and
// annotated with QOPT_HD so that nvcc compiles them for both sides.
//
//===----------------------------------------------------------------------===//

#ifndef QOPT_NUMERICS_CONFIG_H
#define QOPT_NUMERICS_CONFIG_H

#if defined(__CUDACC__)
#define QOPT_HD __host__ __device__
#else
#define QOPT_HD
#endif

/// The md5 batch (lib/TensorCache/Md5.cpp, GCC vector extensions) is compiled
/// three times, for baseline x86-64,
/// x86-64-v3 (AVX2) and x86-64-v4 (AVX-512), with everything they call
/// inlined into each copy; the loader picks one at run time. (The numerics'
/// kernels use Highway's dispatch instead: docs/simd.md.)
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__) &&        \
    !defined(__CUDACC__)
#define QOPT_MULTIVERSION                                                      \
  __attribute__((flatten, target_clones("arch=x86-64-v4", "arch=x86-64-v3", \
                                        "default")))
#else
#define QOPT_MULTIVERSION
#endif

#endif // QOPT_NUMERICS_CONFIG_H
