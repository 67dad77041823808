//===- GgufMetadata.cpp - Typed GGUF metadata and stored tensors ----------===//
//
// Part of quant-opt.
//
// Typed reads of a parsed GGUF file's metadata (errors name the file and the
// key) and its tensors as stored, under their GGUF names (docs/gguf.md).
//
//===----------------------------------------------------------------------===//

#include "GgufInternal.h"

#include <charconv>
#include <cstdlib>

namespace qopt::loaders {

using numerics::DType;

static llvm::Error makeError(const llvm::Twine &msg) {
  return llvm::createStringError(llvm::inconvertibleErrorCode(), msg.str());
}

llvm::Error GgufMetadataReader::error(const llvm::Twine &msg) const {
  return makeError(f.path + ": " + msg);
}

llvm::Expected<std::optional<int64_t>>
GgufMetadataReader::optInt(llvm::StringRef key) const {
  const GgufValue *v = f.find(key);
  if (!v)
    return std::nullopt;
  if (v->isArray() && ggufIsIntegerType(v->elemType)) {
    if (v->count == 0)
      return error("metadata key '" + key + "' is an empty array");
    std::optional<int64_t> first = v->intElement(0);
    for (uint64_t i = 1; i < v->count; ++i)
      if (v->intElement(i) != first)
        return error("metadata key '" + key +
                     "' varies per layer, which quant-opt does not support");
    if (!first)
      return error("metadata key '" + key + "' is out of range");
    return first;
  }
  std::optional<int64_t> i = v->asInt();
  if (!i) {
    if (v->isInteger())
      return error("metadata key '" + key + "' is out of range");
    return error("metadata key '" + key + "' has type " +
                 ggufValueTypeName(v->type) + ", expected an integer");
  }
  return i;
}

llvm::Expected<int64_t>
GgufMetadataReader::positiveInt(llvm::StringRef key) const {
  llvm::Expected<std::optional<int64_t>> v = optInt(key);
  if (!v)
    return v.takeError();
  if (!*v)
    return error("missing metadata key '" + key + "'");
  if (**v <= 0)
    return error("metadata key '" + key + "' is " + llvm::Twine(**v) +
                 ", expected a positive integer");
  return **v;
}

llvm::Expected<std::optional<double>>
GgufMetadataReader::optReal(llvm::StringRef key) const {
  const GgufValue *v = f.find(key);
  if (!v)
    return std::nullopt;
  std::optional<double> r = v->asReal();
  if (!r)
    return error("metadata key '" + key + "' has type " +
                 ggufValueTypeName(v->type) + ", expected a number");
  // A FLOAT32 reads as its shortest decimal (1e-06, not 9.99999997e-07).
  if (v->type == GgufValueType::Float32) {
    char buf[64];
    auto res = std::to_chars(buf, buf + sizeof(buf), float(*r));
    *res.ptr = '\0';
    return std::strtod(buf, nullptr);
  }
  return r;
}

llvm::Expected<std::optional<std::string>>
GgufMetadataReader::optString(llvm::StringRef key) const {
  const GgufValue *v = f.find(key);
  if (!v)
    return std::nullopt;
  if (v->type != GgufValueType::String)
    return error("metadata key '" + key + "' has type " +
                 ggufValueTypeName(v->type) + ", expected STRING");
  return v->str;
}

llvm::Expected<TensorInfo> ggufTensorStorage(const GgufFile &file,
                                             const GgufTensorInfo &g) {
  TensorInfo t;
  t.name = g.name;
  t.shape.assign(g.ne.rbegin(), g.ne.rend());
  t.file = file.path;
  t.offset = g.fileOffset;
  t.storageBytes = g.nbytes;
  const GgmlTypeInfo *info = ggmlTypeInfo(uint32_t(g.type));
  if (std::optional<DType> plain = ggmlPlainDType(g.type)) {
    t.dtype = *plain;
    return t;
  }
  if (!canDequantizeGgml(g.type))
    return makeError(file.path + ": tensor " + ggufQuote(g.name) +
                     " has ggml type " + info->name +
                     ", which quant-opt cannot read (supported: " +
                     ggmlReadableTypeList() + ")");
  // The raw blocks, one row of bytes per row of values; the importer
  // decodes them with weights.dequantize_ggml.
  t.dtype = DType::U8;
  t.encoding = info->name;
  if (t.shape.empty())
    t.shape.push_back(1);
  t.shape.back() = t.shape.back() / info->blockSize * info->typeSize;
  return t;
}

llvm::Expected<CheckpointFile> ggufTensorsAsCheckpoint(const GgufFile &file) {
  CheckpointFile cf;
  cf.path = file.path;
  cf.format = SourceFormat::GGUF;
  for (const GgufTensorInfo &g : file.tensors) {
    llvm::Expected<TensorInfo> t = ggufTensorStorage(file, g);
    if (!t)
      return t.takeError();
    cf.tensors.push_back(std::move(*t));
  }
  return cf;
}

} // namespace qopt::loaders
