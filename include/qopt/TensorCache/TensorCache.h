//===- TensorCache.h - TVM tensor-cache writer ------------------*- C++ -*-===//
//
// Writes the TVM tensor cache (`tensor-cache.json`, `params_shard_<k>.bin`,
// `tensor-cache-b16.json`) byte for byte as `tvm.contrib.tvmjs.
// dump_tensor_cache(..., encode_format="f32-to-bf16", shard_cap_mb=32)` does
// when `mlc_llm convert_weight` calls it. See docs/design.md.
//
// The shard layout depends only on the sequence of record sizes, so it is
// planned up front (`planShards`); the bytes of each record can then be written
// in any order and from several threads (`TensorCacheWriter::writeRecord`),
// and are hashed as they are written (qopt/TensorCache/ShardHasher.h).
//
//===----------------------------------------------------------------------===//

#ifndef QOPT_TENSORCACHE_TENSORCACHE_H
#define QOPT_TENSORCACHE_TENSORCACHE_H

#include "qopt/Numerics/DType.h"
#include "qopt/TensorCache/ShardHasher.h"

#include "llvm/ADT/StringRef.h"
#include "llvm/Support/Error.h"

#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace qopt::tensorcache {

/// The shard capacity convert_weight uses: 32 MiB.
inline constexpr uint64_t kDefaultShardCap = 32ull << 20;

/// One record as it will appear in tensor-cache.json.
struct RecordSpec {
  std::string name;
  std::vector<int64_t> shape;
  /// The in-memory dtype printed in the JSON ("float32" stays float32 even
  /// though its file bytes are bf16).
  numerics::DType dtype = numerics::DType::F32;

  /// Product of the dimensions; nullopt when a dimension is negative or the
  /// product overflows uint64_t.
  std::optional<uint64_t> numElements() const;
  /// Bytes in the shard file: numel*2 for F32 (f32-to-bf16 encoding), else
  /// numel*dtypeSize. Saturates at UINT64_MAX when the size is not
  /// representable (`TensorCacheWriter::create` rejects such records).
  uint64_t fileBytes() const;
  /// numel*dtypeSize: what ParamBytes sums (float32 counts 4 bytes).
  /// Saturates like fileBytes().
  uint64_t memBytes() const;
};

/// The exact tvmjs dump_tensor_cache shard assignment (spec section 2).
struct ShardPlan {
  /// Shard number of a record that tvmjs silently drops: zero-byte records
  /// still pending when the last buffer is flushed (tvmjs only flushes a
  /// non-empty buffer). `TensorCacheWriter::create` rejects such plans.
  static constexpr uint32_t kDropped = UINT32_MAX;

  struct Placement {
    uint32_t shard;
    uint64_t byteOffset;
  };
  /// One per record, same order as the records.
  std::vector<Placement> placements;
  /// File size of each shard `params_shard_<k>.bin`.
  std::vector<uint64_t> shardBytes;
  /// Record indices per shard, in JSON order.
  std::vector<std::vector<size_t>> shardRecords;
};

/// Replays tvmjs' TensorCacheShardingManager on the records' fileBytes():
/// a record that would make the pending buffer reach `capBytes` (`>=`) either
/// goes out of band into a shard of its own, numbered before the pending
/// buffer, when `2*size >= capBytes`, or first flushes the pending buffer
/// (if non-empty). The buffer left at the end is flushed if non-empty.
ShardPlan planShards(const std::vector<RecordSpec> &records,
                     uint64_t capBytes = kDefaultShardCap);

/// One of the N slices of a conversion that `--part I/N` writes (1-based).
struct PartSpec {
  uint32_t index = 1;
  uint32_t count = 1;
};

/// The part (0-based) that writes each shard when the output is split into
/// `count` parts: contiguous runs of shards of about equal bytes. Shard k
/// goes to part floor(count * (bytes before k + half of k's bytes) / total),
/// so the split depends on the shard sizes alone and every part computes it
/// alike. Parts may get no shard (more parts than shards).
std::vector<uint32_t> assignShardsToParts(const std::vector<uint64_t> &shardBytes,
                                          uint32_t count);

/// The `metadata` object of tensor-cache.json.
struct Metadata {
  /// Number of records ("ParamSize").
  int64_t paramSize = 0;
  /// Sum of memBytes() of all records; printed as a Python float
  /// ("ParamBytes": 1536.0).
  uint64_t paramBytes = 0;
  /// paramBytes * 8.0 / totalParams ("BitsPerParam").
  double bitsPerParam = 0;
};

/// The numbers convert_weight reports at the end (spec section 7).
struct Statistics {
  /// Number of records written.
  int64_t paramSize = 0;
  /// Sum of memBytes() over the records.
  uint64_t paramBytes = 0;
  /// Elements of the source checkpoint tensors (loader.stats.total_param_num).
  uint64_t totalParams = 0;

