//===- GroupQuant.h - MLC symmetric group quantization ----------*- C++ -*-===//
//
// MLC-LLM's GroupQuantize (q3f16_*, q4f16_*, q4bf16_*, q4f32_1): symmetric
// max-abs group quantization along the last axis, offset-binary values
// packed LSB-first into uint32 words. Bit-exact with `mlc_llm
// convert_weight`, including the per-operation rounding of the model dtype.
//
//===----------------------------------------------------------------------===//

#ifndef QOPT_NUMERICS_GROUPQUANT_H
#define QOPT_NUMERICS_GROUPQUANT_H

#include "qopt/Numerics/Float.h"

#include <cstddef>
#include <cstdint>
#include <string>

namespace qopt::numerics {

/// How `round` breaks ties: TVM since 2026-04 (and CUDA fp16 always) rounds
/// half to even; older TVM on LLVM CPU rounds half away from zero.
enum class RoundingMode : uint8_t { NearestEven, NearestAway };

/// One group quantization configuration.
struct GroupQuantSpec {
  /// Bits per quantized value: 3 or 4 in MLC, 2..8 supported.
  int bits;
  /// Values per group along the last axis: 40 for int3, 32 for int4 in MLC.
  /// Must be a positive multiple of elemsPerWord(bits).
  int64_t groupSize;
  /// F16, BF16 or F32: the arithmetic of every step and the scale's dtype.
  FloatFormat modelFormat;
  RoundingMode rounding = RoundingMode::NearestEven;
};

/// Quantized values per uint32 word: 32 / bits (int3 -> 10, int4 -> 8).
constexpr int64_t elemsPerWord(int bits) { return 32 / bits; }
/// Largest signed value 2^(bits-1)-1 (int4 -> 7, int3 -> 3); also the zero
/// point of the stored unsigned values, which lie in [0, 2 * maxIntValue].
constexpr int64_t maxIntValue(int bits) {
  return (int64_t(1) << (bits - 1)) - 1;
}

/// Empty if \p spec is usable, otherwise why not (e.g. "group size 30 is not
/// a multiple of 8 values per uint32 word"). groupQuantizeRows and
/// groupDequantizeRows require a usable spec.
std::string validateGroupQuantSpec(const GroupQuantSpec &spec);

/// ceil(k / groupSize): scale columns per row (0 for k <= 0).
int64_t groupsPerRow(const GroupQuantSpec &spec, int64_t k);
/// (groupSize / elemsPerWord) * ceil(k / groupSize): uint32 words per row.
int64_t wordsPerRow(const GroupQuantSpec &spec, int64_t k);

/// Quantizes \p rows rows of \p k values each. \p w is row-major in the model
/// dtype (uint16 bits for F16/BF16, float for F32). Writes qweight [rows,
/// wordsPerRow] (uint32) and scale [rows, groupsPerRow] in the model dtype
/// (uint16 bits or float). Per group, in the model dtype's arithmetic:
///   scale = maxAbs / maxInt
///   q     = clamp(round(w / scale + maxInt), 0, 2 * maxInt)
/// with every operation rounded to the model dtype, values packed LSB-first,
/// padding positions (beyond k) 0. A zero scale gives q = 2*maxInt for w > 0
/// and 0 otherwise (what IEEE +-inf/NaN do in TVM's clamp); an all-zero group
/// thus has scale 0 and all values 0. NaN weights follow TVM's LLVM lowering
/// (`max(a, b)` = `a > b ? a : b`, a NaN value quantizes to 0).
/// Does nothing if the spec is not valid.
void groupQuantizeRows(const void *w, int64_t rows, int64_t k,
                       const GroupQuantSpec &spec, uint32_t *qweight,
                       void *scale);

/// Whether groupQuantizeRowsFrom takes values stored as \p stored for the
/// model format \p model: the model format itself, or bfloat16 / float32
/// values for a float16 model.
bool groupQuantizeAcceptsStorage(FloatFormat stored, FloatFormat model);

/// groupQuantizeRows of values stored as \p stored (groupQuantizeAcceptsStorage):
/// a value stored wider than the model format is first rounded to it exactly
/// as convertElements (weights.cast) does, a row at a time, so the bytes are
/// those of the cast followed by groupQuantizeRows without the cast's
/// buffer. Returns the first row that holds a NaN or an infinity in the
/// model format (after that rounding; such rows are quantized as
/// groupQuantizeRows does), \p rows when none does, and -1 (nothing done)
/// for an invalid spec or storage. The group maxima show it at no extra
/// cost: the range check of the source rows fused into the quantization's
/// own pass over them (docs/reliability.md).
int64_t groupQuantizeRowsFrom(const void *w, FloatFormat stored, int64_t rows,
                              int64_t k, const GroupQuantSpec &spec,
                              uint32_t *qweight, void *scale);

/// False runs the scalar definitions (qopt/Numerics/QuantRules.h) instead of
/// the Highway SIMD kernels, which give the same bytes (docs/simd.md);
/// tests compare the two. Default true. Also declared in qopt/Numerics/Simd.h.
void setSimdKernelsEnabled(bool enabled);

/// Inverse: out[r, i] = float(q - maxInt) * float(scale), row-major float32
/// [rows, k]. Does nothing if the spec is not valid.
void groupDequantizeRows(const uint32_t *qweight, const void *scale,
                         int64_t rows, int64_t k, const GroupQuantSpec &spec,
                         float *out);

} // namespace qopt::numerics

#endif // QOPT_NUMERICS_GROUPQUANT_H
