//===- GgufTypes.cpp - ggml types and GGUF metadata values ---------------===//
//
// Part of quant-opt.
//
// The ggml type table, GGUF value types and the accessors of decoded
// metadata values (docs/gguf.md).
//
//===----------------------------------------------------------------------===//

#include "GgufInternal.h"

#include "llvm/ADT/StringExtras.h"

namespace qopt::loaders {

using numerics::DType;

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

std::optional<DType> ggmlPlainDType(GgmlType type) {
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

std::string ggmlReadableTypeList() {
  std::string out;
  for (const GgmlTypeInfo &t : kGgmlTypes)
    if (ggmlPlainDType(t.type) || canDequantizeGgml(t.type))
      out += (out.empty() ? "" : ", ") + std::string(t.name);
  return out;
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

uint64_t ggufScalarSize(GgufValueType type) {
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

bool ggufIsIntegerType(GgufValueType t) {
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

uint64_t ggufDecodeIntBits(GgufValueType t, const unsigned char *p) {
  uint64_t size = ggufScalarSize(t);
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

bool GgufValue::isInteger() const { return ggufIsIntegerType(type); }

std::optional<int64_t> GgufValue::asInt() const {
  if (!ggufIsIntegerType(type))
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
  if (type != GgufValueType::Array || !ggufIsIntegerType(elemType) ||
      i >= count)
    return std::nullopt;
  uint64_t size = ggufScalarSize(elemType);
  if (packed.size() < (i + 1) * size)
    return std::nullopt;
  const auto *p = reinterpret_cast<const unsigned char *>(packed.data());
  return bitsToInt(elemType, ggufDecodeIntBits(elemType, p + i * size));
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
std::string ggufQuote(llvm::StringRef s) {
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

} // namespace qopt::loaders
