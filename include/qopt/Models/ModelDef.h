//===- ModelDef.h - MLC model parameter definitions -----------*- C++ -*-===//
//
// What a compiled MLC model expects: its parameters (MLC names, shapes, the
// module kind that decides quantization, the shard strategy) and how each is
// built from Hugging Face tensors. One small file per architecture fills a
// `ModelDef` from config.json; the passes turn it into IR. No MLIR here.
//
//===----------------------------------------------------------------------===//

#ifndef QOPT_MODELS_MODELDEF_H
#define QOPT_MODELS_MODELDEF_H

#include "llvm/ADT/STLFunctionalExtras.h"
#include "llvm/ADT/StringRef.h"
#include "llvm/Support/Error.h"

#include <nlohmann/json.hpp>

#include <array>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace qopt::models {

/// Mirrors `weights::ParamKind`: which module owns a parameter.
/// Float32Bias: a Linear's bias that MLC keeps in float32 in every mode
/// (declared with `out_dtype` float32). Float32: a parameter the MLC model
/// converts to float32 itself whatever the mode (RWKV's time_decay); never
/// quantized. NoQuantLinear / NoQuantEmbedding: the weight of a Linear /
/// Embedding inside a module MLC marks `no_quantization` (phi3_v's CLIP
/// tower): a plain parameter for the modes that honour the mark, a Linear /
/// Embedding for those that do not (q4f16_ft). Float32OutLinear /
/// Float32OutMoEGate: the weight of a Linear MLC declares with `out_dtype`
/// float32; a Linear / MoEGate except for q4f16_ft, which group-quantizes it.
enum class ParamKind { Linear, FinalFC, Embedding, MoEGate, Experts, Norm, Bias, Other,
                       Float32Bias, Float32, NoQuantLinear, NoQuantEmbedding,
                       Float32OutLinear, Float32OutMoEGate };

/// How an MLC parameter is computed from Hugging Face tensors: a small
/// expression tree over source tensor names.
struct MapExpr {
  enum class Op { Source, Concat, Stack, Transpose, AddConstant, View, ToF32,
                  DividePow2, Exp, StackEach };
  Op op = Op::Source;
  std::string source;             // Op::Source: the HF tensor name
  int64_t axis = 0;               // Op::Concat
  double constant = 0;            // Op::AddConstant
  int64_t exponent = 0;           // Op::DividePow2
  bool negate = false;            // Op::Exp
  std::vector<MapExpr> operands;  // everything but Op::Source
  /// Op::View: elements of the (row-major) source tensor read as a tensor
  /// of `viewShape` whose element (i0, i1, ...) is source element
  /// `viewOffset + sum(ik * viewStrides[k])` (flat row-major index), e.g.
  /// DeepSeek's per-head split and transpose of `kv_b_proj`.
  int64_t viewOffset = 0;
  std::vector<int64_t> viewShape, viewStrides;
  /// Op::StackEach: the stack of `count` operands, operand i being
  /// `operands[0]` with every `{}` in its source names replaced by i (the
  /// experts of a MoE layer: one pattern instead of a mapping per expert,
  /// which for a model of 48 layers x 128 experts held 3.7 MB).
  int64_t count = 0;

  static MapExpr src(std::string name);
  static MapExpr concat(std::vector<MapExpr> parts, int64_t axis = 0);
  static MapExpr stack(std::vector<MapExpr> parts);
  static MapExpr transpose(MapExpr e);
  static MapExpr addConstant(MapExpr e, double c);
  /// The operand widened (exactly) to float32, so that a following
  /// addConstant rounds once in float32, as numpy's
  /// `(x.astype("float32") + 1.0)` of Qwen3.5's norms does.
  static MapExpr toF32(MapExpr e);
  /// The operand divided by 2^exponent (0..15) in the model dtype, after
  /// the conversion to it (numpy's `x.astype(dtype) / 2**t` of RWKV's
  /// per-layer rescale; weights.divide_pow2).
  static MapExpr dividePow2(MapExpr e, int64_t exponent);
  /// numpy's float32 `np.exp` of the (float32) operand, or of its negation
  /// (weights.exp).
  static MapExpr exp(MapExpr e, bool negate = false);
  /// A strided view of the source tensor `src` (see `viewShape`).
  static MapExpr view(std::string src, int64_t offset,
                      std::vector<int64_t> shape, std::vector<int64_t> strides);
  /// Op::StackEach of `count` instances of `pattern` (see `count`).
  static MapExpr stackEach(MapExpr pattern, int64_t count);
  /// Op::StackEach: its operand `i`, a mapping without the pattern.
  MapExpr instance(int64_t i) const;
  /// The same mapping with every StackEach written out as the Stack of its
  /// instances.
  MapExpr expanded() const;
  /// HF names in the order the mapping lists them (a StackEach's instance
  /// by instance).
  void collectSources(std::vector<std::string> &out) const;
};

