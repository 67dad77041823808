//===- SimdMd5.cpp - Highway kernel: MD5 of 16 lanes ------------*- C++ -*-===//
//
// qopt/Numerics/Md5Lanes.h. Compiled once per Highway target (foreach_target
// re-includes this file). Each of A, B, C, D is held as K vectors of N lanes
// (N * K = 16: one vector on AVX-512, two on AVX2, four on SSE4/NEON,
// sixteen scalars on SCALAR), so the K dependency chains of a step run side
// by side. Lanes are independent and each performs exactly RFC 1321's 32-bit
// operations, so every target computes the scalar definition's state.
//
//===----------------------------------------------------------------------===//

#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "lib/Numerics/SimdMd5.cpp"
#include <hwy/foreach_target.h> // IWYU pragma: keep

#include <hwy/highway.h>

#include "SimdTranspose-inl.h"
#include "qopt/Numerics/Md5Lanes.h"

#include <algorithm>
#include <cstring>
#include <utility>

#ifndef QOPT_LIB_NUMERICS_SIMDMD5_ONCE
#define QOPT_LIB_NUMERICS_SIMDMD5_ONCE
namespace qopt::numerics::md5 {

/// RFC 1321's sine table.
constexpr uint32_t kK[64] = {
    0xd76aa478, 0xe8c7b756, 0x242070db, 0xc1bdceee, 0xf57c0faf, 0x4787c62a,
    0xa8304613, 0xfd469501, 0x698098d8, 0x8b44f7af, 0xffff5bb1, 0x895cd7be,
    0x6b901122, 0xfd987193, 0xa679438e, 0x49b40821, 0xf61e2562, 0xc040b340,
    0x265e5a51, 0xe9b6c7aa, 0xd62f105d, 0x02441453, 0xd8a1e681, 0xe7d3fbc8,
    0x21e1cde6, 0xc33707d6, 0xf4d50d87, 0x455a14ed, 0xa9e3e905, 0xfcefa3f8,
    0x676f02d9, 0x8d2a4c8a, 0xfffa3942, 0x8771f681, 0x6d9d6122, 0xfde5380c,
    0xa4beea44, 0x4bdecfa9, 0xf6bb4b60, 0xbebfbc70, 0x289b7ec6, 0xeaa127fa,
    0xd4ef3085, 0x04881d05, 0xd9d4d039, 0xe6db99e5, 0x1fa27cf8, 0xc4ac5665,
    0xf4292244, 0x432aff97, 0xab9423a7, 0xfc93a039, 0x655b59c3, 0x8f0ccc92,
    0xffeff47d, 0x85845dd1, 0x6fa87e4f, 0xfe2ce6e0, 0xa3014314, 0x4e0811a1,
    0xf7537e82, 0xbd3af235, 0x2ad7d2bb, 0xeb86d391};

/// The message word step I reads.
constexpr int wordOf(int i) {
  int round = i / 16;
  return round == 0   ? i
         : round == 1 ? (5 * i + 1) % 16
         : round == 2 ? (3 * i + 5) % 16
                      : (7 * i) % 16;
}

/// The left rotation of step I.
constexpr int shiftOf(int i) {
  constexpr int shifts[4][4] = {
      {7, 12, 17, 22}, {5, 9, 14, 20}, {4, 11, 16, 23}, {6, 10, 15, 21}};
  return shifts[i / 16][i % 4];
}

/// A 64-byte block of zeros: what an inactive lane "reads".
alignas(64) inline constexpr uint8_t kZeroBlock[64] = {};

} // namespace qopt::numerics::md5
#endif

HWY_BEFORE_NAMESPACE();
namespace qopt::numerics::HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

