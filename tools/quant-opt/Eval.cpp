//===- Eval.cpp - `quant-opt eval` ------------------------------*- C++ -*-===//
//
// Perplexity of a Llama checkpoint on a text, computed with the float32
// reference forward pass, from the source checkpoint and (with --cache) from
// a tensor cache converted from it, to measure what quantization costs.
//
//===----------------------------------------------------------------------===//

#include "Commands.h"

#include "qopt/Eval/Dequantize.h"
#include "qopt/Eval/Llama.h"
#include "qopt/Eval/Perplexity.h"
#include "qopt/Eval/WeightSource.h"

#include "llvm/Support/FileSystem.h"
#include "llvm/Support/MemoryBuffer.h"
#include "llvm/Support/Path.h"
#include "llvm/Support/raw_ostream.h"

#include <nlohmann/json.hpp>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <optional>
#include <string>
#include <thread>
#include <tuple>

namespace {
struct EvalArgs {
  std::string model, text, cache, quantization, json;
  bool tokenIds = false;
  int64_t context = 0, maxTokens = 0, threads = 0;
};

/// One evaluated model.
struct Measurement {
  qopt::eval::PerplexityResult result;
  double loadSeconds = 0, evalSeconds = 0;
};
} // namespace

static int usageError(const std::string &msg) {
  llvm::errs() << "quant-opt eval: " << msg << "\n"
               << "run 'quant-opt eval --help' for usage\n";
  return 2;
}

static int fail(llvm::Error e) {
  llvm::errs() << "quant-opt eval: error: " << llvm::toString(std::move(e))
               << "\n";
  return 1;
}

static bool parsePositive(const std::string &s, int64_t &out) {
  char *end = nullptr;
  long long v = std::strtoll(s.c_str(), &end, 10);
  if (s.empty() || *end || v <= 0)
    return false;
  out = v;
  return true;
}

static double secondsSince(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start)
      .count();
}

/// The `quantization` of `<dir>/mlc-chat-config.json`, if there is one.
static std::string chatConfigQuantization(llvm::StringRef dir) {
  llvm::SmallString<256> path(dir);
  llvm::sys::path::append(path, "mlc-chat-config.json");
  auto buffer = llvm::MemoryBuffer::getFile(path);
  if (!buffer)
    return "";
  nlohmann::json json = nlohmann::json::parse(
      (*buffer)->getBuffer().begin(), (*buffer)->getBuffer().end(), nullptr,
      /*allow_exceptions=*/false);
  if (!json.is_object())
    return "";
  auto it = json.find("quantization");
  return it != json.end() && it->is_string() ? it->get<std::string>() : "";
}

/// Loads the weights from `source`, builds the model and measures it.
static llvm::Expected<Measurement>
measure(const qopt::eval::LlamaConfig &config, qopt::eval::WeightSource &source,
        llvm::ArrayRef<int32_t> tokens, int64_t context, unsigned threads) {
  Measurement m;
  auto start = std::chrono::steady_clock::now();
  auto weights = qopt::eval::loadLlamaWeights(config, source);
  if (!weights)
    return weights.takeError();
  auto model =
      qopt::eval::LlamaModel::create(config, std::move(*weights), threads);
  if (!model)
    return model.takeError();
  m.loadSeconds = secondsSince(start);
  start = std::chrono::steady_clock::now();
  auto result = qopt::eval::evaluatePerplexity(*model, tokens, context);
  if (!result)
    return result.takeError();
  m.evalSeconds = secondsSince(start);
  m.result = *result;
  return m;
}

static void printTiming(llvm::StringRef what, const Measurement &m) {
  char buf[160];
  std::snprintf(buf, sizeof(buf),
                "%s: weights loaded in %.2f s, evaluated in %.2f s "
                "(%.0f tokens/s)\n",
                what.str().c_str(), m.loadSeconds, m.evalSeconds,
                m.evalSeconds > 0 ? double(m.result.tokens) / m.evalSeconds
                                  : 0.0);
  llvm::errs() << buf;
}

