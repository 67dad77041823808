//===- Checkpoint.cpp - Checkpoint discovery and tensor directory --------===//
//
// Part of quant-opt.
//
// The shared vocabulary of the readers, index files, the dispatch of one
// file to its reader, and the discovery of a checkpoint's files. The JSON
// parser the index and safetensors readers share is in Json.cpp.
//
//===----------------------------------------------------------------------===//

#include "qopt/Loaders/Checkpoint.h"

#include "qopt/Loaders/Gguf.h"
#include "qopt/Loaders/Safetensors.h"
#include "qopt/Loaders/TensorReader.h"
#include "qopt/Loaders/TorchZip.h"

#include "llvm/ADT/StringExtras.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/Path.h"

#include <nlohmann/json.hpp>

#include <algorithm>

namespace qopt::loaders {

static llvm::Error makeError(const llvm::Twine &msg) {
  return llvm::createStringError(llvm::inconvertibleErrorCode(), msg.str());
}

//===----------------------------------------------------------------------===//
// Small shared pieces
//===----------------------------------------------------------------------===//

llvm::StringRef sourceFormatName(SourceFormat format) {
  switch (format) {
  case SourceFormat::Auto:
    return "auto";
  case SourceFormat::HFSafetensors:
    return "huggingface-safetensor";
  case SourceFormat::HFTorch:
    return "huggingface-torch";
  case SourceFormat::GGUF:
    return "gguf";
  case SourceFormat::AWQ:
    return "awq";
  }
  return "unknown";
}

std::optional<SourceFormat> parseSourceFormat(llvm::StringRef name) {
  for (SourceFormat f :
       {SourceFormat::Auto, SourceFormat::HFSafetensors, SourceFormat::HFTorch,
        SourceFormat::GGUF, SourceFormat::AWQ})
    if (sourceFormatName(f) == name)
      return f;
  return std::nullopt;
}

int64_t TensorInfo::numElements() const {
  int64_t n = 1;
  for (int64_t d : shape)
    n *= d;
  return n;
}

uint64_t TensorInfo::contiguousBytes() const {
  return uint64_t(numElements()) * numerics::dtypeSize(dtype);
}

bool TensorInfo::isContiguous() const {
  if (strides.empty())
    return true;
  if (strides.size() != shape.size())
    return false;
  int64_t expected = 1;
  for (size_t i = shape.size(); i-- > 0;) {
    if (shape[i] == 0)
      return true; // Empty: nothing is stored.
    if (shape[i] != 1 && strides[i] != expected)
      return false;
    expected *= shape[i];
  }
  return true;
}

const TensorInfo *CheckpointFile::find(llvm::StringRef name) const {
  for (const TensorInfo &t : tensors)
    if (t.name == name)
      return &t;
  return nullptr;
}

const TensorInfo *Checkpoint::find(llvm::StringRef tensorName) const {
  if (!nameIndex.empty()) {
    auto it =
        nameIndex.find(std::string_view(tensorName.data(), tensorName.size()));
    return it == nameIndex.end() ? nullptr : it->second;
  }
  for (const auto &[name, path] : torchToPath) {
    if (name != tensorName)
      continue;
    auto fileIt = files.find(path);
    return fileIt == files.end() ? nullptr : fileIt->second.find(name);
  }
  return nullptr;
}

std::optional<size_t> findInvalidUtf8(llvm::StringRef s) {
  const auto *p = reinterpret_cast<const unsigned char *>(s.data());
  size_t n = s.size();
  size_t i = 0;
  while (i < n) {
    unsigned char c = p[i];
    if (c < 0x80) {
      ++i;
      continue;
    }
    size_t need;
    unsigned char lo = 0x80, hi = 0xBF;
    if (c >= 0xC2 && c <= 0xDF) {
      need = 1;
    } else if (c >= 0xE0 && c <= 0xEF) {
      need = 2;
      if (c == 0xE0)
        lo = 0xA0; // Overlong.
      if (c == 0xED)
        hi = 0x9F; // Surrogates.
    } else if (c >= 0xF0 && c <= 0xF4) {
      need = 3;
      if (c == 0xF0)
        lo = 0x90; // Overlong.
      if (c == 0xF4)
        hi = 0x8F; // Above U+10FFFF.
    } else {
      return i;
    }
    if (n - i <= need)
      return i;
    if (p[i + 1] < lo || p[i + 1] > hi)
      return i;
    for (size_t k = 2; k <= need; ++k)
      if (p[i + k] < 0x80 || p[i + k] > 0xBF)
        return i;
    i += need + 1;
  }
  return std::nullopt;
}

std::string formatShape(const std::vector<int64_t> &shape) {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); ++i) {
    if (i)
      s += ", ";
    s += std::to_string(shape[i]);
  }
  return s + "]";
}

