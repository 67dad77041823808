//===- Passes.td - Weights dialect passes ------------------*- tablegen -*-===//
//
// import -> map names -> quantize -> verify -> shard -> serialize. Each pass
// runs alone on IR; `qopt-convert` chains them (Pipelines.cpp). All but the
// importer work on weights.model ops and are op-agnostic: scheduled on
// `builtin.module` they handle every model in it, nested as
// `builtin.module(weights.model(...))` the pass manager runs them per model
// (in parallel when there are several).
//
//===----------------------------------------------------------------------===//

#ifndef QOPT_WEIGHTS_PASSES
#define QOPT_WEIGHTS_PASSES

include "mlir/Pass/PassBase.td"

def ImportCheckpoint : Pass<"qopt-import-checkpoint", "::mlir::ModuleOp"> {
  let summary = "Reads checkpoint headers into weights.source ops";
  let description = [{
    Opens a model directory (config.json plus safetensors or PyTorch files,
    single or sharded with an index), reads only the headers, and appends a
    `weights.model` holding one `weights.source` per tensor, in the order the
    files and tensors are listed, with the config fields as an attribute.
    Files are named relative to the checkpoint's directory, recorded once as
    the model's `checkpoint_root`. Every location names the checkpoint file
    and the tensor.
  }];
  let options = [
    Option<"source", "source", "std::string", "\"\"",
           "Checkpoint directory or file (default: the config's directory)">,
    Option<"config", "config", "std::string", "\"\"",
           "config.json or the directory holding it">,
    Option<"sourceFormat", "source-format", "std::string", "\"auto\"",
           "auto|huggingface-safetensor|huggingface-torch">,
    Option<"modelType", "model-type", "std::string", "\"auto\"",
           "Architecture, or auto to read it from config.json">,
  ];
  let dependentDialects = ["::mlir::qopt::weights::WeightsDialect"];
}

def MapParameters : Pass<"qopt-map-parameters"> {
  let summary = "Maps checkpoint tensors to the parameters MLC's model expects";
  let description = [{
    Builds, for every parameter of the architecture's MLC definition, the
    mapping from source tensors (concatenations, stacks, transposes, ...) and
    a `weights.param` in MLC's emission order, tagged with its module kind
    and shard strategy. Reports every missing source tensor, warns once
    about unused ones, and records the number of source parameters MLC
    counts. It is the one pass that reads the model definition (from the
    `config` attribute): it also writes the definition's parameters as
    `weights.expect` ops and the model's `shard_divisors` and
    `quantization_kinds`, which later passes read instead.
    With `defer-missing`, a parameter whose source tensors are missing is
    not built but left as a `weights.missing` op, and the pass succeeds:
    `qopt-verify-parameters` then reports it with the other problems, each
    with a note at the graph's declaration (`qopt-convert` does this).
  }];
  let options = [
    Option<"deferMissing", "defer-missing", "bool", "false",
           "Record parameters with missing source tensors for "
           "qopt-verify-parameters to report instead of failing">,
  ];
  let dependentDialects = ["::mlir::qopt::weights::WeightsDialect"];
}

