//===- CheckpointScan.cpp - A checkpoint read one file header at a time ---===//
//
// Part of quant-opt.
//
// scanCheckpoint (qopt/Loaders/Checkpoint.h): the checks of openCheckpoint,
// with one file's header held at a time. A sharded checkpoint's index is
// kept compact while its files are read: each tensor name once (in one
// allocator), a file number per tensor and a name -> position table, instead
// of a record per tensor with its own copies of name and path. A
// mixture-of-experts checkpoint maps tens of thousands of tensors (18,867
// for Qwen3-30B-A3B, 45,395 for DeepSeek-V3 in bf16), so the importer,
// which builds its IR from the headers, would otherwise hold every header's
// records and the IR built from them together.
//
//===----------------------------------------------------------------------===//

#include "qopt/Loaders/Checkpoint.h"

#include "llvm/ADT/StringMap.h"
#include "llvm/Support/Allocator.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/StringSaver.h"

#include <algorithm>
#include <optional>
#include <unordered_map>

namespace qopt::loaders {

static llvm::Error makeError(const llvm::Twine &msg) {
  return llvm::createStringError(llvm::inconvertibleErrorCode(), msg.str());
}

/// Counts every tensor of `file` into `scan`.
static void countTensors(const CheckpointFile &file, CheckpointScan &scan) {
  for (const TensorInfo &t : file.tensors) {
    ++scan.fileTensors;
    scan.fileElements += uint64_t(t.numElements());
  }
}

static llvm::Expected<CheckpointScan>
scanSingle(const CheckpointLocation &where, GgufView gguf,
           CheckpointFileVisitor visit) {
  llvm::Expected<CheckpointFile> cf =
      readCheckpointFile(where.path, where.format, gguf);
  if (!cf)
    return cf.takeError();
  cf->path = where.path;
  CheckpointScan scan;
  scan.format = cf->format;
  countTensors(*cf, scan);
  // A single file maps its tensors in the reader's order.
  std::vector<MappedTensor> mapped;
  mapped.reserve(cf->tensors.size());
  for (const TensorInfo &t : cf->tensors)
    mapped.push_back({mapped.size(), &t});
  scan.mappedTensors = mapped.size();
  if (llvm::Error err = visit(*cf, mapped))
    return std::move(err);
  return scan;
}

namespace {
/// A `*.index.json` weight map, compact: names saved once, files by number.
struct CompactWeightMap {
  struct Entry {
    llvm::StringRef tensor;
    uint32_t file;
  };
  llvm::BumpPtrAllocator names;
  /// Entries in weight_map order (position = torch_to_path position).
  std::vector<Entry> entries;
  /// Distinct shard paths in order of first appearance.
  std::vector<std::string> files;
  /// Positions of each file's entries, ascending.
  std::vector<std::vector<uint32_t>> positionsOf;
  /// Positions sorted by tensor name (names are unique: readWeightMap's
  /// check): 4 bytes a tensor where a hash table would take 24 or more.
  std::vector<uint32_t> byName;

  llvm::Error read(llvm::StringRef indexPath) {
    llvm::StringSaver saver(names);
    llvm::StringMap<uint32_t> fileIds;
    llvm::Error err = forEachWeightMapEntry(
        indexPath, [&](llvm::StringRef tensor, llvm::StringRef file) {
          auto [it, inserted] =
              fileIds.try_emplace(file, uint32_t(files.size()));
          if (inserted) {
            files.push_back(file.str());
            positionsOf.emplace_back();
          }
          positionsOf[it->second].push_back(uint32_t(entries.size()));
          entries.push_back({saver.save(tensor), it->second});
        });
    if (err)
      return err;
    byName.resize(entries.size());
    for (size_t i = 0; i < byName.size(); ++i)
      byName[i] = uint32_t(i);
    std::sort(byName.begin(), byName.end(), [&](uint32_t a, uint32_t b) {
      return entries[a].tensor < entries[b].tensor;
    });
    return llvm::Error::success();
  }

