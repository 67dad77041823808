//===- QuantizationModes.h - MLC's quantization registry -------*- C++ -*-===//
//
// The `QUANTIZATION` table of mlc_llm (docs/quantization.md) as
// data: which kind each mode is, its bits, group size, model dtype, layout,
// and whether embeddings and the final fc are quantized.
//
//===----------------------------------------------------------------------===//

#ifndef QOPT_MODELS_QUANTIZATIONMODES_H
#define QOPT_MODELS_QUANTIZATIONMODES_H

#include "qopt/Numerics/DType.h"

#include "llvm/ADT/StringRef.h"

#include <string>
#include <vector>

namespace qopt::models {

struct QuantizationMode {
  enum class Kind {
    NoQuant,
    GroupQuant,
    PerTensorQuant,
    AWQ,
    MNN,
    BlockScale,
    FTQuant
  };
  std::string name;
  Kind kind;
  numerics::DType modelDType; // F16, BF16 or F32
  int bits = 0;               // group-quant
  int64_t groupSize = 0;      // group-quant
  bool kn = false;            // group-quant: KN layout (`*_0`)
  bool quantizeEmbedding = false;
  bool quantizeFinalFC = false;
  numerics::DType fp8 = numerics::DType::F8E4M3FN; // per-tensor
  bool useScale = false;                           // per-tensor
  bool calibrationPlaceholder = false;             // per-tensor
  bool mnnAsymmetric = false;                      // MNN (bits above)
  int64_t mnnBlock = 0;                            // MNN: 0 = channel-wise
  bool mnnHqq = false;                             // MNN
  /// Block-scale: the checkpoint's float8 blocks are kept; with this, each
  /// linear also has a static `activation_scale`.
  bool activationScale = false;
  /// FT-quant (q4f16_ft): the CUDA architecture whose FasterTransformer
  /// weight layout is written. MLC takes the converting GPU's; quant-opt
  /// writes sm 80's, which every sm 75..89 GPU shares.
  int ftSm = 0;
  /// Whether MLC's quantizer for this mode ignores the `no_quantization`
  /// mark of a module (FTQuantize's mutator never looks at it, so phi3_v's
  /// CLIP tower is quantized): ParamKind::NoQuantLinear / NoQuantEmbedding
  /// then count as Linear / Embedding, else as plain parameters.
  bool ignoresNoQuantization = false;
  /// The kind string MLC's model table uses ("no-quant", "group-quant", ...).
  llvm::StringRef kindName() const;
};

/// The mode name of an MNN-style configuration, e.g. "mnn_w4_asym_b64_hqq"
/// (`mnn_w<bits>[_asym][_b<block>][_hqq]`; no `_b` = channel-wise).
std::string mnnModeName(int bits, bool asymmetric, int64_t block, bool hqq);

/// Whether \p block is a block size `--weight-quant-block` accepts: 0
/// (channel-wise) or a multiple of 16 from 32 to 256 (docs/mnn-format.md 5).
inline bool isValidMnnBlock(int64_t block) {
  return block == 0 || (block >= 32 && block <= 256 && block % 16 == 0);
}

/// Every supported mode in MLC's table order.
const std::vector<QuantizationMode> &quantizationModes();
/// A mode of the table, or a parsed `mnn_w...` name (interned: the pointer
/// stays valid); nullptr for anything else.
const QuantizationMode *findQuantizationMode(llvm::StringRef name);
/// "q0f16, q0bf16, ..." for error messages.
std::string quantizationModeList();
/// Why mode `name` cannot be converted with `shards` tensor-parallel shards
/// (MLC rejects q4f16_ft with presharding); empty when nothing forbids it.
std::string unsupportedModeReason(llvm::StringRef name, int64_t shards = 1);

} // namespace qopt::models

#endif // QOPT_MODELS_QUANTIZATIONMODES_H
