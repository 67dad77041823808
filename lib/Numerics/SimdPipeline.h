//===- SimdPipeline.h - Highway kernels of the conversion pipeline -*- C++ -*-===//
//
// Internal to lib/Numerics: kernels that every conversion runs besides the
// quantizers of Simd.h (the source range check, Range.cpp). Same rules as
// Simd.h: callers use them only while simd::enabled(), and the scalar
// definitions give the same results.
//
//===----------------------------------------------------------------------===//

#ifndef QOPT_LIB_NUMERICS_SIMDPIPELINE_H
#define QOPT_LIB_NUMERICS_SIMDPIPELINE_H

#include <cstddef>
#include <cstdint>

namespace qopt::numerics::simd {

/// max(p[i] & mask) over n values (0 for n == 0).
uint16_t maxMasked16(const uint16_t *p, size_t n, uint16_t mask);
uint32_t maxMasked32(const uint32_t *p, size_t n, uint32_t mask);

} // namespace qopt::numerics::simd

#endif // QOPT_LIB_NUMERICS_SIMDPIPELINE_H
