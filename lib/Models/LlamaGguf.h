//===- LlamaGguf.h - The GGUF hook of the llama definition -----*- C++ -*-===//
//
// Part of quant-opt (not installed).
//
//===----------------------------------------------------------------------===//

#ifndef QOPT_LIB_MODELS_LLAMAGGUF_H
#define QOPT_LIB_MODELS_LLAMAGGUF_H

#include "qopt/Models/ModelDef.h"

namespace qopt::models {

/// How llama.cpp stores `general.architecture` = llama (LlamaGguf.cpp).
const GgufArchitecture *llamaGgufArchitecture();

} // namespace qopt::models

#endif // QOPT_LIB_MODELS_LLAMAGGUF_H
