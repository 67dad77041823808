//===- GroupBArchitectures.h - Registration of issue 16's group B -*- C++ -*-===//
//
// The architectures of lib/Models/{Ministral3,Llama4,Qwen35,Bert,Eagle,
// Medusa,Llava}.cpp, registered by ModelDef.cpp's architectures(). Private
// to lib/Models.
//
//===----------------------------------------------------------------------===//

#ifndef QOPT_LIB_MODELS_GROUPBARCHITECTURES_H
#define QOPT_LIB_MODELS_GROUPBARCHITECTURES_H

#include "qopt/Models/ModelDef.h"

namespace qopt::models {
Architecture makeMinistral3Architecture();
Architecture makeLlama4Architecture();
Architecture makeBertArchitecture();
Architecture makeBertBgeArchitecture();
Architecture makeEagleArchitecture();
Architecture makeMedusaArchitecture();
Architecture makeLlavaArchitecture();
Architecture makeQwen35Architecture();
Architecture makeQwen35TextArchitecture();
} // namespace qopt::models

#endif // QOPT_LIB_MODELS_GROUPBARCHITECTURES_H
