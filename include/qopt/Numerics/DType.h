//===- DType.h - Element types shared by loaders, numerics, writer -*- C++ -*-===//
//
// The one vocabulary of element types used outside MLIR: checkpoint readers
// report it, the numerics library converts between its members, and the
// tensor-cache writer prints its TVM name. No MLIR dependency.
//
//===----------------------------------------------------------------------===//

#ifndef QOPT_NUMERICS_DTYPE_H
#define QOPT_NUMERICS_DTYPE_H

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string_view>

namespace qopt::numerics {

/// Element types a checkpoint or a tensor cache can hold.
enum class DType : uint8_t {
  Bool,
  U8,
  I8,
  I16,
  U16,
  I32,
  U32,
  I64,
  U64,
  F16,
  BF16,
  F32,
  F64,
  F8E4M3FN,
  F8E5M2,
};

/// Bytes per element.
constexpr size_t dtypeSize(DType t) {
  switch (t) {
  case DType::Bool:
  case DType::U8:
  case DType::I8:
  case DType::F8E4M3FN:
  case DType::F8E5M2:
    return 1;
  case DType::I16:
  case DType::U16:
  case DType::F16:
  case DType::BF16:
    return 2;
  case DType::I32:
  case DType::U32:
  case DType::F32:
    return 4;
  case DType::I64:
  case DType::U64:
  case DType::F64:
    return 8;
  }
  return 0;
}

constexpr bool isFloat(DType t) {
  return t == DType::F16 || t == DType::BF16 || t == DType::F32 ||
         t == DType::F64 || t == DType::F8E4M3FN || t == DType::F8E5M2;
}

/// The name TVM (and so tensor-cache.json) uses: "float16", "uint32", ...
std::string_view tvmName(DType t);
/// Inverse of tvmName.
std::optional<DType> parseTvmName(std::string_view name);
/// The safetensors dtype code: "F16", "BF16", ... (nullopt for none).
std::optional<DType> parseSafetensorsCode(std::string_view code);
std::string_view safetensorsCode(DType t);

} // namespace qopt::numerics

#endif // QOPT_NUMERICS_DTYPE_H