static nlohmann::json toJson(const Measurement &m) {
  return {{"perplexity", m.result.perplexity},
          {"mean_nll", m.result.meanNLL},
          {"load_seconds", m.loadSeconds},
          {"eval_seconds", m.evalSeconds}};
}

namespace cl = llvm::cl;

namespace qopt {
cl::SubCommand &evalCommand() {
  static cl::SubCommand cmd(
      "eval", "Perplexity of a Llama checkpoint on a text (float32 reference "
              "forward pass), and of a tensor cache converted from it");
  return cmd;
}
} // namespace qopt

namespace qopt {
cl::OptionCategory &evalCategory() {
  static cl::OptionCategory cat("quant-opt eval options");
  return cat;
}
} // namespace qopt

namespace {
cl::SubCommand &sub() { return qopt::evalCommand(); }
cl::OptionCategory &cat() { return qopt::evalCategory(); }
cl::opt<std::string> modelOpt(cl::Positional, cl::sub(sub()), cl::cat(cat()),
                              cl::desc("<MODEL_DIR: config.json + the source "
                                       "checkpoint>"));
cl::opt<std::string> textOpt(
    "text", cl::sub(sub()), cl::cat(cat()), cl::value_desc("FILE"),
    cl::desc("The evaluation text: bytes are token ids (byte-level "
             "vocabulary), or ids with --tokens"));
cl::opt<bool> tokensOpt("tokens", cl::sub(sub()), cl::cat(cat()),
                        cl::desc("FILE holds whitespace-separated token ids"));
cl::opt<std::string> cacheOpt("cache", cl::sub(sub()), cl::cat(cat()),
                              cl::value_desc("DIR"),
                              cl::desc("Also evaluate the tensor cache in DIR"));
cl::opt<std::string> quantizationOpt(
    "quantization", cl::sub(sub()), cl::cat(cat()), cl::value_desc("MODE"),
    cl::desc("The cache's mode (default: mlc-chat-config.json in DIR, else "
             "detected from the records)"));
cl::opt<std::string> contextOpt(
    "context", cl::sub(sub()), cl::cat(cat()), cl::value_desc("N"),
    cl::desc("Window length (default: max_position_embeddings, at most 512)"));
cl::opt<std::string> maxTokensOpt(
    "max-tokens", cl::sub(sub()), cl::cat(cat()), cl::value_desc("N"),
    cl::desc("Use only the first N tokens of the text"));
cl::opt<std::string> threadsOpt("threads", cl::sub(sub()), cl::cat(cat()),
                                cl::value_desc("N"),
                                cl::desc("Worker threads (default: all cores)"));
cl::opt<std::string> jsonOpt("json", cl::sub(sub()), cl::cat(cat()),
                             cl::value_desc("FILE"),
                             cl::desc("Also write the results as JSON"));
} // namespace

