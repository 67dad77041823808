//===- Calibrated.cpp - Importance-weighted scale search -------*- C++ -*-===//
//
// The weighted search of CalibratedSearch.h and the quantizers built on it
// for MLC's group format and MNN's block format (Calibrated.h). GPTQ is in
// Gptq.cpp.
//
//===----------------------------------------------------------------------===//

#include "qopt/Numerics/Calibrated.h"
#include "CalibratedSearch.h"
#include "SearchRules.h"
#include "Simd.h"
#include "SimdBatchSearch.h"
#include "SimdCalibrated.h"

#include <algorithm>
#include <climits>
#include <cstring>
#include <limits>
#include <utility>
#include <vector>

namespace qopt::numerics {
namespace calibrated {

void plainParams(const CodeRule &rule, float divisor, const float *v,
                 int64_t n, float &s, float &m) {
  if (rule.asymmetric) {
    float lo = v[0], hi = v[0];
    for (int64_t i = 1; i < n; ++i) {
      lo = std::min(lo, v[i]);
      hi = std::max(hi, v[i]);
    }
    s = (hi - lo) / divisor;
    m = lo;
    return;
  }
  float amax = 0.0f;
  for (int64_t i = 0; i < n; ++i)
    amax = std::max(amax, std::fabs(v[i]));
  s = rule.toScale(amax / divisor);
  m = 0.0f;
}

bool weightedSearch(const CodeRule &rule, const float *x, const float *a,
                    int64_t n, float &s, float &m, float *q, float *tmp) {
  float best = weightedError(rule, x, a, q, n, s, m);
  bool replaced = false;
  float top = x[0], bottom = x[0], amax = 0.0f;
  for (int64_t i = 0; i < n; ++i) {
    top = std::max(top, x[i]);
    bottom = std::min(bottom, x[i]);
    amax = std::max(amax, std::fabs(x[i]));
  }
  const float span = top - bottom;
  const float base = amax / rule.hi;
  const bool vectorTerms =
      rule.mlcCodes && !rule.asymmetric && simd::enabled();
  // The kernel's terms: on the stack for groups up to 256 values.
  constexpr int64_t kStackTerms = 256;
  float stackTerms[3 * kStackTerms];
  std::vector<float> heapTerms;
  float *te = stackTerms;
  if (vectorTerms && n > kStackTerms) {
    heapTerms.resize(size_t(3 * n));
    te = heapTerms.data();
  }
  float *tx = te + (n > kStackTerms ? n : kStackTerms),
         *tq = tx + (n > kStackTerms ? n : kStackTerms);
  constexpr size_t kMaxTried = std::size(kRatios) + kRefinements;
  std::pair<float, float> tried[kMaxTried];
  size_t numTried = 0;
  // Scores the candidate (cs, cm) if it is new; returns whether it was
  // scored, its error in `ce` and its least-squares successor in (ns, nm)
  // (ns = 0: none).
  auto tryCandidate = [&](float cs, float cm, float &ce, float &ns,
                          float &nm) {
    if (!rule.usable(cs) || !std::isfinite(cs) || !std::isfinite(cm) ||
        std::find(tried, tried + numTried, std::make_pair(cs, cm)) !=
            tried + numTried)
      return false;
    tried[numTried++] = {cs, cm};
    // The group rule through the Highway kernel: the per-element terms in
    // vectors, their sums here in the scalar order (the same bits).
    float e = 0, sxq = 0, sqq = 0;
    if (vectorTerms) {
      simd::weightedTerms(rule.scaleFormat, rule.mlcRounding, x, a, n, cs,
                          rule.hi, tmp, te, tx, tq);
      for (int64_t i = 0; i < n; ++i) {
        e += te[i];
        sxq += tx[i];
        sqq += tq[i];
      }
    } else {
      for (int64_t i = 0; i < n; ++i)
        tmp[i] = rule.code(x[i], cs, cm);
      e = weightedError(rule, x, a, tmp, n, cs, cm);
    }
    if (e < best) {
      best = e;
      s = cs;
      m = cm;
      std::copy(tmp, tmp + n, q);
      replaced = true;
    }
    ce = e;
    ns = 0.0f;
    nm = 0.0f;
    if (rule.asymmetric) {
      double sA = 0, sB = 0, sC = 0, sD = 0, sF = 0;
      for (int64_t i = 0; i < n; ++i) {
        double ai = a[i], qi = tmp[i], xi = x[i];
        double aq = ai * qi;
        double t = aq * qi;
        sA += t;
        sB += aq;
        sC += ai;
        t = aq * xi;
        sD += t;
        t = ai * xi;
        sF += t;
      }
      double t1 = sA * sC, t2 = sB * sB;
      double det = t1 - t2;
      if (!(det > 0))
        return true;
      t1 = sC * sD;
      t2 = sB * sF;
      ns = float((t1 - t2) / det);
      t1 = sA * sF;
      t2 = sB * sD;
      nm = float((t1 - t2) / det);
    } else {
      if (!vectorTerms)
        for (int64_t i = 0; i < n; ++i) {
          float aq = a[i] * tmp[i];
          float t = aq * x[i];
          sxq += t;
          t = aq * tmp[i];
          sqq += t;
        }
      if (sqq > 0)
        ns = rule.toScale(sxq / sqq);
    }
    return true;
  };
  // Screening: every clipping ratio's candidate; the lead is the one of
  // least error (the first on ties), whatever the start's error.
  float leadError = std::numeric_limits<float>::infinity();
  float ls = 0.0f, lm = 0.0f;
  for (float r : kRatios) {
    float cs, cm = 0.0f;
    if (rule.asymmetric) {
      cs = (span * r) / rule.hi;
      cm = bottom + (span - cs * rule.hi) * 0.5f;
    } else {
      cs = rule.toScale(base * r);
    }
    float e, ns, nm;
    if (tryCandidate(cs, cm, e, ns, nm) && e < leadError) {
      leadError = e;
      ls = ns;
      lm = nm;
    }
  }
  // Refinement: least-squares steps from the lead only.
  for (int refine = 0; refine < kRefinements; ++refine) {
    float e, ns, nm;
    if (!tryCandidate(ls, lm, e, ns, nm))
      break;
    ls = ns;
    lm = nm;
  }
  return replaced;
}

bool groupSearch(const float *x, const float *a, int64_t n, float maxInt,
                 FloatFormat format, float &s, float *q, float *tmp) {
  // W = sum (a x) x; per candidate X = sum (a q) x and Q = sum (a q) q, all
  // float32, i ascending from +0.
  float w = 0;
  for (int64_t i = 0; i < n; ++i) {
    float t = a[i] * x[i];
    t = t * x[i];
    w += t;
  }
  auto sums = [&](const float *c, float &sx, float &sq) {
    sx = 0;
    sq = 0;
    for (int64_t i = 0; i < n; ++i) {
      const float aq = a[i] * c[i];
      float t = aq * x[i];
      sx += t;
      t = aq * c[i];
      sq += t;
    }
  };
  // E = (W - 2 (s X)) + (s s) Q, each operation rounded to float32.
  auto errorOf = [&](float cs, float sx, float sq) {
    const float t1 = cs * sx;
    float t2 = cs * cs;
    t2 = t2 * sq;
    const float e = w - (t1 + t1);
    return e + t2;
  };
  float sx, sq;
  sums(q, sx, sq);
  float best = errorOf(s, sx, sq);
  bool replaced = false;
  float amax = 0.0f;
  for (int64_t i = 0; i < n; ++i)
    amax = std::max(amax, std::fabs(x[i]));
  const float base = amax / maxInt;
  float tried[kMaxTried];
  int numTried = 0;
  // Scores cs if it is a new usable scale (positive, finite, with a finite
  // reciprocal): returns whether it was scored, its error in `ce` and its
  // least-squares successor in `ns` (0: none).
  auto tryCandidate = [&](float cs, float &ce, float &ns) {
    if (!(cs > 0.0f) || !std::isfinite(cs) || !std::isfinite(1.0f / cs) ||
        std::find(tried, tried + numTried, cs) != tried + numTried)
      return false;
    tried[numTried++] = cs;
    const float inv = 1.0f / cs;
    for (int64_t i = 0; i < n; ++i)
      tmp[i] = search::assignCode(x[i], inv, -maxInt, maxInt);
    float cx, cq;
    sums(tmp, cx, cq);
    const float e = errorOf(cs, cx, cq);
    if (e < best) {
      best = e;
      s = cs;
      std::copy(tmp, tmp + n, q);
      replaced = true;
    }
    ce = e;
    ns = cq > 0 ? roundTo(cx / cq, format) : 0.0f;
    return true;
  };
  // Screening, then least-squares steps from the lead only.
  float leadError = std::numeric_limits<float>::infinity();
  float ls = 0.0f;
  for (float r : kRatios) {
    float e, ns;
    if (tryCandidate(roundTo(base * r, format), e, ns) && e < leadError) {
      leadError = e;
      ls = ns;
    }
  }
  for (int refine = 0; refine < kRefinements; ++refine) {
    float e, ns;
    if (!tryCandidate(ls, e, ns))
      break;
    ls = ns;
  }
  return replaced;
}

} // namespace calibrated

using namespace calibrated;

/// Whether the n values are finite, not all zero, with positive importance.
static bool searchable(const float *x, const float *a, int64_t n) {
  bool nonzero = false;
  double total = 0;
  for (int64_t i = 0; i < n; ++i) {
    if (!std::isfinite(x[i]))
      return false;
    nonzero |= x[i] != 0.0f;
    total += double(a[i]);
  }
  return nonzero && total > 0;
}

void groupQuantizeRowsWeighted(const void *w, int64_t rows, int64_t k,
                               const GroupQuantSpec &spec,
                               const float *importance, uint32_t *qweight,
                               void *scale) {
  if (!validateGroupQuantSpec(spec).empty() || rows <= 0 || k <= 0)
    return;
  const FloatFormat format = spec.modelFormat;
  const size_t es = format == FloatFormat::F32 ? 4 : 2;
  const int bits = spec.bits;
  const int64_t gs = spec.groupSize, groups = groupsPerRow(spec, k);
  const int64_t words = wordsPerRow(spec, k), epw = elemsPerWord(bits);
  const auto maxInt = float(maxIntValue(bits));
  const uint32_t mask = (1u << bits) - 1u;
  auto *in = static_cast<const unsigned char *>(w);
  auto *scaleOut = static_cast<unsigned char *>(scale);
  std::vector<float> x(static_cast<size_t>(k)), q(static_cast<size_t>(gs)),
      tmp(static_cast<size_t>(gs));
  // With the SIMD kernels: the row's groups with importance searched
  // together, one per lane (SimdBatchSearch.h; the same bits as
  // groupSearch, which also leaves the groups with a NaN, an infinity or
  // only zeros alone), a partial last group as a full one (setCodesFrom;
  // its missing values and importance are zeros).
  const bool batched =
      simd::enabled() && gs % epw == 0 && k <= int64_t(INT32_MAX) - 2 * gs;
  const int64_t numBatched = batched ? groups : 0;
  const int64_t lastLen = k - (groups - 1) * gs;
  // The batch: the offsets (padded) and groups of the groups whose
  // importance sums (double, ascending) above 0 (searchable()'s importance
  // part, the same for every row), their scales as floats (the padding
  // lanes' stay 0), the results.
  std::vector<int32_t> offsets;
  std::vector<int64_t> groupOf;
  std::vector<float> sB, aPadded, scaleF;
  std::vector<uint8_t> won;
  // The row's plain-rounding words, readable by the padding lanes too.
  std::vector<uint32_t> rowWords;
  std::vector<uint16_t> scaleH;
  int64_t count = 0;
  if (numBatched > 0) {
    for (int64_t g = 0; g < numBatched; ++g) {
      double total = 0;
      for (int64_t i = g * gs; i < std::min(k, (g + 1) * gs); ++i)
        total += double(importance[i]);
      if (total > 0) {
        offsets.push_back(int32_t(g * gs));
        groupOf.push_back(g);
      }
    }
    sB.resize(offsets.size() + size_t(simd::kBatchPad));
    count = simd::padBatch(offsets, sB.data(), int32_t(k));
    won.resize(offsets.size());
    rowWords.resize(size_t(words + gs / epw));
    aPadded.assign(importance, importance + k);
    aPadded.resize(size_t(k + gs));
    x.resize(size_t(k + gs));
    scaleF.resize(size_t(numBatched));
    scaleH.resize(size_t(numBatched));
  }
  auto pack = [&](uint32_t *gw, int64_t len, auto codeAt) {
    for (int64_t j = 0; j < gs / epw; ++j) {
      uint32_t word = 0;
      for (int64_t r = 0; r < epw; ++r)
        if (int64_t i = j * epw + r; i < len)
          word |= uint32_t(int32_t(codeAt(i) + maxInt)) << (r * bits);
      gw[j] = word;
    }
  };
  for (int64_t row = 0; row < rows; ++row) {
    const unsigned char *wRow = in + size_t(row * k) * es;
    uint32_t *qRow = qweight + row * words;
    unsigned char *sRow = scaleOut + size_t(row * groups) * es;
    // MLC's result, the one to beat (for blocks of rows: one call per row
    // cost more than the rounding of a short row).
    constexpr int64_t kRtnRows = 8;
    if (row % kRtnRows == 0)
      groupQuantizeRows(wRow, std::min(kRtnRows, rows - row), k, spec, qRow,
                        sRow);
    if (batched)
      simd::loadModelRow(format, wRow, k, x.data());
    else
      for (int64_t i = 0; i < k; ++i)
        x[size_t(i)] = loadModelValue(wRow + size_t(i) * es, format);
    // The groups groupSearch takes.
    for (int64_t g = numBatched; g < groups; ++g) {
      const int64_t begin = g * gs, len = std::min(gs, k - begin);
      const float *xg = x.data() + begin, *ag = importance + begin;
      if (!searchable(xg, ag, len))
        continue;
      uint32_t *gw = qRow + g * (gs / epw);
      for (int64_t i = 0; i < len; ++i)
        q[size_t(i)] =
            float(int32_t((gw[i / epw] >> ((i % epw) * bits)) & mask)) -
            maxInt;
      float s = loadModelValue(sRow + size_t(g) * es, format);
      if (!groupSearch(xg, ag, len, maxInt, format, s, q.data(), tmp.data()))
        continue;
      storeModelValue(s, format, sRow + size_t(g) * es);
      pack(gw, len, [&](int64_t i) { return q[size_t(i)]; });
    }
    if (count == 0)
      continue;
    simd::loadModelRow(format, sRow, numBatched, scaleF.data());
    for (int64_t c = 0; c < count; ++c)
      sB[size_t(c)] = scaleF[size_t(groupOf[size_t(c)])];
    std::memcpy(rowWords.data(), qRow, size_t(words) * 4);
    uint32_t *lastWords = rowWords.data() + size_t(groups - 1) * size_t(gs / epw);
    // The partial last group's lane, if it is in the batch (the last one).
    const bool partial = lastLen < gs && groupOf[size_t(count - 1)] == groups - 1;
    if (partial)
      simd::setCodesFrom(lastWords, lastLen, gs, bits, uint32_t(maxInt));
    simd::weightedSearchBatch(format, x.data(), aPadded.data(),
                              offsets.data(), gs, count, maxInt,
                              rowWords.data(), bits, sB.data(), won.data());
    if (partial) {
      if (won[size_t(count - 1)])
        simd::setCodesFrom(lastWords, lastLen, gs, bits, 0);
      else
        std::memcpy(lastWords, qRow + (groups - 1) * (gs / epw),
                    size_t(gs / epw) * 4);
    }
    std::memcpy(qRow, rowWords.data(), size_t(words) * 4);
    // The winners' scales (f16: the row's scales stored at once; they are
    // f16 values already, so the conversion is exact).
    bool anyWon = false;
    for (int64_t c = 0; c < count; ++c)
      if (won[size_t(c)]) {
        anyWon = true;
        if (format == FloatFormat::F16)
          scaleF[size_t(groupOf[size_t(c)])] = sB[size_t(c)];
        else
          storeModelValue(sB[size_t(c)], format,
                          sRow + size_t(groupOf[size_t(c)]) * es);
      }
    if (anyWon && format == FloatFormat::F16) {
      simd::f32ToF16(scaleF.data(), scaleH.data(), size_t(numBatched));
      std::memcpy(sRow, scaleH.data(), size_t(numBatched) * 2);
    }
  }
}

void mnnQuantizeRowsWeighted(const float *w, int64_t rows, int64_t k,
                             const MnnQuantSpec &spec, const float *importance,
                             uint8_t *packed, float *scale, float *zero) {
  if (!validateMnnQuantSpec(spec).empty() || rows <= 0 || k <= 0 ||
      (spec.asymmetric && !zero))
    return;
  const int64_t blocks = mnnBlocksPerRow(spec, k), bs = k / blocks;
  const int64_t rowBytes = mnnPackedRowBytes(spec, k);
  const auto [offset, rule] = mnnCodes(spec);
  std::vector<uint8_t> codes(static_cast<size_t>(k));
  std::vector<float> q(static_cast<size_t>(bs)), tmp(static_cast<size_t>(bs));
  for (int64_t row = 0; row < rows; ++row) {
    const float *wRow = w + row * k;
    for (int64_t b = 0; b < blocks; ++b) {
      const int64_t at = row * blocks + b;
      const float *xb = wRow + b * bs, *ab = importance + b * bs;
      uint8_t *cb = codes.data() + b * bs;
      float s = 0, m = 0;
      mnnRtnQuantizeBlock(xb, bs, spec.bits, spec.asymmetric, cb, s, m);
      scale[at] = s;
      if (spec.asymmetric)
        zero[at] = m;
      if (!searchable(xb, ab, bs) || !rule.usable(s))
        continue;
      for (int64_t i = 0; i < bs; ++i)
        q[size_t(i)] = float(int(cb[i]) - offset);
      if (!weightedSearch(rule, xb, ab, bs, s, m, q.data(), tmp.data()))
        continue;
      scale[at] = s;
      if (spec.asymmetric)
        zero[at] = m;
      for (int64_t i = 0; i < bs; ++i)
        cb[i] = uint8_t(int(q[size_t(i)]) + offset);
    }
    mnnPackCodes(codes.data(), k, spec.bits, packed + row * rowBytes);
  }
}

} // namespace qopt::numerics
