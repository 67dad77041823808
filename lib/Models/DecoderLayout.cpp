//===- DecoderLayout.cpp - Where a decoder layer's inputs come from -------===//
//
// The llama-style decoder layers of MLC's llama, mistral, qwen2, qwen3 and
// phi3 definitions (the names of lib/Models/Llama.cpp and the shared
// builders): input_layernorm -> qkv_proj, post_attention_layernorm ->
// gate_up_proj.
//
//===----------------------------------------------------------------------===//

#include "qopt/Models/DecoderLayout.h"

#include <iterator>

namespace qopt::models {

static const DecoderLayout kLayouts[] = {
#define QOPT_LLAMA_STYLE(ARCH, QKV_BIAS)                                       \
  {ARCH,                                                                       \
   "model.layers.",                                                            \
   "input_layernorm.weight",                                                   \
   "",                                                                         \
   "self_attn.qkv_proj.weight",                                                \
   QKV_BIAS,                                                                   \
   "self_attn.o_proj.weight",                                                  \
   "post_attention_layernorm.weight",                                          \
   "",                                                                         \
   "mlp.gate_up_proj.weight",                                                  \
   "mlp.down_proj.weight"}
    QOPT_LLAMA_STYLE("llama", ""),
    QOPT_LLAMA_STYLE("mistral", ""),
    QOPT_LLAMA_STYLE("qwen2", "self_attn.qkv_proj.bias"),
    QOPT_LLAMA_STYLE("qwen3", "self_attn.qkv_proj.bias"),
    QOPT_LLAMA_STYLE("phi3", ""),
#undef QOPT_LLAMA_STYLE
};

std::string DecoderLayout::name(int64_t layer, llvm::StringRef rest) const {
  return std::string(prefix) + std::to_string(layer) + "." + rest.str();
}

const DecoderLayout *findDecoderLayout(llvm::StringRef arch) {
  for (const DecoderLayout &l : kLayouts)
    if (arch == l.arch)
      return &l;
  return nullptr;
}

std::string decoderLayoutArchList() {
  std::string out;
  for (const DecoderLayout &l : kLayouts)
    out += (out.empty() ? "" : ", ") + std::string(l.arch);
  return out;
}

} // namespace qopt::models