  /// Sums paramSize and paramBytes over `records`; totalParams is left 0.
  static Statistics fromRecords(const std::vector<RecordSpec> &records);
  /// `float(paramBytes) * 8.0 / totalParams`, as Python computes it
  /// (infinity or NaN when totalParams is 0; Python would raise).
  double bitsPerParam() const;
  /// `float(paramBytes) / 1024**3`.
  double paramSizeGB() const;
  /// The tensor-cache.json metadata. Fails when totalParams is 0 (where
  /// convert_weight raises ZeroDivisionError).
  llvm::Expected<Metadata> metadata() const;
};

/// The three statistics lines of convert_weight's log, without the logger
/// prefix:
///   "Parameter size after quantization: 0.004 GB"
///   "Total parameters: 3,342,592"
///   "Bits per parameter: 4.123"
/// Numbers use Python "%.3f" (round-half-even on the exact binary value).
/// With `color`, the first words are wrapped in MLC's green ANSI style
/// ("\033[92m" ... "\033[0m") as convert_weight prints them.
std::array<std::string, 3> formatStatisticsLines(const Statistics &stats,
                                                 bool color = false);

/// The --stats-json text: one line, Python `json.dumps` default separators,
/// keys in this order, no trailing newline:
///   {"ParamSize": 3, "ParamBytes": 1536, "TotalParams": 3342592,
///    "BitsPerParam": 0.003676..., "ParamSizeGB": 1.430511474609375e-06}
/// ParamSize, ParamBytes and TotalParams are integers; BitsPerParam and
/// ParamSizeGB are Python float reprs (full precision, not rounded to 3
/// digits; "Infinity"/"NaN" when totalParams is 0).
std::string renderStatisticsJson(const Statistics &stats);

/// Streams a tensor cache into an output directory.
///
/// All files are first written into a staging directory
/// `<outDir>/.quant-opt-staging-<pid>-<n>`. `commit()` removes a previous
/// tensor-cache.json / tensor-cache-b16.json in outDir first, moves the shards
/// in (also removing stale `params_shard_<k>.bin` with k >= the new shard
/// count), then tensor-cache.json, then tensor-cache-b16.json when some record
/// is float32, so an interrupted or failed run never leaves a complete-looking
/// cache. On any commit error or on destruction without a successful commit,
/// the staging directory and any shard already moved are deleted (and outDir
/// too if this writer created it and it is empty).
///
/// Files are not fsync'ed (neither does tvmjs).
class TensorCacheWriter {
public:
  /// Validates the records (unique, valid UTF-8 names; non-negative dims;
  /// representable sizes; no record that tvmjs would drop), plans the shards,
  /// creates outDir (with parents) when missing, and creates the staging
  /// directory with every shard file pre-sized (sparse) to its final length.
  static llvm::Expected<std::unique_ptr<TensorCacheWriter>>
  create(llvm::StringRef outDir, std::vector<RecordSpec> records,
         uint64_t capBytes = kDefaultShardCap);

  /// Like create(), for part `part` of a split conversion: the writer
  /// stages and writes only the shards assignShardsToParts gives that part;
  /// bytes of records in other parts' shards are accepted and dropped.
  /// Finish with commitPart().
  static llvm::Expected<std::unique_ptr<TensorCacheWriter>>
  createPart(llvm::StringRef outDir, std::vector<RecordSpec> records,
             PartSpec part, uint64_t capBytes = kDefaultShardCap);

  ~TensorCacheWriter();
  TensorCacheWriter(const TensorCacheWriter &) = delete;
  TensorCacheWriter &operator=(const TensorCacheWriter &) = delete;

  const ShardPlan &plan() const { return shardPlan; }
  const std::vector<RecordSpec> &records() const { return recordSpecs; }
  llvm::StringRef outputDirectory() const { return outDir; }
  /// The staging directory (exists until commit() or destruction).
  llvm::StringRef stagingDirectory() const { return stagingDir; }

  /// False when record i lies in a shard another part writes.
  bool wantsRecord(size_t i) const {
    return inPart[shardPlan.placements[i].shard];
  }

  /// Writes the file bytes of record i: exactly records()[i].fileBytes()
  /// bytes (bf16 for float32 records). Records may be written in any order
  /// and from several threads at once (pwrite at the planned offset); each
  /// record exactly once (a failed write may be retried).
  llvm::Error writeRecord(size_t i, const void *data, size_t size);

  /// Writes bytes [offset, offset + size) of record i's file bytes, for
  /// producers that stream a large record in row chunks. Parts of one record
  /// may come in any order and from several threads; they must not overlap.
  /// The record counts as written once its parts add up to fileBytes().
  /// Do not mix with writeRecord for the same record.
  llvm::Error writeRecordPart(size_t i, uint64_t offset, const void *data,
                              size_t size);

  /// Checks that every record was written, finishes the md5 of each shard
  /// (computed as the bytes were written: qopt/TensorCache/ShardHasher.h),
  /// writes the JSON files and moves everything into place. At most one
  /// successful commit. Not for a writer made by createPart().
  llvm::Error commit(const Metadata &meta);

