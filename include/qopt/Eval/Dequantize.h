//===- Dequantize.h - Parameters of a tensor cache as float32 ---*- C++ -*-===//
//
// Reconstructs MLC parameters (by their unquantized name, e.g.
// `model.layers.0.mlp.down_proj.weight`) from the records a quantization
// mode wrote for them:
//
//   plain        `<name>` in float16 / bfloat16 / float32 / float8
//   group-quant  `<base>.q_weight` uint32 + `<base>.q_scale` (q3/q4, NK or
//                KN layout): w = (q - max_int) * scale
//   per-tensor   `<base>.q_weight` float8_e4m3fn / float8_e5m2, optional
//                `<base>.q_scale` [1]: w = fp8 * scale (or fp8 itself)
//   MNN-style    `<base>.q_weight` uint8 [rows, bytes] (codes packed
//                MSB-first per row), `<base>.q_scale` [rows, blocks] and,
//                asymmetric, `<base>.q_zero` [rows, blocks] (the block min):
//                w = u * scale + min, or (u - 2^(bits-1)) * scale
//                (docs/mnn-format.md)
//
// where `<base>` is `<name>` without its `.weight` suffix. Each encoding is a
// DequantScheme; a new one (say asymmetric groups with `<base>.q_zero`) is a
// new subclass added to dequantSchemes(), ahead of the ones it must shadow.
//
//===----------------------------------------------------------------------===//

#ifndef QOPT_EVAL_DEQUANTIZE_H
#define QOPT_EVAL_DEQUANTIZE_H

#include "qopt/Eval/TensorCacheReader.h"
#include "qopt/Numerics/GroupQuant.h"
#include "qopt/Numerics/Mnn.h"

#include "llvm/ADT/ArrayRef.h"
#include "llvm/ADT/StringRef.h"
#include "llvm/Support/Error.h"

#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace qopt::eval {

/// What is known about the mode a cache was converted with. Everything is
/// optional: the schemes detect the layout from the records' shapes and only
/// need the hint where the shapes are ambiguous (tiny K).
struct QuantizationHint {
  /// The mode name, e.g. "q4f16_1"; empty if unknown.
  std::string mode;
  /// Group quantization: bits and group size (0 = detect).
  int bits = 0;
  int64_t groupSize = 0;
  /// Group quantization: true for KN (`*_0`), false for NK; unset = detect.
  /// Only breaks ties: the layout is read from the shapes (embeddings are NK
  /// in the KN modes too), and both layouts fit only if a group is one word.
  std::optional<bool> kn;
  /// MNN-style modes (`mnn_w<bits>[_asym][_b<block>][_hqq]`): the
  /// configuration. The MNN scheme reads bits, symmetry and block from the
  /// records' shapes and only needs the hint when several bit widths give
  /// the same packed row length (K < 8); if set, the records must agree.
  std::optional<numerics::MnnQuantSpec> mnn;
};

/// The hint for a mode name of MLC's registry ("q4f16_1", "e4m3_e4m3_f16",
/// ...); an unknown name is an error listing the known ones.
llvm::Expected<QuantizationHint> parseQuantizationHint(llvm::StringRef mode);

/// The group quantization configurations (bits, group size) that give
/// `words` uint32 words and `groups` scales per row of K = `k` values: the
/// hint's if it names one, else those of MLC's int4/32 and int3/40 that fit
/// (all of them if `onlyFitting` is false). When both fit (small K), the
/// group-quant scheme looks at the words: MLC's int3 words never set bits
/// 30-31 nor hold the value 7.
std::vector<numerics::GroupQuantSpec>
groupQuantCandidates(int64_t k, int64_t words, int64_t groups,
                     numerics::FloatFormat format, const QuantizationHint &hint,
                     bool onlyFitting = true);

/// The MNN configuration of records holding `rows` rows of K = `k` values as
/// `bytes` packed bytes and `blocks` scales per row, `asymmetric` if there is
/// a `q_zero` record: bits is the unique width in [2, 8] with
/// ceil(k * bits / 8) == bytes (the hint's when given), block = k / blocks
/// (0, channel-wise, for one block). An error message (without the record
/// name) if the counts fit no MNN configuration, fit several bit widths and
/// there is no hint, or disagree with the hint.
llvm::Expected<numerics::MnnQuantSpec>
mnnSpecFromShapes(int64_t k, int64_t bytes, int64_t blocks, bool asymmetric,
                  const QuantizationHint &hint);

/// One way of encoding a parameter in a tensor cache.
class DequantScheme {
public:
  virtual ~DequantScheme();
  /// A short name for messages ("plain", "group-quant", ...).
  virtual llvm::StringRef name() const = 0;
  /// Whether the cache holds `param` in this encoding.
  virtual bool matches(const TensorCacheReader &cache,
                       llvm::StringRef param) const = 0;
  /// Writes the float32 values of `param`, whose unquantized shape is
  /// `shape`, to `out` (numElements(shape) floats, row-major).
  virtual llvm::Error dequantize(const TensorCacheReader &cache,
                                 llvm::StringRef param,
                                 llvm::ArrayRef<int64_t> shape,
                                 const QuantizationHint &hint,
                                 float *out) const = 0;
};

/// The registered schemes, most specific first.
const std::vector<std::unique_ptr<DequantScheme>> &dequantSchemes();

/// `param` without a trailing ".weight" (the prefix of its quantized
/// records).
llvm::StringRef quantizedBase(llvm::StringRef param);

/// The float32 values of the MLC parameter `param` with unquantized shape
/// `shape`, by the first scheme that matches. A parameter no scheme matches
/// is "<index>: missing record '<param>' (nor '<base>.q_weight')".
llvm::Expected<std::vector<float>>
dequantizeParam(const TensorCacheReader &cache, llvm::StringRef param,
                llvm::ArrayRef<int64_t> shape, const QuantizationHint &hint);

} // namespace qopt::eval

#endif // QOPT_EVAL_DEQUANTIZE_H
