//===- Gguf.cpp - GGUF checkpoint reader ---------------------------------===//
//
// Part of quant-opt.
//
// The GGUF header reader (docs/source-formats.md section 3), the Llama view of a
// GGUF file (3.5-3.7) and row reads that dequantize and undo the q/k
// permutation. The block decoders live in GgufDequant.cpp.
//
//===----------------------------------------------------------------------===//

#include "qopt/Loaders/Gguf.h"

#include "qopt/Loaders/TensorReader.h"

#include "llvm/ADT/StringExtras.h"
#include "llvm/ADT/StringSet.h"
#include "llvm/Support/Endian.h"
#include "llvm/Support/MathExtras.h"

#include <algorithm>
#include <charconv>
#include <cstdlib>
#include <cstring>
#include <unordered_set>

namespace qopt::loaders {

using numerics::DType;

static llvm::Error makeError(const llvm::Twine &msg) {
  return llvm::createStringError(llvm::inconvertibleErrorCode(), msg.str());
}

//===----------------------------------------------------------------------===//
// ggml types
//===----------------------------------------------------------------------===//

static const GgmlTypeInfo kGgmlTypes[] = {
    {GgmlType::F32, "F32", 1, 4},
    {GgmlType::F16, "F16", 1, 2},
    {GgmlType::Q4_0, "Q4_0", 32, 18},
    {GgmlType::Q4_1, "Q4_1", 32, 20},
    {GgmlType::Q5_0, "Q5_0", 32, 22},
    {GgmlType::Q5_1, "Q5_1", 32, 24},
    {GgmlType::Q8_0, "Q8_0", 32, 34},
    {GgmlType::Q8_1, "Q8_1", 32, 36},
    {GgmlType::Q2_K, "Q2_K", 256, 84},
    {GgmlType::Q3_K, "Q3_K", 256, 110},
    {GgmlType::Q4_K, "Q4_K", 256, 144},
    {GgmlType::Q5_K, "Q5_K", 256, 176},
    {GgmlType::Q6_K, "Q6_K", 256, 210},
    {GgmlType::Q8_K, "Q8_K", 256, 292},
    {GgmlType::IQ2_XXS, "IQ2_XXS", 256, 66},
    {GgmlType::IQ2_XS, "IQ2_XS", 256, 74},
    {GgmlType::IQ3_XXS, "IQ3_XXS", 256, 98},
    {GgmlType::IQ1_S, "IQ1_S", 256, 50},
    {GgmlType::IQ4_NL, "IQ4_NL", 32, 18},
    {GgmlType::IQ3_S, "IQ3_S", 256, 110},
    {GgmlType::IQ2_S, "IQ2_S", 256, 82},
    {GgmlType::IQ4_XS, "IQ4_XS", 256, 136},
    {GgmlType::I8, "I8", 1, 1},
    {GgmlType::I16, "I16", 1, 2},
    {GgmlType::I32, "I32", 1, 4},
    {GgmlType::I64, "I64", 1, 8},
    {GgmlType::F64, "F64", 1, 8},
    {GgmlType::IQ1_M, "IQ1_M", 256, 56},
    {GgmlType::BF16, "BF16", 1, 2},
    {GgmlType::TQ1_0, "TQ1_0", 256, 54},
    {GgmlType::TQ2_0, "TQ2_0", 256, 66},
};

const GgmlTypeInfo *ggmlTypeInfo(uint32_t type) {
  for (const GgmlTypeInfo &t : kGgmlTypes)
    if (uint32_t(t.type) == type)
      return &t;
  return nullptr;
}

const GgmlTypeInfo *ggmlTypeByName(llvm::StringRef name) {
  for (const GgmlTypeInfo &t : kGgmlTypes)
    if (name == t.name)
      return &t;
  return nullptr;
}

/// The DType of a plain (one element per block) ggml type.
static std::optional<DType> plainDType(GgmlType type) {
  switch (type) {
  case GgmlType::F32:
    return DType::F32;
  case GgmlType::F16:
    return DType::F16;
  case GgmlType::BF16:
    return DType::BF16;
  case GgmlType::F64:
    return DType::F64;
  case GgmlType::I8:
    return DType::I8;
  case GgmlType::I16:
    return DType::I16;
  case GgmlType::I32:
    return DType::I32;
  case GgmlType::I64:
    return DType::I64;
  default:
    return std::nullopt;
  }
}

//===----------------------------------------------------------------------===//
// Metadata values
//===----------------------------------------------------------------------===//

const char *ggufValueTypeName(GgufValueType type) {
  switch (type) {
  case GgufValueType::UInt8:
    return "UINT8";
  case GgufValueType::Int8:
    return "INT8";
  case GgufValueType::UInt16:
    return "UINT16";
  case GgufValueType::Int16:
    return "INT16";
  case GgufValueType::UInt32:
    return "UINT32";
  case GgufValueType::Int32:
    return "INT32";
  case GgufValueType::Float32:
    return "FLOAT32";
  case GgufValueType::Bool:
    return "BOOL";
  case GgufValueType::String:
    return "STRING";
  case GgufValueType::Array:
    return "ARRAY";
  case GgufValueType::UInt64:
    return "UINT64";
  case GgufValueType::Int64:
    return "INT64";
  case GgufValueType::Float64:
    return "FLOAT64";
  }
  return "?";
}

/// Bytes of one scalar of `type`; 0 for STRING, ARRAY and unknown types.
static uint64_t scalarSize(GgufValueType type) {
  switch (type) {
  case GgufValueType::UInt8:
  case GgufValueType::Int8:
  case GgufValueType::Bool:
    return 1;
  case GgufValueType::UInt16:
  case GgufValueType::Int16:
    return 2;
  case GgufValueType::UInt32:
  case GgufValueType::Int32:
  case GgufValueType::Float32:
    return 4;
  case GgufValueType::UInt64:
  case GgufValueType::Int64:
  case GgufValueType::Float64:
    return 8;
  case GgufValueType::String:
  case GgufValueType::Array:
    return 0;
  }
  return 0;
}

static bool isIntegerType(GgufValueType t) {
  switch (t) {
  case GgufValueType::UInt8:
  case GgufValueType::Int8:
  case GgufValueType::UInt16:
  case GgufValueType::Int16:
  case GgufValueType::UInt32:
  case GgufValueType::Int32:
  case GgufValueType::UInt64:
  case GgufValueType::Int64:
    return true;
  default:
    return false;
  }
}

static bool isSignedType(GgufValueType t) {
  return t == GgufValueType::Int8 || t == GgufValueType::Int16 ||
         t == GgufValueType::Int32 || t == GgufValueType::Int64;
}

/// Decodes a little-endian scalar of integer type `t` at `p` to its bits,
/// sign-extending signed types.
static uint64_t decodeIntBits(GgufValueType t, const unsigned char *p) {
  uint64_t size = scalarSize(t);
  uint64_t v = 0;
  for (uint64_t i = 0; i < size; ++i)
    v |= uint64_t(p[i]) << (8 * i);
  if (isSignedType(t) && size < 8 && (v >> (8 * size - 1)) & 1)
    v |= ~uint64_t(0) << (8 * size);
  return v;
}

/// The value of integer bits of type `t` as int64, if it fits.
static std::optional<int64_t> bitsToInt(GgufValueType t, uint64_t bits) {
  if (isSignedType(t))
    return int64_t(bits);
  if (bits > uint64_t(INT64_MAX))
    return std::nullopt;
  return int64_t(bits);
}

bool GgufValue::isInteger() const { return isIntegerType(type); }

std::optional<int64_t> GgufValue::asInt() const {
  if (!isIntegerType(type))
    return std::nullopt;
  return bitsToInt(type, bits);
}

std::optional<double> GgufValue::asReal() const {
  if (type == GgufValueType::Float32 || type == GgufValueType::Float64)
    return real;
  if (std::optional<int64_t> i = asInt())
    return double(*i);
  return std::nullopt;
}

std::optional<int64_t> GgufValue::intElement(uint64_t i) const {
  if (type != GgufValueType::Array || !isIntegerType(elemType) || i >= count)
    return std::nullopt;
  uint64_t size = scalarSize(elemType);
  if (packed.size() < (i + 1) * size)
    return std::nullopt;
  const auto *p = reinterpret_cast<const unsigned char *>(packed.data());
  return bitsToInt(elemType, decodeIntBits(elemType, p + i * size));
}

const GgufValue *GgufFile::find(llvm::StringRef key) const {
  for (const GgufKeyValue &kv : metadata)
    if (kv.key == key)
      return &kv.value;
  return nullptr;
}

const GgufTensorInfo *GgufFile::findTensor(llvm::StringRef name) const {
  for (const GgufTensorInfo &t : tensors)
    if (t.name == name)
      return &t;
  return nullptr;
}

//===----------------------------------------------------------------------===//
// Sequential reading of the header
//===----------------------------------------------------------------------===//

namespace {
/// Where header bytes come from.
class ByteSource {
public:
  virtual ~ByteSource() = default;
  virtual uint64_t size() const = 0;
  /// Reads [offset, offset + len), which lies inside size().
  virtual llvm::Error read(uint64_t offset, uint64_t len, char *dst) const = 0;
};

class FileSource : public ByteSource {
public:
  explicit FileSource(const RandomAccessFile &file) : file(file) {}
  uint64_t size() const override { return file.size(); }
  llvm::Error read(uint64_t offset, uint64_t len, char *dst) const override {
    return file.readAt(offset, len, dst);
  }

private:
  const RandomAccessFile &file;
};

class MemorySource : public ByteSource {
public:
  explicit MemorySource(llvm::StringRef bytes) : bytes(bytes) {}
  uint64_t size() const override { return bytes.size(); }
  llvm::Error read(uint64_t offset, uint64_t len, char *dst) const override {
    if (len)
      std::memcpy(dst, bytes.data() + offset, len);
    return llvm::Error::success();
  }

private:
  llvm::StringRef bytes;
};

/// Reads the header front to back through a window of the file, checking
/// every length against the bytes left before reading or allocating.
class Cursor {
public:
  Cursor(const ByteSource &src, const std::string &path)
      : src(src), path(path), fileSize(src.size()) {}

