//===- SentencePiece.cpp - tokenizer.model through libsentencepiece -------===//
//
// A sentencepiece model (BPE or Unigram, with its own normalizer) run by
// Debian's libsentencepiece. The model itself never adds BOS/EOS; the
// transformers tokenizers that wrap it (LlamaTokenizer, GemmaTokenizer) do,
// as tokenizer_config.json's add_bos_token / add_eos_token say.
//
//===----------------------------------------------------------------------===//

#include "TokenizerImpl.h"
#include "qopt/Loaders/Checkpoint.h"
#include "qopt/Tokenizer/Tokenizer.h"

#include "llvm/ADT/SmallString.h"
#include "llvm/Support/MemoryBuffer.h"
#include "llvm/Support/Path.h"

#include <nlohmann/json.hpp>
#include <sentencepiece_processor.h>

namespace qopt::tokenizer {

namespace {
class SentencePieceTokenizer : public Tokenizer {
public:
  explicit SentencePieceTokenizer(std::string path)
      : Tokenizer(std::move(path)) {}

  llvm::Expected<std::vector<int32_t>>
  encode(llvm::StringRef text, bool addSpecialTokens) const override {
    if (std::optional<size_t> bad = loaders::findInvalidUtf8(text))
      return detail::makeError(path() +
                               ": text is not valid UTF-8 (bad byte at "
                               "offset " +
                               llvm::Twine(*bad) + ")");
    std::vector<int> pieces;
    sentencepiece::util::Status status =
        processor.Encode(std::string_view(text.data(), text.size()), &pieces);
    if (!status.ok())
      return detail::makeError(path() + ": " + status.ToString());
    std::vector<int32_t> ids;
    ids.reserve(pieces.size() + 2);
    if (addSpecialTokens && addBos)
      ids.push_back(processor.bos_id());
    ids.insert(ids.end(), pieces.begin(), pieces.end());
    if (addSpecialTokens && addEos)
      ids.push_back(processor.eos_id());
    return ids;
  }

  llvm::Expected<std::string>
  decode(llvm::ArrayRef<int32_t> ids) const override {
    std::vector<int> pieces;
    for (int32_t id : ids) {
      if (id < 0 || id >= processor.GetPieceSize())
        return detail::makeError(path() + ": cannot decode token id " +
                                 llvm::Twine(id) + ": not in the vocabulary");
      pieces.push_back(id);
    }
    std::string text;
    sentencepiece::util::Status status = processor.Decode(pieces, &text);
    if (!status.ok())
      return detail::makeError(path() + ": " + status.ToString());
    return text;
  }

  int32_t vocabSize() const override { return processor.GetPieceSize(); }

  sentencepiece::SentencePieceProcessor processor;
  bool addBos = false;
  bool addEos = false;
};
} // namespace

/// Largest tokenizer.model read (real ones are at most a few MB).
static constexpr uint64_t kMaxModelBytes = 256ull << 20;

/// Reads add_bos_token / add_eos_token from tokenizer_config.json beside
/// the model, if there is one.
static llvm::Error readTokenizerConfig(llvm::StringRef modelPath,
                                       std::optional<bool> &addBos,
                                       std::optional<bool> &addEos) {
  llvm::SmallString<256> configPath = llvm::sys::path::parent_path(modelPath);
  llvm::sys::path::append(configPath, "tokenizer_config.json");
  llvm::ErrorOr<std::unique_ptr<llvm::MemoryBuffer>> buffer =
      llvm::MemoryBuffer::getFile(configPath);
  if (!buffer)
    return llvm::Error::success();
  llvm::StringRef text = (*buffer)->getBuffer();
  nlohmann::json root = nlohmann::json::parse(text.begin(), text.end(), nullptr,
                                              /*allow_exceptions=*/false);
  if (root.is_discarded() || !root.is_object())
    return detail::makeError(configPath + ": not a JSON object");
  for (auto [key, out] : {std::pair{"add_bos_token", &addBos},
                          std::pair{"add_eos_token", &addEos}}) {
    auto it = root.find(key);
    if (it == root.end() || it->is_null())
      continue;
    if (!it->is_boolean())
      return detail::makeError(configPath + ": '" + key +
                               "' must be a boolean");
    *out = it->get<bool>();
  }
  return llvm::Error::success();
}

llvm::Expected<std::unique_ptr<Tokenizer>>
Tokenizer::openSentencePiece(llvm::StringRef path) {
  llvm::ErrorOr<std::unique_ptr<llvm::MemoryBuffer>> buffer =
      llvm::MemoryBuffer::getFile(path, /*IsText=*/false,
                                  /*RequiresNullTerminator=*/false);
  if (!buffer)
    return detail::makeError(path +
                             ": cannot read: " + buffer.getError().message());
  llvm::StringRef bytes = (*buffer)->getBuffer();
  if (bytes.size() > kMaxModelBytes)
    return detail::makeError(path + ": " + llvm::Twine(bytes.size()) +
                             " bytes is larger than the " +
                             llvm::Twine(kMaxModelBytes) + " bytes accepted");
  auto tokenizer = std::make_unique<SentencePieceTokenizer>(path.str());
  sentencepiece::util::Status status =
      tokenizer->processor.LoadFromSerializedProto(
          std::string_view(bytes.data(), bytes.size()));
  if (!status.ok())
    return detail::makeError(
        path + ": not a sentencepiece model: " + status.ToString());
  std::optional<bool> addBos, addEos;
  if (llvm::Error e = readTokenizerConfig(path, addBos, addEos))
    return std::move(e);
  int bos = tokenizer->processor.bos_id(), eos = tokenizer->processor.eos_id();
  tokenizer->addBos = addBos.value_or(bos >= 0);
  tokenizer->addEos = addEos.value_or(false);
  if (tokenizer->addBos && bos < 0)
    return detail::makeError(path + ": add_bos_token is set but the model "
                                    "has no BOS piece");
  if (tokenizer->addEos && eos < 0)
    return detail::makeError(path + ": add_eos_token is set but the model "
                                    "has no EOS piece");
  return std::unique_ptr<Tokenizer>(std::move(tokenizer));
}

} // namespace qopt::tokenizer