//===----------------------------------------------------------------------===//
// Index files
//===----------------------------------------------------------------------===//

/// Largest `*.index.json` accepted (real ones are a few hundred KB).
static constexpr uint64_t kMaxIndexBytes = 256ull << 20;

/// True if `name` is a relative path with no `..` component.
static bool isContainedRelativePath(llvm::StringRef name) {
  if (name.empty() || llvm::sys::path::is_absolute(name) ||
      name.starts_with("/") || name.starts_with("\\"))
    return false;
  for (auto it = llvm::sys::path::begin(name), e = llvm::sys::path::end(name);
       it != e; ++it)
    if (*it == "..")
      return false;
  return !name.contains('\0');
}

llvm::Error forEachWeightMapEntry(
    llvm::StringRef indexJsonPath,
    llvm::function_ref<void(llvm::StringRef tensor, llvm::StringRef file)>
        entry) {
  std::string index = indexJsonPath.str();
  llvm::Expected<RandomAccessFile> file = RandomAccessFile::open(index);
  if (!file)
    return file.takeError();
  if (file->size() > kMaxIndexBytes)
    return makeError(index + ": index file is larger than " +
                     llvm::Twine(kMaxIndexBytes) + " bytes");
  llvm::Expected<std::string> text = file->readString(0, file->size());
  if (!text)
    return text.takeError();

  detail::WeightMapJson json;
  detail::JsonFailure failure;
  if (!detail::parseWeightMapJson(*text, detail::JsonLimits(), json,
                                  failure)) {
    switch (failure.kind) {
    case detail::JsonFailure::Syntax:
      return makeError(index + ": is not valid JSON (error at byte " +
                       llvm::Twine(failure.byte) + ", " +
                       detail::jsonPosition(*text, failure.byte) + ")");
    case detail::JsonFailure::TooDeep:
      return makeError(index + ": JSON nests too deeply");
    case detail::JsonFailure::TooManyValues:
      return makeError(index + ": JSON has too many values");
    case detail::JsonFailure::DuplicateKey:
      if (failure.depth == 2 && failure.outerKey == "weight_map")
        return makeError(index + ": duplicate tensor name '" + failure.key +
                         "' in weight_map");
      if (failure.depth == 1)
        return makeError(index + ": duplicate key '" + failure.key + "'");
      return makeError(index + ": duplicate key '" + failure.key + "' in '" +
                       failure.outerKey + "'");
    }
  }
  if (!json.rootIsObject)
    return makeError(index + ": expected a JSON object");
  if (!json.hasMap)
    return makeError(index + ": missing 'weight_map' object");
  text->clear();
  text->shrink_to_fit();

  llvm::StringRef dir = llvm::sys::path::parent_path(index);
  llvm::SmallString<256> path;
  for (auto [tensor, fileId] : json.entries) {
    if (fileId < 0)
      return makeError(index + ": weight_map value for tensor '" + tensor +
                       "' is not a string");
    const std::string &name = json.files[size_t(fileId)];
    if (!isContainedRelativePath(name))
      return makeError(index + ": weight_map file '" + name + "' for tensor '" +
                       tensor +
                       "' is not a relative path inside the checkpoint "
                       "directory");
    // One spelling per file ("./s", ".//s" and "s" are one shard), so that
    // each shard is opened and parsed once however the index names it.
    path = dir;
    llvm::sys::path::append(path, name);
    llvm::sys::path::remove_dots(path, /*remove_dot_dot=*/false);
    entry(tensor, path.str());
  }
  return llvm::Error::success();
}

llvm::Expected<std::vector<WeightMapEntry>>
readWeightMap(llvm::StringRef indexJsonPath) {
  std::vector<WeightMapEntry> entries;
  if (llvm::Error err = forEachWeightMapEntry(
          indexJsonPath, [&](llvm::StringRef tensor, llvm::StringRef file) {
            entries.push_back({tensor.str(), file.str()});
          }))
    return std::move(err);
  return entries;
}

