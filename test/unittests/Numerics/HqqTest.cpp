//===- HqqTest.cpp - HQQ zero-point optimization of MNN blocks ------------===//
//
// A deliberately plain reference of HQQ written from the fact sheet's
// formulas (peer-quantizers.md 1.6 and 2.1-2.2: inverse scale s, zero
// z = -min * s, the lp shrinkage with p = 0.7, beta = 10, the closed-form
// zero update, 20 steps, the best-scored zero kept, the plain rounding kept
// when not beaten), compared with mnnQuantizeRows(hqq = true); and the
// property that HQQ never loses to plain asymmetric rounding. And the
// vector kernel of the final stored-error comparison against a plain loop
// of its definition, bit for bit, on every target.
//
//===----------------------------------------------------------------------===//

#include "qopt/Numerics/Mnn.h"
#include "SimdTargets.h"
// The kernels' internal header (lib/Numerics is not on the include path).
#include "../../../lib/Numerics/Simd.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <random>
#include <vector>

using namespace qopt::numerics;

namespace {

struct Block {
  std::vector<int> codes;
  float scale = 0;
  float min = 0;
};

/// MNN's plain asymmetric rounding (sheet 1.4, IDSTEncoder's code formula).
Block refRtn(const std::vector<float> &w, int bits) {
  Block b;
  const float lo = *std::min_element(w.begin(), w.end());
  const float hi = *std::max_element(w.begin(), w.end());
  const int qmax = (1 << bits) - 1;
  b.scale = (hi - lo) / float(qmax);
  b.min = lo;
  for (float v : w)
    b.codes.push_back(
        b.scale > 1e-6f
            ? std::clamp(int(std::round((v - lo) / b.scale)), 0, qmax)
            : 0);
  return b;
}

/// Squared error of w against float(u) * scale + min.
double refError(const std::vector<float> &w, const Block &b) {
  double e = 0;
  for (size_t i = 0; i < w.size(); ++i) {
    const float p = float(b.codes[i]) * b.scale;
    const float d = p + b.min;
    e += (double(w[i]) - d) * (double(w[i]) - d);
  }
  return e;
}

/// HQQ as the sheet states it, one plain loop per formula. \p usedHqq tells
/// whether the optimized zero beat the plain rounding.
Block refHqq(const std::vector<float> &w, int bits, bool &usedHqq) {
  const Block rtn = refRtn(w, bits);
  usedHqq = false;
  if (!(rtn.scale > 1e-6f))
    return rtn;
  const double p = 0.7, beta = 10.0;
  const double qmax = (1 << bits) - 1;
  const double scale = rtn.scale;
  const double s = 1.0 / scale;
  const auto n = double(w.size());
  double z = -double(rtn.min) * s;
  double bestZ = z;
  double bestErr = std::numeric_limits<double>::infinity();
  for (int step = 0; step <= 20; ++step) {
    std::vector<double> wq, wr, we;
    for (float v : w)
      wq.push_back(std::clamp(std::nearbyint(v * s + z), 0.0, qmax));
    for (double q : wq)
      wr.push_back((q - z) * scale);
    double err = 0;
    for (size_t i = 0; i < w.size(); ++i)
      err += (w[i] - wr[i]) * (w[i] - wr[i]);
    if (err < bestErr) {
      bestErr = err;
      bestZ = z;
    }
    if (step == 20)
      break;
    // sp1: shrink_p(W - W_r, beta).
    for (size_t i = 0; i < w.size(); ++i) {
      const double x = w[i] - wr[i];
      const double a = std::fabs(x);
      const double shrunk =
          std::max(a - std::pow(std::max(a, 1e-8), p - 1.0) / beta, 0.0);
      we.push_back(x < 0 ? -shrunk : x > 0 ? shrunk : 0.0);
    }
    // sp2: z = mean(W_q - (W - W_e) * s).
    double sum = 0;
    for (size_t i = 0; i < w.size(); ++i)
      sum += wq[i] - (w[i] - we[i]) * s;
    z = sum / n;
  }
  Block h;
  h.scale = rtn.scale;
  h.min = float(-bestZ * scale);
  for (float v : w)
    h.codes.push_back(
        std::clamp(int(std::round((v - h.min) / h.scale)), 0, int(qmax)));
  if (refError(w, h) < refError(w, rtn)) {
    usedHqq = true;
    return h;
  }
  return rtn;
}

/// Unpacks an MNN row (MSB-first bit stream) by reading bit by bit.
std::vector<int> unpackRow(const uint8_t *row, int64_t k, int bits) {
  std::vector<int> codes;
  for (int64_t i = 0; i < k; ++i) {
    int v = 0;
    for (int b = 0; b < bits; ++b) {
      const int64_t bit = i * bits + b;
      v = (v << 1) | ((row[bit / 8] >> (7 - bit % 8)) & 1);
    }
    codes.push_back(v);
  }
  return codes;
}

struct Quantized {
  std::vector<uint8_t> packed;
  std::vector<float> scale, zero;
};

Quantized run(const std::vector<float> &w, int64_t rows, int64_t k,
              const MnnQuantSpec &spec) {
  Quantized q;
  q.packed.assign(size_t(rows * mnnPackedRowBytes(spec, k)), 0);
  q.scale.assign(size_t(rows * mnnBlocksPerRow(spec, k)), 0);
  q.zero.assign(q.scale.size(), 0);
  mnnQuantizeRows(w.data(), rows, k, spec, q.packed.data(), q.scale.data(),
                  q.zero.data());
  return q;
}

/// Gaussian values with 1% outliers 10x larger.
std::vector<float> gaussianWithOutliers(size_t n, float sigma, unsigned seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> normal(0.0f, sigma);
  std::uniform_real_distribution<float> uniform(0.0f, 1.0f);
  std::vector<float> w(n);
  for (float &v : w) {
    v = normal(rng);
    if (uniform(rng) < 0.01f)
      v *= 10.0f;
  }
  return w;
}

TEST(HqqTest, MatchesReferenceOnSmallBlocks) {
  qopt::numerics::testing::forEachSimdTarget([&] {
  // sigma 1: |W - W_r| often exceeds the shrinkage threshold 0.17, so the
  // lp shrinkage is active; sigma 0.02: it never is.
  int usedCount = 0, cases = 0;
  for (float sigma : {1.0f, 0.02f}) {
    for (int bits : {2, 3, 4, 8}) {
      for (unsigned seed = 1; seed <= 6; ++seed) {
        SCOPED_TRACE("sigma " + std::to_string(sigma) + " bits " +
                     std::to_string(bits) + " seed " + std::to_string(seed));
        const int64_t k = 64;
        std::vector<float> w = gaussianWithOutliers(size_t(k), sigma, seed);
        bool used = false;
        const Block ref = refHqq(w, bits, used);
        usedCount += used;
        ++cases;
        const MnnQuantSpec spec{bits, true, 0, true};
        Quantized q = run(w, 1, k, spec);
        EXPECT_EQ(unpackRow(q.packed.data(), k, bits), ref.codes);
        EXPECT_EQ(q.scale[0], ref.scale);
        EXPECT_NEAR(q.zero[0], ref.min, 1e-6 * std::fabs(ref.min) + 1e-12);
        // The block function gives the same.
        std::vector<uint8_t> codes(static_cast<size_t>(k));
        float scale = 0, min = 0;
        mnnHqqQuantizeBlock(w.data(), k, bits, codes.data(), scale, min);
        EXPECT_EQ(std::vector<int>(codes.begin(), codes.end()), ref.codes);
        EXPECT_EQ(scale, q.scale[0]);
        EXPECT_EQ(min, q.zero[0]);
      }
    }
  }
  // The examples exercise the optimized path, not only the fallback.
  EXPECT_GT(usedCount, cases / 2);
  });
}

TEST(HqqTest, HandCheckedShrinkage) {
  // The reference's shrinkage itself, on values worked by hand:
  // |x|^(2-p) <= 1/beta <=> |x| <= 0.1^(1/1.3) = 0.170125: shrunk to 0;
  // x = 1: 1 - 1^(-0.3)/10 = 0.9; x = -0.5: -(0.5 - 0.5^(-0.3)/10) =
  // -(0.5 - 0.123114) = -0.376886.
  auto shrink = [](double x) {
    const double a = std::fabs(x);
    const double s = std::max(a - std::pow(std::max(a, 1e-8), -0.3) / 10, 0.0);
    return x < 0 ? -s : s;
  };
  EXPECT_EQ(shrink(0.17), 0.0);
  EXPECT_EQ(shrink(-0.1), 0.0);
  EXPECT_DOUBLE_EQ(shrink(1.0), 0.9);
  EXPECT_NEAR(shrink(-0.5), -0.376886, 1e-6);
  EXPECT_GT(shrink(0.171), 0.0);
}

TEST(HqqTest, NeverWorseThanPlainRounding) {
  qopt::numerics::testing::forEachSimdTarget([&] {
  // Per block: the squared error of HQQ <= that of plain asymmetric rounding
  // (same scale); over the tensor HQQ is clearly better.
  for (float sigma : {0.02f, 1.0f}) {
    for (int bits : {2, 3, 4}) {
      for (int64_t block : {32, 64, 128}) {
        SCOPED_TRACE("sigma " + std::to_string(sigma) + " bits " +
                     std::to_string(bits) + " block " + std::to_string(block));
        const int64_t rows = 48, k = 512;
        std::vector<float> w =
            gaussianWithOutliers(size_t(rows * k), sigma, unsigned(bits));
        const MnnQuantSpec plainSpec{bits, true, block, false};
        const MnnQuantSpec hqqSpec{bits, true, block, true};
        Quantized plain = run(w, rows, k, plainSpec);
        Quantized hqq = run(w, rows, k, hqqSpec);
        EXPECT_EQ(plain.scale, hqq.scale); // HQQ keeps MNN's scale.
        std::vector<float> dp(w.size()), dh(w.size());
        mnnDequantizeRows(plain.packed.data(), plain.scale.data(),
                          plain.zero.data(), rows, k, plainSpec, dp.data());
        mnnDequantizeRows(hqq.packed.data(), hqq.scale.data(), hqq.zero.data(),
                          rows, k, hqqSpec, dh.data());
        double totalPlain = 0, totalHqq = 0;
        int worse = 0;
        for (size_t b = 0; b < w.size() / size_t(block); ++b) {
          double ep = 0, eh = 0;
          for (size_t i = b * size_t(block); i < (b + 1) * size_t(block); ++i) {
            ep += (double(w[i]) - dp[i]) * (double(w[i]) - dp[i]);
            eh += (double(w[i]) - dh[i]) * (double(w[i]) - dh[i]);
          }
          worse += eh > ep;
          totalPlain += ep;
          totalHqq += eh;
        }
        EXPECT_EQ(worse, 0);
        EXPECT_LT(totalHqq, 0.97 * totalPlain);
      }
    }
  }
  });
}

TEST(HqqTest, ConstantAndSymmetricBlocksKeepPlainRounding) {
  // A constant block: scale 0, codes 0, min = the value, as without HQQ.
  {
    const std::vector<float> w(32, -0.25f);
    Quantized q = run(w, 1, 32, {4, true, 0, true});
    EXPECT_EQ(q.scale, (std::vector<float>{0.0f}));
    EXPECT_EQ(q.zero, (std::vector<float>{-0.25f}));
    EXPECT_EQ(q.packed, std::vector<uint8_t>(16, 0));
  }
  // HQQ is asymmetric only: with asymmetric = false it is ignored.
  {
    std::vector<float> w = gaussianWithOutliers(4 * 128, 0.02f, 9);
    Quantized a = run(w, 4, 128, {4, false, 64, true});
    Quantized b = run(w, 4, 128, {4, false, 64, false});
    EXPECT_EQ(a.packed, b.packed);
    EXPECT_EQ(a.scale, b.scale);
  }
  // Bad arguments: nothing written.
  {
    std::vector<uint8_t> codes(4, 0xEE);
    float scale = -1, min = -1;
    const float w[4] = {1, 2, 3, 4};
    mnnHqqQuantizeBlock(w, 4, 9, codes.data(), scale, min);
    mnnHqqQuantizeBlock(w, 0, 4, codes.data(), scale, min);
    EXPECT_EQ(codes, std::vector<uint8_t>(4, 0xEE));
    EXPECT_EQ(scale, -1.0f);
    EXPECT_EQ(min, -1.0f);
  }
}

} // namespace

