//===- GgufHeader.cpp - GGUF header reader --------------------------------===//
//
// Part of quant-opt.
//
// Reads and validates the header of a GGUF file front to back (metadata
// key/values and tensor infos), with every check llama.cpp's reader makes
// (docs/gguf.md). The file is only parsed here: the Hugging Face view of an
// architecture's tensors lives with the model definitions
// (qopt/Models/Gguf.h).
//
//===----------------------------------------------------------------------===//

#include "GgufInternal.h"

#include "qopt/Loaders/TensorReader.h"

#include "llvm/ADT/StringExtras.h"
#include "llvm/ADT/StringSet.h"
#include "llvm/Support/Endian.h"
#include "llvm/Support/MathExtras.h"

#include <algorithm>
#include <cstring>

namespace qopt::loaders {

static llvm::Error makeError(const llvm::Twine &msg) {
  return llvm::createStringError(llvm::inconvertibleErrorCode(), msg.str());
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

/// Reads one metadata value of (known) type `type` for key `key`.
static llvm::Error readValue(Cursor &cur, const std::string &path,
                             const std::string &key, GgufValueType type,
                             GgufValue &out) {
  std::string keyQ = ggufQuote(key);
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
    uint64_t elemSize = ggufScalarSize(out.elemType);
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
  uint64_t size = ggufScalarSize(type);
  unsigned char b[8];
  if (llvm::Error e = cur.bytes(size, reinterpret_cast<char *>(b),
                                "the value of key " + keyQ))
    return e;
  out.bits = ggufDecodeIntBits(type, b);
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
      return makeError(path + ": duplicate key " + ggufQuote(kv.key));
    uint32_t type;
    if (llvm::Error e = cur.u32(type, "the type of key " + ggufQuote(kv.key)))
      return e;
    if (type > uint32_t(GgufValueType::Float64))
      return makeError(path + ": key " + ggufQuote(kv.key) +
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
    std::string q = ggufQuote(t.name);
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
    std::string q = ggufQuote(t.name);
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

} // namespace qopt::loaders