  uint64_t pos() const { return position; }
  uint64_t remaining() const { return fileSize - position; }
  uint64_t size() const { return fileSize; }

  /// "<path>: truncated: <what> at offset P needs N bytes, but the file has S".
  llvm::Error truncated(uint64_t n, const llvm::Twine &what) const {
    return makeError(path + ": truncated: " + what + " at offset " +
                     llvm::Twine(position) + " needs " + llvm::Twine(n) +
                     " bytes, but the file has " + llvm::Twine(fileSize));
  }

  /// Copies the next `n` bytes to `dst`.
  llvm::Error bytes(uint64_t n, char *dst, const llvm::Twine &what) {
    if (n > remaining())
      return truncated(n, what);
    while (n > 0) {
      if (position >= windowStart &&
          position < windowStart + uint64_t(window.size())) {
        uint64_t at = position - windowStart;
        uint64_t take = std::min<uint64_t>(n, window.size() - at);
        if (dst) {
          std::memcpy(dst, window.data() + at, take);
          dst += take;
        }
        position += take;
        n -= take;
        continue;
      }
      if (n >= kWindow && dst) {
        // Large reads go straight to the destination.
        if (llvm::Error e = src.read(position, n, dst))
          return e;
        position += n;
        return llvm::Error::success();
      }
      uint64_t len =
          std::min<uint64_t>(std::max<uint64_t>(n, kWindow), remaining());
      if (!dst && n >= kWindow) {
        // Skipping: nothing to read.
        position += n;
        return llvm::Error::success();
      }
      window.resize(size_t(len));
      windowStart = position;
      if (llvm::Error e = src.read(position, len, window.data()))
        return e;
    }
    return llvm::Error::success();
  }

  llvm::Error skip(uint64_t n, const llvm::Twine &what) {
    return bytes(n, nullptr, what);
  }