//===----------------------------------------------------------------------===//
// Reading one file
//===----------------------------------------------------------------------===//

llvm::Expected<CheckpointFile> readCheckpointFile(llvm::StringRef path,
                                                  SourceFormat format,
                                                  GgufView gguf) {
  switch (format) {
  case SourceFormat::HFSafetensors:
  case SourceFormat::AWQ: {
    llvm::Expected<CheckpointFile> cf = readSafetensorsHeader(path);
    if (cf)
      cf->format = format;
    return cf;
  }
  case SourceFormat::HFTorch:
    return readTorchZipHeader(path);
  case SourceFormat::GGUF: {
    llvm::Expected<GgufFile> file = readGgufFile(path);
    if (!file)
      return file.takeError();
    return gguf ? gguf(*file) : ggufTensorsAsCheckpoint(*file);
  }
  case SourceFormat::Auto:
    break;
  }
  // Auto: decide by the first bytes.
  llvm::Expected<RandomAccessFile> file = RandomAccessFile::open(path);
  if (!file)
    return file.takeError();
  uint64_t n = std::min<uint64_t>(file->size(), 263);
  llvm::Expected<std::string> head = file->readString(0, n);
  if (!head)
    return head.takeError();
  llvm::StringRef h(*head);
  bool isTar = h.size() >= 262 && h.substr(257, 5) == "ustar";
  if (h.starts_with("PK") || h.starts_with("\x80\x02\x8a\x0a") || isTar)
    return readTorchZipHeader(path);
  if (h.starts_with("GGUF"))
    return readCheckpointFile(path, SourceFormat::GGUF, gguf);
  return readCheckpointFile(path, SourceFormat::HFSafetensors);
}

//===----------------------------------------------------------------------===//
// Discovery
//===----------------------------------------------------------------------===//

namespace {
/// A file name looked for in a checkpoint directory.
struct Candidate {
  const char *name;
  SourceFormat format;
  bool isIndex;
};
/// Files with an extension taken when they are the only one of their kind.
struct Singleton {
  const char *extension;
  SourceFormat format;
};
} // namespace

/// The names looked for in a directory for `format`, in priority order.
static std::vector<Candidate> candidatesFor(SourceFormat format) {
  const Candidate st[] = {
      {"model.safetensors.index.json", SourceFormat::HFSafetensors, true},
      {"model.safetensors", SourceFormat::HFSafetensors, false}};
  const Candidate pt[] = {
      {"pytorch_model.bin.index.json", SourceFormat::HFTorch, true},
      {"pytorch_model.bin", SourceFormat::HFTorch, false}};
  std::vector<Candidate> out;
  switch (format) {
  case SourceFormat::Auto:
    // As mlc_llm's auto_weight.py: PyTorch files win over safetensors.
    out.assign(std::begin(pt), std::end(pt));
    out.insert(out.end(), std::begin(st), std::end(st));
    break;
  case SourceFormat::HFSafetensors:
    out.assign(std::begin(st), std::end(st));
    break;
  case SourceFormat::AWQ:
    for (Candidate c : st)
      out.push_back({c.name, SourceFormat::AWQ, c.isIndex});
    break;
  case SourceFormat::HFTorch:
    out.assign(std::begin(pt), std::end(pt));
    break;
  case SourceFormat::GGUF:
    break;
  }
  return out;
}

static std::vector<Singleton> singletonsFor(SourceFormat format) {
  switch (format) {
  case SourceFormat::Auto:
    return {{".safetensors", SourceFormat::HFSafetensors},
            {".bin", SourceFormat::HFTorch},
            {".gguf", SourceFormat::GGUF}};
  case SourceFormat::HFSafetensors:
    return {{".safetensors", SourceFormat::HFSafetensors}};
  case SourceFormat::AWQ:
    return {{".safetensors", SourceFormat::AWQ}};
  case SourceFormat::HFTorch:
    return {{".bin", SourceFormat::HFTorch}};
  case SourceFormat::GGUF:
    return {{".gguf", SourceFormat::GGUF}};
  }
  return {};
}

