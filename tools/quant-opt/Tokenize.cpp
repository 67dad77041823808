//===- Tokenize.cpp - `quant-opt tokenize` ----------------------*- C++ -*-===//
//
// Prints the token ids a model's own tokenizer (tokenizer.json or
// tokenizer.model; lib/Tokenizer, docs/tokenizers.md) gives for a text
// file: whitespace-separated on stdout, the format `quant-opt eval --tokens`
// reads. An llvm::cl subcommand like convert and eval.
//
//===----------------------------------------------------------------------===//

#include "Commands.h"
#include "qopt/Loaders/Checkpoint.h"
#include "qopt/Tokenizer/Tokenizer.h"

#include "llvm/Support/MemoryBuffer.h"
#include "llvm/Support/raw_ostream.h"

#include <string>

namespace cl = llvm::cl;

namespace qopt {
cl::SubCommand &tokenizeCommand() {
  static cl::SubCommand cmd(
      "tokenize",
      "Prints the token ids of a text with the model's own tokenizer "
      "(MODEL_DIR/tokenizer.json, else MODEL_DIR/tokenizer.model), "
      "whitespace-separated (what `quant-opt eval --tokens` reads), with the "
      "special tokens the tokenizer adds (BOS) unless --no-special-tokens");
  return cmd;
}

cl::OptionCategory &tokenizeCategory() {
  static cl::OptionCategory cat("quant-opt tokenize options");
  return cat;
}
} // namespace qopt

namespace {
cl::SubCommand &sub() { return qopt::tokenizeCommand(); }
cl::OptionCategory &cat() { return qopt::tokenizeCategory(); }
cl::opt<std::string> modelOpt(cl::Positional, cl::sub(sub()), cl::cat(cat()),
                              cl::desc("<MODEL_DIR: holds tokenizer.json or "
                                       "tokenizer.model>"));
cl::opt<std::string> textOpt("text", cl::sub(sub()), cl::cat(cat()),
                             cl::value_desc("FILE"),
                             cl::desc("The text to tokenize (UTF-8)"));
cl::opt<bool> noSpecialOpt(
    "no-special-tokens", cl::sub(sub()), cl::cat(cat()),
    cl::desc("Leave out the tokens the tokenizer adds around a text (BOS)"));

int usageError(const std::string &msg) {
  llvm::errs() << "quant-opt tokenize: " << msg << "\n"
               << "run 'quant-opt tokenize --help' for usage\n";
  return 2;
}

int fail(llvm::Error e) {
  llvm::errs() << "quant-opt tokenize: error: " << llvm::toString(std::move(e))
               << "\n";
  return 1;
}
} // namespace

int ::qopt::runTokenize() {
  if (modelOpt.empty())
    return usageError("missing MODEL_DIR");
  if (textOpt.empty())
    return usageError("missing --text FILE");
  auto tokenizer = tokenizer::Tokenizer::open(modelOpt);
  if (!tokenizer)
    return fail(tokenizer.takeError());
  auto text = llvm::MemoryBuffer::getFile(textOpt, /*IsText=*/false,
                                          /*RequiresNullTerminator=*/false);
  if (!text)
    return fail(llvm::createStringError(
        text.getError(),
        textOpt + ": cannot read: " + text.getError().message()));
  // Named here by the text's file (the library names the tokenizer's).
  llvm::StringRef bytes = (*text)->getBuffer();
  if (std::optional<size_t> bad = loaders::findInvalidUtf8(bytes)) {
    std::string message = textOpt + ": not valid UTF-8 (bad byte at offset " +
                          std::to_string(*bad) + ")";
    return fail(
        llvm::createStringError(llvm::inconvertibleErrorCode(), message));
  }
  auto ids = (*tokenizer)->encode(bytes, !noSpecialOpt);
  if (!ids)
    return fail(ids.takeError());
  for (size_t i = 0; i < ids->size(); ++i)
    llvm::outs() << (i ? " " : "") << (*ids)[i];
  llvm::outs() << "\n";
  llvm::errs() << "Tokenized " << (*text)->getBufferSize() << " bytes into "
               << ids->size() << " tokens with " << (*tokenizer)->path()
               << "\n";
  return 0;
}
