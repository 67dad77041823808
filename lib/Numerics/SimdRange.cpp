//===- SimdRange.cpp - Highway kernel of the weight range check -*- C++ -*-===//
//
// The block maximum of the magnitude bits behind findUnrepresentable
// (Range.cpp): the check reads every source weight once, so it runs at the
// widest vector the CPU has. Compiled once per Highway target
// (foreach_target); the HWY_ONCE part holds the dispatch (SimdPipeline.h).
//
//===----------------------------------------------------------------------===//

#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "lib/Numerics/SimdRange.cpp"
#include <hwy/foreach_target.h> // IWYU pragma: keep

#include <hwy/highway.h>

#include <cstddef>
#include <cstdint>

HWY_BEFORE_NAMESPACE();
namespace qopt::numerics::HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

/// max(p[i] & mask) over n values (0 for n == 0).
template <typename T>
HWY_INLINE T MaxMaskedT(const T *HWY_RESTRICT p, size_t n, T mask) {
  const hn::ScalableTag<T> d;
  const size_t lanes = hn::Lanes(d);
  const auto m = hn::Set(d, mask);
  auto a0 = hn::Zero(d), a1 = hn::Zero(d), a2 = hn::Zero(d),
       a3 = hn::Zero(d);
  size_t i = 0;
  for (; i + 4 * lanes <= n; i += 4 * lanes) {
    a0 = hn::Max(a0, hn::And(hn::LoadU(d, p + i), m));
    a1 = hn::Max(a1, hn::And(hn::LoadU(d, p + i + lanes), m));
    a2 = hn::Max(a2, hn::And(hn::LoadU(d, p + i + 2 * lanes), m));
    a3 = hn::Max(a3, hn::And(hn::LoadU(d, p + i + 3 * lanes), m));
  }
  for (; i + lanes <= n; i += lanes)
    a0 = hn::Max(a0, hn::And(hn::LoadU(d, p + i), m));
  T r = hn::GetLane(
      hn::MaxOfLanes(d, hn::Max(hn::Max(a0, a1), hn::Max(a2, a3))));
  for (; i < n; ++i)
    r = T(p[i] & mask) > r ? T(p[i] & mask) : r;
  return r;
}

uint16_t MaxMasked16(const uint16_t *p, size_t n, uint16_t mask) {
  return MaxMaskedT<uint16_t>(p, n, mask);
}
uint32_t MaxMasked32(const uint32_t *p, size_t n, uint32_t mask) {
  return MaxMaskedT<uint32_t>(p, n, mask);
}

} // namespace qopt::numerics::HWY_NAMESPACE
HWY_AFTER_NAMESPACE();

#if HWY_ONCE

#include "Simd.h"
#include "SimdPipeline.h"

namespace qopt::numerics {

HWY_EXPORT(MaxMasked16);
HWY_EXPORT(MaxMasked32);

namespace simd {

uint16_t maxMasked16(const uint16_t *p, size_t n, uint16_t mask) {
  return HWY_DYNAMIC_DISPATCH(MaxMasked16)(p, n, mask);
}
uint32_t maxMasked32(const uint32_t *p, size_t n, uint32_t mask) {
  return HWY_DYNAMIC_DISPATCH(MaxMasked32)(p, n, mask);
}

} // namespace simd
} // namespace qopt::numerics

#endif // HWY_ONCE