namespace md5k {

#if HWY_HAVE_SCALABLE
// Scalable vectors (SVE): 4 lanes of 128 bits, whatever the vector length.
using D = hn::FixedTag<uint32_t, 4>;
#else
using D = hn::CappedTag<uint32_t, kMd5Lanes>;
#endif
constexpr size_t kN = hn::MaxLanes(D());
constexpr size_t kVecs = kMd5Lanes / kN;
static_assert(kN * kVecs == kMd5Lanes, "lanes must divide 16");
using V = hn::Vec<D>;

/// Step I on one vector of each variable (roles rotate as in RFC 1321:
/// step i updates a, d, c, b in turn). xj holds the block's words of these
/// lanes, word w at xj[w * 16].
template <int I>
HWY_INLINE void step(V &a, V b, V c, V d, const uint32_t *xj) {
  const D dd;
  constexpr int round = I / 16;
  V f;
  if constexpr (round == 0)
    f = hn::Xor(d, hn::And(b, hn::Xor(c, d)));
  else if constexpr (round == 1)
    f = hn::Xor(c, hn::And(d, hn::Xor(b, c)));
  else if constexpr (round == 2)
    f = hn::Xor(hn::Xor(b, c), d);
  else
    f = hn::Xor(c, hn::Or(b, hn::Not(d)));
  const V w = hn::Load(dd, xj + md5::wordOf(I) * kMd5Lanes);
  const V sum = hn::Add(hn::Add(a, f), hn::Add(hn::Set(dd, md5::kK[I]), w));
  a = hn::Add(b, hn::RotateRight<32 - md5::shiftOf(I)>(sum));
}

#if !HWY_HAVE_SCALABLE
/// Step I on the K vectors of each variable, side by side.
template <int I>
HWY_INLINE void step(V *a, const V *b, const V *c, const V *d,
                     const uint32_t *x) {
  for (size_t j = 0; j < kVecs; ++j)
    step<I>(a[j], b[j], c[j], d[j], x + j * kN);
}

#endif // !HWY_HAVE_SCALABLE

/// The 64 steps, on one vector of each variable (T = V) or on the K vectors
/// of each (T = V *).
template <class T, int... Is>
HWY_INLINE void steps(T &a, T &b, T &c, T &d, const uint32_t *x,
                      std::integer_sequence<int, Is...>) {
  (
      [&] {
        if constexpr (Is % 4 == 0)
          step<Is>(a, b, c, d, x);
        else if constexpr (Is % 4 == 1)
          step<Is>(d, a, b, c, x);
        else if constexpr (Is % 4 == 2)
          step<Is>(c, d, a, b, x);
        else
          step<Is>(b, c, d, a, x);
      }(),
      ...);
}

#if HWY_TARGET != HWY_SCALAR
/// A vector of n = MaxLanes(d) words whose 128-bit block b holds the 16
/// bytes at ptr[l + 4 b] + off.
template <class DT>
HWY_INLINE hn::Vec<DT> gatherPieces(DT d, const uint8_t *const *ptr, size_t l,
                                    size_t off) {
  constexpr size_t n = hn::MaxLanes(DT());
  if constexpr (n == 4) {
    return hn::LoadU(d, reinterpret_cast<const uint32_t *>(ptr[l] + off));
  } else {
    const hn::Half<DT> dh;
    return hn::Combine(d, gatherPieces(dh, ptr, l + n / 2, off),
                       gatherPieces(dh, ptr, l, off));
  }
}
#endif

/// x[w * 16 + l] = word w of the 64 bytes at ptr[l]. On the vector targets
/// (4, 8 or 16 lanes): 16-byte pieces are loaded and combined so that each
/// 128-bit block of vector A, B, C or D holds the same 4 words of 4
/// consecutive lanes, then a 4 x 4
/// transpose inside every 128-bit block (two rounds of interleaves) gives
/// the word vectors in lane order; instead of 256 four-byte copies.
HWY_INLINE void transposeBlock(const uint8_t *const ptr[kMd5Lanes],
                               uint32_t *x) {
#if HWY_TARGET != HWY_SCALAR
  static_assert(kN >= 4, "128-bit blocks of 4 words");
  {
    const D dd;
    for (unsigned q = 0; q < 4; ++q) {
      for (size_t j = 0; j < kVecs; ++j) {
        // Block b of vector a: words 4q..4q+3 of lane j * kN + 4 b + a.
        const size_t l = j * kN;
        const V va = gatherPieces(dd, ptr, l, 16 * q);
        const V vb = gatherPieces(dd, ptr, l + 1, 16 * q);
        const V vc = gatherPieces(dd, ptr, l + 2, 16 * q);
        const V vd = gatherPieces(dd, ptr, l + 3, 16 * q);
        StoreTransposed4x4(dd, va, vb, vc, vd,
                           x + 4 * q * kMd5Lanes + j * kN, kMd5Lanes);
      }
    }
  }
#else
  for (unsigned l = 0; l < kMd5Lanes; ++l)
    for (unsigned w = 0; w < 16; ++w)
      std::memcpy(&x[w * kMd5Lanes + l], ptr[l] + 4 * w, 4); // little-endian
#endif
}

} // namespace md5k

