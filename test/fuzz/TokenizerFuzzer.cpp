//===- TokenizerFuzzer.cpp - libFuzzer target: tokenizer.json ------------===//
//
// Part of quant-opt.
//
// Reads the input as a tokenizer.json (JSON limits, the pipeline's types,
// vocabulary and merges, split patterns compiled by PCRE2) and, when it
// opens, encodes and decodes a few texts (ASCII, accents, CJK, emoji,
// whitespace runs, special-token look-alikes, and the input's first bytes,
// which need not be UTF-8). TokenizerTests replays the seed corpus through
// this same function.
//
//===----------------------------------------------------------------------===//

#include "qopt/Tokenizer/Tokenizer.h"

#include <cstdint>
#include <string>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  using qopt::tokenizer::Tokenizer;
  llvm::StringRef input(reinterpret_cast<const char *>(data), size);
  llvm::Expected<std::unique_ptr<Tokenizer>> tok =
      Tokenizer::fromJson(input, "fuzz/tokenizer.json");
  if (!tok) {
    llvm::consumeError(tok.takeError());
    return 0;
  }
  const std::string texts[] = {
      "Hello, world! It's 2026-12-06.",
      "Caf\xC3\xA9 na\xC3\xAFve \xE6\x97\xA5\xE6\x9C\xAC\xE8\xAA\x9E "
      "\xF0\x9F\x98\x80",
      "  runs   of\t\tspace\r\n\n<|endoftext|><s></s><unk>",
      input.take_front(256).str()};
  for (const std::string &text : texts) {
    for (bool special : {true, false}) {
      llvm::Expected<std::vector<int32_t>> ids = (*tok)->encode(text, special);
      if (!ids) {
        llvm::consumeError(ids.takeError());
        continue;
      }
      llvm::Expected<std::string> back = (*tok)->decode(*ids);
      if (!back)
        llvm::consumeError(back.takeError());
    }
  }
  return 0;
}
