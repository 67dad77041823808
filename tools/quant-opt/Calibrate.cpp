//===- Calibrate.cpp - `quant-opt calibrate` --------------------*- C++ -*-===//
//
// Runs the float32 reference forward pass of a checkpoint over calibration
// text one layer at a time and writes the statistics of every linear
// layer's input (importance matrix, optionally Hessian) to a STATS file
// (docs/calibration.md).
//
//===----------------------------------------------------------------------===//

#include "Commands.h"

#include "qopt/Eval/Calibration.h"
#include "qopt/Eval/Decoder.h"
#include "qopt/Eval/Perplexity.h"
#include "qopt/Eval/WeightSource.h"
#include "qopt/Loaders/Checkpoint.h"
#include "qopt/Tokenizer/Tokenizer.h"

#include "llvm/ADT/SmallString.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/MemoryBuffer.h"
#include "llvm/Support/Path.h"

#include "llvm/Support/Process.h"
#include "llvm/Support/raw_ostream.h"

#include <chrono>
#include <optional>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <thread>
#include <tuple>

namespace cl = llvm::cl;

namespace qopt {
cl::SubCommand &calibrateCommand() {
  static cl::SubCommand cmd(
      "calibrate",
      "Activation statistics of every linear layer (importance matrix, "
      "Hessian) from the float32 reference forward pass over calibration "
      "text");
  return cmd;
}

cl::OptionCategory &calibrateCategory() {
  static cl::OptionCategory cat("quant-opt calibrate options");
  return cat;
}
} // namespace qopt

namespace {
cl::SubCommand &sub() { return qopt::calibrateCommand(); }
cl::OptionCategory &cat() { return qopt::calibrateCategory(); }
cl::opt<std::string> modelOpt(cl::Positional, cl::sub(sub()), cl::cat(cat()),
                              cl::desc("<MODEL_DIR: config.json + the "
                                       "checkpoint>"));
cl::opt<std::string>
    textOpt("text", cl::sub(sub()), cl::cat(cat()), cl::value_desc("FILE"),
            cl::desc("Calibration text (UTF-8), tokenized by the model's own "
                     "tokenizer.json / tokenizer.model (special tokens "
                     "added, as `quant-opt tokenize` does); without one, its "
                     "bytes are the tokens (a byte-level vocabulary)"));
cl::opt<std::string> tokensOpt(
    "tokens", cl::sub(sub()), cl::cat(cat()), cl::value_desc("FILE"),
    cl::desc("Calibration tokens: whitespace-separated token ids"));
cl::opt<std::string> outOpt("o", cl::sub(sub()), cl::cat(cat()),
                            cl::value_desc("STATS"),
                            cl::desc("The statistics file to write"));
cl::opt<bool> hessianOpt("hessian", cl::sub(sub()), cl::cat(cat()),
                         cl::desc("Also write each layer's mean x x^T"));
cl::opt<std::string> contextOpt(
    "context", cl::sub(sub()), cl::cat(cat()), cl::value_desc("N"),
    cl::desc("Window length (default: max_position_embeddings, at most 512)"));
cl::opt<std::string> maxTokensOpt(
    "max-tokens", cl::sub(sub()), cl::cat(cat()), cl::value_desc("N"),
    cl::desc("Use only the first N tokens"));
cl::opt<std::string> threadsOpt("threads", cl::sub(sub()), cl::cat(cat()),
                                cl::value_desc("N"),
                                cl::desc("Worker threads (default: all cores)"));
} // namespace

static int usageError(const std::string &msg) {
  llvm::errs() << "quant-opt calibrate: " << msg << "\n"
               << "run 'quant-opt calibrate --help' for usage\n";
  return 2;
}

static int fail(llvm::Error e) {
  llvm::errs() << "quant-opt calibrate: error: "
               << llvm::toString(std::move(e)) << "\n";
  return 1;
}

static llvm::Error error(const llvm::Twine &msg) {
  return llvm::createStringError(llvm::inconvertibleErrorCode(), msg);
}

/// Whether `dir` holds a tokenizer lib/Tokenizer opens.
static bool hasTokenizer(llvm::StringRef dir) {
  for (const char *name : {"tokenizer.json", "tokenizer.model"}) {
    llvm::SmallString<256> path(dir);
    llvm::sys::path::append(path, name);
    if (llvm::sys::fs::exists(path))
      return true;
  }
  return false;
}

