//===- Md5Lanes.h - MD5 of 16 messages side by side -------------*- C++ -*-===//
//
// tensor-cache.json carries the md5 of every shard. MD5 is one long
// dependency chain per message, so the tensor-cache writer hashes up to 16
// shards at once, one per SIMD lane: the RFC 1321 rounds on vectors of lanes.
// md5RunBlocks is a Highway kernel (lib/Numerics/SimdMd5.cpp) dispatched like
// the numerics' others (qopt/Numerics/Simd.h: QOPT_SIMD_TARGET caps it,
// QOPT_DISABLE_SIMD runs md5RunBlocksScalar); every target computes the same
// state. The padding and the streams over files live in
// lib/TensorCache/Md5.cpp.
//
//===----------------------------------------------------------------------===//

#ifndef QOPT_NUMERICS_MD5LANES_H
#define QOPT_NUMERICS_MD5LANES_H

#include <cstdint>

namespace qopt::numerics {

/// Messages hashed side by side.
constexpr unsigned kMd5Lanes = 16;

/// The RFC 1321 state (A, B, C, D) of each lane.
struct alignas(64) Md5LaneState {
  uint32_t a[kMd5Lanes], b[kMd5Lanes], c[kMd5Lanes], d[kMd5Lanes];

  /// Every lane at the RFC 1321 initial state.
  void reset();
};

/// Runs the compression function on lane l's blocks[l] consecutive 64-byte
/// blocks at base[l] (little-endian words); a lane with 0 blocks keeps its
/// state and its base is not read.
void md5RunBlocks(Md5LaneState &st, const uint8_t *const base[kMd5Lanes],
                  const uint64_t blocks[kMd5Lanes]);

/// The definition md5RunBlocks computes: RFC 1321's compression, one lane
/// after the other, in plain C++.
void md5RunBlocksScalar(Md5LaneState &st, const uint8_t *const base[kMd5Lanes],
                        const uint64_t blocks[kMd5Lanes]);

} // namespace qopt::numerics

#endif // QOPT_NUMERICS_MD5LANES_H
