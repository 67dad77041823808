//===- Mnn.h - MNN-style weight quantization (RTN and HQQ) ------*- C++ -*-===//
//
// The weight quantization of MNN's converter (`MNNConvert --weightQuantBits
// --weightQuantAsymmetric --weightQuantBlock --hqq`) on a 2-D weight [rows =
// output channels, k = input features] of float32 values: symmetric
// (absmax / (2^(b-1)-1)) or asymmetric (min, (max-min) / (2^b-1)) scales per
// block of the input axis, optionally with HQQ's half-quadratic zero-point
// optimization, and the codes packed as an MSB-first bit stream per row.
// docs/mnn-format.md describes the format and every formula.
//
//===----------------------------------------------------------------------===//

#ifndef QOPT_NUMERICS_MNN_H
#define QOPT_NUMERICS_MNN_H

#include <cstdint>
#include <string>

namespace qopt::numerics {

/// One MNN weight quantization configuration.
struct MnnQuantSpec {
  /// Bits per code, 2..8 (`--weightQuantBits`).
  int bits = 8;
  /// (min, scale) per block instead of one absmax scale
  /// (`--weightQuantAsymmetric`).
  bool asymmetric = false;
  /// Block size along the input axis (`--weightQuantBlock`); 0 (or any value
  /// <= 0, MNN's -1) is channel-wise: one block per row. A block that MNN
  /// cannot use for this k also falls back to channel-wise (mnnBlocksPerRow).
  int64_t block = 0;
  /// HQQ zero-point optimization (`--hqq`). MNN honours it only for
  /// asymmetric quantization; with asymmetric = false it is ignored.
  bool hqq = false;
};

/// Empty if \p spec is usable, otherwise why not ("MNN weight bits must be in
/// [2, 8], got 9"). mnnQuantizeRows and mnnDequantizeRows require a usable
/// spec. (Extension of the brief's API.)
std::string validateMnnQuantSpec(const MnnQuantSpec &spec);

/// Blocks per row, MNNConvert's rule: k / block if block >= 16, block is a
/// multiple of 16 and k is a multiple of block; otherwise 1 (channel-wise, no
/// padding and no tail block). 0 for k <= 0.
int64_t mnnBlocksPerRow(const MnnQuantSpec &spec, int64_t k);

/// Values per block: k / mnnBlocksPerRow (0 for k <= 0). (Extension.)
int64_t mnnBlockSize(const MnnQuantSpec &spec, int64_t k);

/// Bytes of one packed row: ceil(k * bits / 8). The row's k unsigned codes
/// form one bit stream, code 0 first, each code's most significant bit first,
/// starting at the most significant bit of the row's first byte; the unused
/// low bits of the last byte are 0. 0 for k <= 0, bits outside [2, 8] or a
/// size that overflows int64.
int64_t mnnPackedRowBytes(const MnnQuantSpec &spec, int64_t k);

/// Quantizes \p rows rows of \p k float32 values. Writes the packed codes to
/// \p packed [rows, mnnPackedRowBytes], float32 \p scale [rows, blocks] and,
/// when asymmetric, float32 \p zero [rows, blocks] holding each block's min
/// (MNN's stored form). With u the unsigned code in [0, 2^bits - 1]:
///   symmetric:  w = float(u - 2^(bits-1)) * scale   (u never 0: |q| <= T)
///   asymmetric: w = float(u) * scale + zero
/// \p zero is not touched for symmetric quantization and may then be null.
/// Deterministic, and each row is quantized independently of the others (any
/// split of the rows gives the same bytes). Does nothing if the spec is not
/// usable, rows or k is not positive, or (asymmetric) \p zero is null.
void mnnQuantizeRows(const float *w, int64_t rows, int64_t k,
                     const MnnQuantSpec &spec, uint8_t *packed, float *scale,
                     float *zero);

/// Packs \p n unsigned codes of \p bits bits into one row's MSB-first bit
/// stream (mnnPackedRowBytes(n) bytes, unused low bits 0), as
/// mnnQuantizeRows does. (Extension.)
void mnnPackCodes(const uint8_t *codes, int64_t n, int bits, uint8_t *out);

/// Inverse of mnnQuantizeRows: row-major float32 [rows, k] by the formulas
/// above (computed in float32, the product rounded before the addition).
/// Does nothing under the same conditions as mnnQuantizeRows.
void mnnDequantizeRows(const uint8_t *packed, const float *scale,
                       const float *zero, int64_t rows, int64_t k,
                       const MnnQuantSpec &spec, float *out);

/// MNN's plain rounding of one block of \p n float32 values (the non-HQQ
/// step of mnnQuantizeRows): writes \p n unsigned codes and the block's
/// \p scale and (asymmetric) \p min; \p min is set to 0 when symmetric.
///   symmetric:  scale = absmax / T, T = 2^(bits-1) - 1,
///               u = clamp(round(w / scale), -T-1, T) + 2^(bits-1)
///   asymmetric: scale = (max - min) / (2^bits - 1),
///               u = clamp(round((w - min) / scale), 0, 2^bits - 1)
/// in float32 arithmetic, round = half away from zero (C's round); when
/// scale <= 1e-6 every code is the one of q = 0 (symmetric: 2^(bits-1)) or
/// of the min (asymmetric: 0), as MNN does. \p bits must be in [2, 8] and
/// \p n positive (otherwise nothing is written). (Extension.)
void mnnRtnQuantizeBlock(const float *w, int64_t n, int bits, bool asymmetric,
                         uint8_t *codes, float &scale, float &min);

/// Asymmetric quantization of one block of \p n finite float32 values with
/// HQQ (the `--hqq` step of mnnQuantizeRows): writes \p n unsigned codes in
/// [0, 2^bits - 1] and the block's float32 \p scale and \p min, so that
/// w ~ u * scale + min. The result's squared error is never larger than
/// MNN's plain asymmetric rounding of the same block. \p bits must be in
/// [2, 8] and \p n positive (otherwise nothing is written).
void mnnHqqQuantizeBlock(const float *w, int64_t n, int bits, uint8_t *codes,
                         float &scale, float &min);

} // namespace qopt::numerics

#endif // QOPT_NUMERICS_MNN_H
