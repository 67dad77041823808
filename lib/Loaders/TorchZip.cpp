//===- TorchZip.cpp - torch.save zip checkpoint reader -------------------===//
//
// Part of quant-opt.
//
// Zip layout per APPNOTE.TXT 4.3 (stored entries only) and torch's writer
// (caffe2/serialize/inline_container.cc); docs/source-formats.md section 2.
//
//===----------------------------------------------------------------------===//

#include "qopt/Loaders/TorchZip.h"

#include "qopt/Loaders/Pickle.h"
#include "qopt/Loaders/TensorReader.h"

#include "llvm/ADT/StringExtras.h"
#include "llvm/Support/Endian.h"
#include "llvm/Support/MathExtras.h"

#include <algorithm>
#include <unordered_map>
#include <unordered_set>

namespace qopt::loaders {

namespace endian = llvm::support::endian;

static llvm::Error makeError(const llvm::Twine &msg) {
  return llvm::createStringError(llvm::inconvertibleErrorCode(), msg.str());
}

/// Printable form of an untrusted entry name.
static std::string printable(llvm::StringRef s) {
  std::string out;
  for (unsigned char c : s) {
    if (c >= 0x20 && c < 0x7f && c != '\\' && c != '\'') {
      out += char(c);
    } else {
      out += "\\x";
      out += llvm::hexdigit(c >> 4, true);
      out += llvm::hexdigit(c & 15, true);
    }
  }
  return out;
}

static constexpr uint32_t kLocalHeaderSig = 0x04034b50;
static constexpr uint32_t kCentralHeaderSig = 0x02014b50;
static constexpr uint32_t kEocdSig = 0x06054b50;
static constexpr uint32_t kZip64EocdSig = 0x06064b50;
static constexpr uint32_t kZip64LocatorSig = 0x07064b50;
static constexpr uint64_t kEocdSize = 22;
static constexpr uint64_t kZip64EocdSize = 56;
static constexpr uint64_t kZip64LocatorSize = 20;
static constexpr uint64_t kCentralHeaderSize = 46;
static constexpr uint64_t kLocalHeaderSize = 30;
/// Largest central directory and data.pkl accepted.
static constexpr uint64_t kMaxDirectoryBytes = 256ull << 20;
static constexpr uint64_t kMaxPickleBytes = 256ull << 20;

static uint16_t rd16(llvm::StringRef s, size_t at) {
  return endian::read16le(s.data() + at);
}
static uint32_t rd32(llvm::StringRef s, size_t at) {
  return endian::read32le(s.data() + at);
}
static uint64_t rd64(llvm::StringRef s, size_t at) {
  return endian::read64le(s.data() + at);
}

llvm::Expected<std::vector<ZipEntry>>
readZipDirectory(const RandomAccessFile &file) {
  const std::string &f = file.path();
  uint64_t size = file.size();

  // End of central directory: the last 22 + comment bytes of the file.
  uint64_t tailLen = std::min<uint64_t>(size, kEocdSize + 0xFFFF);
  llvm::Expected<std::string> tailOr = file.readString(size - tailLen, tailLen);
  if (!tailOr)
    return tailOr.takeError();
  llvm::StringRef tail(*tailOr);
  std::optional<uint64_t> eocdInTail;
  for (uint64_t i = tailLen >= kEocdSize ? tailLen - kEocdSize + 1 : 0;
       i-- > 0;) {
    if (rd32(tail, i) == kEocdSig &&
        i + kEocdSize + rd16(tail, i + 20) == tailLen) {
      eocdInTail = i;
      break;
    }
  }
  if (!eocdInTail)
    return makeError(f + ": truncated or not a zip archive (no end of "
                         "central directory record)");
  uint64_t eocdPos = size - tailLen + *eocdInTail;
  llvm::StringRef eocd = tail.substr(*eocdInTail, kEocdSize);
  uint64_t disk = rd16(eocd, 4), cdDisk = rd16(eocd, 6);
  uint64_t entriesOnDisk = rd16(eocd, 8), entries = rd16(eocd, 10);
  uint64_t cdSize = rd32(eocd, 12), cdOffset = rd32(eocd, 16);
  uint64_t cdLimit = eocdPos; // The directory must end before this.

  // Zip64: a locator right before the classic record.
  bool haveLocator = false;
  if (eocdPos >= kZip64LocatorSize) {
    char loc[kZip64LocatorSize];
    if (llvm::Error e =
            file.readAt(eocdPos - kZip64LocatorSize, kZip64LocatorSize, loc))
      return e;
    llvm::StringRef locator(loc, kZip64LocatorSize);
    if (rd32(locator, 0) == kZip64LocatorSig) {
      haveLocator = true;
      uint64_t z64Pos = rd64(locator, 8);
      if (rd32(locator, 4) != 0 || rd32(locator, 16) > 1)
        return makeError(f + ": multi-disk zip archives are not supported");
      if (z64Pos > eocdPos - kZip64LocatorSize ||
          eocdPos - kZip64LocatorSize - z64Pos < kZip64EocdSize)
        return makeError(f + ": zip64 end of central directory offset " +
                         llvm::Twine(z64Pos) + " is out of range");
      llvm::Expected<std::string> recOr =
          file.readString(z64Pos, kZip64EocdSize);
      if (!recOr)
        return recOr.takeError();
      llvm::StringRef rec(*recOr);
      if (rd32(rec, 0) != kZip64EocdSig)
        return makeError(f + ": bad zip64 end of central directory record "
                             "signature");
      disk = rd32(rec, 16);
      cdDisk = rd32(rec, 20);
      entriesOnDisk = rd64(rec, 24);
      entries = rd64(rec, 32);
      cdSize = rd64(rec, 40);
      cdOffset = rd64(rec, 48);
      cdLimit = z64Pos;
    }
  }
  if (!haveLocator &&
      (entries == 0xFFFF || cdSize == 0xFFFFFFFF || cdOffset == 0xFFFFFFFF))
    return makeError(f + ": zip64 archive without a zip64 end of central "
                         "directory locator");
  if (disk != 0 || cdDisk != 0 || entriesOnDisk != entries)
    return makeError(f + ": multi-disk zip archives are not supported");
  if (cdOffset > cdLimit || cdSize > cdLimit - cdOffset)
    return makeError(f + ": central directory [" + llvm::Twine(cdOffset) +
                     ", +" + llvm::Twine(cdSize) +
                     ") runs past the end of the archive");
  if (cdSize > kMaxDirectoryBytes)
    return makeError(f + ": central directory is larger than " +
                     llvm::Twine(kMaxDirectoryBytes) + " bytes");
  if (entries > cdSize / kCentralHeaderSize)
    return makeError(f + ": central directory of " + llvm::Twine(cdSize) +
                     " bytes cannot hold " + llvm::Twine(entries) + " entries");
  llvm::Expected<std::string> cdOr = file.readString(cdOffset, cdSize);
  if (!cdOr)
    return cdOr.takeError();
  llvm::StringRef cd(*cdOr);

  std::vector<ZipEntry> out;
  out.reserve(entries);
  std::unordered_set<std::string> names;
  uint64_t p = 0;
  for (uint64_t n = 0; n < entries; ++n) {
    if (cd.size() - p < kCentralHeaderSize || rd32(cd, p) != kCentralHeaderSig)
      return makeError(f + ": bad central directory entry #" + llvm::Twine(n));
    uint16_t flags = rd16(cd, p + 8);
    uint16_t method = rd16(cd, p + 10);
    uint64_t csize = rd32(cd, p + 20);
    uint64_t usize = rd32(cd, p + 24);
    uint64_t nameLen = rd16(cd, p + 28);
    uint64_t extraLen = rd16(cd, p + 30);
    uint64_t commentLen = rd16(cd, p + 32);
    uint64_t diskStart = rd16(cd, p + 34);
    uint64_t headerOffset = rd32(cd, p + 42);
    if (cd.size() - p - kCentralHeaderSize < nameLen + extraLen + commentLen)
      return makeError(f + ": central directory entry #" + llvm::Twine(n) +
                       " runs past the directory");
    std::string name = cd.substr(p + kCentralHeaderSize, nameLen).str();
    llvm::StringRef extra =
        cd.substr(p + kCentralHeaderSize + nameLen, extraLen);
    p += kCentralHeaderSize + nameLen + extraLen + commentLen;
    std::string q = "zip entry '" + printable(name) + "'";

    // Zip64 extended information (header id 1): the fields that are
    // saturated in the fixed header, in this order.
    for (size_t x = 0; x + 4 <= extra.size();) {
      uint16_t id = rd16(extra, x);
      uint16_t len = rd16(extra, x + 2);
      if (extra.size() - x - 4 < len)
        return makeError(f + ": " + q + " has a malformed extra field");
      if (id == 1) {
        llvm::StringRef z = extra.substr(x + 4, len);
        size_t at = 0;
        for (uint64_t *field : {&usize, &csize, &headerOffset}) {
          if (*field != 0xFFFFFFFF)
            continue;
          if (z.size() - at < 8)
            return makeError(f + ": " + q + " has a short zip64 extra field");
          *field = rd64(z, at);
          at += 8;
        }
        if (diskStart == 0xFFFF) {
          if (z.size() - at < 4)
            return makeError(f + ": " + q + " has a short zip64 extra field");
          diskStart = rd32(z, at);
        }
      }
      x += 4 + len;
    }
    if (flags & 1)
      return makeError(f + ": " + q + " is encrypted");
    if (method != 0)
      return makeError(f + ": " + q + " is compressed (method " +
                       llvm::Twine(method) +
                       "); only stored entries are supported");
    if (csize != usize)
      return makeError(f + ": " + q + " is stored but its compressed size " +
                       llvm::Twine(csize) + " differs from its size " +
                       llvm::Twine(usize));
    if (diskStart != 0)
      return makeError(f + ": multi-disk zip archives are not supported");
    if (!names.insert(name).second)
      return makeError(f + ": duplicate zip entry '" + printable(name) + "'");

    // The local header gives the data offset.
    if (headerOffset > cdOffset || cdOffset - headerOffset < kLocalHeaderSize)
      return makeError(f + ": " + q + " local header at offset " +
                       llvm::Twine(headerOffset) +
                       " overlaps the central directory");
    char lh[kLocalHeaderSize];
    if (llvm::Error e = file.readAt(headerOffset, kLocalHeaderSize, lh))
      return e;
    llvm::StringRef local(lh, kLocalHeaderSize);
    if (rd32(local, 0) != kLocalHeaderSig)
      return makeError(f + ": " + q + " has no local header at offset " +
                       llvm::Twine(headerOffset));
    if (rd16(local, 8) != 0)
      return makeError(f + ": " + q + " is compressed in its local header");
    uint64_t localName = rd16(local, 26), localExtra = rd16(local, 28);
    uint64_t dataOffset =
        headerOffset + kLocalHeaderSize + localName + localExtra;
    if (dataOffset > cdOffset || usize > cdOffset - dataOffset)
      return makeError(f + ": " + q + " data [" + llvm::Twine(dataOffset) +
                       ", +" + llvm::Twine(usize) +
                       ") overlaps the central directory at " +
                       llvm::Twine(cdOffset));
    llvm::Expected<std::string> lname =
        file.readString(headerOffset + kLocalHeaderSize, localName);
    if (!lname)
      return lname.takeError();
    if (*lname != name)
      return makeError(f + ": " + q + " is named '" + printable(*lname) +
                       "' in its local header");
    out.push_back({std::move(name), headerOffset, dataOffset, usize});
  }

  // Entries must not share bytes.
  std::vector<const ZipEntry *> sorted;
  for (const ZipEntry &e : out)
    sorted.push_back(&e);
  std::sort(sorted.begin(), sorted.end(),
            [](const ZipEntry *a, const ZipEntry *b) {
              return a->headerOffset < b->headerOffset;
            });
  for (size_t i = 1; i < sorted.size(); ++i) {
    const ZipEntry &a = *sorted[i - 1];
    const ZipEntry &b = *sorted[i];
    if (a.dataOffset + a.size > b.headerOffset)
      return makeError(f + ": zip entries '" + printable(a.name) + "' and '" +
                       printable(b.name) + "' overlap");
  }
  return out;
}

//===----------------------------------------------------------------------===//
// Checkpoint
//===----------------------------------------------------------------------===//

llvm::Expected<CheckpointFile> readTorchZipHeader(llvm::StringRef path) {
  std::string f = path.str();
  llvm::Expected<RandomAccessFile> fileOr = RandomAccessFile::open(f);
  if (!fileOr)
    return fileOr.takeError();
  const RandomAccessFile &file = *fileOr;

  // Container detection (docs/source-formats.md section 2).
  llvm::Expected<std::string> headOr =
      file.readString(0, std::min<uint64_t>(file.size(), 512));
  if (!headOr)
    return headOr.takeError();
  llvm::StringRef head(*headOr);
  static const char kLegacyMagic[] =
      "\x80\x02\x8a\x0a\x6c\xfc\x9c\x46\xf9\x20\x6a\xa8\x50\x19";
  bool isTar = head.size() >= 262 && head.substr(257, 5) == "ustar";
  if (head.starts_with(llvm::StringRef(kLegacyMagic, 14)) || isTar)
    return makeError(f + ": unsupported legacy PyTorch format; re-save with "
                         "torch>=1.6");
  if (!head.starts_with(llvm::StringRef("PK\x03\x04", 4)))
    return makeError(f + ": not a PyTorch zip checkpoint (no zip signature)");

  llvm::Expected<std::vector<ZipEntry>> entriesOr = readZipDirectory(file);
  if (!entriesOr)
    return entriesOr.takeError();
  const std::vector<ZipEntry> &entries = *entriesOr;
  if (entries.empty())
    return makeError(f + ": zip archive has no entries");
  size_t slash = entries.front().name.find('/');
  if (slash == std::string::npos)
    return makeError(f + ": file in archive is not in a subdirectory: '" +
                     printable(entries.front().name) + "'");
  std::string prefix = entries.front().name.substr(0, slash + 1);
  std::unordered_map<std::string, const ZipEntry *> byName;
  for (const ZipEntry &e : entries)
    byName.emplace(e.name, &e);

  if (auto it = byName.find(prefix + "byteorder"); it != byName.end()) {
    const ZipEntry &e = *it->second;
    llvm::Expected<std::string> order =
        file.readString(e.dataOffset, std::min<uint64_t>(e.size, 16));
    if (!order)
      return order.takeError();
    if (*order == "big")
      return makeError(f + ": big-endian checkpoints are not supported");
    if (*order != "little")
      return makeError(f + ": unknown byteorder '" + printable(*order) + "'");
  }

  auto pklIt = byName.find(prefix + "data.pkl");
  if (pklIt == byName.end())
    return makeError(f + ": archive has no record '" + printable(prefix) +
                     "data.pkl'");
  const ZipEntry &pkl = *pklIt->second;
  if (pkl.size > kMaxPickleBytes)
    return makeError(f + ": data.pkl is larger than " +
                     llvm::Twine(kMaxPickleBytes) + " bytes");
  llvm::Expected<std::string> pickleBytes =
      file.readString(pkl.dataOffset, pkl.size);
  if (!pickleBytes)
    return pickleBytes.takeError();
  llvm::Expected<TorchPickle> pickle =
      parseTorchPickle(*pickleBytes, f, "data.pkl");
  if (!pickle)
    return pickle.takeError();

  CheckpointFile out;
  out.path = f;
  out.format = SourceFormat::HFTorch;
  for (const PickleEntry &entry : pickle->entries) {
    if (!entry.tensor)
      continue; // MLC skips None values.
    const PickleTensor &t = *entry.tensor;
    const PickleStorage &storage = pickle->storages[t.storage];
    auto fail = [&](const llvm::Twine &msg) {
      return makeError(f + ": tensor '" + entry.name + "': " + msg);
    };
    std::string recordName = prefix + "data/" + storage.key;
    auto recIt = byName.find(recordName);
    if (recIt == byName.end())
      return fail("storage record '" + printable(recordName) + "' is missing");
    const ZipEntry &record = *recIt->second;
    if (storage.nbytes > record.size)
      return fail("storage '" + printable(storage.key) + "' needs " +
                  llvm::Twine(storage.nbytes) + " bytes but record '" +
                  printable(recordName) + "' has " + llvm::Twine(record.size));

    uint64_t elem = numerics::dtypeSize(t.dtype);
    // Every partial product must fit in int64 (TensorInfo::numElements
    // multiplies in this order; a later zero does not undo an overflow).
    bool overflow = false;
    uint64_t numel = 1;
    for (int64_t d : t.size) {
      bool step = false;
      numel = llvm::SaturatingMultiply(numel, uint64_t(d), &step);
      overflow |= step || numel > uint64_t(INT64_MAX);
    }
    if (overflow ||
        llvm::SaturatingMultiply(numel, elem, &overflow) >
            uint64_t(INT64_MAX) ||
        overflow)
      return fail("shape " + formatShape(t.size) + " overflows the byte count");
    // The view reaches elements [offset, offset + sum((size-1)*stride)].
    uint64_t last = uint64_t(t.storageOffset);
    if (numel > 0)
      for (size_t i = 0; i < t.size.size(); ++i)
        last = llvm::SaturatingAdd(
            last,
            llvm::SaturatingMultiply(uint64_t(t.size[i] - 1),
                                     uint64_t(t.stride[i]), &overflow),
            &overflow);
    uint64_t needed = llvm::SaturatingMultiply(
        llvm::SaturatingAdd(last, uint64_t(numel > 0 ? 1 : 0), &overflow), elem,
        &overflow);
    if (overflow || needed > storage.nbytes)
      return fail("view (storage offset " + llvm::Twine(t.storageOffset) +
                  ", shape " + formatShape(t.size) + ", strides " +
                  formatShape(t.stride) + ") reaches outside storage '" +
                  printable(storage.key) + "' of " +
                  llvm::Twine(storage.nbytes) + " bytes");
    uint64_t startByte = uint64_t(t.storageOffset) * elem;
    TensorInfo info;
    info.name = entry.name;
    info.dtype = t.dtype;
    info.shape = t.size;
    info.file = f;
    info.offset = record.dataOffset + startByte;
    info.strides = t.stride;
    info.storageBytes = storage.nbytes - startByte;
    out.tensors.push_back(std::move(info));
  }
  return out;
}

} // namespace qopt::loaders
