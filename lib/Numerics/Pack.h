//===- Pack.h - Packing of MLC group-quantized codes ------------*- C++ -*-===//
//
// Internal to lib/Numerics: the uint32 word layout of MLC's group
// quantization (codes packed LSB-first, 32 / bits per word), shared by the
// portable loops and the Highway kernels (which pack int4 rows on vectors
// and call packCodeWords for the rest of a row and the other widths).
//
//===----------------------------------------------------------------------===//

#ifndef QOPT_LIB_NUMERICS_PACK_H
#define QOPT_LIB_NUMERICS_PACK_H

#include <cstdint>
#include <cstring>

namespace qopt::numerics {

/// Packs numWords words of 32 / bits one-byte codes each, LSB first: code r
/// of word j is q[j * (32 / bits) + r] at bits [r * bits, (r + 1) * bits).
/// q must be readable up to the last word's codes rounded up to 8 bytes.
inline void packCodeWords(const uint8_t *q, int64_t numWords, int bits,
                          uint32_t *out) {
  switch (bits) {
  case 8:
    // Four bytes LSB-first is the little-endian word.
    for (int64_t j = 0; j < numWords; ++j)
      out[j] = uint32_t(q[4 * j]) | uint32_t(q[4 * j + 1]) << 8 |
               uint32_t(q[4 * j + 2]) << 16 | uint32_t(q[4 * j + 3]) << 24;
    return;
  case 4:
    // SWAR: eight bytes <= 15 -> eight nibbles.
    for (int64_t j = 0; j < numWords; ++j) {
      uint64_t u;
      std::memcpy(&u, q + j * 8, 8);
      u = (u | (u >> 4)) & 0x00FF00FF00FF00FFull;
      u = (u | (u >> 8)) & 0x0000FFFF0000FFFFull;
      u = (u | (u >> 16)) & 0x00000000FFFFFFFFull;
      out[j] = uint32_t(u);
    }
    return;
  case 3:
    // SWAR: codes 0..7 (each <= 7) -> 24 bits, then codes 8 and 9.
    for (int64_t j = 0; j < numWords; ++j) {
      const uint8_t *c = q + j * 10;
      uint64_t u;
      std::memcpy(&u, c, 8);
      u = (u | (u >> 5)) & 0x003F003F003F003Full;
      u = (u | (u >> 10)) & 0x00000FFF00000FFFull;
      u = (u | (u >> 20)) & 0x0000000000FFFFFFull;
      out[j] = uint32_t(u) | uint32_t(c[8]) << 24 | uint32_t(c[9]) << 27;
    }
    return;
  default: {
    const int epw = 32 / bits;
    for (int64_t j = 0; j < numWords; ++j) {
      uint32_t word = 0;
      for (int r = 0; r < epw; ++r)
        word |= uint32_t(q[j * epw + r]) << (r * bits);
      out[j] = word;
    }
  }
  }
}

} // namespace qopt::numerics

#endif // QOPT_LIB_NUMERICS_PACK_H
