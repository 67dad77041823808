//===- TorchZip.h - torch.save zip checkpoint reader ---------*- C++ -*-===//
//
// Reads the zip container written by torch.save (torch >= 1.6): the central
// directory (zip64 too), the local headers (to find each record's data), and
// data.pkl through the non-executing pickle machine. Tensors become
// TensorInfos pointing into the `data/<key>` records. No tensor bytes are
// read.
//
//===----------------------------------------------------------------------===//

#ifndef QOPT_LOADERS_TORCHZIP_H
#define QOPT_LOADERS_TORCHZIP_H

#include "qopt/Loaders/Checkpoint.h"

#include "llvm/ADT/StringRef.h"
#include "llvm/Support/Error.h"

#include <cstdint>
#include <string>
#include <vector>

namespace qopt::loaders {

class RandomAccessFile;

/// One stored (uncompressed) entry of a zip archive.
struct ZipEntry {
  std::string name;
  /// Offset of the local file header.
  uint64_t headerOffset = 0;
  /// Offset of the first payload byte (after the local name and extra field).
  uint64_t dataOffset = 0;
  /// Payload length.
  uint64_t size = 0;
};

/// Reads the directory of the zip `file` in central-directory order. Rejects:
/// no end-of-central-directory record, multi-disk archives, compressed or
/// encrypted entries, local headers that do not match the central directory,
/// duplicate names, entries overlapping each other or the central directory,
/// and anything past the end of the file.
llvm::Expected<std::vector<ZipEntry>>
readZipDirectory(const RandomAccessFile &file);

/// Reads the header of the torch.save zip checkpoint `path`. Tensors are in
/// state-dict insertion order; None values are skipped. offset = record data
/// offset + storage_offset * element size; strides are kept as pickled; the
/// record must hold the storage's bytes and every view must stay inside its
/// storage. Legacy (pre-1.6) and tar checkpoints fail with "<path>:
/// unsupported legacy PyTorch format; re-save with torch>=1.6".
llvm::Expected<CheckpointFile> readTorchZipHeader(llvm::StringRef path);

} // namespace qopt::loaders

#endif // QOPT_LOADERS_TORCHZIP_H
