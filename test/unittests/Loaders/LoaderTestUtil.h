//===- LoaderTestUtil.h - Helpers for the loader tests --------*- C++ -*-===//
//
// Independent writers for the test inputs: a tiny zip writer (stored entries,
// 64-byte aligned payloads like torch.save, zip64 end records), a pickle
// writer whose every method appends one opcode with the bytes documented, and
// file helpers. None of this uses the code under test.
//
//===----------------------------------------------------------------------===//

#ifndef QOPT_TEST_UNITTESTS_LOADERS_LOADERTESTUTIL_H
#define QOPT_TEST_UNITTESTS_LOADERS_LOADERTESTUTIL_H

#include "llvm/Support/Error.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

namespace qopt::loaders::test {

/// Path of a committed test input.
inline std::string inputPath(const std::string &rel) {
  return std::string(QOPT_TEST_INPUTS) + "/" + rel;
}

/// A fresh scratch directory for one test.
inline std::string scratchDir(const std::string &name) {
  std::filesystem::path dir =
      std::filesystem::path(QOPT_TEST_TMPDIR) / "loaders-scratch" / name;
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  return dir.string();
}

inline void writeFile(const std::string &path, const std::string &bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), std::streamsize(bytes.size()));
  ASSERT_TRUE(out.good()) << "cannot write " << path;
}

