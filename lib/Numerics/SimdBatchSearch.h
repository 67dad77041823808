//===- SimdBatchSearch.h - Scale searches, one group per lane ---*- C++ -*-===//
//
// Internal to lib/Numerics (SimdBatchSearch.cpp, SimdWeightedSearch.cpp,
// SimdBatchSchedule-inl.h, SimdBatchWords-inl.h). The scale search of
// --optimize-scales (ScaleSearch.cpp) and the importance-weighted search of
// --imatrix for MLC's group modes (Calibrated.cpp) run for several groups at
// once, group g in vector lane g: every lane takes the steps the scalar
// search takes for its group (same candidates, same operations in the same
// order, its sums in the same order), under masks where its chain has ended,
// so the results are the scalar searches' bits on every target. The
// between-candidate work (the next scale, its rounding, the duplicate check,
// the best so far) is vector work too.
//
// Layout: the groups of a batch are n consecutive values of a row, group c
// starting at offsets[c]; plain rounding's codes are the packed words of the
// row (`words`: `bits`-bit fields, 32 / bits per word, LSB first, stored
// code = signed code + maxInt), group c's at word offsets[c] / (32 / bits)
// (n is a multiple of 32 / bits); the words of the groups whose candidate
// wins are replaced by the winners' codes, packed the same way, the others
// are left alone. The offsets of a batch of `count` groups
// are padded to a multiple of kBatchPad with the offset of n zeros (x and
// importance zero there, scale 0: such a lane has no candidate and changes
// nothing; its words must be readable); s and replaced have room for that
// many entries.
//
//===----------------------------------------------------------------------===//

#ifndef QOPT_LIB_NUMERICS_SIMDBATCHSEARCH_H
#define QOPT_LIB_NUMERICS_SIMDBATCHSEARCH_H

#include "qopt/Numerics/Float.h"
#include "qopt/Numerics/GroupQuant.h"

#include <cstdint>
#include <vector>

namespace qopt::numerics::simd {

/// The batch columns are padded to a multiple of this (at least the lane
/// count of any target's double vectors).
inline constexpr int64_t kBatchPad = 16;

/// Pads a batch of offsets.size() groups to a multiple of kBatchPad with
/// lanes at `zerosOffset` (the zeros after the row) and scale 0; returns
/// the number of real groups.
inline int64_t padBatch(std::vector<int32_t> &offsets, float *s,
                        int32_t zerosOffset) {
  const auto count = int64_t(offsets.size());
  while (offsets.size() % size_t(kBatchPad) != 0) {
    s[offsets.size()] = 0.0f;
    offsets.push_back(zerosOffset);
  }
  return count;
}

/// Sets the codes i = len .. n - 1 of a group's packed words (`bits`-bit
/// fields, 32 / bits per word, LSB first) to the stored value `stored`. A
/// row's partial last group is searched in the batch as a full one, its
/// missing values being the zeros after the row (their terms add +0 to
/// every sum, as in the scalar search of its len values): before the batch
/// its missing codes are set to plain rounding's code of 0 (stored maxInt),
/// after it back to the scalar search's 0 bits where it won.
inline void setCodesFrom(uint32_t *w, int64_t len, int64_t n, int bits,
                         uint32_t stored) {
  const int64_t perWord = 32 / bits;
  const uint32_t mask = (1u << bits) - 1u;
  for (int64_t i = len; i < n; ++i) {
    const int shift = int(i % perWord) * bits;
    uint32_t &word = w[i / perWord];
    word = (word & ~(mask << shift)) | (stored << shift);
  }
}

/// ScaleSearch.cpp's search of each of `count` groups of n values (codes
/// in [-maxInt, maxInt], or [-maxInt, maxInt + 1] and both signs of the
/// scale with fullRange; scales rounded to `format`), against plain
/// rounding's scale s[c] and codes: where the best candidate's error is
/// below plain rounding's, s[c] becomes its signed scale, its codes replace
/// the group's words and replaced[c] = 1 (else 0). A group with a NaN, an
/// infinity or only zeros keeps plain rounding.
void searchScalesBatch(FloatFormat format, const float *x,
                       const int32_t *offsets, int64_t n, int64_t count,
                       float maxInt, bool fullRange, uint32_t *words, int bits,
                       float *s, uint8_t *replaced);

/// CalibratedSearch.h's groupSearch (scales rounded to `format`, codes in
/// [-hi, hi]) of `count` groups of n values x with importance a (same
/// positions), starting from plain rounding's scale s[c] and codes: where a
/// candidate beats the start, s[c] becomes the best one, the group's words
/// its codes and replaced[c] = 1 (else 0). A group with a NaN, an infinity
/// or only zeros keeps plain rounding.
void weightedSearchBatch(FloatFormat format, const float *x, const float *a,
                         const int32_t *offsets, int64_t n, int64_t count,
                         float hi, uint32_t *words, int bits, float *s,
                         uint8_t *replaced);

/// dst[i] = the model-format value i of src as float (halfToFloat,
/// bfloat16ToFloat, or a copy), n values.
void loadModelRow(FloatFormat format, const void *src, int64_t n, float *dst);

} // namespace qopt::numerics::simd

#endif // QOPT_LIB_NUMERICS_SIMDBATCHSEARCH_H
