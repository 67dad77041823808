//===- Md5LanesTest.cpp - The md5 compression kernel on every target ------===//
//
// md5RunBlocks (qopt/Numerics/Md5Lanes.h) on every SIMD target this CPU runs
// (test/arm/run.sh runs it on NEON and SVE too). Expected values: RFC 1321's
// digests of "abc" and of the 80-digit message (appendix A.5), padded here
// by hand into their blocks, and, for lanes of different lengths, the
// scalar definition, which the RFC digests check.
//
//===----------------------------------------------------------------------===//

#include "qopt/Numerics/Md5Lanes.h"

#include "SimdTargets.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

using namespace qopt::numerics;
using qopt::numerics::testing::forEachSimdTarget;

namespace {

/// RFC 1321 padding of message m: 0x80, zeros, the bit length (little-endian).
std::vector<uint8_t> padded(const std::string &m) {
  std::vector<uint8_t> b(m.begin(), m.end());
  b.push_back(0x80);
  while (b.size() % 64 != 56)
    b.push_back(0);
  uint64_t bits = uint64_t(m.size()) * 8;
  for (int i = 0; i < 8; ++i)
    b.push_back(uint8_t(bits >> (8 * i)));
  return b;
}

std::string hexOf(const Md5LaneState &st, unsigned l) {
  uint32_t w[4] = {st.a[l], st.b[l], st.c[l], st.d[l]};
  std::string s;
  char buf[3];
  for (uint32_t v : w)
    for (int i = 0; i < 4; ++i) {
      std::snprintf(buf, sizeof buf, "%02x", unsigned(uint8_t(v >> (8 * i))));
      s += buf;
    }
  return s;
}

TEST(Md5Lanes, RfcDigestsInEveryLaneOnEveryTarget) {
  const std::string digits = "1234567890123456789012345678901234567890"
                             "1234567890123456789012345678901234567890";
  // Even lanes "abc" (one block), odd lanes the digits (two blocks).
  std::vector<uint8_t> abc = padded("abc"), dig = padded(digits);
  ASSERT_EQ(abc.size(), 64u);
  ASSERT_EQ(dig.size(), 128u);
  forEachSimdTarget([&] {
    Md5LaneState st;
    st.reset();
    const uint8_t *base[kMd5Lanes];
    uint64_t blocks[kMd5Lanes];
    for (unsigned l = 0; l < kMd5Lanes; ++l) {
      base[l] = l % 2 ? dig.data() : abc.data();
      blocks[l] = l % 2 ? 2 : 1;
    }
    md5RunBlocks(st, base, blocks);
    for (unsigned l = 0; l < kMd5Lanes; ++l)
      EXPECT_EQ(hexOf(st, l), l % 2 ? "57edf4a22be3c955ac49da2e2107b67a"
                                    : "900150983cd24fb0d6963f7d28e17f72")
          << "lane " << l;
  });
}

TEST(Md5Lanes, LanesOfDifferentLengthsMatchTheScalarDefinition) {
  // Lane l runs 3 l % 17 blocks of its own bytes (lane 0 and others none:
  // their state must stay), from a started state that differs per lane.
  std::vector<std::vector<uint8_t>> data(kMd5Lanes);
  for (unsigned l = 0; l < kMd5Lanes; ++l) {
    data[l].resize(64 * (3 * l % 17) + 1);
    for (size_t i = 0; i < data[l].size(); ++i)
      data[l][i] = uint8_t(i * 131 + l * 17 + (i >> 7));
  }
  Md5LaneState start;
  start.reset();
  for (unsigned l = 0; l < kMd5Lanes; ++l) {
    start.a[l] += l * 0x01010101u;
    start.d[l] ^= l << 20;
  }
  const uint8_t *base[kMd5Lanes];
  uint64_t blocks[kMd5Lanes];
  for (unsigned l = 0; l < kMd5Lanes; ++l) {
    base[l] = data[l].data();
    blocks[l] = (data[l].size() - 1) / 64;
  }
  Md5LaneState want = start;
  md5RunBlocksScalar(want, base, blocks);
  forEachSimdTarget([&] {
    Md5LaneState got = start;
    md5RunBlocks(got, base, blocks);
    for (unsigned l = 0; l < kMd5Lanes; ++l)
      EXPECT_EQ(hexOf(got, l), hexOf(want, l)) << "lane " << l;
  });
}

} // namespace
