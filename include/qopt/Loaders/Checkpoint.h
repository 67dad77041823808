//===- Checkpoint.h - Checkpoint discovery and tensor directory -*- C++ -*-===//
//
// The vocabulary shared by every checkpoint reader: where a tensor lives in a
// file (TensorInfo), the header of one file (CheckpointFile), and a whole
// checkpoint as MLC's HuggingFaceLoader sees it (Checkpoint): which files, in
// which order, and which tensor comes from which file.
//
// Readers only parse headers; no weight bytes are held. Bytes are read later
// through TensorReader.
//
// Adding a format (GGUF, AutoAWQ, ...): add a reader returning CheckpointFile,
// dispatch to it in readCheckpointFile(), and teach openCheckpoint's discovery
// which file names belong to it (Checkpoint.cpp, `candidatesFor`).
//
//===----------------------------------------------------------------------===//

#ifndef QOPT_LOADERS_CHECKPOINT_H
#define QOPT_LOADERS_CHECKPOINT_H

#include "qopt/Numerics/DType.h"

#include "llvm/ADT/ArrayRef.h"
#include "llvm/ADT/STLFunctionalExtras.h"
#include "llvm/ADT/StringRef.h"
#include "llvm/Support/Allocator.h"
#include "llvm/Support/Error.h"

#include <nlohmann/json_fwd.hpp>

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

namespace qopt::loaders {

/// The source formats quant-opt reads.
enum class SourceFormat { Auto, HFSafetensors, HFTorch, GGUF, AWQ };

/// MLC's spelling of a format: "auto", "huggingface-safetensor",
/// "huggingface-torch", "gguf", "awq".
llvm::StringRef sourceFormatName(SourceFormat format);
/// Inverse of sourceFormatName.
std::optional<SourceFormat> parseSourceFormat(llvm::StringRef name);

/// One tensor of a checkpoint file, located but not loaded.
struct TensorInfo {
  std::string name;
  numerics::DType dtype = numerics::DType::U8;
  std::vector<int64_t> shape;
  /// Path of the file holding the bytes.
  std::string file;
  /// Absolute byte offset in `file` of element 0 (storage offset applied).
  uint64_t offset = 0;
  /// Strides in elements; empty = contiguous row-major. Torch checkpoints
  /// keep the strides of the pickle even when they are contiguous.
  std::vector<int64_t> strides;
  /// Bytes of the underlying storage/record available from `offset`; every
  /// element the view reaches lies inside [offset, offset + storageBytes).
  uint64_t storageBytes = 0;
  /// GGUF block-quantized data: the ggml type name ("Q4_K") of the stored
  /// blocks; the tensor is then their raw bytes (U8, last dimension in
  /// bytes), read as they are and decoded by weights.dequantize_ggml.
  /// Empty for plain storage.
  std::string encoding;
  /// GGUF q/k projections: when non-zero, the outermost dimension is stored
  /// in llama.cpp's rotary row order for this many heads (undone by
  /// weights.unpermute_heads; reads return the stored order).
  int64_t unpermuteHeads = 0;

  /// Product of `shape` (1 for a scalar). Readers guarantee it does not
  /// overflow.
  int64_t numElements() const;
  /// numElements() * dtypeSize(dtype).
  uint64_t contiguousBytes() const;
  /// True when the elements are stored row-major without gaps from `offset`
  /// (`strides` empty or describing exactly that layout).
  bool isContiguous() const;
};

/// The header of one checkpoint file.
struct CheckpointFile {
  std::string path;
  SourceFormat format = SourceFormat::Auto;
  /// The tensors in reader order (safetensors: lexicographic byte order of
  /// names; torch: state-dict insertion order).
  std::vector<TensorInfo> tensors;