/// md5RunBlocks on this target.
void Md5RunBlocks(Md5LaneState &st, const uint8_t *const base[kMd5Lanes],
                  const uint64_t blocks[kMd5Lanes]) {
  using namespace md5k;
  const D dd;
  const uint64_t most = *std::max_element(blocks, blocks + kMd5Lanes);
  // The block's words, lane by lane (word w of lane l at w * 16 + l), and
  // which lanes take this block.
  alignas(64) uint32_t x[16 * kMd5Lanes];
  alignas(64) uint32_t on[kMd5Lanes];
  const uint8_t *ptr[kMd5Lanes];
  auto prepare = [&](uint64_t i) {
    for (unsigned l = 0; l < kMd5Lanes; ++l) {
      const bool active = i < blocks[l];
      on[l] = active ? ~0u : 0u;
      ptr[l] = active ? base[l] + i * 64 : md5::kZeroBlock;
    }
    transposeBlock(ptr, x);
  };
#if HWY_HAVE_SCALABLE
  // Sizeless SVE vectors cannot form arrays: the K groups of lanes one
  // after the other, their state through memory between blocks.
  for (uint64_t i = 0; i < most; ++i) {
    prepare(i);
    for (size_t j = 0; j < kVecs; ++j) {
      const V sa = hn::Load(dd, st.a + j * kN), sb = hn::Load(dd, st.b + j * kN);
      const V sc = hn::Load(dd, st.c + j * kN), sd = hn::Load(dd, st.d + j * kN);
      V a = sa, b = sb, c = sc, d = sd;
      steps(a, b, c, d, x + j * kN, std::make_integer_sequence<int, 64>());
      const auto m = hn::MaskFromVec(hn::Load(dd, on + j * kN));
      hn::Store(hn::IfThenElse(m, hn::Add(sa, a), sa), dd, st.a + j * kN);
      hn::Store(hn::IfThenElse(m, hn::Add(sb, b), sb), dd, st.b + j * kN);
      hn::Store(hn::IfThenElse(m, hn::Add(sc, c), sc), dd, st.c + j * kN);
      hn::Store(hn::IfThenElse(m, hn::Add(sd, d), sd), dd, st.d + j * kN);
    }
  }
#else
  V sa[kVecs], sb[kVecs], sc[kVecs], sd[kVecs];
  for (size_t j = 0; j < kVecs; ++j) {
    sa[j] = hn::Load(dd, st.a + j * kN);
    sb[j] = hn::Load(dd, st.b + j * kN);
    sc[j] = hn::Load(dd, st.c + j * kN);
    sd[j] = hn::Load(dd, st.d + j * kN);
  }
  for (uint64_t i = 0; i < most; ++i) {
    prepare(i);
    V a[kVecs], b[kVecs], c[kVecs], d[kVecs];
    for (size_t j = 0; j < kVecs; ++j) {
      a[j] = sa[j];
      b[j] = sb[j];
      c[j] = sc[j];
      d[j] = sd[j];
    }
    V *pa = a, *pb = b, *pc = c, *pd = d;
    steps(pa, pb, pc, pd, x, std::make_integer_sequence<int, 64>());
    for (size_t j = 0; j < kVecs; ++j) {
      const auto m = hn::MaskFromVec(hn::Load(dd, on + j * kN));
      sa[j] = hn::IfThenElse(m, hn::Add(sa[j], a[j]), sa[j]);
      sb[j] = hn::IfThenElse(m, hn::Add(sb[j], b[j]), sb[j]);
      sc[j] = hn::IfThenElse(m, hn::Add(sc[j], c[j]), sc[j]);
      sd[j] = hn::IfThenElse(m, hn::Add(sd[j], d[j]), sd[j]);
    }
  }
  for (size_t j = 0; j < kVecs; ++j) {
    hn::Store(sa[j], dd, st.a + j * kN);
    hn::Store(sb[j], dd, st.b + j * kN);
    hn::Store(sc[j], dd, st.c + j * kN);
    hn::Store(sd[j], dd, st.d + j * kN);
  }
#endif
}

} // namespace qopt::numerics::HWY_NAMESPACE
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
#include "Simd.h"

namespace qopt::numerics {

HWY_EXPORT(Md5RunBlocks);

void Md5LaneState::reset() {
  std::fill(a, a + kMd5Lanes, 0x67452301u);
  std::fill(b, b + kMd5Lanes, 0xefcdab89u);
  std::fill(c, c + kMd5Lanes, 0x98badcfeu);
  std::fill(d, d + kMd5Lanes, 0x10325476u);
}

void md5RunBlocks(Md5LaneState &st, const uint8_t *const base[kMd5Lanes],
                  const uint64_t blocks[kMd5Lanes]) {
  if (!simd::enabled())
    return md5RunBlocksScalar(st, base, blocks);
  HWY_DYNAMIC_DISPATCH(Md5RunBlocks)(st, base, blocks);
}

void md5RunBlocksScalar(Md5LaneState &st, const uint8_t *const base[kMd5Lanes],
                        const uint64_t blocks[kMd5Lanes]) {
  auto rotl = [](uint32_t v, int s) { return (v << s) | (v >> (32 - s)); };
  for (unsigned l = 0; l < kMd5Lanes; ++l) {
    for (uint64_t i = 0; i < blocks[l]; ++i) {
      uint32_t x[16];
      std::memcpy(x, base[l] + i * 64, 64); // little-endian words
      uint32_t a = st.a[l], b = st.b[l], c = st.c[l], d = st.d[l];
      for (int s = 0; s < 64; ++s) {
        uint32_t f;
        switch (s / 16) {
        case 0:
          f = (b & c) | (~b & d);
          break;
        case 1:
          f = (d & b) | (~d & c);
          break;
        case 2:
          f = b ^ c ^ d;
          break;
        default:
          f = c ^ (b | ~d);
          break;
        }
        uint32_t t = d;
        d = c;
        c = b;
        b = b + rotl(a + f + md5::kK[s] + x[md5::wordOf(s)], md5::shiftOf(s));
        a = t;
      }
      st.a[l] += a;
      st.b[l] += b;
      st.c[l] += c;
      st.d[l] += d;
    }
  }
}

} // namespace qopt::numerics
#endif // HWY_ONCE