/// The format a file name suggests, or Auto.
static SourceFormat formatOfName(llvm::StringRef name) {
  if (name.ends_with(".safetensors") ||
      name.ends_with(".safetensors.index.json"))
    return SourceFormat::HFSafetensors;
  if (name.ends_with(".bin") || name.ends_with(".bin.index.json") ||
      name.ends_with(".pt") || name.ends_with(".pth"))
    return SourceFormat::HFTorch;
  if (name.ends_with(".gguf"))
    return SourceFormat::GGUF;
  return SourceFormat::Auto;
}

llvm::Expected<CheckpointLocation> locateCheckpoint(llvm::StringRef source,
                                                    SourceFormat format) {
  if (!llvm::sys::fs::exists(source))
    return makeError(source + ": no such file or directory");
  if (!llvm::sys::fs::is_directory(source)) {
    bool isIndex = source.ends_with(".index.json");
    if (format == SourceFormat::Auto)
      format = formatOfName(source);
    return CheckpointLocation{format, source.str(), isIndex};
  }

  std::vector<std::string> lookedFor;
  for (const Candidate &c : candidatesFor(format)) {
    llvm::SmallString<256> p(source);
    llvm::sys::path::append(p, c.name);
    lookedFor.push_back(c.name);
    if (llvm::sys::fs::exists(p))
      return CheckpointLocation{c.format, std::string(p.str()), c.isIndex};
  }

  // A lone file of a known extension.
  std::vector<Singleton> singletons = singletonsFor(format);
  std::vector<std::vector<std::string>> found(singletons.size());
  std::error_code ec;
  for (llvm::sys::fs::directory_iterator it(source, ec), end; it != end && !ec;
       it.increment(ec)) {
    llvm::StringRef name = llvm::sys::path::filename(it->path());
    for (size_t i = 0; i < singletons.size(); ++i)
      if (name.ends_with(singletons[i].extension) &&
          llvm::sys::fs::is_regular_file(it->path()))
        found[i].push_back(it->path());
  }
  if (ec)
    return makeError(source + ": cannot list directory: " + ec.message());
  for (size_t i = 0; i < singletons.size(); ++i) {
    std::vector<std::string> &files = found[i];
    if (files.empty())
      continue;
    std::sort(files.begin(), files.end());
    if (files.size() > 1) {
      std::string names;
      for (const std::string &f : files)
        names +=
            (names.empty() ? "" : ", ") + llvm::sys::path::filename(f).str();
      return makeError(source + ": found several *" + singletons[i].extension +
                       " files (" + names + ") and no index naming them");
    }
    return CheckpointLocation{singletons[i].format, files.front(), false};
  }
  for (const Singleton &s : singletons)
    lookedFor.push_back(std::string("*") + s.extension);
  return makeError(source + ": no " +
                   (format == SourceFormat::Auto
                        ? std::string("checkpoint")
                        : sourceFormatName(format).str() + " checkpoint") +
                   " found; looked for " + llvm::join(lookedFor, ", "));
}

llvm::Expected<Checkpoint> openCheckpoint(llvm::StringRef source,
                                          SourceFormat format, GgufView gguf) {
  llvm::Expected<CheckpointLocation> where = locateCheckpoint(source, format);
  if (!where)
    return where.takeError();
  Checkpoint ckpt;
  if (where->isIndex)
    ckpt.indexPath = where->path;
  // Every header is kept: the map node takes the tensors' buffer, so the
  // addresses the visitor was given stay valid.
  llvm::Expected<CheckpointScan> scan = scanCheckpoint(
      *where, gguf,
      [&](CheckpointFile &file, llvm::ArrayRef<MappedTensor> mapped) {
        std::string path = file.path;
        ckpt.files.emplace(path, std::move(file));
        for (const MappedTensor &m : mapped) {
          if (ckpt.torchToPath.size() <= m.position)
            ckpt.torchToPath.resize(m.position + 1);
          ckpt.torchToPath[m.position] = {m.tensor->name, path};
          ckpt.nameIndex[m.tensor->name] = m.tensor;
        }
        return llvm::Error::success();
      });
  if (!scan)
    return scan.takeError();
  ckpt.format = scan->format;
  ckpt.warnings = std::move(scan->warnings);
  return ckpt;
}

} // namespace qopt::loaders
