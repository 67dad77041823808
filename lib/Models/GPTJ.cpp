//===- GPTJ.cpp - GPT-J, which MLC's converter cannot convert --*- C++ -*-===//
//
// mlc-llm registers `gptj` (python/mlc_llm/model/gpt_j/gpt_j_model.py,
// gpt_j_loader.py), but its loader cannot run: make_standard_hf_loader with
// layer_prefix `transformer.h` and the default q/k/v fusion looks up the
// MLC parameter `transformer.h.L.self_attn.c_attn.weight`, while
// GPTJForCausalLM names its attention `attn` (`transformer.h.L.attn.
// c_attn.weight`); `mlc_llm convert_weight` stops with a KeyError before
// reading a tensor (the HF names it would read, `...self_attn.q_proj`, are
// not GPT-J's `attn.q_proj` either). There is no layout to reproduce, so the
// model type is recognised and refused with that reason.
//
//===----------------------------------------------------------------------===//

#include "ArchitectureBuilders.h"

using namespace qopt::models;

Architecture qopt::models::makeGPTJArchitecture() {
  return {"gptj",
          {"GPTJForCausalLM"},
          {"gptj"},
          [](const ModelConfig &cfg, int64_t) -> llvm::Expected<ModelDef> {
            return build::configError(
                cfg,
                "gptj cannot be converted as MLC defines it: mlc-llm's gptj "
                "loader fuses q/k/v into "
                "'transformer.h.<layer>.self_attn.c_attn.weight', a parameter "
                "MLC's GPTJForCausalLM does not have (its attention is "
                "'transformer.h.<layer>.attn'), so mlc_llm convert_weight "
                "fails for every GPT-J checkpoint");
          }};
}
