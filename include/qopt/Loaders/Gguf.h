//===- Gguf.h - GGUF checkpoint reader -------------------------*- C++ -*-===//
//
// Reads llama.cpp's GGUF files (versions 2 and 3, little-endian): the header
// (metadata key/values and tensor infos) with every check llama.cpp's reader
// makes, typed metadata reads, the tensors as stored, and the ggml block
// formats (dequantized to float32 in GgufDequant.cpp). The loader only parses
// the file: how an architecture's GGUF names, head permutation and metadata
// map to Hugging Face names and config.json lives with the model
// definitions (qopt/Models/Gguf.h). Decoding and un-permuting are ops of the
// weights dialect (docs/gguf.md).
//
// The format as quant-opt reads it: docs/gguf.md.
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
// Typed metadata and the tensors as stored
//===----------------------------------------------------------------------===//

/// "'name'" with bytes outside printable ASCII (and '\\') written as \xNN,
/// as every GGUF message quotes a key or tensor name.
std::string ggufQuote(llvm::StringRef name);

/// The DType of a plain ggml type (one element per block: F32, F16, BF16,
/// F64, I8-I64), or nullopt for a block type.
std::optional<numerics::DType> ggmlPlainDType(GgmlType type);

/// Typed reads of a file's metadata; every error starts with "<path>: " and
/// names the key.
class GgufMetadataReader {
public:
  explicit GgufMetadataReader(const GgufFile &file) : f(file) {}

  const GgufFile &file() const { return f; }
  /// "<path>: <msg>".
  llvm::Error error(const llvm::Twine &msg) const;

  /// An integer; an array of equal integers (one per layer) counts as that
  /// integer. nullopt (and no error) if absent.
  llvm::Expected<std::optional<int64_t>> optInt(llvm::StringRef key) const;
  /// A required integer > 0.
  llvm::Expected<int64_t> positiveInt(llvm::StringRef key) const;
  /// A number; a FLOAT32 reads as its shortest decimal (1e-06, not
  /// 9.99999997e-07).
  llvm::Expected<std::optional<double>> optReal(llvm::StringRef key) const;
  llvm::Expected<std::optional<std::string>>
  optString(llvm::StringRef key) const;

private:
  const GgufFile &f;
};

/// Where tensor `t` of `file` lies, as stored: its GGUF name, the shape
/// reversed (ne[0] last), dtype F32/F16/BF16/F64/I8-I64 for plain storage;
/// a block type is its raw bytes (U8, the last dimension in bytes) with
/// `encoding` = the ggml type name. Offsets are absolute; storageBytes =
/// nbytes. Fails for a block type that cannot be dequantized.
llvm::Expected<TensorInfo> ggufTensorStorage(const GgufFile &file,
                                             const GgufTensorInfo &t);

/// Every tensor of `file` as ggufTensorStorage() gives it, in file order:
/// the file read without any model definition. The view under Hugging Face
/// names belongs to the model definitions (qopt/Models/Gguf.h).
llvm::Expected<CheckpointFile> ggufTensorsAsCheckpoint(const GgufFile &file);

} // namespace qopt::loaders

#endif // QOPT_LOADERS_GGUF_H