namespace qopt {
int runEval() {
  EvalArgs a;
  a.model = modelOpt;
  a.text = textOpt;
  a.tokenIds = tokensOpt;
  a.cache = cacheOpt;
  a.quantization = quantizationOpt;
  a.json = jsonOpt;
  for (auto [opt, name, out] :
       {std::tuple{&contextOpt, "--context", &a.context},
        std::tuple{&maxTokensOpt, "--max-tokens", &a.maxTokens},
        std::tuple{&threadsOpt, "--threads", &a.threads}}) {
    if (!opt->getNumOccurrences())
      continue;
    if (!parsePositive(opt->getValue(), *out))
      return usageError(std::string(name) +
                        " needs a positive integer, got '" + opt->getValue() +
                        "'");
  }
  if (a.model.empty())
    return usageError("missing MODEL_DIR");
  if (a.text.empty())
    return usageError("missing --text FILE");

  auto config = eval::LlamaConfig::read(a.model);
  if (!config)
    return fail(config.takeError());
  int64_t context = a.context;
  if (context == 0)
    context = config->maxPositionEmbeddings > 0
                  ? std::min<int64_t>(config->maxPositionEmbeddings, 512)
                  : 512;
  unsigned threads = a.threads > 0
                         ? unsigned(std::min<int64_t>(a.threads, 256))
                         : std::max(1u, std::thread::hardware_concurrency());

  auto tokens = a.tokenIds ? eval::readTokenIds(a.text, config->vocabSize)
                           : eval::readByteTokens(a.text, config->vocabSize);
  if (!tokens)
    return fail(tokens.takeError());
  if (a.maxTokens > 0 && int64_t(tokens->size()) > a.maxTokens)
    tokens->resize(size_t(a.maxTokens));

  // Open the cache first, so that a bad cache fails before the long run.
  std::unique_ptr<eval::CacheWeightSource> cacheSource;
  eval::QuantizationHint hint;
  if (!a.cache.empty()) {
    std::string mode = a.quantization;
    if (mode.empty())
      mode = chatConfigQuantization(a.cache);
    if (!mode.empty()) {
      auto parsed = eval::parseQuantizationHint(mode);
      if (!parsed) {
        if (!a.quantization.empty())
          return fail(parsed.takeError());
        llvm::consumeError(parsed.takeError());
      } else {
        hint = *parsed;
      }
    }
    auto opened = eval::CacheWeightSource::open(a.cache, hint);
    if (!opened)
      return fail(opened.takeError());
    cacheSource = std::move(*opened);
  } else if (!a.quantization.empty()) {
    return usageError("--quantization needs --cache");
  }

  auto checkpoint = eval::CheckpointWeightSource::open(a.model);
  if (!checkpoint)
    return fail(checkpoint.takeError());
  auto source = measure(*config, **checkpoint, *tokens, context, threads);
  checkpoint->reset();
  if (!source)
    return fail(source.takeError());

  std::optional<Measurement> cache;
  if (cacheSource) {
    auto m = measure(*config, *cacheSource, *tokens, context, threads);
    if (!m)
      return fail(m.takeError());
    cache = *m;
  }

  const eval::PerplexityResult &r = source->result;
  char line[256];
  std::snprintf(line, sizeof(line),
                "text: %lld tokens, %lld predicted, %lld windows of %lld\n",
                (long long)r.tokens, (long long)r.predicted,
                (long long)r.windows, (long long)context);
  llvm::outs() << line;
  std::snprintf(line, sizeof(line), "source perplexity: %.4f\n", r.perplexity);
  llvm::outs() << line;
  double increase = 0;
  if (cache) {
    increase = (cache->result.perplexity / r.perplexity - 1.0) * 100.0;
    std::snprintf(line, sizeof(line), "cache perplexity: %.4f\n",
                  cache->result.perplexity);
    llvm::outs() << line;
    std::snprintf(line, sizeof(line), "increase: %+.2f%%\n", increase);
    llvm::outs() << line;
  }
  llvm::outs().flush();
  printTiming("source", *source);
  if (cache)
    printTiming("cache", *cache);

  if (!a.json.empty()) {
    nlohmann::json j = {{"model", a.model},         {"text", a.text},
                        {"tokens", r.tokens},       {"predicted", r.predicted},
                        {"windows", r.windows},     {"context", context},
                        {"source", toJson(*source)}};
    if (cache) {
      nlohmann::json c = toJson(*cache);
      c["dir"] = a.cache;
      c["quantization"] = hint.mode.empty() ? nlohmann::json(nullptr)
                                            : nlohmann::json(hint.mode);
      j["cache"] = c;
      j["increase_percent"] = increase;
    }
    std::error_code ec;
    llvm::raw_fd_ostream out(a.json, ec);
    if (ec)
      return fail(llvm::createStringError(
          ec, "%s: cannot write: %s", a.json.c_str(), ec.message().c_str()));
    out << j.dump(2) << "\n";
  }
  return 0;
}
} // namespace qopt
