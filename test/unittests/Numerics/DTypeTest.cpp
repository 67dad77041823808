//===- DTypeTest.cpp - Element type names ---------------------------------===//

#include "qopt/Numerics/DType.h"

#include <gtest/gtest.h>

#include <string>

using namespace qopt::numerics;

namespace {

struct Names {
  DType type;
  const char *tvm;
  const char *safetensors;
  size_t size;
};

// The spellings of TVM's DataType and of the safetensors header.
const Names kAll[] = {
    {DType::Bool, "bool", "BOOL", 1},
    {DType::U8, "uint8", "U8", 1},
    {DType::I8, "int8", "I8", 1},
    {DType::I16, "int16", "I16", 2},
    {DType::U16, "uint16", "U16", 2},
    {DType::I32, "int32", "I32", 4},
    {DType::U32, "uint32", "U32", 4},
    {DType::I64, "int64", "I64", 8},
    {DType::U64, "uint64", "U64", 8},
    {DType::F16, "float16", "F16", 2},
    {DType::BF16, "bfloat16", "BF16", 2},
    {DType::F32, "float32", "F32", 4},
    {DType::F64, "float64", "F64", 8},
    {DType::F8E4M3FN, "float8_e4m3fn", "F8_E4M3", 1},
    {DType::F8E5M2, "float8_e5m2", "F8_E5M2", 1},
};

} // namespace

TEST(DTypeTest, NamesRoundTrip) {
  for (const Names &n : kAll) {
    EXPECT_EQ(tvmName(n.type), n.tvm);
    EXPECT_EQ(safetensorsCode(n.type), n.safetensors);
    EXPECT_EQ(parseTvmName(n.tvm), n.type) << n.tvm;
    EXPECT_EQ(parseSafetensorsCode(n.safetensors), n.type) << n.safetensors;
    EXPECT_EQ(dtypeSize(n.type), n.size) << n.tvm;
  }
}

TEST(DTypeTest, UnknownNames) {
  EXPECT_EQ(parseTvmName("float"), std::nullopt);
  EXPECT_EQ(parseTvmName("Float16"), std::nullopt);
  EXPECT_EQ(parseTvmName("float8_e4m3"), std::nullopt);
  EXPECT_EQ(parseTvmName(""), std::nullopt);
  // The two vocabularies are distinct.
  EXPECT_EQ(parseTvmName("F16"), std::nullopt);
  EXPECT_EQ(parseSafetensorsCode("float16"), std::nullopt);
  EXPECT_EQ(parseSafetensorsCode("f16"), std::nullopt);
  EXPECT_EQ(parseSafetensorsCode("F8_E4M3FN"), std::nullopt);
  // An out-of-range enumerator has no name (and no crash).
  EXPECT_EQ(tvmName(static_cast<DType>(200)), "");
  EXPECT_EQ(safetensorsCode(static_cast<DType>(200)), "");
}

TEST(DTypeTest, IsFloat) {
  EXPECT_TRUE(isFloat(DType::BF16));
  EXPECT_TRUE(isFloat(DType::F8E5M2));
  EXPECT_FALSE(isFloat(DType::U32));
  EXPECT_FALSE(isFloat(DType::Bool));
}