  llvm::Error u32(uint32_t &v, const llvm::Twine &what) {
    unsigned char b[4];
    if (llvm::Error e = bytes(4, reinterpret_cast<char *>(b), what))
      return e;
    v = llvm::support::endian::read32le(b);
    return llvm::Error::success();
  }

  llvm::Error u64(uint64_t &v, const llvm::Twine &what) {
    unsigned char b[8];
    if (llvm::Error e = bytes(8, reinterpret_cast<char *>(b), what))
      return e;
    v = llvm::support::endian::read64le(b);
    return llvm::Error::success();
  }

  /// A GGUF string: u64 length + bytes. `maxLen` bounds what is accepted
  /// (the caller reports a longer one itself when `tooLong` is given).
  llvm::Error string(std::string &out, const llvm::Twine &what) {
    uint64_t len;
    if (llvm::Error e = u64(len, "the length of " + what))
      return e;
    return stringBody(len, out, what);
  }

  llvm::Error stringBody(uint64_t len, std::string &out,
                         const llvm::Twine &what) {
    if (len > remaining())
      return makeError(path + ": " + what + " at offset " +
                       llvm::Twine(position) + " has length " +
                       llvm::Twine(len) + ", past the end of the file (" +
                       llvm::Twine(fileSize) + " bytes)");
    out.resize(size_t(len));
    return bytes(len, out.data(), what);
  }

private:
  static constexpr uint64_t kWindow = 1u << 20;
  const ByteSource &src;
  const std::string &path;
  uint64_t fileSize;
  uint64_t position = 0;
  std::string window;
  uint64_t windowStart = 0;
};
} // namespace

/// "'name'" with non-printable bytes escaped, for messages.
static std::string quoteName(llvm::StringRef s) {
  std::string out = "'";
  for (unsigned char c : s) {
    if (c >= 0x20 && c < 0x7F && c != '\\') {
      out += char(c);
    } else {
      out += "\\x";
      out += llvm::hexdigit(c >> 4, /*LowerCase=*/true);
      out += llvm::hexdigit(c & 15, /*LowerCase=*/true);
    }
  }
  return out + "'";
}

/// Reads one metadata value of (known) type `type` for key `key`.
static llvm::Error readValue(Cursor &cur, const std::string &path,
                             const std::string &key, GgufValueType type,
                             GgufValue &out) {
  std::string keyQ = quoteName(key);
  out.type = type;
  auto checkBool = [&](uint64_t v, const llvm::Twine &where) -> llvm::Error {
    if (v > 1)
      return makeError(path + ": key " + keyQ + where + " has BOOL value " +
                       llvm::Twine(v) + " (expected 0 or 1)");
    return llvm::Error::success();
  };
  switch (type) {
  case GgufValueType::String:
    return cur.string(out.str, "the value of key " + keyQ);
  case GgufValueType::Float32: {
    uint32_t bits;
    if (llvm::Error e = cur.u32(bits, "the value of key " + keyQ))
      return e;
    float f;
    std::memcpy(&f, &bits, 4);
    out.real = f;
    return llvm::Error::success();
  }
  case GgufValueType::Float64: {
    uint64_t bits;
    if (llvm::Error e = cur.u64(bits, "the value of key " + keyQ))
      return e;
    std::memcpy(&out.real, &bits, 8);
    return llvm::Error::success();
  }
  case GgufValueType::Array: {
    uint32_t elem;
    if (llvm::Error e = cur.u32(elem, "the element type of key " + keyQ))
      return e;
    if (elem == uint32_t(GgufValueType::Array))
      return makeError(path + ": key " + keyQ +
                       " is an array of arrays, which GGUF readers reject");
    if (elem > uint32_t(GgufValueType::Float64))
      return makeError(path + ": key " + keyQ +
                       " is an array of unknown value type " +
                       llvm::Twine(elem));
    out.elemType = GgufValueType(elem);
    if (llvm::Error e = cur.u64(out.count, "the element count of key " + keyQ))
      return e;
    uint64_t elemSize = scalarSize(out.elemType);
    // Strings take at least their 8-byte length.
    uint64_t minSize = elemSize ? elemSize : 8;
    bool overflow = false;
    uint64_t need = llvm::SaturatingMultiply(out.count, minSize, &overflow);
    if (overflow || need > cur.remaining())
      return makeError(
          path + ": key " + keyQ + ": array of " + llvm::Twine(out.count) +
          " " + ggufValueTypeName(out.elemType) + " values at offset " +
          llvm::Twine(cur.pos()) + " runs past the end of the file (" +
          llvm::Twine(cur.size()) + " bytes)");
    if (elemSize) {
      out.packed.resize(size_t(need));
      if (llvm::Error e =
              cur.bytes(need, out.packed.data(), "the array of key " + keyQ))
        return e;
      if (out.elemType == GgufValueType::Bool)
        for (uint64_t i = 0; i < out.count; ++i)
          if (llvm::Error e = checkBool(uint8_t(out.packed[size_t(i)]),
                                        " element #" + llvm::Twine(i)))
            return e;
      return llvm::Error::success();
    }
    // Strings: validate each length, keep nothing.
    for (uint64_t i = 0; i < out.count; ++i) {
      uint64_t len;
      std::string what = "string #" + std::to_string(i) + " of key " + keyQ;
      if (llvm::Error e = cur.u64(len, "the length of " + what))
        return e;
      if (len > cur.remaining())
        return makeError(path + ": " + what + " at offset " +
                         llvm::Twine(cur.pos()) + " has length " +
                         llvm::Twine(len) + ", past the end of the file (" +
                         llvm::Twine(cur.size()) + " bytes)");
      if (llvm::Error e = cur.skip(len, what))
        return e;
    }
    return llvm::Error::success();
  }
  default:
    break;
  }
  // Integer scalars and BOOL.
  uint64_t size = scalarSize(type);
  unsigned char b[8];
  if (llvm::Error e = cur.bytes(size, reinterpret_cast<char *>(b),
                                "the value of key " + keyQ))
    return e;
  out.bits = decodeIntBits(type, b);
  if (type == GgufValueType::Bool)
    return checkBool(out.bits, "");
  return llvm::Error::success();
}

static llvm::Expected<GgufFile> parseGgufSource(const ByteSource &src,
                                                const std::string &path) {
  Cursor cur(src, path);
  GgufFile f;
  f.path = path;
  f.fileSize = src.size();

  // Magic and version.
  char magic[4] = {0, 0, 0, 0};
  if (cur.remaining() >= 4)
    if (llvm::Error e = cur.bytes(4, magic, "the magic"))
      return e;
  if (std::memcmp(magic, "GGUF", 4) != 0)
    return makeError(path + ": not a GGUF file (it does not start with the "
                            "magic bytes \"GGUF\")");
  if (llvm::Error e = cur.u32(f.version, "the version"))
    return e;
  if (f.version != 0 && (f.version & 0xFFFF) == 0)
    return makeError(path + ": big-endian GGUF file (version field 0x" +
                     llvm::utohexstr(f.version) +
                     "); only little-endian files are supported");
  if (f.version != 2 && f.version != 3)
    return makeError(path + ": GGUF version " + llvm::Twine(f.version) +
                     " is not supported (expected 2 or 3)");
  uint64_t tensorCount, kvCount;
  if (llvm::Error e = cur.u64(tensorCount, "the tensor count"))
    return e;
  if (llvm::Error e = cur.u64(kvCount, "the key/value count"))
    return e;
  // Smallest records: a key/value is an 8-byte key length, a 4-byte type and
  // a 1-byte value; a tensor info an 8-byte name length, n_dims, type and
  // offset (24 bytes).
  uint64_t left = cur.remaining();
  if (kvCount > kGgufMaxKeyValues)
    return makeError(path + ": header claims " + llvm::Twine(kvCount) +
                     " key/value pairs; quant-opt accepts at most " +
                     llvm::Twine(kGgufMaxKeyValues));
  if (tensorCount > kGgufMaxTensors)
    return makeError(path + ": header claims " + llvm::Twine(tensorCount) +
                     " tensors; quant-opt accepts at most " +
                     llvm::Twine(kGgufMaxTensors));
  if (kvCount > left / 13)
    return makeError(path + ": header claims " + llvm::Twine(kvCount) +
                     " key/value pairs, more than the " +
                     llvm::Twine(f.fileSize) + "-byte file can hold");
  if (tensorCount > left / 24 || kvCount * 13 > left - tensorCount * 24)
    return makeError(path + ": header claims " + llvm::Twine(tensorCount) +
                     " tensors, more than the " + llvm::Twine(f.fileSize) +
                     "-byte file can hold");

  // Key/value pairs.
  llvm::StringSet<> keys;
  for (uint64_t i = 0; i < kvCount; ++i) {
    GgufKeyValue kv;
    if (llvm::Error e = cur.string(kv.key, "key #" + llvm::Twine(i)))
      return e;
    if (!keys.insert(kv.key).second)
      return makeError(path + ": duplicate key " + quoteName(kv.key));
    uint32_t type;
    if (llvm::Error e = cur.u32(type, "the type of key " + quoteName(kv.key)))
      return e;
    if (type > uint32_t(GgufValueType::Float64))
      return makeError(path + ": key " + quoteName(kv.key) +
                       " has unknown value type " + llvm::Twine(type));
    if (llvm::Error e =
            readValue(cur, path, kv.key, GgufValueType(type), kv.value))
      return e;
    f.metadata.push_back(std::move(kv));
  }
  if (const GgufValue *a = f.find("general.alignment")) {
    if (a->type != GgufValueType::UInt32)
      return makeError(path + ": key 'general.alignment' has type " +
                       ggufValueTypeName(a->type) + ", expected UINT32");
    if (a->bits == 0 || !llvm::isPowerOf2_64(a->bits))
      return makeError(path + ": general.alignment is " + llvm::Twine(a->bits) +
                       ", not a non-zero power of two");
    f.alignment = a->bits;
  }

  // Tensor infos.
  llvm::StringSet<> names;
  for (uint64_t i = 0; i < tensorCount; ++i) {
    GgufTensorInfo t;
    std::string which = "tensor #" + std::to_string(i);
    uint64_t len;
    if (llvm::Error e = cur.u64(len, "the name length of " + which))
      return e;
    if (len >= 64)
      return makeError(path + ": " + which + ": name is " + llvm::Twine(len) +
                       " bytes long; the limit is 63");
    if (llvm::Error e = cur.stringBody(len, t.name, "the name of " + which))
      return e;
    std::string q = quoteName(t.name);
    if (!names.insert(t.name).second)
      return makeError(path + ": duplicate tensor name " + q);
    uint32_t nDims;
    if (llvm::Error e = cur.u32(nDims, "n_dims of tensor " + q))
      return e;
    if (nDims > 4)
      return makeError(path + ": tensor " + q + ": n_dims is " +
                       llvm::Twine(nDims) + "; the limit is 4");
    for (uint32_t d = 0; d < nDims; ++d) {
      uint64_t ne;
      if (llvm::Error e =
              cur.u64(ne, "ne[" + llvm::Twine(d) + "] of tensor " + q))
        return e;
      if (ne > uint64_t(INT64_MAX))
        return makeError(path + ": tensor " + q + ": ne[" + llvm::Twine(d) +
                         "] is negative (" + llvm::Twine(int64_t(ne)) + ")");
      t.ne.push_back(int64_t(ne));
    }
    uint32_t type;
    if (llvm::Error e = cur.u32(type, "the type of tensor " + q))
      return e;
    const GgmlTypeInfo *info = ggmlTypeInfo(type);
    if (!info)
      return makeError(path + ": tensor " + q + ": unknown ggml type " +
                       llvm::Twine(type));
    t.type = info->type;
    if (llvm::Error e = cur.u64(t.offset, "the offset of tensor " + q))
      return e;

    // The product of the non-zero dims bounds every partial product in any
    // order (the HF view multiplies the reversed dims), so a zero dim cannot
    // hide an overflow (found by fuzzing).
    std::string shape = "ne=" + formatShape(t.ne);
    int64_t numel = 1, nonZero = 1;
    for (int64_t ne : t.ne)
      if (ne != 0 && llvm::MulOverflow(nonZero, ne, nonZero))
        return makeError(path + ": tensor " + q + ": dimensions " + shape +
                         " multiply past INT64_MAX");
    for (int64_t ne : t.ne)
      numel *= ne; // <= nonZero: cannot overflow.
    int64_t row = t.ne.empty() ? 1 : t.ne[0];
    if (row % int64_t(info->blockSize) != 0)
      return makeError(path + ": tensor " + q +
                       ": ne[0] = " + llvm::Twine(row) +
                       " is not a multiple of the " + info->name +
                       " block size " + llvm::Twine(info->blockSize));
    bool overflow = false;
    t.nbytes = llvm::SaturatingMultiply(uint64_t(numel) / info->blockSize,
                                        uint64_t(info->typeSize), &overflow);
    if (overflow)
      return makeError(path + ": tensor " + q + ": " + shape +
                       " overflows the byte count");
    f.tensors.push_back(std::move(t));
  }

  // The data section and the offsets.
  uint64_t pad = (f.alignment - cur.pos() % f.alignment) % f.alignment;
  f.dataStart = cur.pos() + pad;
  uint64_t expected = 0;
  for (GgufTensorInfo &t : f.tensors) {
    std::string q = quoteName(t.name);
    if (t.offset != expected)
      return makeError(path + ": tensor " + q + " has offset " +
                       llvm::Twine(t.offset) + ", expected " +
                       llvm::Twine(expected) +
                       " (tensor data must follow in tensor-info order, "
                       "each aligned to " +
                       llvm::Twine(f.alignment) + " bytes)");
    bool overflow = false;
    uint64_t begin = llvm::SaturatingAdd(f.dataStart, t.offset, &overflow);
    uint64_t end = llvm::SaturatingAdd(begin, t.nbytes, &overflow);
    if (overflow || end > f.fileSize)
      return makeError(
          path + ": tensor " + q + ": data [" + llvm::Twine(begin) + ", " +
          (overflow ? std::string("overflow") : std::to_string(end)) +
          ") extends past the end of the file (" + llvm::Twine(f.fileSize) +
          " bytes)");
    t.fileOffset = begin;
    uint64_t padded =
        t.nbytes + (f.alignment - t.nbytes % f.alignment) % f.alignment;
    // padded <= nbytes + alignment <= file size + 2^32: no overflow.
    expected = t.offset + padded;
  }
  return f;
}

llvm::Expected<GgufFile> readGgufFile(llvm::StringRef path) {
  llvm::Expected<RandomAccessFile> file = RandomAccessFile::open(path);
  if (!file)
    return file.takeError();
  FileSource src(*file);
  return parseGgufSource(src, path.str());
}

llvm::Expected<GgufFile> parseGguf(llvm::StringRef name,
                                   llvm::StringRef bytes) {
  MemorySource src(bytes);
  return parseGgufSource(src, name.str());
}

bool hasGgufMagic(llvm::StringRef path) {
  llvm::Expected<RandomAccessFile> file = RandomAccessFile::open(path);
  if (!file) {
    llvm::consumeError(file.takeError());
    return false;
  }
  if (file->size() < 4)
    return false;
  char magic[4];
  if (llvm::Error e = file->readAt(0, 4, magic)) {
    llvm::consumeError(std::move(e));
    return false;
  }
  return std::memcmp(magic, "GGUF", 4) == 0;
}

//===----------------------------------------------------------------------===//
// The Llama view
//===----------------------------------------------------------------------===//

std::optional<std::string> ggufToHfName(llvm::StringRef name) {
  static const std::pair<const char *, const char *> kGlobal[] = {
      {"token_embd.weight", "model.embed_tokens.weight"},
      {"output_norm.weight", "model.norm.weight"},
      {"output.weight", "lm_head.weight"},
  };
  for (const auto &[gguf, hf] : kGlobal)
    if (name == gguf)
      return std::string(hf);
  static const std::pair<const char *, const char *> kLayer[] = {
      {"attn_norm", "input_layernorm"},
      {"attn_q", "self_attn.q_proj"},
      {"attn_k", "self_attn.k_proj"},
      {"attn_v", "self_attn.v_proj"},
      {"attn_output", "self_attn.o_proj"},
      {"ffn_norm", "post_attention_layernorm"},
      {"ffn_gate", "mlp.gate_proj"},
      {"ffn_up", "mlp.up_proj"},
      {"ffn_down", "mlp.down_proj"},
  };
  llvm::StringRef rest = name;
  if (!rest.consume_front("blk."))
    return std::nullopt;
  size_t dot = rest.find('.');
  llvm::StringRef layer = rest.take_front(dot);
  if (dot == llvm::StringRef::npos || layer.empty() ||
      !llvm::all_of(layer, llvm::isDigit) ||
      (layer.size() > 1 && layer.front() == '0'))
    return std::nullopt;
  rest = rest.drop_front(dot + 1);
  llvm::StringRef suffix;
  if (rest.ends_with(".weight"))
    suffix = ".weight";
  else if (rest.ends_with(".bias"))
    suffix = ".bias";
  else
    return std::nullopt;
  llvm::StringRef part = rest.drop_back(suffix.size());
  for (const auto &[gguf, hf] : kLayer) {
    if (part != gguf)
      continue;
    // Norms have no bias in Llama.
    if (suffix == ".bias" && llvm::StringRef(gguf).ends_with("norm"))
      return std::nullopt;
    return ("model.layers." + layer + "." + hf + suffix).str();
  }
  return std::nullopt;
}

namespace {
/// Reads typed metadata for the config with errors naming file and key.
class MetadataReader {
public:
  explicit MetadataReader(const GgufFile &f) : f(f) {}