def FoldAwqScales : Pass<"qopt-fold-awq-scales"> {
  let summary = "Folds AWQ's activation-aware channel scales into the weights";
  let description = [{
    Activation-aware weight scaling (AWQ, docs/calibration.md): for each
    group of linears sharing an input in a decoder layer (the norm before
    attention and q/k/v, the norm before the MLP and gate/up, the v rows of
    q/k/v and o_proj when no query heads share a v head, the up rows of
    gate/up and down_proj), a `weights.awq_scales` op computes the scales s
    from the linears and the calibration statistics of their input (the
    `<linear>.imatrix` and, with `use-hessian`, `<linear>.hessian` tensors
    of the `stats` file, read as `weights.source`s), and
    `weights.scale_channels` ops multiply the linears' columns by s and
    divide the norm weight (and bias), or the rows of the previous linear,
    by s: the model computes the same function, and only stored values
    change. The search quantizes with `mode`'s scheme for linear weights.
    Runs after `qopt-map-parameters`, before `qopt-quantize-weights`.
    Groups that cannot be scaled (v -> o under grouped-query attention) are
    skipped with a warning.
  }];
  let options = [
    Option<"stats", "stats", "std::string", "\"\"",
           "Calibration statistics (quant-opt's STATS safetensors file)">,
    Option<"mode", "mode", "std::string", "\"q4f16_1\"",
           "Quantization mode whose quantizer the scale search uses">,
    Option<"rounding", "rounding", "std::string", "\"even\"",
           "Tie-breaking of group quantization's round: even or away">,
    Option<"grid", "grid", "int64_t", "20",
           "Ratios alpha = i / grid, i = 0 .. grid-1, searched">,
    Option<"useHessian", "use-hessian", "bool", "true",
           "Measure the error with the `.hessian` statistics when present">,
    Option<"rows", "rows", "int64_t", "128",
           "Rows of each weight the search measures the error on, spread "
           "evenly (0: every row)">,
  ];
  let dependentDialects = ["::mlir::qopt::weights::WeightsDialect"];
}

def MergeLora : Pass<"qopt-merge-lora", "::mlir::ModuleOp"> {
  let summary = "Merges a PEFT LoRA adapter into the checkpoint's weights";
  let description = [{
    Reads `adapter_config.json` and the headers of
    `adapter_model.safetensors` (or `adapter_model.bin`) in `adapter`, and
    for every module with `lora_A` / `lora_B` tensors replaces the uses of
    the base weight `<module>.weight` with
    `weights.merge_lora %base, %a, %b {scale = lora_alpha / r}` (or
    `lora_alpha / sqrt(r)` with `use_rslora`), so that everything after it
    (mapping, casts, quantization) sees `W + scale * B @ A`. Runs after
    `qopt-map-parameters`. Adapter files are read only when the cache is
    serialized, a tensor at a time. A module the checkpoint lacks, shapes
    or ranks that do not fit, and options PEFT's merge would treat
    differently (DoRA, per-module ranks, bias) are errors naming the
    adapter file and tensor.
  }];
  let options = [
    Option<"adapter", "adapter", "std::string", "\"\"",
           "PEFT adapter directory (adapter_config.json + "
           "adapter_model.safetensors or adapter_model.bin)">,
  ];
  let dependentDialects = ["::mlir::qopt::weights::WeightsDialect"];
}

def CheckRequantize : Pass<"qopt-check-requantize", "::mlir::ModuleOp"> {
  let summary = "Reports weights quantized again from an already quantized source";
  let description = [{
    Finds every `weights.quantize` whose input comes from a tensor that is
    already quantized in the checkpoint (a GGUF block type such as `Q4_K`,
    or an AutoAWQ `weights.dequantize_awq`) and, by `policy`, warns with
    the names of those tensors (`warn`), fails (`error`) or says nothing
    (`allow`); like llama-quantize's `--allow-requantize`.
  }];
  let options = [
    Option<"policy", "policy", "std::string", "\"warn\"",
           "allow, warn or error">,
  ];
  let dependentDialects = ["::mlir::qopt::weights::WeightsDialect"];
}

def QuantizeWeights : Pass<"qopt-quantize-weights"> {
  let summary = "Applies an MLC quantization mode to the parameters";
  let description = [{
    Casts every parameter to the mode's model dtype and replaces each weight
    the mode quantizes (by module kind) with `weights.quantize` and its
    `q_weight` / `q_scale` / ... parameters, each with its `role`, the
    `quantized_from` name and the weight's `kind` and `shard`. The model's
    own `weights.expect` ops are rewritten the same way.
  }];
  let options = [
    Option<"mode", "mode", "std::string", "\"q4f16_1\"",
           "MLC quantization mode (q0f16, q4f16_1, q3f16_1, e4m3_e4m3_f16, ...)">,
    Option<"rounding", "rounding", "std::string", "\"even\"",
           "Tie-breaking of group quantization's round: even (TVM >= 2026-04) or away">,
    Option<"optimizeScales", "optimize-scales", "bool", "false",
           "Group modes: search each group's scale for the least error (same format)">,
  ];
  let dependentDialects = ["::mlir::qopt::weights::WeightsDialect",
                           "::mlir::quant::QuantDialect"];
}

