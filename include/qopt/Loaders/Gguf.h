//===- Gguf.h - GGUF checkpoint reader -------------------------*- C++ -*-===//
//
// Reads llama.cpp's GGUF files (versions 2 and 3, little-endian): the header
// (metadata key/values and tensor infos) with every check llama.cpp's reader
// makes, the ggml block formats (dequantized to float32 in GgufDequant.cpp),
// and the view of a Llama-family GGUF as a Hugging Face checkpoint: HF tensor
// names and shapes, the q/k row permutation undone on read, and an HF-style
// config.json rebuilt from the metadata.
//
// Format: docs/source-formats.md, section 3.
//
//===----------------------------------------------------------------------===//

#ifndef QOPT_LOADERS_GGUF_H
#define QOPT_LOADERS_GGUF_H

#include "qopt/Loaders/Checkpoint.h"

#include "llvm/ADT/StringRef.h"
#include "llvm/Support/Error.h"

#include <nlohmann/json.hpp>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace qopt::loaders {

class RandomAccessFile;

//===----------------------------------------------------------------------===//
// ggml types and their block formats
//===----------------------------------------------------------------------===//

/// The `ggml_type` values a GGUF tensor info may carry (snapshot Feb 2025).
/// Removed values (4, 5, 31-33, 36-38) and values >= 39 are unknown.
enum class GgmlType : uint32_t {
  F32 = 0,
  F16 = 1,
  Q4_0 = 2,
  Q4_1 = 3,
  Q5_0 = 6,
  Q5_1 = 7,
  Q8_0 = 8,
  Q8_1 = 9,
  Q2_K = 10,
  Q3_K = 11,
  Q4_K = 12,
  Q5_K = 13,
  Q6_K = 14,
  Q8_K = 15,
  IQ2_XXS = 16,
  IQ2_XS = 17,
  IQ3_XXS = 18,
  IQ1_S = 19,
  IQ4_NL = 20,
  IQ3_S = 21,
  IQ2_S = 22,
  IQ4_XS = 23,
  I8 = 24,
  I16 = 25,
  I32 = 26,
  I64 = 27,
  F64 = 28,
  IQ1_M = 29,
  BF16 = 30,
  TQ1_0 = 34,
  TQ2_0 = 35,
};

/// Size facts of one ggml type.
struct GgmlTypeInfo {
  GgmlType type;
  /// "Q4_K", as ggml and gguf-py spell it.
  const char *name;
  /// Elements per block (1 for the plain types).
  uint32_t blockSize;
  /// Bytes per block.
  uint32_t typeSize;
};

/// The facts of the ggml type with value `type`, or nullptr for a removed or
/// unknown value.
const GgmlTypeInfo *ggmlTypeInfo(uint32_t type);
/// The type spelled `name` ("Q8_0"), or nullptr.
const GgmlTypeInfo *ggmlTypeByName(llvm::StringRef name);

/// True for the block types ggmlDequantize() decodes: Q4_0, Q4_1, Q5_0,
/// Q5_1, Q8_0, Q8_1, Q2_K, Q3_K, Q4_K, Q5_K, Q6_K, Q8_K (and F32, F16, BF16,
/// which it widens).
bool canDequantizeGgml(GgmlType type);

/// Decodes `numElements` elements of `type` stored at `src` into float32,
/// exactly as llama.cpp's `dequantize_row_*` (bit for bit). `numElements`
/// must be a multiple of the block size; `src` holds numElements /
/// blockSize * typeSize bytes. Returns false (writing nothing) for a type
/// canDequantizeGgml() rejects or a count that is not a whole number of
/// blocks.
bool ggmlDequantize(GgmlType type, const void *src, uint64_t numElements,
                    float *dst);

//===----------------------------------------------------------------------===//
// The GGUF header
//===----------------------------------------------------------------------===//

/// GGUF metadata value types.
enum class GgufValueType : uint32_t {
  UInt8 = 0,
  Int8 = 1,
  UInt16 = 2,
  Int16 = 3,
  UInt32 = 4,
  Int32 = 5,
  Float32 = 6,
  Bool = 7,
  String = 8,
  Array = 9,
  UInt64 = 10,
  Int64 = 11,
  Float64 = 12,
};

/// "UINT32", "STRING", ... (the names of gguf.h); "?" for an unknown value.
const char *ggufValueTypeName(GgufValueType type);

/// One metadata value. Scalars are held decoded; arrays of numbers keep their
/// packed little-endian bytes, arrays of strings only their count (the
/// strings are validated and skipped).
struct GgufValue {
  GgufValueType type = GgufValueType::UInt8;
  /// Integer types (signed ones sign-extended) and Bool.
  uint64_t bits = 0;
  /// Float32 and Float64.
  double real = 0;
  /// String.
  std::string str;
  /// Array: element type, count, packed elements (numeric arrays).
  GgufValueType elemType = GgufValueType::UInt8;
  uint64_t count = 0;
  std::string packed;

  bool isInteger() const;
  bool isArray() const { return type == GgufValueType::Array; }
  /// An integer value of any integer type, if it fits in int64.
  std::optional<int64_t> asInt() const;
  /// A Float32/Float64 value, or an integer one converted.
  std::optional<double> asReal() const;
  /// Element `i` of a numeric array as int64 (integer element types).
  std::optional<int64_t> intElement(uint64_t i) const;
};