/// The token ids of the text file `path` by the model's tokenizer.
static llvm::Expected<std::vector<int32_t>>
tokenizeText(llvm::StringRef model, llvm::StringRef path) {
  auto tokenizer = qopt::tokenizer::Tokenizer::open(model);
  if (!tokenizer)
    return tokenizer.takeError();
  auto text = llvm::MemoryBuffer::getFile(path, /*IsText=*/false,
                                          /*RequiresNullTerminator=*/false);
  if (!text)
    return error(path + ": cannot read: " + text.getError().message());
  llvm::StringRef bytes = (*text)->getBuffer();
  if (std::optional<size_t> bad = qopt::loaders::findInvalidUtf8(bytes))
    return error(path + ": not valid UTF-8 (bad byte at offset " +
                 llvm::Twine(*bad) + ")");
  return (*tokenizer)->encode(bytes, /*addSpecialTokens=*/true);
}

static bool parsePositive(const std::string &s, int64_t &out) {
  char *end = nullptr;
  long long v = std::strtoll(s.c_str(), &end, 10);
  if (s.empty() || *end || v <= 0)
    return false;
  out = v;
  return true;
}

namespace qopt {
int runCalibrate() {
  int64_t context = 0, maxTokens = 0, threadCount = 0;
  for (auto [opt, name, out] :
       {std::tuple{&contextOpt, "--context", &context},
        std::tuple{&maxTokensOpt, "--max-tokens", &maxTokens},
        std::tuple{&threadsOpt, "--threads", &threadCount}}) {
    if (!opt->getNumOccurrences())
      continue;
    if (!parsePositive(opt->getValue(), *out))
      return usageError(std::string(name) +
                        " needs a positive integer, got '" + opt->getValue() +
                        "'");
  }
  if (modelOpt.empty())
    return usageError("missing MODEL_DIR");
  if (textOpt.empty() == tokensOpt.empty())
    return usageError("give one of --text FILE and --tokens FILE");
  if (outOpt.empty())
    return usageError("missing -o STATS");

  auto config = eval::DecoderConfig::read(modelOpt);
  if (!config)
    return fail(config.takeError());
  const eval::LlamaConfig &d = config->dims;
  if (context == 0)
    context = d.maxPositionEmbeddings > 0
                  ? std::min<int64_t>(d.maxPositionEmbeddings, 512)
                  : 512;
  unsigned threads = threadCount > 0
                         ? unsigned(std::min<int64_t>(threadCount, 256))
                         : std::max(1u, std::thread::hardware_concurrency());

  // --text: the model's tokenizer, else bytes for a byte-level vocabulary.
  bool tokenizer = !textOpt.empty() && hasTokenizer(modelOpt);
  if (!textOpt.empty() && !tokenizer && d.vocabSize > 256)
    return fail(error("--text: " + modelOpt +
                      " has no tokenizer.json or tokenizer.model and its "
                      "vocabulary of " + llvm::Twine(d.vocabSize) +
                      " ids is not byte-level: give token ids with --tokens "
                      "FILE"));
  auto tokens = !textOpt.empty()
                    ? (tokenizer ? tokenizeText(modelOpt, textOpt)
                                 : eval::readByteTokens(textOpt, d.vocabSize))
                    : eval::readTokenIds(tokensOpt, d.vocabSize);
  if (!tokens)
    return fail(tokens.takeError());
  if (tokens->empty())
    return fail(llvm::createStringError(
        llvm::inconvertibleErrorCode(), "%s: holds no tokens",
        (textOpt.empty() ? tokensOpt : textOpt).c_str()));
  if (maxTokens > 0 && int64_t(tokens->size()) > maxTokens)
    tokens->resize(size_t(maxTokens));

  auto source = eval::ModelWeightSource::open(modelOpt);
  if (!source)
    return fail(source.takeError());

  eval::CalibrationOptions options;
  options.context = context;
  options.hessian = hessianOpt;
  options.threads = threads;
  bool terminal = llvm::sys::Process::StandardErrIsDisplayed();
  if (terminal)
    options.progress = [](int64_t done, int64_t steps) {
      llvm::errs() << "\rcalibrate: " << done << "/" << steps << " layers"
                   << (done == steps ? "\n" : "");
      llvm::errs().flush();
    };
  auto start = std::chrono::steady_clock::now();
  auto result =
      eval::calibrate(*config, **source, *tokens, outOpt, options);
  if (!result)
    return fail(result.takeError());
  double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start)
          .count();
  char line[256];
  std::snprintf(line, sizeof(line),
                "calibrated: %lld tokens, %lld windows of %lld, %lld tensors "
                "written to %s\n",
                (long long)result->tokens, (long long)result->windows,
                (long long)context, (long long)result->tensors,
                outOpt.c_str());
  llvm::outs() << line;
  llvm::outs().flush();
  std::snprintf(line, sizeof(line), "calibrate: %.2f s, %u threads\n", seconds,
                threads);
  llvm::errs() << line;
  return 0;
}
} // namespace qopt
