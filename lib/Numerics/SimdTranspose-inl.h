//===- SimdTranspose-inl.h - 4 x 4 transposes inside 128-bit blocks -*- C++ -*-===//
//
// Internal to lib/Numerics; included once per Highway target by the kernels
// that turn 16-byte pieces of several streams into lane order (the batch
// searches' values, md5's message words). Highway 1.0.3 has no such
// transpose, and the two callers had the same two rounds of interleaves.
//
//===----------------------------------------------------------------------===//

// Per-target include guard (Highway's convention).
#if defined(QOPT_LIB_NUMERICS_SIMDTRANSPOSE_INL_H) == defined(HWY_TARGET_TOGGLE)
#ifdef QOPT_LIB_NUMERICS_SIMDTRANSPOSE_INL_H
#undef QOPT_LIB_NUMERICS_SIMDTRANSPOSE_INL_H
#else
#define QOPT_LIB_NUMERICS_SIMDTRANSPOSE_INL_H
#endif

#include <hwy/highway.h>

#include <cstddef>

HWY_BEFORE_NAMESPACE();
namespace qopt::numerics::HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

#if HWY_TARGET != HWY_SCALAR
/// Vectors a, b, c, d of 32-bit elements, block k of each holding
/// elements [4 k + 0 .. 4 k + 3] of one 4 x 4 tile's rows 0..3 (a: row 0,
/// ...): stores column j of every tile as a vector at out + j * stride
/// (block k = tile k's column j). Two rounds of interleaves, which stay
/// inside 128-bit blocks on every target.
template <class D, class T>
HWY_INLINE void StoreTransposed4x4(D d, hn::Vec<D> a, hn::Vec<D> b,
                                   hn::Vec<D> c, hn::Vec<D> e, T *out,
                                   size_t stride) {
  static_assert(sizeof(hn::TFromD<D>) == 4, "32-bit elements");
  const hn::Repartition<uint64_t, D> d64;
  const auto t0 = hn::BitCast(d64, hn::InterleaveLower(d, a, b));
  const auto t1 = hn::BitCast(d64, hn::InterleaveLower(d, c, e));
  const auto t2 = hn::BitCast(d64, hn::InterleaveUpper(d, a, b));
  const auto t3 = hn::BitCast(d64, hn::InterleaveUpper(d, c, e));
  hn::StoreU(hn::BitCast(d, hn::InterleaveLower(d64, t0, t1)), d, out);
  hn::StoreU(hn::BitCast(d, hn::InterleaveUpper(d64, t0, t1)), d,
             out + stride);
  hn::StoreU(hn::BitCast(d, hn::InterleaveLower(d64, t2, t3)), d,
             out + 2 * stride);
  hn::StoreU(hn::BitCast(d, hn::InterleaveUpper(d64, t2, t3)), d,
             out + 3 * stride);
}
#endif

} // namespace qopt::numerics::HWY_NAMESPACE
HWY_AFTER_NAMESPACE();

#endif // QOPT_LIB_NUMERICS_SIMDTRANSPOSE_INL_H
