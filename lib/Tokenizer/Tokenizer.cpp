//===- Tokenizer.cpp - Choosing a model directory's tokenizer -------------===//

#include "qopt/Tokenizer/Tokenizer.h"
#include "TokenizerImpl.h"

#include "llvm/Support/FileSystem.h"
#include "llvm/Support/Path.h"

namespace qopt::tokenizer {

Tokenizer::~Tokenizer() = default;

llvm::Expected<std::unique_ptr<Tokenizer>>
Tokenizer::open(llvm::StringRef modelDir) {
  llvm::SmallString<256> json(modelDir), model(modelDir);
  llvm::sys::path::append(json, "tokenizer.json");
  llvm::sys::path::append(model, "tokenizer.model");
  if (llvm::sys::fs::exists(json))
    return openJson(json);
  if (llvm::sys::fs::exists(model))
    return openSentencePiece(model);
  return detail::makeError(modelDir + ": no tokenizer.json or tokenizer.model");
}

} // namespace qopt::tokenizer
