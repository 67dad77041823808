//===- Decoder.h - Float32 reference forward of Llama's variants -*- C++ -*-===//
//
// The float32 reference forward pass of the decoder-only transformers whose
// forward is a variant of Hugging Face's LlamaForCausalLM: llama, mistral,
// qwen2, qwen3, gemma, gemma2, phi3 and mixtral. It runs on MLC's parameter
// layout under the MLC names lib/Models gives each architecture (fused
// `qkv_proj`/`c_attn`, fused `gate_up_proj`, stacked mixtral experts
// `moe.e1_e3`/`moe.e2`, gemma's norm weights with MLC's + 1 folded in).
//
// The variants (DecoderConfig):
//   qwen2            q/k/v bias (`c_attn.bias`)
//   qwen3            RMSNorm of every q and k head before rotary
//                    (`q_norm`/`k_norm`), optional q/k/v and o bias
//   gemma            embedding scaled by sqrt(hidden), gelu MLP, (1 + w)
//                    norms (MLC's stored weights), tied head
//   gemma2           gemma + norms after attention and after the MLP,
//                    query scale query_pre_attn_scalar^-1/2, tanh soft-cap
//                    of attention scores and of the logits, sliding-window
//                    attention on the even layers
//   phi3             the checkpoint's own fused qkv/gate_up, MLC's
//                    `transformer.h.N.mixer` names
//   mixtral          top-k routing: softmax over the router logits, the k
//                    largest renormalized to sum 1, SwiGLU experts
//   mistral/mixtral/phi3: sliding-window attention when config.json sets one
//
// It runs one decoder layer at a time over every window of a token stream
// (DecoderForward::layer), so that calibration holds one layer's weights at
// a time, and reports each linear layer's input to a LinearInputObserver.
// For a llama config every operation is the one of LlamaModel in the same
// order: the logits are bit-identical (tested).
//
//===----------------------------------------------------------------------===//

#ifndef QOPT_EVAL_DECODER_H
#define QOPT_EVAL_DECODER_H

#include "qopt/Eval/Llama.h"

#include "llvm/ADT/ArrayRef.h"
#include "llvm/ADT/StringRef.h"
#include "llvm/Support/Error.h"

#include <nlohmann/json_fwd.hpp>

#include <cstdint>
#include <string>
#include <vector>

namespace qopt::eval {

class WeightSource;

enum class Activation { SiLU, Gelu, GeluTanh };

/// What a decoder variant changes in Llama's forward, and the MLC names.
struct DecoderConfig {
  /// config.json "model_type": llama, mistral, qwen2, qwen3, gemma, gemma2,
  /// phi3, mixtral.
  std::string modelType;
  /// Sizes, norm epsilon, rope theta, tying.
  LlamaConfig dims;

  bool qkvBias = false; // bias of the fused q/k/v projection
  bool oBias = false;   // bias of the output projection
  bool qkNorm = false;  // qwen3: RMSNorm of each q/k head before rotary
  bool sandwichNorms = false; // gemma2: norms after attention and MLP
  /// Multiplies the embedding (gemma: float32(sqrt(hidden))); 0 = none.
  float embedScale = 0;
  Activation activation = Activation::SiLU;
  /// The factor of q.k; Llama's 1 / sqrt(head_dim) unless gemma2's
  /// query_pre_attn_scalar sets it.
  float queryScale = 0;
  /// tanh soft-capping of attention scores / final logits; 0 = none.
  float attnSoftcap = 0, finalSoftcap = 0;
  /// Attention span per layer: a token sees the `window` latest positions
  /// (itself included); 0 = the whole causal prefix.
  std::vector<int64_t> slidingWindow;
  /// Mixtral: experts per layer and experts per token (0 = dense MLP).
  int64_t numExperts = 0, expertsPerToken = 0;

  /// MLC names: the embedding, the final norm, the prefix of layer l
  /// ("model.layers.<l>." or phi3's "transformer.h.<l>.") and the in-layer
  /// names.
  std::string embedName = "model.embed_tokens.weight";
  std::string finalNormName = "model.norm.weight";
  std::string layerPrefix = "model.layers.";
  std::string inputNormName = "input_layernorm.weight";
  std::string qkvName = "self_attn.qkv_proj";
  std::string oName = "self_attn.o_proj";

  /// Reads and validates config.json's fields for its model_type; errors
  /// name `path` ("model_type 'gpt2' is not supported by the reference
  /// forward (llama, ...)").
  static llvm::Expected<DecoderConfig> fromJson(const nlohmann::json &json,
                                                llvm::StringRef path);
  /// Reads `<dir>/config.json` (or the file `path` itself).
  static llvm::Expected<DecoderConfig> read(llvm::StringRef path);