inline std::string readFile(const std::string &path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

inline std::string le16(uint16_t v) { return {char(v & 0xFF), char(v >> 8)}; }
inline std::string le32(uint32_t v) {
  std::string s;
  for (int i = 0; i < 4; ++i)
    s += char((v >> (8 * i)) & 0xFF);
  return s;
}
inline std::string le64(uint64_t v) {
  std::string s;
  for (int i = 0; i < 8; ++i)
    s += char((v >> (8 * i)) & 0xFF);
  return s;
}

/// The message of a failed Expected ("<success>" if it did not fail).
template <typename T>
std::string errorOf(llvm::Expected<T> &&e) {
  if (e)
    return "<success>";
  return llvm::toString(e.takeError());
}
inline std::string errorOf(llvm::Error e) {
  if (!e)
    return "<success>";
  return llvm::toString(std::move(e));
}

//===----------------------------------------------------------------------===//
// Zip writer
//===----------------------------------------------------------------------===//

inline uint32_t crc32(const std::string &data) {
  uint32_t crc = 0xFFFFFFFFu;
  for (unsigned char c : data) {
    crc ^= c;
    for (int k = 0; k < 8; ++k)
      crc = (crc >> 1) ^ (0xEDB88320u & (0u - (crc & 1u)));
  }
  return ~crc;
}

struct ZipMember {
  std::string name;
  std::string data;
  /// 0 = stored, 8 = deflate (the data is then written as-is: the reader
  /// must refuse it before looking at the bytes).
  uint16_t method = 0;
};

struct BuiltZip {
  std::string bytes;
  std::vector<uint64_t> headerOffsets;
  std::vector<uint64_t> dataOffsets;
  /// Offset of each member's central directory record.
  std::vector<uint64_t> centralOffsets;
  uint64_t cdOffset = 0;
  uint64_t cdSize = 0;
};

/// Writes `members` like torch.save does: local header, an "FB" extra field
/// padding the payload to a multiple of 64, the payload; then the central
/// directory, (if `zip64`) the zip64 end record and locator, and the classic
/// end record.
inline BuiltZip buildZip(const std::vector<ZipMember> &members,
                         bool zip64 = true) {
  BuiltZip z;
  for (const ZipMember &m : members) {
    uint64_t off = z.bytes.size();
    uint64_t base = off + 30 + m.name.size() + 4;
    uint64_t pad = (64 - base % 64) % 64;
    std::string extra = "FB" + le16(uint16_t(pad)) + std::string(pad, 'Z');
    std::string local =
        le32(0x04034b50) + le16(20) + le16(0) + le16(m.method) + le16(0) +
        le16(0) + le32(crc32(m.data)) + le32(uint32_t(m.data.size())) +
        le32(uint32_t(m.data.size())) + le16(uint16_t(m.name.size())) +
        le16(uint16_t(extra.size())) + m.name + extra;
    z.headerOffsets.push_back(off);
    z.bytes += local;
    z.dataOffsets.push_back(z.bytes.size());
    z.bytes += m.data;
  }
  z.cdOffset = z.bytes.size();
  for (size_t i = 0; i < members.size(); ++i) {
    const ZipMember &m = members[i];
    z.centralOffsets.push_back(z.bytes.size());
    z.bytes += le32(0x02014b50) + le16(20) + le16(20) + le16(0) +
               le16(m.method) + le16(0) + le16(0) + le32(crc32(m.data)) +
               le32(uint32_t(m.data.size())) + le32(uint32_t(m.data.size())) +
               le16(uint16_t(m.name.size())) + le16(0) + le16(0) + le16(0) +
               le16(0) + le32(0) + le32(uint32_t(z.headerOffsets[i])) + m.name;
  }
  z.cdSize = z.bytes.size() - z.cdOffset;
  uint64_t n = members.size();
  if (zip64) {
    uint64_t z64 = z.bytes.size();
    z.bytes += le32(0x06064b50) + le64(44) + le16(45) + le16(45) + le32(0) +
               le32(0) + le64(n) + le64(n) + le64(z.cdSize) + le64(z.cdOffset);
    z.bytes += le32(0x07064b50) + le32(0) + le64(z64) + le32(1);
  }
  z.bytes += le32(0x06054b50) + le16(0) + le16(0) + le16(uint16_t(n)) +
             le16(uint16_t(n)) + le32(uint32_t(z.cdSize)) +
             le32(uint32_t(z.cdOffset)) + le16(0);
  return z;
}

/// A torch.save-style archive: `<prefix>/data.pkl`, `byteorder`, the
/// storages `<prefix>/data/<key>` in the given order, and `version`.
inline BuiltZip
buildTorchZip(const std::string &pickle,
              const std::vector<std::pair<std::string, std::string>> &storages,
              const std::string &prefix = "archive",
              const std::string &byteorder = "little") {
  std::vector<ZipMember> members;
  members.push_back({prefix + "/data.pkl", pickle});
  members.push_back({prefix + "/byteorder", byteorder});
  for (const auto &[key, data] : storages)
    members.push_back({prefix + "/data/" + key, data});
  members.push_back({prefix + "/version", "3\n"});
  return buildZip(members);
}

//===----------------------------------------------------------------------===//
// Pickle writer
//===----------------------------------------------------------------------===//

/// Appends pickle opcodes; each method writes exactly the bytes named.
class PickleWriter {
public:
  std::string bytes;

  size_t size() const { return bytes.size(); }
  /// 80 02: PROTO 2.
  PickleWriter &proto(uint8_t v = 2) { return raw("\x80").byte(v); }
  /// 'c' module '\n' name '\n': GLOBAL.
  PickleWriter &global(const std::string &module, const std::string &name) {
    return raw("c" + module + "\n" + name + "\n");
  }
  /// 'X' u32 len + bytes: BINUNICODE.
  PickleWriter &str(const std::string &s) {
    return raw("X" + le32(uint32_t(s.size())) + s);
  }
  /// 'K' u8: BININT1.
  PickleWriter &int1(uint8_t v) { return raw("K").byte(v); }
  /// 'J' i32: BININT.
  PickleWriter &int4(int32_t v) { return raw("J" + le32(uint32_t(v))); }
  /// 0x8a 08 + 8 bytes: LONG1 of a 64-bit value.
  PickleWriter &long8(int64_t v) {
    return raw("\x8a").byte(8).raw(le64(uint64_t(v)));
  }
  /// '(': MARK.
  PickleWriter &mark() { return raw("("); }
  /// 't': TUPLE.
  PickleWriter &tuple() { return raw("t"); }
  /// ')': EMPTY_TUPLE.
  PickleWriter &emptyTuple() { return raw(")"); }
  /// '}': EMPTY_DICT.
  PickleWriter &emptyDict() { return raw("}"); }
  /// 'q' u8: BINPUT.
  PickleWriter &put(uint8_t i) { return raw("q").byte(i); }
  /// 'h' u8: BINGET.
  PickleWriter &get(uint8_t i) { return raw("h").byte(i); }
  /// 'Q': BINPERSID.
  PickleWriter &persid() { return raw("Q"); }
  /// 'R': REDUCE.
  PickleWriter &reduce() { return raw("R"); }
  /// 's': SETITEM.
  PickleWriter &setitem() { return raw("s"); }
  /// 'u': SETITEMS.
  PickleWriter &setitems() { return raw("u"); }
  /// 'N': NONE.
  PickleWriter &none() { return raw("N"); }
  /// 0x89: NEWFALSE.
  PickleWriter &newFalse() { return raw("\x89"); }
  /// 'b': BUILD.
  PickleWriter &build() { return raw("b"); }
  /// '.': STOP.
  PickleWriter &stop() { return raw("."); }

  /// GLOBAL collections.OrderedDict, EMPTY_TUPLE, REDUCE.
  PickleWriter &orderedDict() {
    return global("collections", "OrderedDict").emptyTuple().reduce();
  }
  /// MARK 'storage' GLOBAL torch.<cls> key 'cpu' numel TUPLE: a storage pid.
  PickleWriter &storagePid(const std::string &cls, const std::string &key,
                           int32_t numel) {
    return mark()
        .str("storage")
        .global("torch", cls)
        .str(key)
        .str("cpu")
        .int4(numel)
        .tuple();
  }
  /// MARK ints TUPLE.
  PickleWriter &intTuple(const std::vector<int64_t> &v) {
    mark();
    for (int64_t x : v) {
      if (x >= 0 && x <= INT32_MAX)
        int4(int32_t(x));
      else
        long8(x);
    }
    return tuple();
  }
  /// The args after the storage of _rebuild_tensor_v2, then TUPLE and
  /// REDUCE: offset, size, stride, False, OrderedDict().
  PickleWriter &tensorTail(int64_t offset, const std::vector<int64_t> &size,
                           const std::vector<int64_t> &stride) {
    if (offset <= INT32_MAX)
      int4(int32_t(offset));
    else
      long8(offset);
    return intTuple(size)
        .intTuple(stride)
        .newFalse()
        .orderedDict()
        .tuple()
        .reduce();
  }
  /// A whole _rebuild_tensor_v2 call on a new storage pid.
  PickleWriter &tensorV2(const std::string &cls, const std::string &key,
                         int32_t numel, int64_t offset,
                         const std::vector<int64_t> &size,
                         const std::vector<int64_t> &stride) {
    global("torch._utils", "_rebuild_tensor_v2").mark();
    storagePid(cls, key, numel).persid();
    return tensorTail(offset, size, stride);
  }

  PickleWriter &raw(const std::string &s) {
    bytes += s;
    return *this;
  }
  PickleWriter &byte(uint8_t b) {
    bytes += char(b);
    return *this;
  }
};

/// Float32 values as little-endian bytes.
inline std::string floatBytes(const std::vector<float> &v) {
  std::string s(v.size() * 4, '\0');
  std::memcpy(s.data(), v.data(), s.size());
  return s;
}

} // namespace qopt::loaders::test

#endif // QOPT_TEST_UNITTESTS_LOADERS_LOADERTESTUTIL_H
