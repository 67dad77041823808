//===- Calibration.cpp - Calibration statistics files ----------*- C++ -*-===//
//
// STATS files through the safetensors header reader, GGUF importance
// matrices through the GGUF header reader, and the legacy `.dat` format
// parsed here with every length checked against the bytes left
// (docs/calibration.md describes the three layouts).
//
//===----------------------------------------------------------------------===//

#include "qopt/Loaders/Calibration.h"

#include "qopt/Loaders/Gguf.h"
#include "qopt/Loaders/Safetensors.h"
#include "qopt/Loaders/TensorReader.h"

#include "llvm/ADT/StringMap.h"
#include "llvm/Support/Endian.h"

#include <nlohmann/json.hpp>

#include <cmath>
#include <cstring>

namespace qopt::loaders {

using numerics::DType;

static llvm::Error makeError(const llvm::Twine &msg) {
  return llvm::createStringError(llvm::inconvertibleErrorCode(), msg.str());
}

llvm::StringRef calibrationFormatName(CalibrationFormat format) {
  switch (format) {
  case CalibrationFormat::Stats:
    return "stats";
  case CalibrationFormat::GgufImatrix:
    return "gguf-imatrix";
  case CalibrationFormat::LegacyImatrix:
    return "legacy-imatrix";
  }
  return "stats";
}


/// Where one entry's values are.
struct EntryData {
  /// STATS: the imatrix and hessian tensors (offset 0: absent).
  uint64_t importanceOffset = 0, hessianOffset = 0;
  /// GGUF: the in_sum2 tensor and the counts (one per matrix).
  uint64_t sumsOffset = 0;
  std::vector<float> counts;
  /// Legacy: the values and the call count they are scaled by.
  std::vector<float> values;
  int32_t ncall = 0;
};

struct CalibrationFile::Impl {
  std::optional<RandomAccessFile> file;
  std::vector<EntryData> data;
  llvm::StringMap<size_t> index;
};

CalibrationFile::~CalibrationFile() = default;

const CalibrationEntry *CalibrationFile::find(llvm::StringRef name) const {
  auto it = impl->index.find(name);
  return it == impl->index.end() ? nullptr : &entries[it->second];
}

static int64_t product(const std::vector<int64_t> &shape) {
  int64_t n = 1;
  for (int64_t d : shape)
    n *= d;
  return n;
}

//===----------------------------------------------------------------------===//
// STATS (safetensors)
//===----------------------------------------------------------------------===//

/// The `__metadata__` object of a safetensors header already validated by
/// readSafetensorsHeader.
static llvm::Expected<nlohmann::json> readMetadata(const RandomAccessFile &f) {
  unsigned char len[8];
  if (llvm::Error e = f.readAt(0, 8, len))
    return std::move(e);
  uint64_t n = llvm::support::endian::read64le(len);
  llvm::Expected<std::string> header = f.readString(8, n);
  if (!header)
    return header.takeError();
  nlohmann::json j = nlohmann::json::parse(*header, nullptr, false);
  if (j.is_discarded() || !j.is_object())
    return makeError(f.path() + ": unreadable safetensors header");
  auto it = j.find("__metadata__");
  return it == j.end() ? nlohmann::json::object() : *it;
}

static llvm::Error openStats(llvm::StringRef path, CalibrationFile &out,
                             std::vector<CalibrationEntry> &entries,
                             CalibrationFile::Impl &impl) {
  llvm::Expected<CheckpointFile> ckpt = readSafetensorsHeader(path);
  if (!ckpt)
    return ckpt.takeError();
  llvm::Expected<RandomAccessFile> f = RandomAccessFile::open(path);
  if (!f)
    return f.takeError();
  llvm::Expected<nlohmann::json> md = readMetadata(*f);
  if (!md)
    return md.takeError();
  auto fmt = md->find("format");
  if (fmt == md->end() || !fmt->is_string() ||
      *fmt != "quant-opt-calibration")
    return makeError(path + ": not a quant-opt calibration file (metadata "
                            "'format' must be \"quant-opt-calibration\")");
  auto ver = md->find("version");
  if (ver == md->end() || !ver->is_string() || *ver != "1")
    return makeError(path + ": unsupported calibration file version (metadata "
                            "'version' must be \"1\")");
  // Group the tensors by weight, in file order of their first tensor.
  auto entryOf = [&](llvm::StringRef name) -> size_t {
    auto [it, inserted] = impl.index.try_emplace(name, entries.size());
    if (inserted) {
      entries.push_back({name.str(), {}, {}});
      impl.data.emplace_back();
    }
    return it->second;
  };
  for (const TensorInfo &t : ckpt->tensors) {
    llvm::StringRef name(t.name);
    auto [weight, stat] = name.rsplit('.');
    if (stat != "imatrix" && stat != "hessian" && stat != "count")
      continue; // Other tensors: not ours to interpret.
    std::string where = path.str() + ": tensor '" + t.name + "': ";
    size_t i = entryOf(weight);
    if (stat == "count") {
      if (t.dtype != DType::I64 || t.shape.size() != 1)
        return makeError(where + "a count must be I64 [1] or [E]");
      continue;
    }
    if (t.dtype != DType::F32)
      return makeError(where + "statistics must be F32");
    if (stat == "imatrix") {
      if (t.shape.empty() || t.shape.size() > 2 || product(t.shape) == 0)
        return makeError(where + "an imatrix must be [K] or [E, K]");
      entries[i].importanceShape = t.shape;
      impl.data[i].importanceOffset = t.offset;
    } else {
      bool square = t.shape.size() >= 2 &&
                    t.shape[t.shape.size() - 1] == t.shape[t.shape.size() - 2];
      if (t.shape.size() < 2 || t.shape.size() > 3 || !square ||
          product(t.shape) == 0)
        return makeError(where + "a hessian must be [K, K] or [E, K, K]");
      entries[i].hessianShape = t.shape;
      impl.data[i].hessianOffset = t.offset;
    }
  }
  for (const CalibrationEntry &e : entries) {
    std::string where = path.str() + ": entry '" + e.name + "': ";
    if (e.importanceShape.empty())
      return makeError(where + "no '" + e.name + ".imatrix' tensor");
    if (e.hessianShape.empty())
      continue;
    std::vector<int64_t> expect = e.importanceShape;
    expect.push_back(expect.back());
    if (e.hessianShape != expect)
      return makeError(where + "hessian shape " + formatShape(e.hessianShape) +
                       " does not match imatrix shape " +
                       formatShape(e.importanceShape));
  }
  (void)out;
  impl.file.emplace(std::move(*f));
  return llvm::Error::success();
}

//===----------------------------------------------------------------------===//
// GGUF importance matrices
//===----------------------------------------------------------------------===//

static llvm::Error openGguf(llvm::StringRef path,
                            std::vector<CalibrationEntry> &entries,
                            CalibrationFile::Impl &impl) {
  llvm::Expected<GgufFile> g = readGgufFile(path);
  if (!g)
    return g.takeError();
  const GgufValue *type = g->find("general.type");
  if (!type || type->type != GgufValueType::String || type->str != "imatrix")
    return makeError(path + ": GGUF file is not an importance matrix "
                            "(general.type must be \"imatrix\")");
  llvm::Expected<RandomAccessFile> f = RandomAccessFile::open(path);
  if (!f)
    return f.takeError();
  for (const GgufTensorInfo &t : g->tensors) {
    llvm::StringRef name(t.name);
    if (!name.consume_back(".in_sum2"))
      continue; // counts are read with their sums; in_sum is not used.
    std::string where = path.str() + ": entry '" + name.str() + "': ";
    const GgufTensorInfo *counts = g->findTensor((name + ".counts").str());
    if (!counts)
      return makeError(where + "no '" + name + ".counts' tensor");
    if (t.type != GgmlType::F32 || counts->type != GgmlType::F32)
      return makeError(where + "in_sum2 and counts must be F32");
    int64_t k = t.ne.empty() ? 0 : t.ne[0];
    int64_t nmat = 1;
    for (size_t d = 1; d < t.ne.size(); ++d)
      nmat *= t.ne[d];
    int64_t ncounts = 1;
    for (int64_t d : counts->ne)
      ncounts *= d;
    if (k <= 0 || nmat <= 0 || t.ne.size() > 2)
      return makeError(where + "in_sum2 must be a non-empty [matrices, K] "
                               "tensor");
    if (ncounts != nmat || counts->ne.empty() || counts->ne[0] != 1)
      return makeError(where + "counts must hold one value per matrix (" +
                       llvm::Twine(nmat) + "), got " + llvm::Twine(ncounts));
    EntryData d;
    d.sumsOffset = t.fileOffset;
    d.counts.resize(size_t(ncounts));
    if (llvm::Error e = f->readAt(counts->fileOffset, uint64_t(ncounts) * 4,
                                  d.counts.data()))
      return e;
    for (float c : d.counts)
      if (!std::isfinite(c) || c < 0)
        return makeError(where + "counts must be finite and non-negative");
    CalibrationEntry e{name.str(), {}, {}};
    if (nmat == 1)
      e.importanceShape = {k};
    else
      e.importanceShape = {nmat, k};
    impl.index[e.name] = entries.size();
    entries.push_back(std::move(e));
    impl.data.push_back(std::move(d));
  }
  if (entries.empty())
    return makeError(path + ": importance matrix has no entries");
  impl.file.emplace(std::move(*f));
  return llvm::Error::success();
}

//===----------------------------------------------------------------------===//
// Legacy .dat importance matrices
//===----------------------------------------------------------------------===//

/// Longest entry name accepted (llama.cpp's names are under 64 bytes).
constexpr int32_t kMaxLegacyName = 4096;

static llvm::Error openLegacy(llvm::StringRef path,
                              std::vector<CalibrationEntry> &entries,
                              CalibrationFile::Impl &impl) {
  llvm::Expected<RandomAccessFile> f = RandomAccessFile::open(path);
  if (!f)
    return f.takeError();
  uint64_t pos = 0, size = f->size();
  std::string where = path.str() + ": ";
  auto readI32 = [&](const char *what, int32_t &v) -> llvm::Error {
    if (size - pos < 4)
      return makeError(where + "truncated file reading " + what +
                       " at offset " + llvm::Twine(pos));
    unsigned char b[4];
    if (llvm::Error e = f->readAt(pos, 4, b))
      return e;
    v = int32_t(llvm::support::endian::read32le(b));
    pos += 4;
    return llvm::Error::success();
  };
  int32_t n = 0;
  if (llvm::Error e = readI32("the entry count", n))
    return e;
  // Each entry takes at least 16 bytes.
  if (n < 1 || uint64_t(n) > size / 16)
    return makeError(where + "invalid entry count " + llvm::Twine(n) +
                     " for a file of " + llvm::Twine(size) + " bytes");
  for (int32_t i = 0; i < n; ++i) {
    where = path.str() + ": entry " + std::to_string(i) + ": ";
    int32_t len = 0;
    if (llvm::Error e = readI32("the name length", len))
      return e;
    if (len < 1 || len > kMaxLegacyName)
      return makeError(where + "invalid name length " + llvm::Twine(len));
    if (uint64_t(len) > size - pos)
      return makeError(where + "truncated file: a name of " +
                       llvm::Twine(len) + " bytes at offset " +
                       llvm::Twine(pos) + ", " + llvm::Twine(size - pos) +
                       " bytes left");
    llvm::Expected<std::string> name = f->readString(pos, uint64_t(len));
    if (!name)
      return name.takeError();
    pos += uint64_t(len);
    where = path.str() + ": entry '" + *name + "': ";
    if (impl.index.count(*name))
      return makeError(where + "appears twice");
    EntryData d;
    int32_t nval = 0;
    if (llvm::Error e = readI32("the call count", d.ncall))
      return e;
    if (llvm::Error e = readI32("the value count", nval))
      return e;
    if (d.ncall < 1)
      return makeError(where + "call count " + llvm::Twine(d.ncall) +
                       " (must be positive)");
    if (nval < 1)
      return makeError(where + "value count " + llvm::Twine(nval) +
                       " (must be positive)");
    if (uint64_t(nval) > (size - pos) / 4)
      return makeError(where + "truncated file: " + llvm::Twine(nval) +
                       " values at offset " + llvm::Twine(pos) + ", " +
                       llvm::Twine(size - pos) + " bytes left");
    d.values.resize(size_t(nval));
    if (llvm::Error e = f->readAt(pos, uint64_t(nval) * 4, d.values.data()))
      return e;
    pos += uint64_t(nval) * 4;
    for (float v : d.values)
      if (!std::isfinite(v) || v < 0)
        return makeError(where + "values must be finite and non-negative");
    impl.index[*name] = entries.size();
    entries.push_back({*name, {int64_t(nval)}, {}});
    impl.data.push_back(std::move(d));
  }
  // Then, optionally, the chunk count and the dataset name.
  where = path.str() + ": ";
  if (pos == size)
    return llvm::Error::success();
  int32_t chunks = 0, len = 0;
  if (llvm::Error e = readI32("the chunk count", chunks))
    return e;
  if (pos == size)
    return llvm::Error::success();
  if (llvm::Error e = readI32("the dataset name length", len))
    return e;
  if (len < 0 || uint64_t(len) != size - pos)
    return makeError(where + "dataset name length " + llvm::Twine(len) +
                     " does not match the " + llvm::Twine(size - pos) +
                     " bytes left");
  return llvm::Error::success();
}

//===----------------------------------------------------------------------===//
// Opening and reading
//===----------------------------------------------------------------------===//

llvm::Expected<std::shared_ptr<const CalibrationFile>>
CalibrationFile::open(llvm::StringRef path) {
  llvm::Expected<RandomAccessFile> f = RandomAccessFile::open(path);
  if (!f)
    return f.takeError();
  unsigned char head[9] = {};
  uint64_t got = std::min<uint64_t>(f->size(), 9);
  if (llvm::Error e = f->readAt(0, got, head))
    return std::move(e);
  std::shared_ptr<CalibrationFile> file(new CalibrationFile());
  file->path = path.str();
  file->impl = std::make_unique<Impl>();
  llvm::Error err = llvm::Error::success();
  if (got >= 4 && std::memcmp(head, "GGUF", 4) == 0) {
    file->format = CalibrationFormat::GgufImatrix;
    err = openGguf(path, file->entries, *file->impl);
  } else if (got == 9 && head[8] == '{') {
    file->format = CalibrationFormat::Stats;
    err = openStats(path, *file, file->entries, *file->impl);
  } else {
    file->format = CalibrationFormat::LegacyImatrix;
    err = openLegacy(path, file->entries, *file->impl);
  }
  if (err)
    return std::move(err);
  return std::shared_ptr<const CalibrationFile>(std::move(file));
}

llvm::Error CalibrationFile::readImportance(llvm::StringRef name,
                                            std::vector<float> &out) const {
  const CalibrationEntry *e = find(name);
  if (!e)
    return makeError(path + ": no statistics for '" + name + "'");
  const EntryData &d = impl->data[size_t(e - entries.data())];
  size_t n = size_t(product(e->importanceShape));
  out.resize(n);
  switch (format) {
  case CalibrationFormat::Stats:
    if (llvm::Error err =
            impl->file->readAt(d.importanceOffset, n * 4, out.data()))
      return err;
    for (float v : out)
      if (!std::isfinite(v) || v < 0)
        return makeError(path + ": entry '" + name +
                         "': imatrix values must be finite and non-negative");
    return llvm::Error::success();
  case CalibrationFormat::GgufImatrix: {
    if (llvm::Error err = impl->file->readAt(d.sumsOffset, n * 4, out.data()))
      return err;
    size_t k = n / d.counts.size();
    for (size_t m = 0; m < d.counts.size(); ++m)
      for (size_t i = 0; i < k; ++i) {
        float &v = out[m * k + i];
        v = d.counts[m] > 0 ? v / d.counts[m] : 1.0f;
        if (!std::isfinite(v) || v < 0)
          return makeError(path + ": entry '" + name +
                           "': in_sum2 values must be finite and "
                           "non-negative");
      }
    return llvm::Error::success();
  }
  case CalibrationFormat::LegacyImatrix:
    for (size_t i = 0; i < n; ++i)
      out[i] = d.values[i] / float(d.ncall);
    return llvm::Error::success();
  }
  return llvm::Error::success();
}

llvm::Error CalibrationFile::readHessian(llvm::StringRef name,
                                         std::vector<float> &out) const {
  const CalibrationEntry *e = find(name);
  if (!e || e->hessianShape.empty())
    return makeError(path + ": no hessian for '" + name + "'");
  const EntryData &d = impl->data[size_t(e - entries.data())];
  out.resize(size_t(product(e->hessianShape)));
  return impl->file->readAt(d.hessianOffset, out.size() * 4, out.data());
}

} // namespace qopt::loaders