  /// "<layerPrefix><l>.<rest>".
  std::string layerName(int64_t l, llvm::StringRef rest) const;
  bool isMoE() const { return numExperts > 0; }
};

/// Comma-separated model types the reference forward supports.
const char *supportedDecoderTypes();

/// A linear layer whose input calibration observes, in forward order.
struct LinearSpec {
  std::string name; // MLC weight name, e.g. "model.layers.0.mlp.down_proj.weight"
  int64_t inFeatures = 0;
  int64_t experts = 0; // stacked experts [E, N, K]; 0 = one matrix
};

/// Every linear layer of layer `l`, then (l = numLayers) "lm_head.weight"
/// (also when the head is tied to the embedding).
std::vector<LinearSpec> decoderLinears(const DecoderConfig &config, int64_t l);

/// One decoder layer's weights (row-major, MLC layout); unused ones empty.
struct DecoderLayerWeights {
  std::vector<float> inputNorm, qkv, qkvBias, qNorm, kNorm, o, oBias,
      postAttentionNorm, preFeedforwardNorm, postFeedforwardNorm;
  std::vector<float> gateUp, down;                  // dense MLP
  std::vector<float> router, expertsGateUp, expertsDown; // mixtral
};

/// The MLC parameters of layer `l` with their shapes, in load order.
std::vector<std::pair<std::string, std::vector<int64_t>>>
decoderLayerParameters(const DecoderConfig &config, int64_t l);

/// Loads layer `l` from `source` (sizes checked by the source).
llvm::Expected<DecoderLayerWeights>
loadDecoderLayer(const DecoderConfig &config, WeightSource &source, int64_t l);

/// The weights outside the layers.
struct DecoderGlobalWeights {
  std::vector<float> embed, finalNorm, lmHead; // lmHead empty when tied
};
llvm::Expected<DecoderGlobalWeights>
loadDecoderGlobals(const DecoderConfig &config, WeightSource &source);

/// Receives the input of every linear layer as the forward runs.
class LinearInputObserver {
public:
  virtual ~LinearInputObserver();
  /// `x` [rows, k] is the input of `spec`'s weight; for stacked experts
  /// `expert` is the expert and `x` the rows routed to it in token order
  /// (possibly none), else -1. Called in decoderLinears order, experts in
  /// increasing order.
  virtual llvm::Error observe(const LinearSpec &spec, int64_t expert,
                              const float *x, int64_t rows) = 0;
};

/// A window of the token stream, run from position 0.
struct Window {
  int64_t begin = 0, length = 0;
};

/// Splits `tokens` tokens into consecutive windows of `context` (the last
/// may be shorter).
std::vector<Window> splitWindows(int64_t tokens, int64_t context);

/// The forward, one stage at a time, on activations x [tokens, hidden].
class DecoderForward {
public:
  DecoderForward(const DecoderConfig &config, unsigned threads)
      : cfg(config), threads(threads ? threads : 1) {}

  /// x = embedding rows of `tokens` (times embedScale).
  std::vector<float> embed(const std::vector<float> &embedding,
                           llvm::ArrayRef<int32_t> tokens) const;
  /// Runs layer `l` in place on x; attention stays inside each window.
  llvm::Error layer(const DecoderLayerWeights &w, int64_t l,
                    std::vector<float> &x, llvm::ArrayRef<Window> windows,
                    LinearInputObserver *observer) const;
  /// x = final RMSNorm of x (the head's input), reported to `observer` as
  /// lm_head.weight's input.
  llvm::Error finalNorm(const std::vector<float> &norm, std::vector<float> &x,
                        LinearInputObserver *observer) const;
  /// Logits [rows, vocab] of normed rows (soft-capped where configured).
  std::vector<float> logits(const std::vector<float> &head, const float *xn,
                            int64_t rows) const;

private:
  void attention(const std::vector<float> &qkv, std::vector<float> &out,
                 llvm::ArrayRef<Window> windows, int64_t l) const;
  llvm::Error mlp(const DecoderLayerWeights &w, int64_t l,
                  const std::vector<float> &xn, std::vector<float> &out,
                  LinearInputObserver *observer) const;
  llvm::Error moe(const DecoderLayerWeights &w, int64_t l,
                  const std::vector<float> &xn, std::vector<float> &out,
                  LinearInputObserver *observer) const;
  const DecoderConfig &cfg;
  unsigned threads;
};

/// Loads the globals into `globals`, embeds `tokens` into `x` and runs every
/// layer (one layer's weights loaded at a time) over `windows`, then the
/// final norm: what logits and perplexity share.
llvm::Error runDecoderLayers(const DecoderConfig &config, WeightSource &source,
                             DecoderForward &forward,
                             llvm::ArrayRef<int32_t> tokens,
                             llvm::ArrayRef<Window> windows,
                             DecoderGlobalWeights &globals,
                             std::vector<float> &x);

/// Logits [tokens, vocab] of one window from position 0, every weight
/// loaded from `source` (tests, eval of small models).
llvm::Expected<std::vector<float>>
decoderLogits(const DecoderConfig &config, WeightSource &source,
              llvm::ArrayRef<int32_t> tokens, unsigned threads);

} // namespace qopt::eval

#endif // QOPT_EVAL_DECODER_H