/// MLC's `ShardSingleDim(dim, segs)`: per-shard segment lengths along `dim`.
struct ShardStrategy {
  int64_t dim = 0;
  std::vector<int64_t> segments; // per-shard lengths; empty = one segment
};

/// One parameter of the compiled model, before quantization.
struct ParamDef {
  std::string name;              // e.g. "model.layers.0.self_attn.qkv_proj.weight"
  std::vector<int64_t> shape;    // full (unsharded) shape; -1 = symbolic
  ParamKind kind = ParamKind::Other;
  MapExpr map;
  std::optional<ShardStrategy> shard;
};

/// The parsed fields of config.json that shape parameters.
class ModelConfig {
public:
  ModelConfig(nlohmann::json json, std::string path)
      : json(std::move(json)), path(std::move(path)) {}
  const nlohmann::json &raw() const { return json; }
  const std::string &getPath() const { return path; }
  bool has(llvm::StringRef key) const;
  /// A required integer field; error "config.json: missing required field 'x' (llama)".
  llvm::Expected<int64_t> getInt(llvm::StringRef key, llvm::StringRef arch) const;
  int64_t getInt(llvm::StringRef key, int64_t dflt) const;
  bool getBool(llvm::StringRef key, bool dflt) const;
  std::string getString(llvm::StringRef key, llvm::StringRef dflt) const;
  /// Fails unless every key is present (and not null).
  llvm::Error require(llvm::ArrayRef<llvm::StringRef> keys, llvm::StringRef arch) const;

private:
  nlohmann::json json;
  std::string path;
};

/// Everything the passes need to know about one architecture instance.
struct ModelDef {
  std::string arch;
  std::vector<ParamDef> params;
  /// HF tensors the loader reads but ignores (not counted as parameters).
  std::vector<std::string> unusedSources;
  /// Quantization kinds the MLC model accepts ("no-quant", "group-quant",
  /// "per-tensor-quant", "awq", "ft-quant").
  std::vector<std::string> quantizationKinds;
  /// Config quantities the tensor-parallel shard count must divide, as
  /// (field, value), in the order they are checked (e.g. the head counts:
  /// each shard holds whole heads). A definition built for T shards fails
  /// with "tensor-parallel-shards: <field>: <value> is not divisible by T"
  /// for the first that T does not divide.
  std::vector<std::pair<std::string, int64_t>> shardDivisors;
  /// "<arch> cannot be pre-sharded as MLC defines it: <why>" when MLC's
  /// presharding of this model cannot work (empty: it can); a definition
  /// built for more than one shard fails with "<config>:
  /// tensor-parallel-shards T: " and this, before any divisor is checked.
  std::string preshardRefusal;
  /// Aliases a checkpoint may omit (tied weights dropped by the writer).
  std::vector<std::pair<std::string, std::string>> sourceAliases;
  /// Prefixes under which a checkpoint may store the source names, tried in
  /// order (GPT-2: MLC reads `wte.weight`, transformers writes
  /// `transformer.wte.weight`). Applies to mappings and unused names alike.
  std::vector<std::string> sourcePrefixes = {""};
  /// Whether `hfName` (under any source prefix) is a known unused tensor.
  bool isUnused(llvm::StringRef hfName) const;
  /// Rewrites every source name of every mapping to the first
  /// `prefix + name` for which `exists` holds; a name found under no prefix
  /// is left as it is (so a missing-tensor error names what MLC looks for).
  void resolveSourceNames(llvm::function_ref<bool(llvm::StringRef)> exists);
};

struct GgufArchitecture;

/// One architecture: names it answers to and the builder of its ModelDef.
struct Architecture {
  std::string name;                       // "llama"
  std::vector<std::string> hfArchitectures; // "LlamaForCausalLM"
  std::vector<std::string> modelTypes;      // config "model_type" values
  std::function<llvm::Expected<ModelDef>(const ModelConfig &, int64_t tpShards)> build;
  /// How llama.cpp's GGUF files of this architecture read (names, permuted
  /// rows, config.json); nullptr without GGUF support (qopt/Models/Gguf.h).
  const GgufArchitecture *gguf = nullptr;
  /// FP8 checkpoints with per-tensor scales (0-d or [1] `weight_scale_inv`,
  /// no `weight_block_size`, `activation_scheme` "static"): the block size
  /// MLC's config defaults to, each scale read as a stride-0 view over the
  /// blocks (ministral3: 128 x 128). Unset: such checkpoints are refused.
  std::optional<std::array<int64_t, 2>> fp8PerTensorBlock;
  /// Why the block-scale `_static_activation` mode is refused for this
  /// architecture (empty: it is not).
  std::string staticActivationRefusal;
  /// With the block-scale `_static_activation` mode, where each linear's
  /// `activation_scale` comes from: false, the checkpoint tensor under its
  /// MLC name (qwen3's loaders); true, the `activation_scale` of each
  /// checkpoint projection it fuses (`<hf module>.activation_scale`, q/k/v
  /// and gate/up required allclose, the first kept and broadcast to the
  /// input blocks: weights.static_activation_scale; ministral3's loader).
  bool activationScalesFromProjections = false;
};

