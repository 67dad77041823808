//===- ConfigLimits.cpp - Bounds on config.json -----------------*- C++ -*-===//
//
// A config.json is small and shallow and its sizes describe the checkpoint
// next to it. These checks run before anything is planned from it, so that
// a hostile or mistyped config fails at once with the field it got wrong
// (docs/reliability.md).
//
//===----------------------------------------------------------------------===//

#include "qopt/Models/ModelDef.h"

#include "llvm/Support/MathExtras.h"

#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

using namespace qopt::models;

static llvm::Error makeError(const llvm::Twine &msg) {
  return llvm::createStringError(llvm::inconvertibleErrorCode(), msg);
}

llvm::Expected<std::string>
qopt::models::readRegularFile(llvm::StringRef path, uint64_t maxBytes) {
  std::string p = path.str();
  // O_NONBLOCK: opening a FIFO for reading would otherwise wait for a writer.
  int fd;
  do {
    fd = ::open(p.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK);
  } while (fd < 0 && errno == EINTR);
  if (fd < 0)
    return makeError(std::strerror(errno));
  struct stat st;
  std::string text;
  llvm::Error err = llvm::Error::success();
  if (::fstat(fd, &st) != 0) {
    err = makeError(std::strerror(errno));
  } else if (!S_ISREG(st.st_mode)) {
    err = makeError("not a regular file");
  } else if (uint64_t(st.st_size) > maxBytes) {
    err = makeError("larger than " + llvm::Twine(maxBytes) + " bytes");
  } else {
    text.resize(size_t(st.st_size));
    size_t done = 0;
    while (done < text.size()) {
      ssize_t n = ::pread(fd, text.data() + done, text.size() - done,
                          off_t(done));
      if (n < 0 && errno == EINTR)
        continue;
      if (n <= 0) {
        err = makeError(n < 0 ? std::strerror(errno)
                              : "file shrank while it was read");
        break;
      }
      done += size_t(n);
    }
  }
  ::close(fd);
  if (err)
    return std::move(err);
  return text;
}

unsigned qopt::models::jsonNestingDepth(llvm::StringRef text, unsigned limit) {
  unsigned depth = 0, deepest = 0;
  bool inString = false;
  for (size_t i = 0; i < text.size(); ++i) {
    char c = text[i];
    if (inString) {
      if (c == '\\')
        ++i;
      else if (c == '"')
        inString = false;
      continue;
    }
    if (c == '"') {
      inString = true;
    } else if (c == '[' || c == '{') {
      deepest = std::max(deepest, ++depth);
      if (deepest > limit)
        return deepest;
    } else if ((c == ']' || c == '}') && depth > 0) {
      --depth;
    }
  }
  return deepest;
}

namespace {
enum class FieldType { Dim, Count, Bool, String };
struct Field {
  const char *key;
  FieldType type;
};
} // namespace

/// The fields the architectures read (lib/Models/*.cpp) and their types.
static const Field kFields[] = {
    {"hidden_size", FieldType::Dim},
    {"intermediate_size", FieldType::Dim},
    {"num_attention_heads", FieldType::Dim},
    {"num_key_value_heads", FieldType::Dim},
    {"num_hidden_layers", FieldType::Dim},
    {"vocab_size", FieldType::Dim},
    {"head_dim", FieldType::Dim},
    {"n_embd", FieldType::Dim},
    {"n_head", FieldType::Dim},
    {"n_inner", FieldType::Dim},
    {"n_layer", FieldType::Dim},
    {"num_local_experts", FieldType::Dim},
    {"num_experts_per_tok", FieldType::Dim},
    {"max_position_embeddings", FieldType::Count},
    {"context_window_size", FieldType::Count},
    {"max_sequence_length", FieldType::Count},
    {"n_positions", FieldType::Count},
    {"tie_word_embeddings", FieldType::Bool},
    {"attention_bias", FieldType::Bool},
    {"mlp_bias", FieldType::Bool},
    {"use_bias", FieldType::Bool},
    {"model_type", FieldType::String},
    {"hidden_act", FieldType::String},
    {"hidden_activation", FieldType::String},
};

llvm::Error qopt::models::checkModelConfig(const ModelConfig &config) {
  const nlohmann::json &raw = config.raw();
  auto bad = [&](const char *key, const llvm::Twine &what,
                 const nlohmann::json &v) {
    return makeError(config.getPath() + ": field '" + key + "' must be " +
                     what + ", got " + v.dump());
  };
  for (const Field &f : kFields) {
    auto it = raw.find(f.key);
    if (it == raw.end() || it->is_null())
      continue; // Missing fields are the architectures' business.
    const nlohmann::json &v = *it;
    switch (f.type) {
    case FieldType::Dim:
    case FieldType::Count:
      if (!v.is_number_integer() || v.get<int64_t>() <= 0 ||
          (v.is_number_unsigned() && v.get<uint64_t>() > uint64_t(INT64_MAX)))
        return bad(f.key, "a positive integer", v);
      if (f.type == FieldType::Dim && v.get<int64_t>() > ConfigLimits::kMaxDim)
        return bad(f.key,
                   "a positive integer of at most " +
                       llvm::Twine(ConfigLimits::kMaxDim),
                   v);
      break;
    case FieldType::Bool:
      if (!v.is_boolean())
        return bad(f.key, "true or false", v);
      break;
    case FieldType::String:
      if (!v.is_string())
        return bad(f.key, "a string", v);
      break;
    }
  }
  return llvm::Error::success();
}

llvm::Error qopt::models::checkConfigAgainstCheckpoint(
    const ModelConfig &config, uint64_t tensors, uint64_t elements) {
  const nlohmann::json &raw = config.raw();
  auto intField = [&](const char *key) -> int64_t {
    auto it = raw.find(key);
    return it != raw.end() && it->is_number_integer() ? it->get<int64_t>() : 0;
  };
  for (const char *key : {"num_hidden_layers", "n_layer"}) {
    int64_t layers = intField(key);
    if (layers > 0 && uint64_t(layers) > tensors)
      return makeError(config.getPath() + ": " + key + " is " +
                       llvm::Twine(layers) + " but the checkpoint has only " +
                       llvm::Twine(tensors) +
                       " tensors (each layer needs its own)");
  }
  int64_t vocab = intField("vocab_size");
  int64_t hidden = intField("hidden_size");
  if (hidden == 0)
    hidden = intField("n_embd");
  int64_t embed;
  if (vocab > 0 && hidden > 0 &&
      (llvm::MulOverflow(vocab, hidden, embed) || uint64_t(embed) > elements))
    return makeError(config.getPath() + ": vocab_size x hidden_size is " +
                     llvm::Twine(vocab) + " x " + llvm::Twine(hidden) +
                     " but the checkpoint holds only " +
                     llvm::Twine(elements) + " elements");
  return llvm::Error::success();
}
