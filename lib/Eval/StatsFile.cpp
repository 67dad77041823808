//===- StatsFile.cpp - A streamed safetensors writer ------------*- C++ -*-===//
//
// Part of quant-opt. See Calibration.h (StatsFileWriter).
//
//===----------------------------------------------------------------------===//

#include "qopt/Eval/Calibration.h"

#include "llvm/ADT/SmallString.h"
#include "llvm/ADT/Twine.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/Path.h"
#include "llvm/Support/Signals.h"

#include <nlohmann/json.hpp>

#include <cerrno>
#include <cstring>
#include <unistd.h>

namespace qopt::eval {

static llvm::Error makeError(const llvm::Twine &msg) {
  return llvm::createStringError(llvm::inconvertibleErrorCode(), msg);
}

uint64_t StatsTensor::bytes() const {
  uint64_t n = isInt64 ? 8 : 4;
  for (int64_t d : shape)
    n *= uint64_t(d);
  return n;
}

/// Writes all of `bytes` to `fd`, retrying short writes.
static llvm::Error writeAll(int fd, const void *data, uint64_t bytes,
                            llvm::StringRef path) {
  const char *p = static_cast<const char *>(data);
  while (bytes > 0) {
    ssize_t n = ::write(fd, p, bytes);
    if (n < 0 && errno == EINTR)
      continue;
    if (n <= 0)
      return makeError(path + ": cannot write: " +
                       std::strerror(n < 0 ? errno : EIO));
    p += n;
    bytes -= uint64_t(n);
  }
  return llvm::Error::success();
}

llvm::Expected<std::unique_ptr<StatsFileWriter>> StatsFileWriter::create(
    llvm::StringRef path,
    llvm::ArrayRef<std::pair<std::string, std::string>> metadata,
    std::vector<StatsTensor> tensors) {
  // The header: __metadata__ first, then the tensors in file order.
  nlohmann::ordered_json header = nlohmann::ordered_json::object();
  nlohmann::ordered_json meta = nlohmann::ordered_json::object();
  for (const auto &[key, value] : metadata)
    meta[key] = value;
  header["__metadata__"] = meta;
  uint64_t offset = 0;
  for (const StatsTensor &t : tensors) {
    if (header.contains(t.name))
      return makeError(path + ": tensor '" + t.name + "' declared twice");
    uint64_t end = offset + t.bytes();
    header[t.name] = {{"dtype", t.isInt64 ? "I64" : "F32"},
                      {"shape", t.shape},
                      {"data_offsets", {offset, end}}};
    offset = end;
  }
  std::string text = header.dump();
  text.append((8 - text.size() % 8) % 8, ' ');
  uint64_t length = text.size();
  char prefix[8];
  for (int i = 0; i < 8; ++i)
    prefix[i] = char((length >> (8 * i)) & 0xFF);

  std::unique_ptr<StatsFileWriter> w(new StatsFileWriter());
  w->path = path.str();
  w->tensors = std::move(tensors);
  llvm::SmallString<256> model(path);
  model += ".partial-%%%%%%";
  llvm::SmallString<256> temp;
  if (std::error_code ec = llvm::sys::fs::createUniqueFile(model, w->fd, temp))
    return makeError(path + ": cannot create a temporary file next to it: " +
                     ec.message());
  w->tempPath = temp.str().str();
  llvm::sys::RemoveFileOnSignal(w->tempPath);
  if (auto e = writeAll(w->fd, prefix, 8, w->tempPath))
    return std::move(e);
  if (auto e = writeAll(w->fd, text.data(), text.size(), w->tempPath))
    return std::move(e);
  return std::move(w);
}

StatsFileWriter::~StatsFileWriter() {
  if (fd >= 0)
    ::close(fd);
  if (!committed && !tempPath.empty()) {
    llvm::sys::fs::remove(tempPath);
    llvm::sys::DontRemoveFileOnSignal(tempPath);
  }
}

llvm::Error StatsFileWriter::append(llvm::StringRef tensor, const void *data,
                                    uint64_t bytes) {
  // Move on from a completed tensor (a zero-size tensor is complete at once).
  while (current < tensors.size() &&
         writtenOfCurrent == tensors[current].bytes() &&
         tensors[current].name != tensor) {
    ++current;
    writtenOfCurrent = 0;
  }
  if (current == tensors.size() || tensors[current].name != tensor)
    return makeError(path + ": internal error: tensor '" + tensor +
                     "' written out of the declared order");
  if (writtenOfCurrent + bytes > tensors[current].bytes())
    return makeError(path + ": internal error: too many bytes for tensor '" +
                     tensor + "'");
  writtenOfCurrent += bytes;
  return writeAll(fd, data, bytes, tempPath);
}

llvm::Error StatsFileWriter::commit() {
  while (current < tensors.size() &&
         writtenOfCurrent == tensors[current].bytes()) {
    ++current;
    writtenOfCurrent = 0;
  }
  if (current != tensors.size())
    return makeError(path + ": internal error: tensor '" +
                     tensors[current].name + "' is incomplete");
  if (::fsync(fd) != 0)
    return makeError(tempPath + ": cannot sync: " + std::strerror(errno));
  int closing = fd;
  fd = -1;
  if (::close(closing) != 0)
    return makeError(tempPath + ": cannot close: " + std::strerror(errno));
  if (std::error_code ec = llvm::sys::fs::rename(tempPath, path))
    return makeError(path + ": cannot rename " + tempPath + " to it: " +
                     ec.message());
  committed = true;
  llvm::sys::DontRemoveFileOnSignal(tempPath);
  return llvm::Error::success();
}

} // namespace qopt::eval
