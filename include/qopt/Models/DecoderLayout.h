//===- DecoderLayout.h - Where a decoder layer's inputs come from -*- C++ -*-===//
//
// For activation-aware scaling (AWQ, docs/calibration.md): per architecture,
// the MLC parameters of decoder layer i that share an input and the
// parameter that computes it. A norm feeds the fused q/k/v projection and
// (another norm) the fused gate/up projection; the v rows of q/k/v feed
// o_proj (per head, when no query heads share a v head) and the up rows of
// gate/up feed down_proj (through silu(gate) * up, linear in up). No MLIR.
//
//===----------------------------------------------------------------------===//

#ifndef QOPT_MODELS_DECODERLAYOUT_H
#define QOPT_MODELS_DECODERLAYOUT_H

#include "llvm/ADT/StringRef.h"

#include <cstdint>
#include <string>

namespace qopt::models {

/// The names of one decoder layer's parameters, each relative to the layer
/// prefix (`model.layers.<i>.`).
struct DecoderLayout {
  const char *arch;
  const char *prefix;
  const char *attnNorm;    // RMSNorm / LayerNorm weight before attention
  const char *attnNormBias; // its bias (LayerNorm), or "" for RMSNorm
  const char *qkv;         // fused q/k/v projection [(H + 2 KV) d, hidden]
  const char *qkvBias;     // its bias, or ""
  const char *out;         // o_proj [hidden, H d]
  const char *mlpNorm;     // the norm before the MLP
  const char *mlpNormBias;
  const char *gateUp;      // fused gate/up projection [2 I, hidden]
  const char *down;        // down_proj [hidden, I]

  /// `<prefix><layer>.<rest>`, e.g. `model.layers.0.self_attn.qkv_proj.weight`.
  std::string name(int64_t layer, llvm::StringRef rest) const;
};

/// The layout of `arch`, or nullptr when AWQ does not know it.
const DecoderLayout *findDecoderLayout(llvm::StringRef arch);
/// Comma-separated names of the architectures findDecoderLayout knows.
std::string decoderLayoutArchList();

} // namespace qopt::models

#endif // QOPT_MODELS_DECODERLAYOUT_H
