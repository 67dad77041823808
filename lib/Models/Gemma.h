//===- Gemma.h - Config checks shared by Gemma and Gemma2 ------*- C++ -*-===//

#ifndef QOPT_LIB_MODELS_GEMMA_H
#define QOPT_LIB_MODELS_GEMMA_H

#include "ArchitectureBuilders.h"

namespace qopt::models::build {

/// Gemma's required fields (head_dim included), `attention_bias` false, a
/// GeLU activation (`hidden_activation`, else `hidden_act`), then readDims.
llvm::Expected<TransformerDims> readGemmaDims(const ModelConfig &cfg,
                                              llvm::StringRef arch, int64_t tp);

} // namespace qopt::models::build

#endif // QOPT_LIB_MODELS_GEMMA_H
