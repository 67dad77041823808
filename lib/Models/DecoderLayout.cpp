//===- DecoderLayout.cpp - Where a decoder layer's inputs come from -------===//
//
// The llama-style decoder layers of MLC's llama, mistral, qwen2, qwen3 and
// phi3 definitions: a norm -> fused q/k/v, another norm -> fused gate/up.
//
//===----------------------------------------------------------------------===//

#include "qopt/Models/DecoderLayout.h"

#include <iterator>

namespace qopt::models {

// Names as lib/Models/Llama.cpp, Qwen2.cpp, Qwen3.cpp (the fused q/k/v
// `c_attn`, with a bias) and Phi3.cpp (`transformer.h.`) write them.
static const DecoderLayout kLayouts[] = {
    {"llama", "model.layers.", "input_layernorm.weight", "",
     "self_attn.qkv_proj.weight", "", "self_attn.o_proj.weight",
     "post_attention_layernorm.weight", "", "mlp.gate_up_proj.weight",
     "mlp.down_proj.weight"},
    {"mistral", "model.layers.", "input_layernorm.weight", "",
     "self_attn.qkv_proj.weight", "", "self_attn.o_proj.weight",
     "post_attention_layernorm.weight", "", "mlp.gate_up_proj.weight",
     "mlp.down_proj.weight"},
    {"qwen2", "model.layers.", "input_layernorm.weight", "",
     "self_attn.c_attn.weight", "self_attn.c_attn.bias",
     "self_attn.o_proj.weight", "post_attention_layernorm.weight", "",
     "mlp.gate_up_proj.weight", "mlp.down_proj.weight"},
    {"qwen3", "model.layers.", "input_layernorm.weight", "",
     "self_attn.c_attn.weight", "self_attn.c_attn.bias",
     "self_attn.o_proj.weight", "post_attention_layernorm.weight", "",
     "mlp.gate_up_proj.weight", "mlp.down_proj.weight"},
    {"phi3", "transformer.h.", "ln.weight", "", "mixer.qkv_proj.weight", "",
     "mixer.out_proj.weight", "post_attention_layernorm.weight", "",
     "mlp.gate_up_proj.weight", "mlp.down_proj.weight"},
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
