//===- WeightSource.h - Where the evaluated weights come from ---*- C++ -*-===//
//
// A WeightSource hands out MLC parameters (by MLC name, with the unquantized
// shape the model expects) as float32: from a tensor cache, dequantized
// (CacheWeightSource), or from the Hugging Face checkpoint the cache was
// converted from, fused the MLC way (CheckpointWeightSource).
//
//===----------------------------------------------------------------------===//

#ifndef QOPT_EVAL_WEIGHTSOURCE_H
#define QOPT_EVAL_WEIGHTSOURCE_H

#include "qopt/Eval/Dequantize.h"
#include "qopt/Eval/TensorCacheReader.h"
#include "qopt/Loaders/Checkpoint.h"
#include "qopt/Loaders/TensorReader.h"

#include "llvm/ADT/ArrayRef.h"
#include "llvm/ADT/StringRef.h"
#include "llvm/Support/Error.h"

#include <memory>
#include <string>
#include <vector>

namespace qopt::eval {

/// Supplies MLC parameters as float32 row-major arrays.
class WeightSource {
public:
  virtual ~WeightSource();
  /// The parameter `name` (e.g. "model.layers.0.self_attn.qkv_proj.weight")
  /// with shape `shape`; an error if it is missing or shaped otherwise.
  virtual llvm::Expected<std::vector<float>>
  load(llvm::StringRef name, llvm::ArrayRef<int64_t> shape) = 0;
};

/// Parameters of a tensor cache, dequantized.
class CacheWeightSource final : public WeightSource {
public:
  static llvm::Expected<std::unique_ptr<CacheWeightSource>>
  open(llvm::StringRef dir, QuantizationHint hint = {});
  llvm::Expected<std::vector<float>>
  load(llvm::StringRef name, llvm::ArrayRef<int64_t> shape) override;
  const TensorCacheReader &cache() const { return reader; }

private:
  CacheWeightSource(TensorCacheReader reader, QuantizationHint hint)
      : reader(std::move(reader)), hint(std::move(hint)) {}
  TensorCacheReader reader;
  QuantizationHint hint;
};

/// Parameters of a Llama Hugging Face checkpoint under their MLC names:
/// `qkv_proj.weight` = concat(q_proj, k_proj, v_proj) rows and
/// `gate_up_proj.weight` = concat(gate_proj, up_proj) rows, every other name
/// copied; any float dtype widened exactly to float32.
class CheckpointWeightSource final : public WeightSource {
public:
  /// `source` as for loaders::openCheckpoint (a directory or a file).
  static llvm::Expected<std::unique_ptr<CheckpointWeightSource>>
  open(llvm::StringRef source);
  llvm::Expected<std::vector<float>>
  load(llvm::StringRef name, llvm::ArrayRef<int64_t> shape) override;

  /// The HF tensors an MLC llama parameter is made of, in row order.
  static std::vector<std::string> sourceNames(llvm::StringRef mlcName);

private:
  CheckpointWeightSource(std::string source, loaders::Checkpoint ckpt)
      : source(std::move(source)), checkpoint(std::move(ckpt)) {}
  std::string source;
  loaders::Checkpoint checkpoint;
  loaders::TensorReader reader;
};

/// Parameters of any architecture's Hugging Face checkpoint under the MLC
/// names and shapes its lib/Models definition gives (config.json in the
/// directory picks the architecture): each parameter is that definition's
/// mapping (source, concat, stack, transpose, + constant) evaluated in
/// float32, e.g. mixtral's stacked `moe.e1_e3.weight` or gemma's norm
/// weights plus one.
class ModelWeightSource final : public WeightSource {
public:
  /// `dir` holds config.json and the checkpoint.
  static llvm::Expected<std::unique_ptr<ModelWeightSource>>
  open(llvm::StringRef dir);
  llvm::Expected<std::vector<float>>
  load(llvm::StringRef name, llvm::ArrayRef<int64_t> shape) override;
  /// The definition's architecture name ("mixtral").
  llvm::StringRef architecture() const;
  ~ModelWeightSource() override;
  struct Impl;

private:
  explicit ModelWeightSource(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl;
};

} // namespace qopt::eval

#endif // QOPT_EVAL_WEIGHTSOURCE_H