  /// The tensor called `name`, or nullptr.
  const TensorInfo *find(llvm::StringRef name) const;
};

/// One entry of a `*.index.json` weight map.
struct WeightMapEntry {
  std::string tensor;
  /// The shard path: the index's directory joined with the mapped name.
  std::string file;
};

/// Reads `weight_map` of a `*.index.json` in JSON file order. Rejects
/// duplicate tensor names, non-string file names, and file names that are
/// absolute or contain a `..` component.
llvm::Expected<std::vector<WeightMapEntry>>
readWeightMap(llvm::StringRef indexJsonPath);

/// readWeightMap without the entries: calls `entry(tensor, file)` for each,
/// in JSON file order (`file` as WeightMapEntry::file). The same checks and
/// errors (the entries before a failing one have been reported).
llvm::Error forEachWeightMapEntry(
    llvm::StringRef indexJsonPath,
    llvm::function_ref<void(llvm::StringRef tensor, llvm::StringRef file)>
        entry);

/// A whole checkpoint as MLC's HuggingFaceLoader sees it.
struct Checkpoint {
  SourceFormat format = SourceFormat::Auto;
  /// The `*.index.json` used; empty for a single file.
  std::string indexPath;
  /// MLC's torch_to_path in its order: single file -> the reader's order;
  /// index -> weight_map order. (tensor name, file path).
  std::vector<std::pair<std::string, std::string>> torchToPath;
  /// Headers of every file, keyed by path.
  std::map<std::string, CheckpointFile> files;
  /// Non-fatal findings (e.g. a shard holds tensors the index does not map).
  std::vector<std::string> warnings;
  /// name -> its TensorInfo in `files` (the key views that TensorInfo's
  /// name: no copy per tensor); filled by openCheckpoint. find() falls back
  /// to a scan when it is empty.
  std::unordered_map<std::string_view, const TensorInfo *> nameIndex;

  Checkpoint() = default;
  /// Moves keep `files`' nodes, which nameIndex points into; copies would
  /// not.
  Checkpoint(Checkpoint &&) = default;
  Checkpoint &operator=(Checkpoint &&) = default;
  Checkpoint(const Checkpoint &) = delete;
  Checkpoint &operator=(const Checkpoint &) = delete;

