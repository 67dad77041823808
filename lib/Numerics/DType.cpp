//===- DType.cpp - Element type names ---------------------------*- C++ -*-===//
//
// The TVM and safetensors spellings of each DType.
//
//===----------------------------------------------------------------------===//

#include "qopt/Numerics/DType.h"

#include <array>

namespace qopt::numerics {

namespace {
struct DTypeNames {
  DType type;
  std::string_view tvm;
  std::string_view safetensors;
};
} // namespace

static constexpr std::array<DTypeNames, 15> kNames = {{
    {DType::Bool, "bool", "BOOL"},
    {DType::U8, "uint8", "U8"},
    {DType::I8, "int8", "I8"},
    {DType::I16, "int16", "I16"},
    {DType::U16, "uint16", "U16"},
    {DType::I32, "int32", "I32"},
    {DType::U32, "uint32", "U32"},
    {DType::I64, "int64", "I64"},
    {DType::U64, "uint64", "U64"},
    {DType::F16, "float16", "F16"},
    {DType::BF16, "bfloat16", "BF16"},
    {DType::F32, "float32", "F32"},
    {DType::F64, "float64", "F64"},
    {DType::F8E4M3FN, "float8_e4m3fn", "F8_E4M3"},
    {DType::F8E5M2, "float8_e5m2", "F8_E5M2"},
}};

// The table is indexed by the enumerator value.
static constexpr bool namesAreInEnumOrder() {
  for (size_t i = 0; i < kNames.size(); ++i)
    if (static_cast<size_t>(kNames[i].type) != i)
      return false;
  return true;
}
static_assert(namesAreInEnumOrder(), "kNames must follow the DType order");

static const DTypeNames *lookup(DType t) {
  auto index = static_cast<size_t>(t);
  if (index >= kNames.size())
    return nullptr;
  return &kNames[index];
}

std::string_view tvmName(DType t) {
  const DTypeNames *names = lookup(t);
  return names ? names->tvm : std::string_view();
}

std::optional<DType> parseTvmName(std::string_view name) {
  for (const DTypeNames &names : kNames)
    if (names.tvm == name)
      return names.type;
  return std::nullopt;
}

std::optional<DType> parseSafetensorsCode(std::string_view code) {
  for (const DTypeNames &names : kNames)
    if (names.safetensors == code)
      return names.type;
  return std::nullopt;
}

std::string_view safetensorsCode(DType t) {
  const DTypeNames *names = lookup(t);
  return names ? names->safetensors : std::string_view();
}

} // namespace qopt::numerics
