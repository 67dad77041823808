//===- WeightSource.cpp - Where the evaluated weights come from -*- C++ -*-===//
//
// Part of quant-opt. See WeightSource.h.
//
//===----------------------------------------------------------------------===//

#include "qopt/Eval/WeightSource.h"

#include "qopt/Models/Gguf.h"
#include "qopt/Numerics/Convert.h"

#include "llvm/ADT/Twine.h"
#include "llvm/Support/MathExtras.h"

namespace qopt::eval {

static llvm::Error makeError(const llvm::Twine &msg) {
  return llvm::createStringError(llvm::inconvertibleErrorCode(), msg);
}

WeightSource::~WeightSource() = default;

//===----------------------------------------------------------------------===//
// CacheWeightSource
//===----------------------------------------------------------------------===//

llvm::Expected<std::unique_ptr<CacheWeightSource>>
CacheWeightSource::open(llvm::StringRef dir, QuantizationHint hint) {
  auto reader = TensorCacheReader::open(dir);
  if (!reader)
    return reader.takeError();
  return std::unique_ptr<CacheWeightSource>(
      new CacheWeightSource(std::move(*reader), std::move(hint)));
}

llvm::Expected<std::vector<float>>
CacheWeightSource::load(llvm::StringRef name, llvm::ArrayRef<int64_t> shape) {
  return dequantizeParam(reader, name, shape, hint);
}

//===----------------------------------------------------------------------===//
// CheckpointWeightSource
//===----------------------------------------------------------------------===//

llvm::Expected<std::unique_ptr<CheckpointWeightSource>>
CheckpointWeightSource::open(llvm::StringRef source) {
  auto ckpt = loaders::openCheckpoint(source, loaders::SourceFormat::Auto,
                                      models::ggufCheckpointFile);
  if (!ckpt)
    return ckpt.takeError();
  return std::unique_ptr<CheckpointWeightSource>(
      new CheckpointWeightSource(source.str(), std::move(*ckpt)));
}

std::vector<std::string>
CheckpointWeightSource::sourceNames(llvm::StringRef mlcName) {
  llvm::StringRef prefix = mlcName;
  if (prefix.consume_back("self_attn.qkv_proj.weight")) {
    std::string p = (prefix + "self_attn.").str();
    return {p + "q_proj.weight", p + "k_proj.weight", p + "v_proj.weight"};
  }
  if (prefix.consume_back("mlp.gate_up_proj.weight")) {
    std::string p = (prefix + "mlp.").str();
    return {p + "gate_proj.weight", p + "up_proj.weight"};
  }
  return {mlcName.str()};
}

llvm::Expected<std::vector<float>>
CheckpointWeightSource::load(llvm::StringRef name,
                             llvm::ArrayRef<int64_t> shape) {
  if (shape.empty())
    return makeError("parameter '" + name + "': expected a non-scalar shape");
  int64_t rowElems = 1;
  for (int64_t d : shape.drop_front())
    if (d < 0 || llvm::MulOverflow(rowElems, d, rowElems))
      return makeError("parameter '" + name + "': bad shape " +
                       formatShape(shape));
  int64_t total = 0;
  if (shape[0] < 0 || llvm::MulOverflow(rowElems, shape[0], total))
    return makeError("parameter '" + name + "': bad shape " +
                     formatShape(shape));

  std::vector<std::string> parts = sourceNames(name);
  std::vector<const loaders::TensorInfo *> infos;
  int64_t rows = 0;
  for (const std::string &part : parts) {
    const loaders::TensorInfo *info = checkpoint.find(part);
    if (!info)
      return makeError(source + ": missing tensor '" + part +
                       "' (for MLC parameter '" + name + "')");
    // Every part has the trailing dimensions of the fused parameter.
    if (info->shape.size() != shape.size() ||
        llvm::ArrayRef<int64_t>(info->shape).drop_front() != shape.drop_front())
      return makeError(
          info->file + ": tensor '" + part + "' has shape " +
          formatShape(info->shape) + ", expected " +
          (parts.size() == 1
               ? formatShape(shape)
               : "[*, " + formatShape(shape.drop_front()).substr(1)) +
          " for MLC parameter '" + name + "'");
    numerics::DType dt = info->dtype;
    if (!numerics::isConversionSupported(dt, numerics::DType::F32))
      return makeError(info->file + ": tensor '" + part + "' has dtype " +
                       std::string(numerics::tvmName(dt)) +
                       ", expected a floating-point type");
    rows += info->shape[0];
    infos.push_back(info);
  }
  if (rows != shape[0]) {
    std::string got;
    for (const loaders::TensorInfo *info : infos)
      got += (got.empty() ? "" : " + ") + formatShape(info->shape);
    return makeError(source + ": MLC parameter '" + name + "' needs shape " +
                     formatShape(shape) + " but its tensors have " + got);
  }

  std::vector<float> out(static_cast<size_t>(total));
  float *dst = out.data();
  std::vector<uint8_t> raw;
  for (const loaders::TensorInfo *info : infos) {
    raw.resize(info->contiguousBytes());
    if (llvm::Error e = reader.read(*info, raw.data()))
      return std::move(e);
    size_t n = static_cast<size_t>(info->numElements());
    if (!numerics::convertElements(raw.data(), info->dtype, dst,
                                   numerics::DType::F32, n))
      return makeError(info->file + ": tensor '" + info->name +
                       "': cannot convert to float32");
    dst += n;
  }
  return std::move(out);
}

} // namespace qopt::eval
