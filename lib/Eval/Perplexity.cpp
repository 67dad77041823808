//===- Perplexity.cpp - Perplexity of a model on a token stream -*- C++ -*-===//
//
// Part of quant-opt. See Perplexity.h.
//
//===----------------------------------------------------------------------===//

#include "qopt/Eval/Perplexity.h"

#include "llvm/ADT/Twine.h"
#include "llvm/Support/MemoryBuffer.h"

#include <algorithm>
#include <cctype>
#include <cmath>

namespace qopt::eval {

static llvm::Error makeError(const llvm::Twine &msg) {
  return llvm::createStringError(llvm::inconvertibleErrorCode(), msg);
}

double tokenNLL(const float *logits, int64_t n, int64_t target) {
  double m = *std::max_element(logits, logits + n);
  double sum = 0;
  for (int64_t i = 0; i < n; ++i)
    sum += std::exp(double(logits[i]) - m);
  return m + std::log(sum) - double(logits[target]);
}

llvm::Expected<PerplexityResult>
evaluatePerplexity(const LlamaModel &model, llvm::ArrayRef<int32_t> tokens,
                   int64_t context) {
  if (context < 2)
    return makeError("context must be at least 2 tokens, got " +
                     llvm::Twine(context));
  const int64_t vocab = model.config().vocabSize;
  for (size_t i = 0; i < tokens.size(); ++i)
    if (tokens[i] < 0 || tokens[i] >= vocab)
      return makeError(
          "token " + llvm::Twine(i) + " is " + llvm::Twine(tokens[i]) +
          ", outside the vocabulary [0, " + llvm::Twine(vocab) + ")");
  PerplexityResult result;
  result.tokens = static_cast<int64_t>(tokens.size());
  double totalNLL = 0;
  for (int64_t start = 0; start < result.tokens; start += context) {
    llvm::ArrayRef<int32_t> window =
        tokens.slice(start, std::min(context, result.tokens - start));
    ++result.windows;
    if (window.size() < 2)
      continue;
    std::vector<float> logits = model.forward(window);
    for (size_t i = 0; i + 1 < window.size(); ++i)
      totalNLL += tokenNLL(logits.data() + i * vocab, vocab, window[i + 1]);
    result.predicted += static_cast<int64_t>(window.size()) - 1;
  }
  if (result.predicted == 0)
    return makeError("no token to predict: need at least 2 tokens, got " +
                     llvm::Twine(result.tokens));
  result.meanNLL = totalNLL / double(result.predicted);
  result.perplexity = std::exp(result.meanNLL);
  return result;
}

llvm::Expected<PerplexityResult>
evaluateDecoderPerplexity(const DecoderConfig &config, WeightSource &source,
                          llvm::ArrayRef<int32_t> tokens, int64_t context,
                          unsigned threads) {
  if (context < 2)
    return makeError("context must be at least 2 tokens, got " +
                     llvm::Twine(context));
  const int64_t vocab = config.dims.vocabSize, h = config.dims.hiddenSize;
  for (size_t i = 0; i < tokens.size(); ++i)
    if (tokens[i] < 0 || tokens[i] >= vocab)
      return makeError(
          "token " + llvm::Twine(i) + " is " + llvm::Twine(tokens[i]) +
          ", outside the vocabulary [0, " + llvm::Twine(vocab) + ")");
  PerplexityResult result;
  result.tokens = static_cast<int64_t>(tokens.size());
  std::vector<Window> windows = splitWindows(result.tokens, context);
  result.windows = int64_t(windows.size());
  for (const Window &w : windows)
    result.predicted += std::max<int64_t>(0, w.length - 1);
  if (result.predicted == 0)
    return makeError("no token to predict: need at least 2 tokens, got " +
                     llvm::Twine(result.tokens));
  // Layer by layer over every window (one layer's weights at a time), then
  // the logits window by window.
  DecoderForward forward(config, threads);
  DecoderGlobalWeights globals;
  std::vector<float> x;
  if (auto e = runDecoderLayers(config, source, forward, tokens, windows,
                                globals, x))
    return std::move(e);
  const std::vector<float> &head = config.dims.tieWordEmbeddings
                                       ? globals.embed
                                       : globals.lmHead;
  double totalNLL = 0;
  for (const Window &w : windows) {
    if (w.length < 2)
      continue;
    std::vector<float> logits =
        forward.logits(head, x.data() + w.begin * h, w.length);
    for (int64_t i = 0; i + 1 < w.length; ++i)
      totalNLL += tokenNLL(logits.data() + i * vocab, vocab,
                           tokens[size_t(w.begin + i + 1)]);
  }
  result.meanNLL = totalNLL / double(result.predicted);
  result.perplexity = std::exp(result.meanNLL);
  return result;
}

static llvm::Expected<std::unique_ptr<llvm::MemoryBuffer>>
readFile(llvm::StringRef path) {
  auto buffer = llvm::MemoryBuffer::getFile(path, /*IsText=*/false,
                                            /*RequiresNullTerminator=*/false);
  if (!buffer)
    return makeError(path + ": cannot read: " + buffer.getError().message());
  return std::move(*buffer);
}

llvm::Expected<std::vector<int32_t>> readByteTokens(llvm::StringRef path,
                                                    int64_t vocabSize) {
  auto buffer = readFile(path);
  if (!buffer)
    return buffer.takeError();
  llvm::StringRef bytes = (*buffer)->getBuffer();
  std::vector<int32_t> tokens;
  tokens.reserve(bytes.size());
  for (size_t i = 0; i < bytes.size(); ++i) {
    int32_t id = static_cast<uint8_t>(bytes[i]);
    if (id >= vocabSize)
      return makeError(path + ": byte " + llvm::Twine(id) + " at offset " +
                       llvm::Twine(i) + " is outside the vocabulary [0, " +
                       llvm::Twine(vocabSize) + ")");
    tokens.push_back(id);
  }
  return std::move(tokens);
}

llvm::Expected<std::vector<int32_t>> readTokenIds(llvm::StringRef path,
                                                  int64_t vocabSize) {
  auto buffer = readFile(path);
  if (!buffer)
    return buffer.takeError();
  llvm::StringRef text = (*buffer)->getBuffer();
  std::vector<int32_t> tokens;
  size_t i = 0;
  while (true) {
    while (i < text.size() && std::isspace(static_cast<uint8_t>(text[i])))
      ++i;
    if (i == text.size())
      break;
    size_t start = i;
    while (i < text.size() && !std::isspace(static_cast<uint8_t>(text[i])))
      ++i;
    llvm::StringRef word = text.slice(start, i);
    uint64_t id = 0;
    // getAsInteger rejects signs other than '-', which would fail anyway.
    bool bad = word.getAsInteger(10, id) || word.starts_with("+");
    if (bad || id >= uint64_t(vocabSize)) {
      std::string shown =
          word.size() > 32 ? word.take_front(32).str() + "..." : word.str();
      return makeError(path + ": token " + llvm::Twine(tokens.size()) +
                       " (at byte " + llvm::Twine(start) + ") '" + shown +
                       "' is not a token id in [0, " + llvm::Twine(vocabSize) +
                       ")");
    }
    tokens.push_back(static_cast<int32_t>(id));
  }
  return std::move(tokens);
}

} // namespace qopt::eval
