//===- Safetensors.cpp - safetensors header reader -----------------------===//
//
// Part of quant-opt.
//
// Mirrors `SafeTensors::read_metadata` of huggingface/safetensors
// (docs/source-formats.md section 1); see Safetensors.h for the list of checks.
//
//===----------------------------------------------------------------------===//

#include "qopt/Loaders/Safetensors.h"

#include "qopt/Loaders/TensorReader.h"

#include "llvm/Support/Endian.h"
#include "llvm/Support/MathExtras.h"

#include <nlohmann/json.hpp>

#include <algorithm>

namespace qopt::loaders {

using numerics::DType;

static llvm::Error makeError(const llvm::Twine &msg) {
  return llvm::createStringError(llvm::inconvertibleErrorCode(), msg.str());
}

std::optional<DType> safetensorsDType(llvm::StringRef code) {
  struct Entry {
    const char *code;
    DType dtype;
  };
  static const Entry table[] = {
      {"BOOL", DType::Bool},      {"U8", DType::U8},
      {"I8", DType::I8},          {"I16", DType::I16},
      {"U16", DType::U16},        {"I32", DType::I32},
      {"U32", DType::U32},        {"I64", DType::I64},
      {"U64", DType::U64},        {"F16", DType::F16},
      {"BF16", DType::BF16},      {"F32", DType::F32},
      {"F64", DType::F64},        {"F8_E4M3", DType::F8E4M3FN},
      {"F8_E5M2", DType::F8E5M2},
  };
  for (const Entry &e : table)
    if (code == e.code)
      return e.dtype;
  return std::nullopt;
}

/// Codes the reference knows but quant-opt has no DType for.
static bool isKnownUnsupportedCode(llvm::StringRef code) {
  return llvm::is_contained(
      llvm::ArrayRef<llvm::StringRef>{"C64", "F8_E4M3FNUZ", "F8_E5M2FNUZ",
                                      "F8_E8M0", "F6_E2M3", "F6_E3M2", "F4"},
      code);
}

namespace {
/// A header entry after the JSON-shape checks.
struct RawTensor {
  std::string name;
  std::string code;
  DType dtype;
  std::vector<int64_t> shape;
  uint64_t begin;
  uint64_t end;
};
} // namespace

/// Checks one tensor entry's JSON shape (step 5 of the reference).
static llvm::Error parseEntry(const std::string &file, const std::string &name,
                              const nlohmann::json &entry, RawTensor &out) {
  auto fail = [&](const llvm::Twine &msg) {
    return makeError(file + ": tensor '" + name + "': " + msg);
  };
  if (!entry.is_object())
    return fail("header entry is not an object");
  for (const char *field : {"dtype", "shape", "data_offsets"})
    if (!entry.contains(field))
      return fail(llvm::Twine("missing '") + field + "'");

  const nlohmann::json &dtype = entry["dtype"];
  if (!dtype.is_string())
    return fail("'dtype' is not a string");
  out.code = dtype.get<std::string>();
  std::optional<DType> dt = safetensorsDType(out.code);
  if (!dt) {
    if (isKnownUnsupportedCode(out.code))
      return fail("dtype " + out.code + " is not supported");
    return makeError(file + ": unknown dtype '" + out.code + "' for tensor '" +
                     name + "'");
  }
  out.dtype = *dt;

  const nlohmann::json &shape = entry["shape"];
  if (!shape.is_array())
    return fail("'shape' is not an array of integers");
  for (const nlohmann::json &d : shape) {
    if (d.is_number_unsigned()) {
      uint64_t v = d.get<uint64_t>();
      if (v > uint64_t(INT64_MAX))
        return fail("shape dimension " + llvm::Twine(v) + " is too large");
      out.shape.push_back(int64_t(v));
      continue;
    }
    if (d.is_number_integer())
      return fail("shape has negative dimension " +
                  llvm::Twine(d.get<int64_t>()));
    return fail("'shape' is not an array of integers");
  }

  const nlohmann::json &offsets = entry["data_offsets"];
  if (!offsets.is_array() || offsets.size() != 2 ||
      !offsets[0].is_number_unsigned() || !offsets[1].is_number_unsigned())
    return fail("'data_offsets' is not a pair of non-negative integers");
  out.begin = offsets[0].get<uint64_t>();
  out.end = offsets[1].get<uint64_t>();
  out.name = name;
  return llvm::Error::success();
}

llvm::Expected<CheckpointFile> readSafetensorsHeader(llvm::StringRef path) {
  std::string f = path.str();
  llvm::Expected<RandomAccessFile> file = RandomAccessFile::open(f);
  if (!file)
    return file.takeError();
  uint64_t fileSize = file->size();

  // 1-3: the header length.
  if (fileSize < 8)
    return makeError(f + ": file is too small for a safetensors header (" +
                     llvm::Twine(fileSize) + " bytes, need at least 8)");
  uint8_t lenBytes[8];
  if (llvm::Error e = file->readAt(0, 8, lenBytes))
    return e;
  uint64_t n = llvm::support::endian::read64le(lenBytes);
  if (n > kSafetensorsMaxHeaderBytes)
    return makeError(f + ": header length " + llvm::Twine(n) +
                     " exceeds the limit of " +
                     llvm::Twine(kSafetensorsMaxHeaderBytes) + " bytes");
  if (n > fileSize - 8)
    return makeError(f + ": header length " + llvm::Twine(n) +
                     " runs past the end of the file (" +
                     llvm::Twine(fileSize) + " bytes)");
  llvm::Expected<std::string> header = file->readString(8, n);
  if (!header)
    return header.takeError();

  // 4: UTF-8.
  if (std::optional<size_t> bad = findInvalidUtf8(*header))
    return makeError(f + ": header is not valid UTF-8 (bad byte at offset " +
                     llvm::Twine(8 + *bad) + ")");

  // 5: JSON shape.
  nlohmann::json json;
  detail::JsonFailure failure;
  detail::JsonLimits limits;
  limits.maxDepth = 16;
  limits.maxValues = 1u << 22; // About 500k tensors.
  if (!detail::parseJson(*header, limits, json, failure)) {
    switch (failure.kind) {
    case detail::JsonFailure::Syntax:
      return makeError(f + ": header is not valid JSON (error at header byte " +
                       llvm::Twine(failure.byte) + ")");
    case detail::JsonFailure::TooDeep:
      return makeError(f + ": header JSON nests deeper than " +
                       llvm::Twine(limits.maxDepth) + " levels");
    case detail::JsonFailure::TooManyValues:
      return makeError(f + ": header JSON has more than " +
                       llvm::Twine(limits.maxValues) + " values");
    case detail::JsonFailure::DuplicateKey:
      if (failure.depth == 1)
        return makeError(f + ": duplicate tensor name '" + failure.key +
                         "' in header");
      return makeError(f + ": duplicate key '" + failure.key +
                       "' in header entry '" + failure.outerKey + "'");
    }
  }
  if (!json.is_object())
    return makeError(f + ": header is not a JSON object");

  // nlohmann::json keeps object keys in std::map order: lexicographic byte
  // order, the order we return.
  std::vector<RawTensor> tensors;
  for (auto it = json.begin(); it != json.end(); ++it) {
    if (it.key() == "__metadata__") {
      bool ok = it->is_object();
      if (ok)
        for (const nlohmann::json &v : *it)
          ok = ok && v.is_string();
      if (!ok)
        return makeError(f + ": '__metadata__' must map strings to strings");
      continue;
    }
    RawTensor t;
    if (llvm::Error e = parseEntry(f, it.key(), *it, t))
      return e;
    tensors.push_back(std::move(t));
  }

  // 6: sorted by (begin, end), the tensors must tile the buffer from 0.
  std::vector<size_t> order(tensors.size());
  for (size_t i = 0; i < order.size(); ++i)
    order[i] = i;
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) {
    return std::make_pair(tensors[a].begin, tensors[a].end) <
           std::make_pair(tensors[b].begin, tensors[b].end);
  });
  uint64_t expected = 0;
  const RawTensor *prev = nullptr;
  for (size_t idx : order) {
    const RawTensor &t = tensors[idx];
    std::string range = "data_offsets [" + std::to_string(t.begin) + ", " +
                        std::to_string(t.end) + ")";
    if (t.end < t.begin)
      return makeError(f + ": tensor '" + t.name + "': " + range +
                       " end before they begin");
    if (t.begin > expected)
      return makeError(f + ": hole in the data buffer: bytes [" +
                       llvm::Twine(expected) + ", " + llvm::Twine(t.begin) +
                       ") before tensor '" + t.name + "' belong to no tensor");
    if (t.begin < expected)
      return makeError(f + ": tensor '" + t.name + "': " + range +
                       " overlap tensor '" + prev->name + "' [" +
                       llvm::Twine(prev->begin) + ", " +
                       llvm::Twine(prev->end) + ")");
    // Every partial product must fit in int64, as TensorInfo::numElements
    // multiplies in this order: a zero dimension after an overflowing prefix
    // does not make the shape valid (found by fuzzing).
    bool overflow = false;
    uint64_t numel = 1;
    for (int64_t d : t.shape) {
      bool step = false;
      numel = llvm::SaturatingMultiply(numel, uint64_t(d), &step);
      overflow |= step || numel > uint64_t(INT64_MAX);
    }
    if (overflow)
      return makeError(f + ": tensor '" + t.name + "': shape " +
                       formatShape(t.shape) + " overflows the element count");
    uint64_t elem = numerics::dtypeSize(t.dtype);
    uint64_t nbytes = llvm::SaturatingMultiply(numel, elem, &overflow);
    if (overflow || nbytes > uint64_t(INT64_MAX))
      return makeError(f + ": tensor '" + t.name + "': shape " +
                       formatShape(t.shape) + " overflows the byte count");
    if (t.end - t.begin != nbytes)
      return makeError(f + ": tensor '" + t.name + "': " + range +
                       " do not match dtype " + t.code + " and shape " +
                       formatShape(t.shape) + " (" + llvm::Twine(nbytes) +
                       " bytes)");
    expected = t.end;
    prev = &t;
  }

  // 7: the file ends exactly where the last tensor does.
  uint64_t dataBytes = fileSize - 8 - n;
  if (expected > dataBytes) {
    // Name the first tensor (in buffer order) the end of the file cuts off.
    const RawTensor *cut = prev;
    for (size_t idx : order)
      if (tensors[idx].end > dataBytes) {
        cut = &tensors[idx];
        break;
      }
    return makeError(f + ": file is truncated: header says " +
                     llvm::Twine(expected) + " data bytes, file has " +
                     llvm::Twine(dataBytes) + "; tensor '" + cut->name +
                     "' (data_offsets [" + llvm::Twine(cut->begin) + ", " +
                     llvm::Twine(cut->end) + ")) is cut off");
  }
  if (expected < dataBytes)
    return makeError(f + ": file has trailing bytes: header says " +
                     llvm::Twine(expected) + " data bytes, file has " +
                     llvm::Twine(dataBytes));

  CheckpointFile out;
  out.path = f;
  out.format = SourceFormat::HFSafetensors;
  out.tensors.reserve(tensors.size());
  for (RawTensor &t : tensors) {
    TensorInfo info;
    info.name = std::move(t.name);
    info.dtype = t.dtype;
    info.shape = std::move(t.shape);
    info.file = f;
    info.offset = 8 + n + t.begin;
    info.storageBytes = t.end - t.begin;
    out.tensors.push_back(std::move(info));
  }
  return out;
}

} // namespace qopt::loaders