/// One key/value pair, in file order.
struct GgufKeyValue {
  std::string key;
  GgufValue value;
};

/// One tensor info record.
struct GgufTensorInfo {
  std::string name;
  /// ne[0..n_dims): ne[0] is the contiguous (innermost) dimension.
  std::vector<int64_t> ne;
  GgmlType type = GgmlType::F32;
  /// Offset relative to the data section, as stored.
  uint64_t offset = 0;
  /// Absolute offset in the file of the first byte.
  uint64_t fileOffset = 0;
  /// (ne[0] / block) * typeSize * ne[1] * ...
  uint64_t nbytes = 0;
};

/// A parsed GGUF header.
struct GgufFile {
  std::string path;
  uint32_t version = 0;
  /// general.alignment, or 32.
  uint64_t alignment = 32;
  /// Absolute offset of the data section.
  uint64_t dataStart = 0;
  uint64_t fileSize = 0;
  std::vector<GgufKeyValue> metadata;
  std::vector<GgufTensorInfo> tensors;

  /// The value of `key`, or nullptr.
  const GgufValue *find(llvm::StringRef key) const;
  /// The tensor called `name`, or nullptr.
  const GgufTensorInfo *findTensor(llvm::StringRef name) const;
};

/// Caps on the header counts, so that a hostile header cannot make the
/// reader allocate far more than the file holds (real files have fewer than
/// 100 keys and 5,000 tensors).
constexpr uint64_t kGgufMaxKeyValues = 1u << 20;
constexpr uint64_t kGgufMaxTensors = 1u << 20;

/// Reads and validates the header of the GGUF file `path`. Every error
/// starts with "<path>: " and names the key or tensor at fault. Checks:
/// magic; version 2 or 3 (1, > 3 and byte-swapped files rejected); the
/// counts against the caps above and the file size; every string length and
/// value against the bytes left; known value types; BOOL values 0 or 1; no
/// nested arrays; no duplicate key; `general.alignment` a UINT32 non-zero power
/// of two; tensor names shorter than 64 bytes and unique; n_dims <= 4; every ne
/// >= 0 and their product <= INT64_MAX; a known ggml type; ne[0] a multiple of
/// its block size; byte sizes without overflow; offsets exactly sequential
/// (offset_i == sum of align_up(nbytes_j) for j < i); data inside the file.
llvm::Expected<GgufFile> readGgufFile(llvm::StringRef path);

/// readGgufFile() on bytes in memory; `name` stands for the path in errors
/// (tests and fuzzers).
llvm::Expected<GgufFile> parseGguf(llvm::StringRef name, llvm::StringRef bytes);

/// True if `path` is a regular file starting with the GGUF magic.
bool hasGgufMagic(llvm::StringRef path);

//===----------------------------------------------------------------------===//
// GGUF as a Hugging Face checkpoint
//===----------------------------------------------------------------------===//

/// The Hugging Face name of llama.cpp tensor `ggufName` for a Llama-family
/// model (`token_embd.weight` -> `model.embed_tokens.weight`,
/// `blk.3.attn_q.weight` -> `model.layers.3.self_attn.q_proj.weight`, ...),
/// or nullopt for a name with no HF counterpart.
std::optional<std::string> ggufToHfName(llvm::StringRef ggufName);

/// An HF-style config.json for the model in `file` (section 3.7): only
/// `general.architecture` = `llama` is supported. Fields: architectures,
/// model_type, hidden_size, intermediate_size, num_attention_heads,
/// num_key_value_heads, num_hidden_layers, rms_norm_eps, rope_theta,
/// max_position_embeddings, vocab_size, head_dim (when the metadata has
/// attention.key_length), tie_word_embeddings (true iff `output.weight` is
/// absent), rope_scaling (linear), bos/eos_token_id when present. Errors name
/// the file and the key.
llvm::Expected<nlohmann::json> ggufModelConfig(const GgufFile &file);

/// The tensors of `file` as an HF checkpoint: HF names (ggufToHfName; names
/// without a counterpart are kept as they are, `rope_freqs.weight` is
/// dropped), HF shapes (reversed ne), dtype F32/F16/BF16/F64/I8-I64 for
/// plain storage and F32 with `encoding` = the ggml type name for block
/// types; q/k projections get `unpermuteHeads` (head_count, head_count_kv).
/// Fails for a block type that cannot be dequantized and for a non-llama
/// architecture. Offsets are absolute; storageBytes = nbytes.
llvm::Expected<CheckpointFile> ggufToCheckpointFile(const GgufFile &file);

/// readGgufFile + ggufToCheckpointFile.
llvm::Expected<CheckpointFile> readGgufCheckpoint(llvm::StringRef path);

/// Reads rows [row0, row1) of the outermost (HF) dimension of a tensor with
/// an `encoding` and/or `unpermuteHeads` (see TensorInfo) from `file` into
/// `dst` (row1 - row0 rows of t.dtype elements): reads the GGUF rows holding
/// them (HF row h*hd + j*hd/2 + i is GGUF row h*hd + 2i + j when
/// unpermuting), dequantizes, in chunks of at most `maxScratch` encoded
/// bytes. Errors name the file and tensor.
llvm::Error readGgufRows(const RandomAccessFile &file, const TensorInfo &t,
                         int64_t row0, int64_t row1, void *dst,
                         uint64_t maxScratch);

} // namespace qopt::loaders

#endif // QOPT_LOADERS_GGUF_H