  llvm::Error error(const llvm::Twine &msg) const {
    return makeError(f.path + ": " + msg);
  }

  /// A positive integer; an array of equal integers (one per layer) counts
  /// as that integer. nullopt (and no error) if absent.
  llvm::Expected<std::optional<int64_t>> optInt(llvm::StringRef key) const {
    const GgufValue *v = f.find(key);
    if (!v)
      return std::nullopt;
    if (v->isArray() && isIntegerType(v->elemType)) {
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

  llvm::Expected<int64_t> positiveInt(llvm::StringRef key) const {
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

  llvm::Expected<std::optional<double>> optReal(llvm::StringRef key) const {
    const GgufValue *v = f.find(key);
    if (!v)
      return std::nullopt;
    std::optional<double> r = v->asReal();
    if (!r)
      return error("metadata key '" + key + "' has type " +
                   ggufValueTypeName(v->type) + ", expected a number");
    // A FLOAT32 prints as its shortest decimal (1e-06, not 9.99999997e-07).
    if (v->type == GgufValueType::Float32) {
      char buf[64];
      auto res = std::to_chars(buf, buf + sizeof(buf), float(*r));
      *res.ptr = '\0';
      return std::strtod(buf, nullptr);
    }
    return r;
  }

  llvm::Expected<std::optional<std::string>>
  optString(llvm::StringRef key) const {
    const GgufValue *v = f.find(key);
    if (!v)
      return std::nullopt;
    if (v->type != GgufValueType::String)
      return error("metadata key '" + key + "' has type " +
                   ggufValueTypeName(v->type) + ", expected STRING");
    return v->str;
  }

private:
  const GgufFile &f;
};

/// Head counts needed to undo the q/k permutation.
struct LlamaHeads {
  int64_t heads = 0;
  int64_t kvHeads = 0;
};
} // namespace

/// Checks `general.architecture` is llama and rejects mixture-of-experts.
static llvm::Error checkLlama(const GgufFile &file, const MetadataReader &md) {
  llvm::Expected<std::optional<std::string>> arch =
      md.optString("general.architecture");
  if (!arch)
    return arch.takeError();
  if (!*arch)
    return md.error("missing metadata key 'general.architecture'");
  if (**arch != "llama")
    return md.error("GGUF architecture " + quoteName(**arch) +
                    " is not supported (supported: llama)");
  llvm::Expected<std::optional<int64_t>> experts =
      md.optInt("llama.expert_count");
  if (!experts)
    return experts.takeError();
  if (*experts && **experts > 0)
    return md.error("mixture-of-experts GGUF files (llama.expert_count = " +
                    llvm::Twine(**experts) + ") are not supported");
  (void)file;
  return llvm::Error::success();
}

static llvm::Expected<LlamaHeads> readHeads(const MetadataReader &md) {
  LlamaHeads h;
  llvm::Expected<int64_t> heads = md.positiveInt("llama.attention.head_count");
  if (!heads)
    return heads.takeError();
  h.heads = *heads;
  h.kvHeads = h.heads;
  if (llvm::Expected<std::optional<int64_t>> kv =
          md.optInt("llama.attention.head_count_kv");
      !kv) {
    return kv.takeError();
  } else if (*kv) {
    if (**kv <= 0)
      return md.error("metadata key 'llama.attention.head_count_kv' is " +
                      llvm::Twine(**kv) + ", expected a positive integer");
    h.kvHeads = **kv;
  }
  return h;
}

llvm::Expected<nlohmann::json> ggufModelConfig(const GgufFile &file) {
  MetadataReader md(file);
  if (llvm::Error e = checkLlama(file, md))
    return e;
  nlohmann::json cfg = nlohmann::json::object();
  cfg["architectures"] = nlohmann::json::array({"LlamaForCausalLM"});
  cfg["model_type"] = "llama";

  struct IntField {
    const char *hf;
    const char *key;
  };
  for (IntField fld :
       {IntField{"hidden_size", "llama.embedding_length"},
        IntField{"intermediate_size", "llama.feed_forward_length"},
        IntField{"num_hidden_layers", "llama.block_count"},
        IntField{"max_position_embeddings", "llama.context_length"}}) {
    llvm::Expected<int64_t> v = md.positiveInt(fld.key);
    if (!v)
      return v.takeError();
    cfg[fld.hf] = *v;
  }
  llvm::Expected<LlamaHeads> heads = readHeads(md);
  if (!heads)
    return heads.takeError();
  cfg["num_attention_heads"] = heads->heads;
  cfg["num_key_value_heads"] = heads->kvHeads;

  llvm::Expected<std::optional<int64_t>> keyLength =
      md.optInt("llama.attention.key_length");
  if (!keyLength)
    return keyLength.takeError();
  if (*keyLength) {
    if (**keyLength <= 0)
      return md.error("metadata key 'llama.attention.key_length' is " +
                      llvm::Twine(**keyLength) +
                      ", expected a positive integer");
    cfg["head_dim"] = **keyLength;
  }

  llvm::Expected<std::optional<double>> eps =
      md.optReal("llama.attention.layer_norm_rms_epsilon");
  if (!eps)
    return eps.takeError();
  if (!*eps)
    return md.error(
        "missing metadata key 'llama.attention.layer_norm_rms_epsilon'");
  cfg["rms_norm_eps"] = **eps;
  llvm::Expected<std::optional<double>> theta =
      md.optReal("llama.rope.freq_base");
  if (!theta)
    return theta.takeError();
  cfg["rope_theta"] = theta->value_or(10000.0);

  // vocab_size: the key, else the token list, else token_embd's ne[1].
  llvm::Expected<std::optional<int64_t>> vocab = md.optInt("llama.vocab_size");
  if (!vocab)
    return vocab.takeError();
  int64_t vocabSize = vocab->value_or(0);
  if (!*vocab) {
    const GgufValue *tokens = file.find("tokenizer.ggml.tokens");
    const GgufTensorInfo *embd = file.findTensor("token_embd.weight");
    if (tokens && tokens->isArray())
      vocabSize = int64_t(std::min<uint64_t>(tokens->count, INT64_MAX));
    else if (embd && embd->ne.size() >= 2)
      vocabSize = embd->ne[1];
  }
  if (vocabSize <= 0)
    return md.error("cannot tell the vocabulary size: no 'llama.vocab_size', "
                    "'tokenizer.ggml.tokens' or 'token_embd.weight'");
  cfg["vocab_size"] = vocabSize;
  cfg["tie_word_embeddings"] = file.findTensor("output.weight") == nullptr;

  llvm::Expected<std::optional<std::string>> scaling =
      md.optString("llama.rope.scaling.type");
  if (!scaling)
    return scaling.takeError();
  if (*scaling && **scaling != "none") {
    llvm::Expected<std::optional<double>> factor =
        md.optReal("llama.rope.scaling.factor");
    if (!factor)
      return factor.takeError();
    nlohmann::json rs = {{"type", **scaling}, {"rope_type", **scaling}};
    if (*factor)
      rs["factor"] = **factor;
    cfg["rope_scaling"] = rs;
  }
  for (auto [hf, key] :
       {std::pair{"bos_token_id", "tokenizer.ggml.bos_token_id"},
        std::pair{"eos_token_id", "tokenizer.ggml.eos_token_id"}}) {
    const GgufValue *v = file.find(key);
    if (v && v->asInt())
      cfg[hf] = *v->asInt();
  }
  return cfg;
}

/// "F32, F16, ..." of every type the converter reads.
static std::string readableTypeList() {
  std::string out;
  for (const GgmlTypeInfo &t : kGgmlTypes)
    if (plainDType(t.type) || canDequantizeGgml(t.type))
      out += (out.empty() ? "" : ", ") + std::string(t.name);
  return out;
}

llvm::Expected<CheckpointFile> ggufToCheckpointFile(const GgufFile &file) {
  MetadataReader md(file);
  if (llvm::Error e = checkLlama(file, md))
    return e;
  llvm::Expected<LlamaHeads> heads = readHeads(md);
  if (!heads)
    return heads.takeError();

  CheckpointFile cf;
  cf.path = file.path;
  cf.format = SourceFormat::GGUF;
  std::unordered_map<std::string, std::string> hfToGguf;
  for (const GgufTensorInfo &g : file.tensors) {
    std::string q = quoteName(g.name);
    // Generated by llama.cpp's converter from the rope scaling config; HF
    // checkpoints have no such tensor.
    if (g.name == "rope_freqs.weight")
      continue;
    TensorInfo t;
    t.name = ggufToHfName(g.name).value_or(g.name);
    auto [it, inserted] = hfToGguf.emplace(t.name, g.name);
    if (!inserted)
      return makeError(file.path + ": tensors " + quoteName(it->second) +
                       " and " + q + " both stand for " + quoteName(t.name));
    t.shape.assign(g.ne.rbegin(), g.ne.rend());
    t.file = file.path;
    t.offset = g.fileOffset;
    t.storageBytes = g.nbytes;
    const GgmlTypeInfo *info = ggmlTypeInfo(uint32_t(g.type));
    if (std::optional<DType> plain = plainDType(g.type)) {
      t.dtype = *plain;
    } else if (canDequantizeGgml(g.type)) {
      t.dtype = DType::F32;
      t.encoding = info->name;
    } else {
      return makeError(
          file.path + ": tensor " + q + " has ggml type " + info->name +
          ", which quant-opt cannot read (supported: " + readableTypeList() +
          ")");
    }
    llvm::StringRef n(g.name);
    if (n.starts_with("blk.") &&
        (n.ends_with(".attn_q.weight") || n.ends_with(".attn_q.bias") ||
         n.ends_with(".attn_k.weight") || n.ends_with(".attn_k.bias"))) {
      bool isQ = n.contains(".attn_q.");
      int64_t h = isQ ? heads->heads : heads->kvHeads;
      int64_t rows = t.shape.empty() ? 1 : t.shape[0];
      if (rows % h != 0 || (rows / h) % 2 != 0)
        return makeError(file.path + ": tensor " + q + ": " +
                         llvm::Twine(rows) + " rows are not " + llvm::Twine(h) +
                         " heads (" +
                         (isQ ? "llama.attention.head_count"
                              : "llama.attention.head_count_kv") +
                         ") of an even head dimension");
      t.unpermuteHeads = h;
    }
    cf.tensors.push_back(std::move(t));
  }
  return cf;
}

llvm::Expected<CheckpointFile> readGgufCheckpoint(llvm::StringRef path) {
  llvm::Expected<GgufFile> f = readGgufFile(path);
  if (!f)
    return f.takeError();
  return ggufToCheckpointFile(*f);
}

//===----------------------------------------------------------------------===//
// Reading rows
//===----------------------------------------------------------------------===//

static llvm::Error rowsError(const TensorInfo &t, const llvm::Twine &msg) {
  return makeError(t.file + ": tensor '" + t.name + "': " + msg);
}

namespace {
/// Decodes element ranges of one GGUF tensor (plain or block-encoded).
class ElementDecoder {
public:
  ElementDecoder(const RandomAccessFile &file, const TensorInfo &t,
                 const GgmlTypeInfo *enc, uint64_t maxScratch)
      : file(file), t(t), enc(enc), maxScratch(maxScratch) {}

  /// Writes elements [e0, e1) (in t.dtype) to `dst`.
  llvm::Error decode(uint64_t e0, uint64_t e1, char *dst) {
    if (e0 == e1)
      return llvm::Error::success();
    if (!enc) {
      uint64_t es = numerics::dtypeSize(t.dtype);
      return file.readAt(t.offset + e0 * es, (e1 - e0) * es, dst);
    }
    uint64_t block = enc->blockSize;
    float *out = reinterpret_cast<float *>(dst);
    uint64_t b0 = e0 / block, b1 = (e1 + block - 1) / block;
    // Partial first/last blocks (1-D tensors only) go through a small buffer.
    if (e0 % block || e1 % block) {
      std::vector<float> tmp(size_t((b1 - b0) * block));
      if (llvm::Error e = decodeBlocks(b0, b1, tmp.data()))
        return e;
      std::memcpy(out, tmp.data() + (e0 - b0 * block),
                  size_t(e1 - e0) * sizeof(float));
      return llvm::Error::success();
    }
    return decodeBlocks(b0, b1, out);
  }

private:
  llvm::Error decodeBlocks(uint64_t b0, uint64_t b1, float *out) {
    uint64_t perChunk = std::max<uint64_t>(1, maxScratch / enc->typeSize);
    for (uint64_t b = b0; b < b1; b += perChunk) {
      uint64_t n = std::min(perChunk, b1 - b);
      scratch.resize(size_t(n * enc->typeSize));
      if (llvm::Error e = file.readAt(t.offset + b * enc->typeSize,
                                      n * enc->typeSize, scratch.data()))
        return e;
      if (!ggmlDequantize(enc->type, scratch.data(), n * enc->blockSize,
                          out + (b - b0) * enc->blockSize))
        return rowsError(t, llvm::Twine("cannot dequantize ") + enc->name);
    }
    return llvm::Error::success();
  }

  const RandomAccessFile &file;
  const TensorInfo &t;
  const GgmlTypeInfo *enc;
  uint64_t maxScratch;
  std::vector<char> scratch;
};
} // namespace

llvm::Error readGgufRows(const RandomAccessFile &file, const TensorInfo &t,
                         int64_t row0, int64_t row1, void *dst,
                         uint64_t maxScratch) {
  if (t.shape.empty())
    return rowsError(t, "cannot read rows of a scalar");
  const GgmlTypeInfo *enc = nullptr;
  if (!t.encoding.empty()) {
    enc = ggmlTypeByName(t.encoding);
    if (!enc || !canDequantizeGgml(enc->type) || enc->blockSize == 1)
      return rowsError(t, "unknown encoding '" + t.encoding + "'");
    if (t.dtype != DType::F32)
      return rowsError(t, "encoding " + t.encoding +
                              " decodes to float32, "
                              "not " +
                              std::string(numerics::tvmName(t.dtype)));
  }
  uint64_t es = numerics::dtypeSize(t.dtype);
  if (es == 0)
    return rowsError(t, "unknown element type");
  // Shape and byte counts, checked.
  uint64_t inner = 1;
  bool overflow = false;
  // SaturatingMultiply resets its flag on each call: accumulate it.
  auto mul = [&overflow](uint64_t a, uint64_t b) {
    bool step = false;
    uint64_t r = llvm::SaturatingMultiply(a, b, &step);
    overflow |= step || r > uint64_t(INT64_MAX);
    return r;
  };
  for (size_t i = 0; i < t.shape.size(); ++i) {
    if (t.shape[i] < 0)
      return rowsError(t,
                       "negative dimension in shape " + formatShape(t.shape));
    if (i > 0)
      inner = mul(inner, uint64_t(t.shape[i]));
  }
  uint64_t rows = uint64_t(t.shape[0]);
  uint64_t numel = mul(inner, rows);
  uint64_t stored = enc ? mul(numel / enc->blockSize, uint64_t(enc->typeSize))
                        : mul(numel, es);
  if (overflow || numel > uint64_t(INT64_MAX) / 8)
    return rowsError(t, "shape " + formatShape(t.shape) +
                            " overflows the byte count");
  if (enc && uint64_t(t.shape.back()) % enc->blockSize != 0)
    return rowsError(t, "the last dimension of shape " + formatShape(t.shape) +
                            " is not a multiple of the " + enc->name +
                            " block size " + llvm::Twine(enc->blockSize));
  if (t.storageBytes != 0 && stored > t.storageBytes)
    return rowsError(t, "needs " + llvm::Twine(stored) +
                            " bytes but its storage has " +
                            llvm::Twine(t.storageBytes));
  if (row0 < 0 || row1 < row0 || uint64_t(row1) > rows)
    return rowsError(t, "row range [" + llvm::Twine(row0) + ", " +
                            llvm::Twine(row1) + ") is outside [0, " +
                            llvm::Twine(rows) + ")");
  if (t.offset > UINT64_MAX - stored)
    return rowsError(t, "offset " + llvm::Twine(t.offset) + " overflows");
  if (row0 == row1 || inner == 0)
    return llvm::Error::success();

  ElementDecoder dec(file, t, enc, maxScratch);
  char *out = static_cast<char *>(dst);
  uint64_t rowBytes = inner * es;
  if (t.unpermuteHeads == 0)
    return dec.decode(uint64_t(row0) * inner, uint64_t(row1) * inner, out);

  // HF row h*hd + j*hd/2 + i is GGUF row h*hd + 2*i + j (3.6): decode each
  // head touched, then pick its rows.
  uint64_t n = uint64_t(t.unpermuteHeads);
  if (t.unpermuteHeads < 0 || rows % n != 0 || (rows / n) % 2 != 0)
    return rowsError(t, llvm::Twine(rows) + " rows are not " +
                            llvm::Twine(t.unpermuteHeads) +
                            " heads of an even head dimension");
  uint64_t hd = rows / n, half = hd / 2;
  std::vector<char> head(size_t(hd * rowBytes));
  for (uint64_t h = uint64_t(row0) / hd; h * hd < uint64_t(row1); ++h) {
    if (llvm::Error e =
            dec.decode(h * hd * inner, (h + 1) * hd * inner, head.data()))
      return e;
    uint64_t lo = std::max<uint64_t>(uint64_t(row0), h * hd);
    uint64_t hi = std::min<uint64_t>(uint64_t(row1), (h + 1) * hd);
    for (uint64_t r = lo; r < hi; ++r) {
      uint64_t rem = r - h * hd;
      uint64_t g = 2 * (rem % half) + rem / half;
      std::memcpy(out + (r - uint64_t(row0)) * rowBytes,
                  head.data() + g * rowBytes, size_t(rowBytes));
    }
  }
  return llvm::Error::success();
}

} // namespace qopt::loaders
