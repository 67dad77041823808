//===- Simd.h - Which SIMD code the numerics run ----------------*- C++ -*-===//
//
// The numerics' hot loops are Highway kernels compiled for several targets
// (x86: SSSE3, SSE4, AVX2, AVX3 = AVX-512, and the scalar baseline; Arm:
// NEON, SVE), one chosen at run time for the CPU. Every target produces the
// bytes of the scalar definitions (qopt/Numerics/QuantRules.h, Float.h).
// QOPT_DISABLE_SIMD=1 (or setSimdKernelsEnabled(false), GroupQuant.h) runs
// those scalar definitions instead; QOPT_SIMD_TARGET=NAME caps the choice at
// target NAME (e.g. AVX2 on an AVX-512 machine).
//
//===----------------------------------------------------------------------===//

#ifndef QOPT_NUMERICS_SIMD_H
#define QOPT_NUMERICS_SIMD_H

#include <cstdint>
#include <string>
#include <vector>

namespace qopt::numerics {

/// The Highway target the kernels run on ("AVX2", "AVX3", "NEON", ...), or
/// "portable" when the SIMD kernels are off.
std::string simdTargetName();

/// The targets compiled into the library, best first.
std::vector<std::string> simdCompiledTargets();
/// Those of them this CPU can run, best first.
std::vector<std::string> simdRunnableTargets();
/// The compiled targets as a mask of Highway's HWY_* target bits.
int64_t simdCompiledTargetMask();

/// False forces the scalar definitions (default true); GroupQuant.h.
void setSimdKernelsEnabled(bool enabled);

} // namespace qopt::numerics

#endif // QOPT_NUMERICS_SIMD_H
