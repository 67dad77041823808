//===- SimdBatchWords-inl.h - Plain rounding's codes per lane ---*- C++ -*-===//
//
// Internal to lib/Numerics; included once per Highway target by the batch
// searches (SimdBatchSearch.cpp). Plain rounding's codes of a chunk of
// groups, one group per lane, read from the row's packed words
// (SimdBatchSearch.h): the chunk's words are gathered once, word j of lane l
// at j * N + l, and code i is a shift and a mask of word i / E, taken word
// by word.
//
//===----------------------------------------------------------------------===//

// Per-target include guard (Highway's convention).
#if defined(QOPT_LIB_NUMERICS_SIMDBATCHWORDS_INL_H) == defined(HWY_TARGET_TOGGLE)
#ifdef QOPT_LIB_NUMERICS_SIMDBATCHWORDS_INL_H
#undef QOPT_LIB_NUMERICS_SIMDBATCHWORDS_INL_H
#else
#define QOPT_LIB_NUMERICS_SIMDBATCHWORDS_INL_H
#endif

#include <hwy/highway.h>

#include "SimdTranspose-inl.h"

#include <cstdint>
#include <limits>

HWY_BEFORE_NAMESPACE();
namespace qopt::numerics::HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

/// x / d rounded down for 0 <= x < 2^31 and 0 < d <= 32 without a
/// division instruction (the word offset of a group, value offset / values
/// per word, 16 per chunk, was an idiv each): x m / 2^40 with m =
/// floor(2^40 / d) + 1 exceeds x / d by less than x / 2^40 < 2^-9, less than
/// the 1 / d that separates x / d from the next integer.
class WordDivider {
public:
  explicit WordDivider(int64_t d) : m((uint64_t(1) << 40) / uint64_t(d) + 1) {}
  int64_t operator()(int32_t x) const {
    return int64_t((uint64_t(uint32_t(x)) * m) >> 40);
  }

private:
  uint64_t m;
};

#if HWY_TARGET != HWY_SCALAR
/// A vector whose 128-bit block b holds the 4 floats at x + at[4 b] + i.
template <class D>
HWY_INLINE hn::Vec<D> LoadPieces(D d, const float *x, const int32_t *at,
                                 int64_t i) {
  constexpr size_t kLanes = hn::MaxLanes(D());
  if constexpr (kLanes == 4) {
    return hn::LoadU(d, x + at[0] + i);
  } else {
    const hn::Half<D> dh;
    return hn::Combine(d, LoadPieces(dh, x, at + kLanes / 2, i),
                       LoadPieces(dh, x, at, i));
  }
}
#endif

/// The values of a chunk's groups in lane order: out[i * N + l] =
/// x[offsets[l] + i] for i < n and every lane l (what GatherIndex gives; a
/// gather was the most expensive operation of the searches' first pass).
/// On the vector targets 16-byte pieces of 4 values are loaded so that each
/// 128-bit block of vector a holds lane 4 b + a's values i .. i + 3 (block
/// b), then a 4 x 4 transpose inside every block (two rounds of interleaves)
/// gives 4 columns; the last n % 4 columns are gathered.
template <class DF>
HWY_INLINE void TransposeGroups(DF df, const float *x, const int32_t *offsets,
                                int64_t n, float *out) {
  const hn::RebindToSigned<DF> di;
  const auto N = int64_t(hn::Lanes(df));
  int64_t i = 0;
#if HWY_TARGET != HWY_SCALAR
  if constexpr (hn::MaxLanes(DF()) >= 4) {
    for (; i + 4 <= n; i += 4) {
      const auto va = LoadPieces(df, x, offsets, i);
      const auto vb = LoadPieces(df, x, offsets + 1, i);
      const auto vc = LoadPieces(df, x, offsets + 2, i);
      const auto vd = LoadPieces(df, x, offsets + 3, i);
      StoreTransposed4x4(df, va, vb, vc, vd, out + i * N, size_t(N));
    }
  }
#endif
  const auto off = hn::LoadU(di, offsets);
  for (; i < n; ++i)
    hn::StoreU(hn::GatherIndex(df, x, hn::Add(off, hn::Set(di, int32_t(i)))),
               df, out + i * N);
}

/// The signed code i of lane l in transposed words (word j of lane l at
/// w[j * N + l], `bits`-bit fields, stored code = signed code + maxInt).
inline float LaneCode(const uint32_t *w, int64_t N, int64_t l, int64_t i,
                      int bits, float maxInt) {
  const int64_t perWord = 32 / bits;
  const uint32_t word = w[(i / perWord) * N + l];
  return float(int32_t((word >> ((i % perWord) * bits)) & ((1u << bits) - 1u))) -
         maxInt;
}