def AttachCalibration : Pass<"qopt-attach-calibration"> {
  let summary = "Gives quantized weights the statistics of their inputs";
  let description = [{
    Opens `file` (our STATS, or a llama.cpp importance matrix in the GGUF
    or legacy `.dat` format), records it as the model's
    `calibration_file`, and gives every `weights.quantize` of a 2-D or
    stacked-experts weight the statistics of that weight's input as
    `weights.calibration` operands: with `importance`, the mean of x^2 per
    input channel (importance-weighted scale search); with `gptq`, the
    Hessian and a `#weights.gptq` of the options (GPTQ). Entries are found
    by the weight's MLC name (STATS) or, for llama.cpp files, by the
    Hugging Face names of the checkpoint tensors the weight is built from
    (`blk.0.attn_q.weight` stands for `model.layers.0.self_attn.q_proj`;
    fused q/k/v and gate/up share their input, the first entry found is
    used). A weight without statistics keeps plain rounding, with a
    warning at the parameter. Runs after qopt-quantize-weights
    (docs/calibration.md).
  }];
  let options = [
    Option<"file", "file", "std::string", "\"\"",
           "Calibration statistics: STATS (.safetensors) or a llama.cpp "
           "imatrix (.gguf or legacy .dat)">,
    Option<"importance", "importance", "bool", "false",
           "Attach each weight's input importance (imatrix-weighted search)">,
    Option<"gptq", "gptq", "bool", "false",
           "Attach each weight's Hessian for GPTQ error compensation">,
    Option<"gptqDamp", "gptq-damp", "double", "0.01",
           "GPTQ dampening, as a fraction of the Hessian's mean diagonal">,
    Option<"gptqBlock", "gptq-block", "int64_t", "128",
           "GPTQ block size (columns compensated at once)">,
    Option<"gptqActOrder", "gptq-act-order", "bool", "false",
           "GPTQ: columns by descending Hessian diagonal, static groups">,
  ];
  let dependentDialects = ["::mlir::qopt::weights::WeightsDialect"];
}

def LowerToQuantTypes : Pass<"qopt-lower-to-quant-types"> {
  let summary = "Exposes MNN-style quantized weights as upstream quant types";
  let description = [{
    For every MNN-style `weights.quantize` (`#weights.mnn`), adds a
    `weights.quant_view` of its outputs: a tensor of the weight's shape
    whose element type is an upstream `quant` type with the storage type
    and range, the expressed type and zero point 0 (docs/mnn-format.md
    section 9). By default the element type is `!quant.any<..>` and the
    scales stay in the `q_scale` record, referenced by the view's operand:
    nothing is read and no weight data enters the IR. With
    `materialize-scales`, the weights are read and quantized once more and
    the type becomes `!quant.uniform` per-axis (channel-wise 2-D weights,
    axis 0) or sub-channel (block-wise, or channel-wise experts), holding
    every stored scale; more than `max-scales` scales in the module is an
    error. Asymmetric blocks keep their mins as the view's `offset` operand
    (the `q_zero` record): the upstream types only have integer zero points.
  }];
  let options = [
    Option<"materializeScales", "materialize-scales", "bool", "false",
           "Read the weights and embed the scales in per-axis / sub-channel types">,
    Option<"maxScales", "max-scales", "int64_t", "1048576",
           "Most scales materialize-scales may put into the IR (whole module)">,
  ];
  let dependentDialects = ["::mlir::qopt::weights::WeightsDialect",
                           "::mlir::quant::QuantDialect"];
}