/// All registered architectures, in a stable order.
const std::vector<Architecture> &architectures();
const Architecture *findArchitecture(llvm::StringRef name);
/// `--model-type auto`: from config "model_type", then "architectures".
/// Error lists the supported names.
llvm::Expected<const Architecture *> detectArchitecture(const ModelConfig &config,
                                                        llvm::StringRef requested);
/// Comma-separated list of supported architecture names.
std::string supportedArchitectureList();

/// Reads config.json (a directory holding one, or the file itself).
llvm::Expected<ModelConfig> readModelConfig(llvm::StringRef path);

/// Limits on a config.json (docs/reliability.md): its size, its nesting, and
/// the fields that size the model.
struct ConfigLimits {
  /// Bytes of config.json (real ones are a few KB).
  static constexpr uint64_t kMaxBytes = 16u << 20;
  /// Nesting of arrays and objects (real ones nest 3 deep).
  static constexpr unsigned kMaxDepth = 64;
  /// Any dimension (hidden_size, head_dim, vocab_size, ...): 2^20, so that a
  /// product of three stays far inside int64.
  static constexpr int64_t kMaxDim = int64_t(1) << 20;
};

/// Reads a regular file of at most `maxBytes` without blocking on a FIFO or
/// device. The error is the reason alone ("No such file or directory",
/// "not a regular file", "larger than N bytes"); callers add the path.
llvm::Expected<std::string> readRegularFile(llvm::StringRef path,
                                            uint64_t maxBytes);

/// Depth of the deepest array/object nesting of JSON `text`, stopping (and
/// returning limit + 1) once `limit` is passed. A linear scan, no recursion.
unsigned jsonNestingDepth(llvm::StringRef text, unsigned limit);

/// Type and range of the config fields the architectures read: integers
/// (positive, at most ConfigLimits::kMaxDim; head_dim may be null but not 0),
/// booleans (tie_word_embeddings: "yes" is an error, not false), strings.
/// Errors: "<path>: field 'head_dim' must be a positive integer, got 0".
llvm::Error checkModelConfig(const ModelConfig &config);

/// Checks the config's sizes against the checkpoint before anything is
/// planned: every layer needs its own tensors, and the embedding
/// (vocab_size x hidden_size) cannot hold more elements than the whole
/// checkpoint. `tensors` and `elements` are the checkpoint's counts.
llvm::Error checkConfigAgainstCheckpoint(const ModelConfig &config,
                                         uint64_t tensors, uint64_t elements);

/// Shared builders used by the per-architecture files.
namespace build {
std::string layer(int64_t i, llvm::StringRef rest, llvm::StringRef prefix = "model.layers.");
/// Checked positive integer division: error unless `a % b == 0`.
llvm::Expected<int64_t> divide(int64_t a, int64_t b, llvm::StringRef what);
} // namespace build

// Registration of each architecture's file (lib/Models/<Arch>.cpp).
Architecture makeLlamaArchitecture();
Architecture makeMistralArchitecture();
Architecture makeMixtralArchitecture();
Architecture makeQwen2Architecture();
Architecture makeQwen3Architecture();
Architecture makePhi3Architecture();
Architecture makeGemmaArchitecture();
Architecture makeGemma2Architecture();
Architecture makeStarcoder2Architecture();
Architecture makeGPT2Architecture();
Architecture makeQwen3MoeArchitecture();
Architecture makeQwen2MoeArchitecture();
Architecture makeGemma3Architecture();
Architecture makeGemma3TextArchitecture();
Architecture makeOLMoArchitecture();
Architecture makeOLMo2Architecture();
Architecture makeStableLMArchitecture();
Architecture makeInternLMArchitecture();
Architecture makeCohereArchitecture();
Architecture makeNemotronArchitecture();
Architecture makeOrionArchitecture();
Architecture makeDeepseekV2Architecture();
Architecture makeDeepseekV3Architecture();
Architecture makeBaichuanArchitecture();
Architecture makeGPTBigCodeArchitecture();
Architecture makeDeepseekArchitecture();
// Issue 16, group A.
Architecture makePhiArchitecture();
Architecture makePhiMsftArchitecture();
Architecture makeInternLM2Architecture();
Architecture makeQwenArchitecture();
Architecture makeMiniCPMArchitecture();
Architecture makeChatGLMArchitecture();
Architecture makeGPTNeoXArchitecture();
Architecture makeGPTJArchitecture();

} // namespace qopt::models

#endif // QOPT_MODELS_MODELDEF_H
