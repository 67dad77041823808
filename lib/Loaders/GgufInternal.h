//===- GgufInternal.h - Helpers shared by the GGUF sources -----*- C++ -*-===//
//
// Part of quant-opt. Not installed: the value-type helpers GgufTypes.cpp
// defines for the header reader (GgufHeader.cpp) and the tensor view
// (GgufMetadata.cpp).
//
//===----------------------------------------------------------------------===//

#ifndef QOPT_LIB_LOADERS_GGUFINTERNAL_H
#define QOPT_LIB_LOADERS_GGUFINTERNAL_H

#include "qopt/Loaders/Gguf.h"

#include <cstdint>
#include <string>

namespace qopt::loaders {

/// Bytes of one scalar of `type`; 0 for STRING, ARRAY and unknown types.
uint64_t ggufScalarSize(GgufValueType type);
/// True for the eight integer value types (not BOOL).
bool ggufIsIntegerType(GgufValueType type);
/// Decodes a little-endian scalar of integer type `t` at `p` to its bits,
/// sign-extending signed types.
uint64_t ggufDecodeIntBits(GgufValueType t, const unsigned char *p);
/// "F32, F16, ..." of every ggml type the converter reads.
std::string ggmlReadableTypeList();

} // namespace qopt::loaders

#endif // QOPT_LIB_LOADERS_GGUFINTERNAL_H