def VerifyParameters : Pass<"qopt-verify-parameters"> {
  let summary = "Checks every parameter against what the compiled model expects";
  let description = [{
    Compares the `weights.param` ops with the expected parameter list: the
    model's own `weights.expect` ops (the architecture's definition as
    qopt-map-parameters wrote it and the quantize pass rewrote it), or
    `graph`, an MLIR file of `weights.expect` ops or function arguments, or
    MLC metadata JSON. Reports, all in one run: parameters missing (and
    the `weights.missing` ops qopt-map-parameters left), of the wrong shape
    or dtype, and parameters the graph does not expect. (A parameter
    produced twice does not verify: each is a symbol of its model.)
  }];
  let options = [
    Option<"graph", "graph", "std::string", "\"\"",
           "Expected parameters: .mlir (weights.expect ops / func args) or MLC metadata .json">,
  ];
  let dependentDialects = ["::mlir::qopt::weights::WeightsDialect"];
}

def PreShardTP : Pass<"qopt-preshard"> {
  let summary = "Splits parameters into tensor-parallel shards as MLC pre-shards them";
  let description = [{
    For every parameter with a `shard` strategy (set by qopt-map-parameters
    from the definition's `ShardSingleDim`), replaces `<name>` by
    `<name>_shard-0` .. `<name>_shard-(N-1)`, each a `weights.shard` of the
    full (quantized) tensor: contiguous head blocks per segment of fused
    q/k/v and gate/up, quantized storage and scales split on the weight's
    dimension (per-tensor float8 scales stay whole). Parameters without a
    strategy stay whole. Shard counts that do not divide the model's
    `shard_divisors` (heads, intermediate size), the segments or the
    groups, and KN layouts, are errors.
  }];
  let options = [
    Option<"numShards", "num-shards", "int64_t", "1", "Tensor-parallel shards">,
  ];
  let dependentDialects = ["::mlir::qopt::weights::WeightsDialect"];
}

def SerializeTensorCache : Pass<"qopt-serialize-tensor-cache"> {
  let summary = "Streams the parameters into a TVM tensor cache";
  let description = [{
    Evaluates every `weights.param` (reading source bytes, mapping,
    casting, quantizing) tensor by tensor with bounded memory, and writes
    `tensor-cache.json` and `params_shard_*.bin` exactly as
    `mlc_llm convert_weight` does. Nothing is left behind on error.
    With `dry-run`, prints the plan without reading weights or writing.
  }];
  let options = [
    Option<"outputDir", "output-dir", "std::string", "\"\"", "Output directory">,
    Option<"threads", "threads", "unsigned", "0", "Worker threads (0 = all cores)">,
    Option<"statsJson", "stats-json", "std::string", "\"\"",
           "Also write the statistics as JSON to this file">,
    Option<"printStats", "print-stats", "bool", "false",
           "Print the statistics lines of mlc_llm convert_weight">,
    Option<"dryRun", "dry-run", "bool", "false",
           "Print the plan; read no weights, write nothing">,
    Option<"accuracy", "accuracy", "bool", "false",
           "Measure each quantized weight's relative Frobenius error and SQNR "
           "(printed as a summary, per tensor in stats-json)">,
    Option<"progress", "progress", "bool", "false",
           "Show progress on stderr when it is a terminal">,
    Option<"device", "device", "std::string", "\"cpu\"",
           "Where casts and quantization run: cpu, or cuda (the kernels of "
           "qopt/Kernels/Cuda.h, same bytes; MNN modes and optimized scales "
           "stay on the CPU)">,
    Option<"part", "part", "std::string", "\"\"",
           "I/N: write only the I-th of N slices of the shards plus a part "
           "manifest (combine the parts with quant-opt merge-parts)">,
    Option<"shardCapBytes", "shard-cap-bytes", "uint64_t", "33554432",
           "Shard capacity (tvmjs' shard_cap_mb; mlc_llm uses 32 MiB)">,
    Option<"checkpointRoot", "checkpoint-root", "std::string", "\"\"",
           "Read the checkpoint files from this directory instead of the "
           "model's checkpoint_root (the checkpoint was moved)">,
    Option<"clampWeights", "clamp-weights", "bool", "false",
           "Replace NaN source weights by 0 and infinite or out-of-range ones "
           "(beyond the float type they are cast to) by the largest finite "
           "value, instead of failing (docs/reliability.md)">,
    Option<"logParams", "log-params", "bool", "false",
           "Log on stderr one line per parameter (`[Quantized] Parameter: "
           "...`) and the time and RAM usage, as mlc_llm convert_weight does">,
    Option<"calibrationFile", "calibration-file", "std::string", "\"\"",
           "Read the calibration statistics from this file instead of the "
           "model's calibration_file (docs/calibration.md)">,
    Option<"chunkBytes", "chunk-bytes", "uint64_t", "4194304",
           "Input bytes (as float32) one chunk evaluates at most, unless one "
           "row alone is larger and cannot be cut into sub-rows">,
    // Memory of a part (docs/design.md, "Keeping bytes out of the IR").
    Option<"eraseOtherParts", "erase-other-parts", "bool", "false",
           "With part: once every parameter is checked and planned, erase "
           "the weights.param ops of the other parts' records and the ops "
           "only they use, so their IR is not held while the part's chunks "
           "run (quant-opt convert sets it)">,
  ];
  let dependentDialects = ["::mlir::qopt::weights::WeightsDialect"];
}

// Issue 16: the IR of one part, for a run in a fresh context (docs/design.md,
// "What is alive while the chunks run").
def SelectPart : Pass<"qopt-select-part"> {
  let summary = "Keeps only the definitions of one part's records";
  let description = [{
    Plans the tensor cache's shards from the records (`weights.param` and
    `weights.external_param` ops, in order: the same plan as
    `qopt-serialize-tensor-cache`), then replaces every `weights.param`
    whose record lies in a shard another part writes by a
    `weights.external_param` of the same name and type, and erases every op
    that only those parameters used. A source that records of other parts
    read through a narrower cast than the part's own records gets that type
    as its `range_type`, so that the range check of the part's run is the
    same as the whole model's. Serializing the result with the same `part`
    writes the same shards and manifest as serializing the whole model;
    `quant-opt convert --part` runs it, moves the IR it leaves to a fresh
    context (bytecode) and serializes it there, so that the names and
    locations of the other parts' tensors, uniqued in the first context, are
    freed. With `end-record`, the records kept are those of a range of the
    emission order instead: one segment of a conversion that `quant-opt
    convert` runs in several (each planned and serialized in contexts of
    its own, all written by one writer that commits once). Errors as the
    serialize pass's: a record of a type no tensor cache holds, a parameter
    that was not built, another part's parameter that cannot be evaluated;
    and a record range outside the records.
  }];
  let options = [
    Option<"part", "part", "std::string", "\"\"",
           "I/N: keep the records of the I-th of N slices of the shards">,
    Option<"shardCapBytes", "shard-cap-bytes", "uint64_t", "33554432",
           "Shard capacity (as qopt-serialize-tensor-cache's)">,
    Option<"firstRecord", "first-record", "uint64_t", "0",
           "With end-record: keep records [first-record, end-record) "
           "instead of a part's (a segment of quant-opt convert)">,
    Option<"endRecord", "end-record", "uint64_t", "0",
           "End of the records kept (0: select by part)">,
  ];
  let dependentDialects = ["::mlir::qopt::weights::WeightsDialect"];
}

#endif // QOPT_WEIGHTS_PASSES