TEST(HqqTest, HandWorkedZeroUpdate) {
  // Worked by hand from the sheet (peer-quantizers.md 1.6 / 2.1-2.2), 2 bits
  // (codes 0..3), c = 2^-8: w = [0, c, c, c, 6c].
  //   scale = (6c - 0) / 3 = 2c (kept fixed), s = 1 / (2c), z0 = -min * s = 0.
  //   step 0: W*s + z = [0, .5, .5, .5, 3] -> round half even [0, 0, 0, 0, 3];
  //           W_r = (W_q - z) * scale = [0, 0, 0, 0, 6c]: squared error 3c^2;
  //           |W - W_r| <= c < 0.17, so W_e = 0 and
  //           z1 = mean(W_q - W*s) = (0 - .5 - .5 - .5 + 0) / 5 = -0.3
  //           (fractional: the zero is not rounded).
  //   step 1: W*s + z = [-.3, .2, .2, .2, 2.7] -> the same codes;
  //           W_r = [.6c, .6c, .6c, .6c, 6.6c]: error (.36 + 3 * .16 + .36)
  //           c^2 = 1.2 c^2; the update gives -0.3 again (a fixed point).
  //   stored: scale 2c, min' = -z * scale = 0.3 * 2c, codes
  //           round((w - min') / scale) = round([-.3, .2, .2, .2, 2.7]) =
  //           [0, 0, 0, 0, 3]; error 1.2c^2 beats plain rounding's
  //           round([0, .5, .5, .5, 3]) = [0, 1, 1, 1, 3] (half away), 3c^2.
  const float c = 1.0f / 256.0f;
  const std::vector<float> w = {0.0f, c, c, c, 6.0f * c};
  std::vector<uint8_t> codes(w.size());
  float scale = 0, min = 0;
  mnnRtnQuantizeBlock(w.data(), 5, 2, true, codes.data(), scale, min);
  EXPECT_EQ(codes, (std::vector<uint8_t>{0, 1, 1, 1, 3}));
  EXPECT_EQ(scale, 2.0f * c);
  EXPECT_EQ(min, 0.0f);
  mnnHqqQuantizeBlock(w.data(), 5, 2, codes.data(), scale, min);
  EXPECT_EQ(codes, (std::vector<uint8_t>{0, 0, 0, 0, 3}));
  EXPECT_EQ(scale, 2.0f * c);
  EXPECT_EQ(min, float(0.3 * (2.0 / 256.0)));
  Block b{{0, 0, 0, 0, 3}, scale, min};
  // 1.2 c^2 up to the float32 rounding of min' (relative 2^-24).
  EXPECT_NEAR(refError(w, b), 1.2 * double(c) * double(c),
              1e-6 * double(c) * double(c));
}

