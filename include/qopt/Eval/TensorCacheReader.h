//===- TensorCacheReader.h - Reading a TVM tensor cache ---------*- C++ -*-===//
//
// Opens a tensor cache as `mlc_llm convert_weight` (and `quant-opt convert`)
// writes it: `tensor-cache.json` plus `params_shard_*.bin`. Every record is
// validated when the cache is opened (known dtype, sane shape, nbytes equal
// to the shape times the stored element size, inside its shard, the shard's
// length equal to the index's `nbytes`), so later reads cannot go out of
// bounds. Bytes are read with pread on demand; float32 records in the
// "f32-to-bf16" encoding are decoded from bf16 as TVM's runtime does.
//
//===----------------------------------------------------------------------===//

#ifndef QOPT_EVAL_TENSORCACHEREADER_H
#define QOPT_EVAL_TENSORCACHEREADER_H

#include "qopt/Loaders/TensorReader.h"
#include "qopt/Numerics/DType.h"

#include "llvm/ADT/StringRef.h"
#include "llvm/Support/Error.h"

#include <cstdint>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

namespace qopt::eval {

/// One record of `tensor-cache.json`.
struct CacheRecord {
  std::string name;
  /// The dtype the record is labelled with (float32 even when bf16-encoded).
  numerics::DType dtype = numerics::DType::U8;
  std::vector<int64_t> shape;
  /// True for a float32 record stored as bf16 (format "f32-to-bf16").
  bool bf16Encoded = false;
  /// Index into TensorCacheReader::shardPaths().
  size_t shard = 0;
  uint64_t byteOffset = 0;
  uint64_t nbytes = 0;

  /// Product of the shape (1 for a scalar); validated not to overflow.
  int64_t numElements() const;
  /// The element type of the stored bytes (BF16 for a bf16-encoded float32).
  numerics::DType storedDType() const {
    return bf16Encoded ? numerics::DType::BF16 : dtype;
  }
};

/// A validated, opened tensor cache.
class TensorCacheReader {
public:
  /// Opens `dir`/tensor-cache.json and every shard it names. Errors name the
  /// file and, where one is at fault, the record.
  static llvm::Expected<TensorCacheReader> open(llvm::StringRef dir);

  /// The cache directory and its index file.
  const std::string &directory() const { return dir; }
  const std::string &indexPath() const { return jsonPath; }
  /// Records in file order.
  const std::vector<CacheRecord> &records() const { return recs; }
  const std::vector<std::string> &shardPaths() const { return shardFiles; }
  /// The record called `name`, or nullptr.
  const CacheRecord *find(llvm::StringRef name) const;

  /// Copies the record's stored bytes (`r.nbytes` of them) into `dst`.
  llvm::Error readRaw(const CacheRecord &r, void *dst) const;
  /// Reads a floating-point record (float16, bfloat16, float32 raw or
  /// bf16-encoded, float8) as float32; other dtypes are an error.
  llvm::Expected<std::vector<float>> readFloats(const CacheRecord &r) const;
  /// Reads a uint32 record; other dtypes are an error.
  llvm::Expected<std::vector<uint32_t>> readUInt32(const CacheRecord &r) const;

  /// "<index>: record '<name>': <what>" as an llvm::Error.
  llvm::Error recordError(const CacheRecord &r, const llvm::Twine &what) const;

private:
  TensorCacheReader() = default;

  std::string dir;
  std::string jsonPath;
  std::vector<std::string> shardFiles;
  std::vector<std::unique_ptr<loaders::RandomAccessFile>> shards;
  std::vector<CacheRecord> recs;
  std::unordered_map<std::string, size_t> byName;
};

/// "[4, 8]".
std::string formatShape(llvm::ArrayRef<int64_t> shape);

} // namespace qopt::eval

#endif // QOPT_EVAL_TENSORCACHEREADER_H
