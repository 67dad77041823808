//===- Pickle.h - Non-executing reader of torch.save pickles --*- C++ -*-===//
//
// A stack machine over the protocol-2 opcode subset that torch.save writes
// (docs/source-formats.md section 2). It executes nothing: globals are tagged
// symbols from a fixed allow-list, REDUCE only "calls" the tensor rebuild
// functions, collections.OrderedDict, torch.Size and _codecs.encode, and
// persistent ids become storage references. Stack, memo and object counts
// are capped, so a hostile pickle cannot exhaust memory.
//
//===----------------------------------------------------------------------===//

#ifndef QOPT_LOADERS_PICKLE_H
#define QOPT_LOADERS_PICKLE_H

#include "qopt/Numerics/DType.h"

#include "llvm/ADT/StringRef.h"
#include "llvm/Support/Error.h"

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace qopt::loaders {

/// A storage named by a persistent id
/// ('storage', torch.<X>Storage, key, location, numel).
struct PickleStorage {
  /// Record name under `<archive>/data/`.
  std::string key;
  /// The element type of a typed storage; nullopt for torch.UntypedStorage.
  std::optional<numerics::DType> dtype;
  /// The pid's element count (bytes for an untyped storage).
  uint64_t numel = 0;
  /// numel * element size, checked for overflow.
  uint64_t nbytes = 0;
};

/// A tensor built by _rebuild_tensor_v2/_v3 (optionally wrapped in
/// _rebuild_parameter): a view onto one storage.
struct PickleTensor {
  /// Index into TorchPickle::storages.
  size_t storage = 0;
  numerics::DType dtype = numerics::DType::U8;
  /// In elements of `dtype`.
  int64_t storageOffset = 0;
  std::vector<int64_t> size;
  /// In elements of `dtype`, same length as `size`.
  std::vector<int64_t> stride;
};

/// One key of the top-level state dict.
struct PickleEntry {
  std::string name;
  /// nullopt when the value is None.
  std::optional<PickleTensor> tensor;
};

/// The state dict of a data.pkl.
struct TorchPickle {
  /// Distinct storages in first-seen order.
  std::vector<PickleStorage> storages;
  /// Entries in insertion order.
  std::vector<PickleEntry> entries;
};

/// Resource caps of the pickle machine.
struct PickleLimits {
  uint64_t maxStack = 1u << 22;
  uint64_t maxMemo = 1u << 22;
  uint64_t maxObjects = 1u << 22;
};

/// Runs the pickle `data` (the `recordName` record of `fileName`) and returns
/// its top-level dict of tensors. The top-level object must be a dict or an
/// OrderedDict with string keys and tensor (or None) values. Errors read
/// "<fileName>: <problem> in <recordName> at byte <pos>", e.g.
/// "m.bin: unsupported pickle global 'os.system' in data.pkl at byte 57".
llvm::Expected<TorchPickle> parseTorchPickle(llvm::StringRef data,
                                             llvm::StringRef fileName,
                                             llvm::StringRef recordName,
                                             const PickleLimits &limits = {});

} // namespace qopt::loaders

#endif // QOPT_LOADERS_PICKLE_H
