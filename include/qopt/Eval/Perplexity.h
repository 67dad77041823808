//===- Perplexity.h - Perplexity of a model on a token stream ---*- C++ -*-===//
//
// Splits a token stream into non-overlapping windows of `context` tokens,
// runs each window from position 0, and averages the negative log-likelihood
// of every token predicted from the tokens before it in its window (a window
// of L tokens predicts L - 1). perplexity = exp(mean NLL).
//
//===----------------------------------------------------------------------===//

#ifndef QOPT_EVAL_PERPLEXITY_H
#define QOPT_EVAL_PERPLEXITY_H

#include "qopt/Eval/Decoder.h"
#include "qopt/Eval/Llama.h"

#include "llvm/ADT/ArrayRef.h"
#include "llvm/ADT/StringRef.h"
#include "llvm/Support/Error.h"

#include <cstdint>
#include <vector>

namespace qopt::eval {

struct PerplexityResult {
  /// Mean negative log-likelihood (nats) over the predicted tokens.
  double meanNLL = 0;
  double perplexity = 0;
  int64_t tokens = 0;
  int64_t predicted = 0;
  int64_t windows = 0;
};

/// Negative log-likelihood of `target` under `logits[0..n)`:
/// logsumexp(logits) - logits[target], in double.
double tokenNLL(const float *logits, int64_t n, int64_t target);

/// Perplexity of `model` on `tokens` with windows of `context` tokens.
/// Errors: context < 2, or no token predicted (fewer than 2 tokens).
llvm::Expected<PerplexityResult>
evaluatePerplexity(const LlamaModel &model, llvm::ArrayRef<int32_t> tokens,
                   int64_t context);

/// The same for any decoder variant (Decoder.h), run one layer at a time
/// over all windows with weights from `source`; the same windows, the same
/// summation order (for a llama config: the same bits as
/// evaluatePerplexity).
llvm::Expected<PerplexityResult>
evaluateDecoderPerplexity(const DecoderConfig &config, WeightSource &source,
                          llvm::ArrayRef<int32_t> tokens, int64_t context,
                          unsigned threads);

/// The bytes of `path` as token ids (a byte-level vocabulary: id = byte);
/// every byte must be below `vocabSize`.
llvm::Expected<std::vector<int32_t>> readByteTokens(llvm::StringRef path,
                                                    int64_t vocabSize);

/// Whitespace-separated decimal token ids from `path`, each in
/// [0, vocabSize); errors name the file and the offending token's position.
llvm::Expected<std::vector<int32_t>> readTokenIds(llvm::StringRef path,
                                                  int64_t vocabSize);

} // namespace qopt::eval

#endif // QOPT_EVAL_PERPLEXITY_H