  /// The tensor called `tensorName` (as mapped by torchToPath), or nullptr.
  const TensorInfo *find(llvm::StringRef tensorName) const;
};

struct GgufFile;

/// How a parsed GGUF file reads as a checkpoint file. The loaders only parse
/// GGUF: naming its tensors as Hugging Face does (and marking the rows
/// llama.cpp permuted) belongs to the model definitions, which provide the
/// view (`qopt::models::ggufCheckpointFile`, qopt/Models/Gguf.h). Without
/// one, a GGUF file reads under its own tensor names
/// (ggufTensorsAsCheckpoint).
using GgufView =
    llvm::function_ref<llvm::Expected<CheckpointFile>(const GgufFile &)>;

/// Where a checkpoint is: the index or the single file openCheckpoint
/// would read, before any header is parsed.
struct CheckpointLocation {
  /// The format the files are read with (Auto: decided per file by its
  /// first bytes).
  SourceFormat format = SourceFormat::Auto;
  /// The `*.index.json`, or the single checkpoint file.
  std::string path;
  bool isIndex = false;
};

/// Finds the checkpoint `source` names, as openCheckpoint does (same
/// search, same errors), without reading it.
llvm::Expected<CheckpointLocation> locateCheckpoint(llvm::StringRef source,
                                                    SourceFormat format);

/// A tensor of the file being scanned that the checkpoint maps to it, and
/// its position in MLC's torch_to_path order (Checkpoint::torchToPath).
struct MappedTensor {
  size_t position = 0;
  const TensorInfo *tensor = nullptr;
};

/// What scanCheckpoint found besides the headers it handed over.
struct CheckpointScan {
  /// The format of the files (Auto resolved by the first one).
  SourceFormat format = SourceFormat::Auto;
  /// Mapped tensors (the length of torch_to_path).
  size_t mappedTensors = 0;
  /// Tensors and elements of every file, mapped or not.
  uint64_t fileTensors = 0, fileElements = 0;
  /// As Checkpoint::warnings.
  std::vector<std::string> warnings;
};

/// Called once per file of a scanned checkpoint, in order of first
/// appearance in the index, with the file's header and its mapped tensors
/// in torch_to_path order. The header is freed when the call returns (the
/// callee may move it away).
using CheckpointFileVisitor = llvm::function_ref<llvm::Error(
    CheckpointFile &file, llvm::ArrayRef<MappedTensor> mapped)>;

/// Reads the checkpoint at `where` one file header at a time: each header
/// is parsed, checked against the index and handed to `visit`, then freed,
/// so that a caller building its own records from the headers never holds
/// every header at once. The index is held in a compact form (each name
/// once, a file number per tensor). Errors are openCheckpoint's, in the
/// same precedence (a file that is missing or does not parse before a
/// tensor missing from its file); after a tensor is found missing, no file
/// is handed over.
llvm::Expected<CheckpointScan> scanCheckpoint(const CheckpointLocation &where,
                                              GgufView gguf,
                                              CheckpointFileVisitor visit);

/// Opens a checkpoint. `source` is a directory, or one file
/// (`*.safetensors`, `*.bin`, `*.index.json`, `*.gguf`). In a directory,
/// Auto looks for model.safetensors.index.json, model.safetensors,
/// pytorch_model.bin.index.json, pytorch_model.bin, then a single
/// `*.safetensors`, `*.bin` or `*.gguf`; an explicit format restricts the
/// search to its own names. Every file's header is parsed eagerly and an
/// index is checked against the files (every named file exists and parses,
/// every mapped tensor is in its file). GGUF files read through `gguf`.
llvm::Expected<Checkpoint> openCheckpoint(llvm::StringRef source,
                                          SourceFormat format,
                                          GgufView gguf = {});

/// Parses the header of one checkpoint file with the reader for `format`
/// (HFSafetensors and AWQ: safetensors; HFTorch: torch zip; GGUF: the GGUF
/// header, then `gguf`; Auto: decided by the file's first bytes).
llvm::Expected<CheckpointFile> readCheckpointFile(llvm::StringRef path,
                                                  SourceFormat format,
                                                  GgufView gguf = {});

/// Offset of the first byte of `s` that does not start a well-formed UTF-8
/// sequence (RFC 3629: no overlongs, no surrogates, at most U+10FFFF), or
/// nullopt if `s` is valid.
std::optional<size_t> findInvalidUtf8(llvm::StringRef s);

/// "[512, 128]".
std::string formatShape(const std::vector<int64_t> &shape);

namespace detail {
/// Limits on a JSON document, so that hostile text cannot exhaust memory.
struct JsonLimits {
  unsigned maxDepth = 64;
  uint64_t maxValues = 1u << 23;
};

/// Why parseJson failed.
struct JsonFailure {
  enum Kind { Syntax, TooDeep, TooManyValues, DuplicateKey } kind = Syntax;
  /// Syntax: the byte nlohmann reports.
  uint64_t byte = 0;
  /// DuplicateKey: nesting depth of the object (1 = the top-level object),
  /// the enclosing top-level key (depth > 1) and the repeated key.
  unsigned depth = 0;
  std::string outerKey;
  std::string key;
};

/// What an index file's JSON says of its weight map, without a DOM: a
/// checkpoint with tens of thousands of tensors has an index of megabytes,
/// whose DOM (a node and two strings per tensor) was the conversion's
/// largest allocation.
struct WeightMapJson {
  bool rootIsObject = false;
  /// The root has a `weight_map` member whose value is an object.
  bool hasMap = false;
  /// weight_map's members in file order: the tensor name (in `names`) and
  /// the index of its file name in `files`, or -1 when the value is not a
  /// string.
  std::vector<std::pair<llvm::StringRef, int64_t>> entries;
  /// The distinct file names, in order of first appearance.
  std::vector<std::string> files;
  llvm::BumpPtrAllocator names;
};

/// parseJson's checks and failures (limits, duplicate keys, syntax) for an
/// index file, keeping only its weight map.
bool parseWeightMapJson(llvm::StringRef text, const JsonLimits &limits,
                        WeightMapJson &out, JsonFailure &failure);

/// "line L, column C" of byte `byte` (nlohmann's 1-based position of the
/// character where parsing failed) in `text`.
std::string jsonPosition(llvm::StringRef text, uint64_t byte);

/// Parses `text` as JSON, rejecting a key seen twice in one object. Returns
/// false and fills `failure` on error. If `keyOrder` is given, it receives
/// the keys, in file order, of the object that is the value of the
/// top-level key `orderedKey` (nlohmann::json itself sorts keys).
bool parseJson(llvm::StringRef text, const JsonLimits &limits,
               nlohmann::json &out, JsonFailure &failure,
               llvm::StringRef orderedKey = {},
               std::vector<std::string> *keyOrder = nullptr);
} // namespace detail

} // namespace qopt::loaders

#endif // QOPT_LOADERS_CHECKPOINT_H
