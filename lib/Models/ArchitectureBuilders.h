//===- ArchitectureBuilders.h - Shared model-file pieces -------*- C++ -*-===//
//
// Config reading and parameter emitters shared by lib/Models/<Arch>.cpp, so
// that each architecture file only states what is particular to it. Private
// to lib/Models; see docs/adding-an-architecture.md.
//
//===----------------------------------------------------------------------===//

#ifndef QOPT_LIB_MODELS_ARCHITECTUREBUILDERS_H
#define QOPT_LIB_MODELS_ARCHITECTUREBUILDERS_H

#include "qopt/Models/ModelDef.h"

#include <initializer_list>

namespace qopt::models::build {

/// An error "<config path>: <msg>".
llvm::Error configError(const ModelConfig &cfg, const llvm::Twine &msg);

/// The shape-relevant fields of a decoder-only transformer's config.json.
struct TransformerDims {
  int64_t hidden = 0;       ///< H
  int64_t intermediate = 0; ///< I
  int64_t heads = 0;        ///< nq
  int64_t kvHeads = 0;      ///< nkv
  int64_t headDim = 0;      ///< d
  int64_t layers = 0;
  int64_t vocab = 0; ///< V
  int64_t tp = 1;    ///< tensor_parallel_shards (T)

  /// Rows of a fused q/k/v projection: (nq + 2 nkv) d.
  int64_t qkvRows() const { return (heads + 2 * kvHeads) * headDim; }
  /// ShardSingleDim(0, [q, k, v]) with q = nq/T d and k = v = nkv/T d.
  ShardStrategy qkvShard() const;
  /// ShardSingleDim(0, [i, i]) with i = I/T (a fused gate/up projection).
  ShardStrategy gateUpShard() const;
  /// What T must divide: nq, nkv and I (ModelDef::shardDivisors).
  std::vector<std::pair<std::string, int64_t>> shardDivisors() const {
    return {{"num_attention_heads", heads},
            {"num_key_value_heads", kvHeads},
            {"intermediate_size", intermediate}};
  }
};

/// Reads hidden_size, intermediate_size, num_attention_heads,
/// num_key_value_heads (0 or absent: nq), head_dim (0 or absent: H / nq),
/// num_hidden_layers and vocab_size, and checks that they are positive and
/// that the head and intermediate counts divide into `tp` shards. The caller
/// has already checked the architecture's required fields.
llvm::Expected<TransformerDims> readDims(const ModelConfig &cfg,
                                         llvm::StringRef arch, int64_t tp);

/// Fails unless the config names a context window (context_window_size,
/// max_position_embeddings or max_sequence_length).
llvm::Error requireContextWindow(const ModelConfig &cfg, llvm::StringRef arch);

/// Fails unless `rope_theta` is present, at the top level or (transformers
/// 5 configs) inside `rope_parameters`.
llvm::Error requireRopeTheta(const ModelConfig &cfg, llvm::StringRef arch);

/// The checks most decoder definitions open with, in this order: the
/// architecture's required `fields`, `rope_theta` (when `needsRope`), a
/// context window; then readDims.
llvm::Expected<TransformerDims>
readDecoderConfig(const ModelConfig &cfg, llvm::StringRef arch, int64_t tp,
                  llvm::ArrayRef<llvm::StringRef> fields, bool needsRope);

/// A new definition for `arch` that accepts the quantization kinds `kinds`.
ModelDef startModel(llvm::StringRef arch,
                    std::initializer_list<const char *> kinds);

/// Appends a parameter.
void addParam(ModelDef &m, std::string name, std::vector<int64_t> shape,
              ParamKind kind, MapExpr map,
              std::optional<ShardStrategy> shard = std::nullopt);

/// Appends a parameter copied from the source tensor of the same name.
void addCopy(ModelDef &m, const std::string &name, std::vector<int64_t> shape,
             ParamKind kind, std::optional<ShardStrategy> shard = std::nullopt);

/// A norm weight's mapping: the source, or Gemma's `source + 1` (computed in
/// the source dtype, before the cast to the model dtype).
MapExpr normWeight(std::string source, bool plusOne);

/// Marks `model.layers.L.<rest>` unused for every layer.
void addUnusedPerLayer(ModelDef &m, int64_t layers, llvm::StringRef rest);

/// Options of the fused attention of the Llama family.
struct AttentionOptions {
  /// MLC name of the fused q/k/v projection under `self_attn.`.
  std::string fusedName = "qkv_proj";
  bool qkvBias = false; ///< also `<fused>.bias` = concat(q, k, v biases)
  bool outBias = false; ///< also `o_proj.bias`
};

/// Layer `layer`'s `self_attn.<fused>.weight` = concat(q_proj, k_proj,
/// v_proj) and `self_attn.o_proj.weight` (plus biases as `o` says), from
/// `model.layers.<layer>.self_attn.*`.
void addFusedAttention(ModelDef &m, const TransformerDims &d, int64_t layer,
                       const AttentionOptions &o = {});

/// Layer `layer`'s `mlp.gate_up_proj.weight` = concat(gate_proj, up_proj)
/// and `mlp.down_proj.weight`.
void addGatedMLP(ModelDef &m, const TransformerDims &d, int64_t layer);

/// Layer `layer`'s RMSNorm weights `<name>.weight` [H], copied (or + 1).
void addLayerNorms(ModelDef &m, const TransformerDims &d, int64_t layer,
                   std::initializer_list<const char *> names,
                   bool plusOne = false);

/// One Llama-style decoder layer: fused attention, gated MLP and the
/// `input_layernorm` / `post_attention_layernorm` weights.
void addLlamaLayer(ModelDef &m, const TransformerDims &d, int64_t layer,
                   const AttentionOptions &o = {}, bool normPlusOne = false);

/// `model.embed_tokens.weight` [V, H]; `symbolicVocab` leaves V open (-1),
/// as MLC models that take the vocabulary size from the tensor do.
void addEmbedTokens(ModelDef &m, const TransformerDims &d, bool symbolicVocab);

/// `model.norm.weight` and, unless `tied`, `lm_head.weight` [V, H].
void addFinalNormAndHead(ModelDef &m, const TransformerDims &d, bool tied,
                         bool normPlusOne = false);

/// MLC's module visitor leaves a Linear whose path ends in `gate` with at
/// most 256 outputs unquantized (docs/quantization.md): the kind of such
/// a router with `outFeatures` outputs; `float32Out` when MLC declares it
/// with `out_dtype` float32 (deepseek_v2), which q4f16_ft looks at.
ParamKind routerKind(int64_t outFeatures, bool float32Out = false);

/// Layer `layer`'s LayerNorm `<name>.weight` and `<name>.bias` [H], copied.
void addLayerNormWithBias(ModelDef &m, const TransformerDims &d, int64_t layer,
                          llvm::StringRef name);

/// MoE experts as MLC's `MixtralExperts` hold them: `<mlc>gate_up` [E, 2F, H]
/// stacks concat(gate, up) of every expert `<hf>.<e>.` and `<mlc>down`
/// [E, H, F] stacks the down projections, with ShardSingleDim(1, [F/T, F/T])
/// and ShardSingleDim(2).
struct StackedExperts {
  std::string hfExperts;      ///< "model.layers.0.mlp.experts"
  std::string mlcGateUp;      ///< "model.layers.0.mlp.moe_gate_up_proj.weight"
  std::string mlcDown;        ///< "model.layers.0.mlp.moe_down_proj.weight"
  std::string gate = "gate_proj", up = "up_proj", down = "down_proj";
  int64_t experts = 0, ffn = 0; ///< E, F
};
void addStackedExperts(ModelDef &m, const TransformerDims &d,
                       const StackedExperts &e);

/// "<arch> cannot be pre-sharded as MLC defines it: <why>"
/// (ModelDef::preshardRefusal).
std::string preshardRefusal(llvm::StringRef arch, const llvm::Twine &why);
/// Error unless `tp` is 1: `why` MLC's own presharding of `arch` cannot work.
llvm::Error refusePresharding(const ModelConfig &cfg, llvm::StringRef arch,
                              int64_t tp, const llvm::Twine &why);

/// Error if the config declares a quantized checkpoint
/// (`quantization_config`) other than FP8 blocks (`quant_method` "fp8").
llvm::Error refuseFp8Checkpoint(const ModelConfig &cfg, llvm::StringRef arch);

/// A positive integer field `key` (error otherwise), for fields that MLC
/// declares with a default of 0 but needs positive.
llvm::Expected<int64_t> positiveInt(const ModelConfig &cfg, llvm::StringRef key,
                                    llvm::StringRef arch);

// Issue 16, group A.
/// Rows of the 2-D (or, with `cols` 1, 1-D) tensor `src` re-ordered:
/// concat(rows [start, start + count) for each (start, count) of
/// `blocks`), each block a contiguous view (MapExpr::view). How MLC's
/// loaders that reshape a fused q/k/v per head (gpt_neox, internlm2) are
/// restated without a copy of the whole tensor.
MapExpr rowBlocks(const std::string &src, int64_t cols, bool oneD,
                  llvm::ArrayRef<std::pair<int64_t, int64_t>> blocks);

/// Phi-3's decoder layers (HF names `model.layers.N.`, q/k/v and gate/up
/// already fused in the checkpoint), under MLC's `<mlcPrefix>N.` tree:
/// phi3 (`transformer.h.`) and phi3_v's text model (`model.h.`). Phi3.cpp.
void addPhi3Layers(ModelDef &m, const TransformerDims &d,
                   llvm::StringRef mlcPrefix);

} // namespace qopt::models::build

#endif // QOPT_LIB_MODELS_ARCHITECTUREBUILDERS_H