  /// The position of tensor `name`, or nullopt when the index lacks it.
  std::optional<uint32_t> positionOf(llvm::StringRef name) const {
    auto it = std::lower_bound(
        byName.begin(), byName.end(), name,
        [&](uint32_t p, llvm::StringRef n) { return entries[p].tensor < n; });
    if (it == byName.end() || entries[*it].tensor != name)
      return std::nullopt;
    return *it;
  }
};
} // namespace

static llvm::Expected<CheckpointScan>
scanIndex(const CheckpointLocation &where, GgufView gguf,
          CheckpointFileVisitor visit) {
  const std::string &indexPath = where.path;
  CompactWeightMap map;
  if (llvm::Error err = map.read(indexPath))
    return std::move(err);
  CheckpointScan scan;
  scan.format = where.format;
  scan.mappedTensors = map.entries.size();
  // The first tensor missing from its file, by position: reported once
  // every file is known to exist and parse (openCheckpoint's precedence).
  std::optional<std::pair<uint32_t, std::string>> missing;
  // Warnings by file, reported in path order (openCheckpoint's).
  std::vector<std::pair<std::string, std::vector<std::string>>> warnings;
  std::vector<MappedTensor> mapped;
  for (uint32_t f = 0; f < map.files.size(); ++f) {
    const std::string &path = map.files[f];
    const std::vector<uint32_t> &positions = map.positionsOf[f];
    if (!llvm::sys::fs::is_regular_file(path))
      return makeError(indexPath + ": weight_map names " + path +
                       " (for tensor '" + map.entries[positions.front()].tensor +
                       "'), which does not exist");
    llvm::Expected<CheckpointFile> cf =
        readCheckpointFile(path, where.format, gguf);
    if (!cf)
      return cf.takeError();
    cf->path = path;
    if (scan.format == SourceFormat::Auto)
      scan.format = cf->format;
    countTensors(*cf, scan);
    // Names are viewed in the header, not copied.
    std::unordered_map<std::string_view, const TensorInfo *> byName;
    byName.reserve(cf->tensors.size());
    for (const TensorInfo &t : cf->tensors)
      byName.emplace(t.name, &t);
    mapped.clear();
    for (uint32_t pos : positions) {
      llvm::StringRef name = map.entries[pos].tensor;
      auto it = byName.find(std::string_view(name.data(), name.size()));
      if (it != byName.end()) {
        mapped.push_back({pos, it->second});
        continue;
      }
      if (!missing || pos < missing->first)
        missing = {pos, indexPath + ": tensor '" + name.str() + "' mapped to " +
                            path + " is not in that file"};
    }
    // Tensors of a shard that the index does not map are ignored, as MLC
    // does.
    std::vector<std::string> found;
    for (const TensorInfo &t : cf->tensors) {
      std::optional<uint32_t> position = map.positionOf(t.name);
      if (!position) {
        found.push_back(path + ": tensor '" + t.name +
                        "' is not mapped to this file by " + indexPath +
                        "; ignored");
        continue;
      }
      uint32_t owner = map.entries[*position].file;
      if (owner != f || byName.at(t.name) != &t)
        found.push_back(path + ": tensor '" + t.name + "' is also in " +
                        map.files[owner] + ", where " + indexPath +
                        " maps it; this copy is ignored");
    }
    if (!found.empty())
      warnings.push_back({path, std::move(found)});
    byName.clear();
    if (missing)
      continue; // Only the remaining files' existence and headers matter.
    if (llvm::Error err = visit(*cf, mapped))
      return std::move(err);
  }
  if (missing)
    return makeError(missing->second);
  std::stable_sort(warnings.begin(), warnings.end(),
                   [](const auto &a, const auto &b) { return a.first < b.first; });
  for (auto &[path, list] : warnings)
    for (std::string &w : list)
      scan.warnings.push_back(std::move(w));
  return scan;
}

llvm::Expected<CheckpointScan> scanCheckpoint(const CheckpointLocation &where,
                                              GgufView gguf,
                                              CheckpointFileVisitor visit) {
  if (where.isIndex)
    return scanIndex(where, gguf, visit);
  return scanSingle(where, gguf, visit);
}

} // namespace qopt::loaders
