//===- TensorCacheReader.cpp - Reading a TVM tensor cache -------*- C++ -*-===//
//
// Part of quant-opt. See TensorCacheReader.h.
//
//===----------------------------------------------------------------------===//

#include "qopt/Eval/TensorCacheReader.h"

#include "qopt/Loaders/Checkpoint.h"
#include "qopt/Numerics/Convert.h"

#include "llvm/ADT/SmallString.h"
#include "llvm/ADT/Twine.h"
#include "llvm/Support/MathExtras.h"
#include "llvm/Support/MemoryBuffer.h"
#include "llvm/Support/Path.h"

#include <nlohmann/json.hpp>

namespace qopt::eval {

static llvm::StringRef dtypeName(numerics::DType t) {
  std::string_view s = numerics::tvmName(t);
  return {s.data(), s.size()};
}

static llvm::Error makeError(const llvm::Twine &msg) {
  return llvm::createStringError(llvm::inconvertibleErrorCode(), msg);
}

std::string formatShape(llvm::ArrayRef<int64_t> shape) {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); ++i) {
    if (i)
      s += ", ";
    s += std::to_string(shape[i]);
  }
  return s + "]";
}

int64_t CacheRecord::numElements() const {
  int64_t n = 1;
  for (int64_t d : shape)
    n *= d;
  return n;
}

/// A non-negative JSON integer that fits in uint64_t.
static bool getUnsigned(const nlohmann::json &v, uint64_t &out) {
  if (v.is_number_unsigned()) {
    out = v.get<uint64_t>();
    return true;
  }
  if (v.is_number_integer() && v.get<int64_t>() >= 0) {
    out = static_cast<uint64_t>(v.get<int64_t>());
    return true;
  }
  return false;
}

/// A shard file name must stay inside the cache directory.
static bool isSafeRelativePath(llvm::StringRef p) {
  if (p.empty() || llvm::sys::path::is_absolute(p) || p.contains('\0'))
    return false;
  for (auto it = llvm::sys::path::begin(p), e = llvm::sys::path::end(p);
       it != e; ++it)
    if (*it == "..")
      return false;
  return true;
}

llvm::Error TensorCacheReader::recordError(const CacheRecord &r,
                                           const llvm::Twine &what) const {
  return makeError(jsonPath + ": record '" + r.name + "': " + what);
}