TEST(HqqTest, StoredErrorLanesAreTheDefinitionsSums) {
  // Lane l of ea sums, for i = l, l + 8, ... ascending, the squares of
  // w[i] - double(float(float(a[i]) * scale) + minA) in double: written here
  // from Simd.h's definition, compared bit for bit on every target (a
  // kernel that rounded the dequantization in double, or fused a multiply
  // and add, differs in the last bits of these random values).
  std::mt19937 rng(7);
  std::uniform_real_distribution<float> val(-0.37f, 0.41f);
  std::uniform_int_distribution<int> code(0, 255);
  for (int64_t n : {0, 8, 64, 256}) {
    std::vector<float> w(static_cast<size_t>(n));
    std::vector<uint8_t> a(static_cast<size_t>(n)), b(static_cast<size_t>(n));
    for (int64_t i = 0; i < n; ++i) {
      w[size_t(i)] = val(rng);
      a[size_t(i)] = uint8_t(code(rng));
      b[size_t(i)] = uint8_t(code(rng));
    }
    const float scale = 0.0031372549f, minA = -0.3709f, minB = -0.3697f;
    double wantA[8], wantB[8];
    for (int l = 0; l < 8; ++l) {
      wantA[l] = 0.25 * l; // the kernel adds to what the lanes hold
      wantB[l] = 0.5 * l;
    }
    for (int64_t i = 0; i < n; ++i) {
      volatile float pa = float(a[size_t(i)]) * scale;
      volatile float pb = float(b[size_t(i)]) * scale;
      volatile float da = pa + minA, db = pb + minB;
      const double xa = double(w[size_t(i)]) - double(da);
      const double xb = double(w[size_t(i)]) - double(db);
      volatile double sa = xa * xa, sb = xb * xb;
      wantA[i % 8] += sa;
      wantB[i % 8] += sb;
    }
    int vectorRuns = 0;
    std::string ran = qopt::numerics::testing::forEachSimdTarget([&] {
      if (!simd::enabled())
        return; // the portable path does not call the kernel
      ++vectorRuns;
      double ea[8], eb[8];
      for (int l = 0; l < 8; ++l) {
        ea[l] = 0.25 * l;
        eb[l] = 0.5 * l;
      }
      simd::storedErrorLanes(w.data(), n, a.data(), minA, b.data(), minB,
                             scale, ea, eb);
      for (int l = 0; l < 8; ++l) {
        EXPECT_EQ(ea[l], wantA[l]) << "n " << n << " lane " << l;
        EXPECT_EQ(eb[l], wantB[l]) << "n " << n << " lane " << l;
      }
    });
    // At least one target ran the kernel (not only the portable path).
    EXPECT_GT(vectorRuns, 0) << ran;
  }
}
