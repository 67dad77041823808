//===- RemainingArchitectures.h - Issue 16's remaining types -----*- C++ -*-===//
//
// The last mlc-llm model types of issue 16 (`qwen3-embedding`, in Qwen3.cpp),
// registered by ModelDef.cpp's architectures(). Private to lib/Models.
//
//===----------------------------------------------------------------------===//

#ifndef QOPT_LIB_MODELS_REMAININGARCHITECTURES_H
#define QOPT_LIB_MODELS_REMAININGARCHITECTURES_H

#include "qopt/Models/ModelDef.h"

namespace qopt::models {
Architecture makeQwen3EmbeddingArchitecture();
// phi3_v (Phi3V.cpp).
Architecture makePhi3VArchitecture();
} // namespace qopt::models

#endif // QOPT_LIB_MODELS_REMAININGARCHITECTURES_H
