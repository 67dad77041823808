//===- Safetensors.h - safetensors header reader -------------*- C++ -*-===//
//
// Reads and validates the JSON header of a `.safetensors` file exactly as the
// reference reader (`SafeTensors::read_metadata`) does, plus duplicate-key
// detection. No tensor bytes are read.
//
//===----------------------------------------------------------------------===//

#ifndef QOPT_LOADERS_SAFETENSORS_H
#define QOPT_LOADERS_SAFETENSORS_H

#include "qopt/Loaders/Checkpoint.h"

#include "llvm/ADT/StringRef.h"
#include "llvm/Support/Error.h"

#include <cstdint>
#include <optional>

namespace qopt::loaders {

/// The reference reader's limit on the header length N.
constexpr uint64_t kSafetensorsMaxHeaderBytes = 100000000;

/// Reads the header of the safetensors file `path`. Checks, in the reference
/// order: file length >= 8; N <= 100,000,000; 8 + N <= file length; UTF-8;
/// JSON shape (object of {dtype, shape, data_offsets} plus an optional
/// string->string `__metadata__`); known dtype; no duplicate keys; tensors
/// sorted by (begin, end) tile the data buffer from 0 with no hole or
/// overlap; numel * size without overflow and equal to end - begin; file
/// length == 8 + N + end of the last tensor.
///
/// Tensors are returned in lexicographic byte order of their names (what
/// MLC's `safe_open(...).keys()` yields). Offsets are absolute
/// (8 + N + begin); strides are empty.
llvm::Expected<CheckpointFile> readSafetensorsHeader(llvm::StringRef path);

/// The DType of a safetensors dtype code, or nullopt for a code quant-opt
/// does not support or does not know.
std::optional<numerics::DType> safetensorsDType(llvm::StringRef code);

} // namespace qopt::loaders

#endif // QOPT_LOADERS_SAFETENSORS_H