llvm::Expected<TensorCacheReader>
TensorCacheReader::open(llvm::StringRef directory) {
  TensorCacheReader reader;
  reader.dir = directory.str();
  llvm::SmallString<256> index(directory);
  llvm::sys::path::append(index, "tensor-cache.json");
  reader.jsonPath = std::string(index);
  const std::string &path = reader.jsonPath;

  auto buffer = llvm::MemoryBuffer::getFile(index, /*IsText=*/false,
                                            /*RequiresNullTerminator=*/false);
  if (!buffer)
    return makeError(path + ": cannot read: " + buffer.getError().message());

  nlohmann::json json;
  loaders::detail::JsonFailure failure;
  if (!loaders::detail::parseJson((*buffer)->getBuffer(),
                                  loaders::detail::JsonLimits(), json,
                                  failure)) {
    switch (failure.kind) {
    case loaders::detail::JsonFailure::Syntax:
      return makeError(path + ": is not valid JSON (error at byte " +
                       llvm::Twine(failure.byte) + ")");
    case loaders::detail::JsonFailure::TooDeep:
      return makeError(path + ": JSON nests too deeply");
    case loaders::detail::JsonFailure::TooManyValues:
      return makeError(path + ": JSON has too many values");
    case loaders::detail::JsonFailure::DuplicateKey:
      return makeError(path + ": duplicate key '" + failure.key + "'");
    }
  }
  if (!json.is_object())
    return makeError(path + ": expected a JSON object");
  auto shardsIt = json.find("records");
  if (shardsIt == json.end() || !shardsIt->is_array())
    return makeError(path + ": missing 'records' array");

  size_t shardIndex = 0;
  for (const nlohmann::json &shard : *shardsIt) {
    std::string where = path + ": shard " + std::to_string(shardIndex);
    if (!shard.is_object())
      return makeError(where + ": expected an object");
    auto dataPath = shard.find("dataPath");
    if (dataPath == shard.end() || !dataPath->is_string())
      return makeError(where + ": missing 'dataPath' string");
    std::string rel = dataPath->get<std::string>();
    if (!isSafeRelativePath(rel))
      return makeError(where + ": dataPath '" + rel +
                       "' must be a relative path inside the cache");
    auto format = shard.find("format");
    if (format != shard.end() &&
        (!format->is_string() || format->get<std::string>() != "raw-shard"))
      return makeError(path + ": shard '" + rel +
                       "': format must be \"raw-shard\"");
    uint64_t shardBytes = 0;
    auto nbytesIt = shard.find("nbytes");
    if (nbytesIt == shard.end() || !getUnsigned(*nbytesIt, shardBytes))
      return makeError(path + ": shard '" + rel +
                       "': missing non-negative 'nbytes'");
    llvm::SmallString<256> shardPath(directory);
    llvm::sys::path::append(shardPath, rel);
    auto file = loaders::RandomAccessFile::open(shardPath);
    if (!file)
      return file.takeError();
    if (file->size() != shardBytes)
      return makeError(std::string(shardPath) + ": shard holds " +
                       llvm::Twine(file->size()) + " bytes but " + path +
                       " says " + llvm::Twine(shardBytes));
    reader.shardFiles.push_back(std::string(shardPath));
    reader.shards.push_back(
        std::make_unique<loaders::RandomAccessFile>(std::move(*file)));

    auto recordsIt = shard.find("records");
    if (recordsIt == shard.end() || !recordsIt->is_array())
      return makeError(path + ": shard '" + rel + "': missing 'records' array");
    for (const nlohmann::json &r : *recordsIt) {
      if (!r.is_object())
        return makeError(path + ": shard '" + rel +
                         "': a record is not an object");
      CacheRecord rec;
      auto nameIt = r.find("name");
      if (nameIt == r.end() || !nameIt->is_string())
        return makeError(path + ": shard '" + rel +
                         "': a record has no 'name' string");
      rec.name = nameIt->get<std::string>();
      rec.shard = shardIndex;

      auto dtypeIt = r.find("dtype");
      if (dtypeIt == r.end() || !dtypeIt->is_string())
        return reader.recordError(rec, "missing 'dtype' string");
      std::string dtypeName = dtypeIt->get<std::string>();
      std::optional<numerics::DType> dtype = numerics::parseTvmName(dtypeName);
      if (!dtype)
        return reader.recordError(rec, "unknown dtype '" + dtypeName + "'");
      rec.dtype = *dtype;

      auto shapeIt = r.find("shape");
      if (shapeIt == r.end() || !shapeIt->is_array())
        return reader.recordError(rec, "missing 'shape' array");
      int64_t numel = 1;
      for (const nlohmann::json &d : *shapeIt) {
        uint64_t dim = 0;
        if (!getUnsigned(d, dim) || dim > uint64_t(INT64_MAX))
          return reader.recordError(rec, "shape dimensions must be "
                                         "non-negative integers");
        rec.shape.push_back(int64_t(dim));
        if (llvm::MulOverflow(numel, int64_t(dim), numel))
          return reader.recordError(rec, "shape " + formatShape(rec.shape) +
                                             " has too many elements");
      }

      std::string recFormat = "raw";
      auto formatIt = r.find("format");
      if (formatIt != r.end()) {
        if (!formatIt->is_string())
          return reader.recordError(rec, "'format' must be a string");
        recFormat = formatIt->get<std::string>();
      }
      if (recFormat != "raw" && recFormat != "f32-to-bf16")
        return reader.recordError(rec, "unknown format '" + recFormat + "'");
      rec.bf16Encoded =
          recFormat == "f32-to-bf16" && rec.dtype == numerics::DType::F32;

      auto recBytes = r.find("nbytes");
      if (recBytes == r.end() || !getUnsigned(*recBytes, rec.nbytes))
        return reader.recordError(rec, "missing non-negative 'nbytes'");
      auto offsetIt = r.find("byteOffset");
      if (offsetIt == r.end() || !getUnsigned(*offsetIt, rec.byteOffset))
        return reader.recordError(rec, "missing non-negative 'byteOffset'");

      int64_t expected = 0;
      if (llvm::MulOverflow(numel,
                            int64_t(numerics::dtypeSize(rec.storedDType())),
                            expected) ||
          uint64_t(expected) != rec.nbytes)
        return reader.recordError(
            rec, "nbytes " + llvm::Twine(rec.nbytes) +
                     " does not match shape " + formatShape(rec.shape) +
                     " of " + dtypeName +
                     (rec.bf16Encoded ? " stored as bf16" : ""));
      if (rec.byteOffset > shardBytes ||
          rec.nbytes > shardBytes - rec.byteOffset)
        return reader.recordError(
            rec, "bytes [" + llvm::Twine(rec.byteOffset) + ", " +
                     llvm::Twine(rec.byteOffset + rec.nbytes) +
                     ") lie past the end of shard '" + rel + "' (" +
                     llvm::Twine(shardBytes) + " bytes)");
      if (!reader.byName.emplace(rec.name, reader.recs.size()).second)
        return reader.recordError(rec, "duplicate record name");
      reader.recs.push_back(std::move(rec));
    }
    ++shardIndex;
  }
  return std::move(reader);
}

const CacheRecord *TensorCacheReader::find(llvm::StringRef name) const {
  auto it = byName.find(name.str());
  return it == byName.end() ? nullptr : &recs[it->second];
}

llvm::Error TensorCacheReader::readRaw(const CacheRecord &r, void *dst) const {
  if (r.shard >= shards.size())
    return recordError(r, "no such shard");
  return shards[r.shard]->readAt(r.byteOffset, r.nbytes, dst);
}

llvm::Expected<std::vector<float>>
TensorCacheReader::readFloats(const CacheRecord &r) const {
  numerics::DType stored = r.storedDType();
  if (!numerics::isFloat(stored) || stored == numerics::DType::F64)
    return recordError(r, llvm::Twine("has dtype ") + dtypeName(r.dtype) +
                              ", expected a floating-point type");
  std::vector<uint8_t> raw(r.nbytes);
  if (llvm::Error e = readRaw(r, raw.data()))
    return std::move(e);
  size_t n = static_cast<size_t>(r.numElements());
  std::vector<float> out(n);
  if (!numerics::convertElements(raw.data(), stored, out.data(),
                                 numerics::DType::F32, n))
    return recordError(r, llvm::Twine("cannot convert ") + dtypeName(stored) +
                              " to float32");
  return std::move(out);
}

llvm::Expected<std::vector<uint32_t>>
TensorCacheReader::readUInt32(const CacheRecord &r) const {
  if (r.dtype != numerics::DType::U32)
    return recordError(r, llvm::Twine("has dtype ") + dtypeName(r.dtype) +
                              ", expected uint32");
  std::vector<uint32_t> out(static_cast<size_t>(r.numElements()));
  if (llvm::Error e = readRaw(r, out.data()))
    return std::move(e);
  return std::move(out);
}

} // namespace qopt::eval