/// The packed words of a chunk's groups, transposed.
template <class DF> class ChunkWords {
public:
  /// words: the row's words; offsets: the chunk's value offsets (one per
  /// lane of DF); n values per group, `bits` bits per code.
  ChunkWords(DF df, const uint32_t *words, const int32_t *offsets, int64_t n,
             int bits, float maxInt, uint32_t *scratch)
      : perWord(32 / bits), bits(bits), mask((1u << bits) - 1u),
        maxInt(maxInt), wt(scratch), n(n) {
    const auto N = int64_t(hn::Lanes(df));
    const WordDivider toWord(perWord);
    alignas(64) int32_t at[64];
    for (int64_t l = 0; l < N; ++l)
      at[l] = int32_t(toWord(offsets[l]));
    // Moved as float bits (loads, interleaves and stores only).
    TransposeGroups(df, reinterpret_cast<const float *>(words), at,
                    n / perWord, reinterpret_cast<float *>(wt));
  }
  /// The signed code i of lane l.
  float Code(int64_t N, int64_t l, int64_t i) const {
    return LaneCode(wt, N, l, i, bits, maxInt);
  }
  /// Calls f(i, codes) for i = 0 .. n - 1 in order, codes the signed code i
  /// of each lane, as floats (no division per element).
  template <class F> HWY_INLINE void ForEach(DF df, const F &f) const {
    const hn::RebindToUnsigned<DF> du;
    const hn::RebindToSigned<DF> di;
    const auto N = int64_t(hn::Lanes(df));
    const auto vMask = hn::Set(du, mask);
    const auto vMax = hn::Set(df, maxInt);
    for (int64_t j = 0, i = 0; i < n; ++j) {
      const auto w = hn::LoadU(du, wt + j * N);
      for (int64_t r = 0; r < perWord && i < n; ++r, ++i) {
        const auto c = hn::And(hn::ShiftRightSame(w, int(r * bits)), vMask);
        f(i, hn::Sub(hn::ConvertTo(df, hn::BitCast(di, c)), vMax));
      }
    }
  }

private:
  int64_t perWord;
  int bits;
  uint32_t mask;
  float maxInt;
  uint32_t *wt;
  int64_t n;
};


/// Packs codes into transposed words: code(i), called for i = 0 .. n - 1 in
/// order, gives the signed codes of element i of every lane (floats in
/// [-maxInt, maxInt + 1]); word j of lane l goes to out[j * N + l].
template <class DF, class CodeAt>
HWY_INLINE void PackCodes(DF df, int64_t n, int bits, float maxInt,
                          const CodeAt &code, uint32_t *out) {
  const hn::RebindToUnsigned<DF> du;
  const auto N = int64_t(hn::Lanes(df));
  const int64_t perWord = 32 / bits;
  // code + maxInt + 2^23 is exact and holds the stored code (< 2^bits) in
  // its low mantissa bits.
  const auto vBias = hn::Set(df, maxInt + 0x1p23f);
  const auto vMask = hn::Set(du, (1u << bits) - 1u);
  for (int64_t j = 0; j < n / perWord; ++j) {
    auto w = hn::Zero(du);
    for (int64_t r = 0; r < perWord; ++r) {
      const auto stored =
          hn::And(hn::BitCast(du, hn::Add(code(j * perWord + r), vBias)),
                  vMask);
      w = hn::Or(w, hn::ShiftLeftSame(stored, int(r * bits)));
    }
    hn::StoreU(w, du, out + j * N);
  }
}

/// For each lane l of `won`, its group's words in the row (at word
/// offsets[l] / (32 / bits) of `words`) become the packed ones (word j at
/// packed[j * N + l]).
template <class DF>
HWY_INLINE void CopyWinnerWords(DF df, int64_t n, int bits, hn::Mask<DF> won,
                                const int32_t *offsets, const uint32_t *packed,
                                uint32_t *words) {
  const auto N = int64_t(hn::Lanes(df));
  const int64_t perWord = 32 / bits;
  alignas(64) float flags[64];
  hn::StoreU(hn::IfThenElseZero(won, hn::Set(df, 1.0f)), df, flags);
  const WordDivider toWord(perWord);
  for (int64_t l = 0; l < N; ++l) {
    if (flags[l] == 0.0f)
      continue;
    uint32_t *out = words + toWord(offsets[l]);
    for (int64_t j = 0; j < n / perWord; ++j)
      out[j] = packed[j * N + l];
  }
}

/// The lanes of `want` where s is a usable scale (positive and finite) that
/// the lane has not scored yet; when there are any, s is recorded as tried
/// in them (NaN, never equal, in the others). The batch searches skip a
/// candidate equal to an earlier one, as the scalar searches do.
template <class D>
HWY_INLINE hn::Mask<D> FreshScales(D d, hn::Vec<D> s, hn::Mask<D> want,
                                   hn::Vec<D> *tried, int &numTried) {
  auto ok = hn::And(want, hn::And(hn::Gt(s, hn::Zero(d)), hn::IsFinite(s)));
  for (int t = 0; t < numTried; ++t)
    ok = hn::AndNot(hn::Eq(s, tried[t]), ok);
  if (!hn::AllFalse(d, ok))
    tried[numTried++] = hn::IfThenElse(
        ok, s, hn::Set(d, std::numeric_limits<hn::TFromD<D>>::quiet_NaN()));
  return ok;
}

} // namespace qopt::numerics::HWY_NAMESPACE
HWY_AFTER_NAMESPACE();

#endif // per-target include guard
