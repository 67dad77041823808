//===- Llama.h - A float32 reference Llama forward pass ---------*- C++ -*-===//
//
// A plain, deliberately simple implementation of Hugging Face's
// LlamaForCausalLM in float32, on MLC's parameter layout (fused `qkv_proj`
// rows = concat(q, k, v), fused `gate_up_proj` rows = concat(gate, up)):
// token embedding; per layer RMSNorm, rotary embedding (HF rotate_half on the
// HF weight layout), causal grouped-query attention, RMSNorm, SwiGLU MLP;
// final RMSNorm; lm_head or the tied embedding. The matrix products are
// split over threads by output rows; every output is computed by one thread
// in a fixed order, so results do not depend on the thread count.
//
// It is a reference for measuring quantization error on small models, not a
// fast inference engine: all weights are held dequantized in float32.
//
//===----------------------------------------------------------------------===//

#ifndef QOPT_EVAL_LLAMA_H
#define QOPT_EVAL_LLAMA_H

#include "llvm/ADT/ArrayRef.h"
#include "llvm/ADT/StringRef.h"
#include "llvm/Support/Error.h"

#include <nlohmann/json_fwd.hpp>

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace qopt::eval {

class WeightSource;

/// The config.json fields the forward pass uses.
struct LlamaConfig {
  int64_t hiddenSize = 0;
  int64_t intermediateSize = 0;
  int64_t numLayers = 0;
  int64_t numHeads = 0;
  /// `num_key_value_heads`, default (or 0) = numHeads.
  int64_t numKVHeads = 0;
  /// `head_dim`, default (or 0) = hiddenSize / numHeads.
  int64_t headDim = 0;
  int64_t vocabSize = 0;
  /// `max_position_embeddings`, 0 if absent.
  int64_t maxPositionEmbeddings = 0;
  float rmsNormEps = 1e-6f;
  /// `rope_theta` or `rope_parameters.rope_theta`, default 10000.
  double ropeTheta = 10000.0;
  bool tieWordEmbeddings = false;

  /// Reads and validates the fields (llama or mistral, default rope only);
  /// `path` names the file in errors.
  static llvm::Expected<LlamaConfig> fromJson(const nlohmann::json &json,
                                              llvm::StringRef path);
  /// The same fields and checks without the model_type check (the decoder
  /// variants of Decoder.h read theirs on top of these).
  static llvm::Expected<LlamaConfig> readDimensions(const nlohmann::json &json,
                                                    llvm::StringRef path);
  /// Reads `<dir>/config.json` (or the file `path` itself).
  static llvm::Expected<LlamaConfig> read(llvm::StringRef path);

  /// Rows of the fused qkv_proj: (numHeads + 2 * numKVHeads) * headDim.
  int64_t qkvRows() const { return (numHeads + 2 * numKVHeads) * headDim; }
};

/// Reads `<dir>/config.json` (or the file `path` itself) as JSON, duplicate
/// keys rejected; `file` receives the path read (for the caller's errors).
llvm::Expected<nlohmann::json> readConfigJson(llvm::StringRef path,
                                              std::string &file);

/// The MLC parameters of a Llama with this config, in a fixed order, with
/// their unquantized shapes. lm_head.weight is left out when tied.
std::vector<std::pair<std::string, std::vector<int64_t>>>
llamaParameters(const LlamaConfig &config);

/// One decoder layer, each matrix row-major [out, in] as MLC holds it.
struct LlamaLayerWeights {
  std::vector<float> inputNorm;         // [H]
  std::vector<float> qkv;               // [(nq + 2 nkv) d, H]
  std::vector<float> o;                 // [H, nq d]
  std::vector<float> postAttentionNorm; // [H]
  std::vector<float> gateUp;            // [2 I, H]
  std::vector<float> down;              // [H, I]
};

/// All weights in float32.
struct LlamaWeights {
  std::vector<float> embed; // [V, H]
  std::vector<LlamaLayerWeights> layers;
  std::vector<float> finalNorm; // [H]
  /// [V, H]; empty when the embedding is tied.
  std::vector<float> lmHead;
};

/// Loads every parameter of llamaParameters(config) from `source`.
llvm::Expected<LlamaWeights> loadLlamaWeights(const LlamaConfig &config,
                                              WeightSource &source);

/// The reference model.
class LlamaModel {
public:
  /// Checks every weight's size against the config. `threads` 0 = 1.
  static llvm::Expected<LlamaModel>
  create(LlamaConfig config, LlamaWeights weights, unsigned threads);

  const LlamaConfig &config() const { return cfg; }

  /// Logits [tokens.size(), vocab] of one causal sequence starting at
  /// position 0. Every token must be in [0, vocab).
  std::vector<float> forward(llvm::ArrayRef<int32_t> tokens) const;

private:
  LlamaModel(LlamaConfig config, LlamaWeights weights, unsigned threads)
      : cfg(std::move(config)), w(std::move(weights)), threads(threads) {}

  LlamaConfig cfg;
  LlamaWeights w;
  unsigned threads;
};

//===----------------------------------------------------------------------===//
// Building blocks (exposed for tests)
//===----------------------------------------------------------------------===//

/// out[i] = x[i] / sqrt(mean(x^2) + eps) * weight[i], i < n (HF LlamaRMSNorm
/// in float32). `out` may alias `x`.
void rmsNorm(const float *x, const float *weight, int64_t n, float eps,
             float *out);

/// HF rotary embedding of one head vector in place (rotate_half
/// convention): for i < d/2, with a = pos * theta^(-2i/d),
///   v'[i]       = v[i] cos a - v[i + d/2] sin a
///   v'[i + d/2] = v[i + d/2] cos a + v[i] sin a.
/// `headDim` must be even.
void applyRotary(float *v, int64_t headDim, int64_t pos, double theta);

/// In-place numerically stable softmax of n values.
void softmax(float *x, int64_t n);

/// y[r, j] = sum_k x[r, k] * w[j, k] (x [rows, k], w [n, k], y [rows, n]),
/// split over `threads` by ranges of j.
void matmulTransposed(const float *x, int64_t rows, int64_t k, const float *w,
                      int64_t n, float *y, unsigned threads);

/// silu(x) = x / (1 + exp(-x)).
float silu(float x);

} // namespace qopt::eval

#endif // QOPT_EVAL_LLAMA_H