  /// For a writer made by createPart(): checks that every record of the
  /// part's shards was written, finishes their md5, moves the shards into
  /// the output directory and writes the part manifest
  /// `<outDir>/.quant-opt-parts/part-<I>-of-<N>.json` (partManifestPath),
  /// which holds the whole plan (so that `merge-parts` can check that all
  /// parts agree) and the name, size and md5 of this part's shards.
  /// `identity` holds what else must agree between parts (model,
  /// quantization), as "key", "value" pairs. A previous tensor-cache.json in
  /// outDir is removed first.
  llvm::Error
  commitPart(const Metadata &meta, uint64_t totalParams,
             const std::vector<std::pair<std::string, std::string>> &identity);

  /// What the inline md5 hashed and from where.
  ShardHasher::Stats hashStats() const { return hasher->stats(); }

  /// Test-only: makes every write fail with "No space left on device" once
  /// the bytes written by this writer (records and JSON files) would exceed
  /// `bytes`. Simulates a full disk without needing a small filesystem.
  void setDiskLimitForTesting(uint64_t bytes) { diskLimit = bytes; }

private:
  TensorCacheWriter() = default;
  static llvm::Expected<std::unique_ptr<TensorCacheWriter>>
  createImpl(llvm::StringRef outDir, std::vector<RecordSpec> records,
             uint64_t capBytes, std::optional<PartSpec> part);
  llvm::Error commitPartImpl(
      const Metadata &meta, uint64_t totalParams,
      const std::vector<std::pair<std::string, std::string>> &identity);

  /// Writes `size` bytes at `offset` of `fd`; errors name `displayPath`.
  llvm::Error writeAt(int fd, const void *data, uint64_t size, uint64_t offset,
                      llvm::StringRef displayPath);
  llvm::Error commitImpl(const Metadata &meta);
  void cleanup();
  std::string stagedShardPath(size_t shard) const;
  std::string finalShardPath(size_t shard) const;

  enum RecordState : uint8_t { NotWritten, Writing, Written };

  std::string outDir;
  std::string stagingDir;
  bool createdOutDir = false;
  bool committed = false;
  bool commitAttempted = false;
  std::vector<RecordSpec> recordSpecs;
  ShardPlan shardPlan;
  std::unique_ptr<std::atomic<uint8_t>[]> recordStates;
  /// Bytes written so far by writeRecordPart, per record.
  std::unique_ptr<std::atomic<uint64_t>[]> partBytes;
  uint64_t capBytes = kDefaultShardCap;
  std::optional<PartSpec> part;
  /// Per shard: written by this writer (all, unless a part).
  std::vector<bool> inPart;
  std::unique_ptr<ShardHasher> hasher;
  /// Files already renamed into outDir by a commit in progress.
  std::vector<std::string> movedFiles;
  std::atomic<uint64_t> bytesWritten{0};
  uint64_t diskLimit = UINT64_MAX;
};

/// `<outDir>/.quant-opt-parts/part-<index>-of-<count>.json`.
std::string partManifestPath(llvm::StringRef outDir, PartSpec part);

/// `quant-opt merge-parts`: checks the N part manifests in outDir (all
/// present, same plan, every shard file of the size and md5 its manifest
/// records), then writes tensor-cache.json (and tensor-cache-b16.json) as a
/// single run would, removes stale shards and the manifests. On error
/// nothing is published. `threads` hash the shards (0: all cores).
llvm::Error mergeParts(llvm::StringRef outDir, unsigned threads);

/// Python `json.dump(obj, f, indent=4)` text of the index (no trailing
/// newline). With `b16Variant`, float32 records read `"dtype": "bfloat16"`
/// and `"format": "raw"` (tensor-cache-b16.json). `md5Hex` has one entry per
/// shard. Exposed for tests.
std::string renderTensorCacheJson(const std::vector<RecordSpec> &records,
                                  const ShardPlan &plan,
                                  const std::vector<std::string> &md5Hex,
                                  const Metadata &meta, bool b16Variant);

/// Python repr(float) as json.dump writes it: shortest round-trip digits;
/// fixed notation when -4 <= exp10 < 16 (with ".0" for integral values),
/// else scientific ("1e-05", "1.5e+16"); "Infinity", "-Infinity" and "NaN"
/// for non-finite values (json's spelling).
std::string pythonFloatRepr(double v);

/// Python json string literal (with the quotes) as json.dump writes it with
/// ensure_ascii=True: \" \\ \n \r \t \b \f; other characters outside
/// ' '..'~' (control characters, DEL, non-ASCII) as lowercase \uXXXX, with
/// surrogate pairs above U+FFFF. Invalid UTF-8 bytes become \ufffd.
std::string pythonJsonString(llvm::StringRef utf8);

/// True when `s` is well-formed UTF-8 (no overlong forms, surrogates or
/// code points above U+10FFFF).
bool isValidUtf8(llvm::StringRef s);

/// Python "{:,}" of an integer: "3,342,592".
std::string formatThousands(uint64_t v);

} // namespace qopt::tensorcache

#endif // QOPT_TENSORCACHE_TENSORCACHE_H
