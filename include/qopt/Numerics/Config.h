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

#endif // QOPT_NUMERICS_CONFIG_H
