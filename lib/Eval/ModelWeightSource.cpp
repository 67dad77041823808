//===- ModelWeightSource.cpp - MLC parameters from a checkpoint -*- C++ -*-===//
//
// Part of quant-opt. See WeightSource.h: the lib/Models definition of the
// checkpoint's architecture says how each MLC parameter is made from
// Hugging Face tensors; this evaluates that mapping in float32.
//
//===----------------------------------------------------------------------===//

#include "qopt/Eval/WeightSource.h"

#include "qopt/Models/ModelDef.h"
#include "qopt/Numerics/Convert.h"
#include "qopt/Numerics/NumpyElementwise.h"

#include "llvm/ADT/StringMap.h"
#include "llvm/ADT/Twine.h"

namespace qopt::eval {

static llvm::Error makeError(const llvm::Twine &msg) {
  return llvm::createStringError(llvm::inconvertibleErrorCode(), msg);
}

struct ModelWeightSource::Impl {
  std::string dir;
  models::ModelDef def;
  llvm::StringMap<size_t> byName; // MLC name -> index in def.params
  loaders::Checkpoint checkpoint;
  loaders::TensorReader reader;
};

ModelWeightSource::ModelWeightSource(std::unique_ptr<Impl> impl)
    : impl(std::move(impl)) {}
ModelWeightSource::~ModelWeightSource() = default;

llvm::StringRef ModelWeightSource::architecture() const {
  return impl->def.arch;
}

llvm::Expected<std::unique_ptr<ModelWeightSource>>
ModelWeightSource::open(llvm::StringRef dir) {
  auto config = models::readModelConfig(dir);
  if (!config)
    return config.takeError();
  if (auto e = models::checkModelConfig(*config))
    return std::move(e);
  auto arch = models::detectArchitecture(*config, "auto");
  if (!arch)
    return arch.takeError();
  auto def = (*arch)->build(*config, /*tpShards=*/1);
  if (!def)
    return def.takeError();
  auto ckpt = loaders::openCheckpoint(dir, loaders::SourceFormat::Auto);
  if (!ckpt)
    return ckpt.takeError();
  auto impl = std::make_unique<Impl>();
  impl->dir = dir.str();
  impl->def = std::move(*def);
  impl->checkpoint = std::move(*ckpt);
  const loaders::Checkpoint &c = impl->checkpoint;
  impl->def.resolveSourceNames(
      [&](llvm::StringRef name) { return c.find(name) != nullptr; });
  for (size_t i = 0; i < impl->def.params.size(); ++i)
    impl->byName[impl->def.params[i].name] = i;
  return std::unique_ptr<ModelWeightSource>(
      new ModelWeightSource(std::move(impl)));
}

namespace {
struct Tensor {
  std::vector<int64_t> shape;
  std::vector<float> values;
};
} // namespace

static int64_t product(llvm::ArrayRef<int64_t> shape) {
  int64_t n = 1;
  for (int64_t d : shape)
    n *= d;
  return n;
}

/// Evaluates `e` for MLC parameter `param`.
static llvm::Expected<Tensor> evaluate(const models::MapExpr &e,
                                       llvm::StringRef param,
                                       ModelWeightSource::Impl &impl);

static llvm::Expected<std::vector<Tensor>>
evaluateOperands(const models::MapExpr &e, llvm::StringRef param,
                 ModelWeightSource::Impl &impl) {
  std::vector<Tensor> out;
  for (const models::MapExpr &op : e.operands) {
    auto t = evaluate(op, param, impl);
    if (!t)
      return t.takeError();
    out.push_back(std::move(*t));
  }
  if (out.empty())
    return makeError("parameter '" + param + "': empty mapping");
  return std::move(out);
}

static llvm::Expected<Tensor> evaluate(const models::MapExpr &e,
                                       llvm::StringRef param,
                                       ModelWeightSource::Impl &impl) {
  using Op = models::MapExpr::Op;
  switch (e.op) {
  case Op::Source: {
    const loaders::TensorInfo *info = impl.checkpoint.find(e.source);
    if (!info)
      return makeError(impl.dir + ": missing tensor '" + e.source +
                       "' (for MLC parameter '" + param + "')");
    if (!numerics::isConversionSupported(info->dtype, numerics::DType::F32))
      return makeError(info->file + ": tensor '" + e.source + "' has dtype " +
                       std::string(numerics::tvmName(info->dtype)) +
                       ", expected a floating-point type");
    Tensor t;
    t.shape = info->shape;
    std::vector<uint8_t> raw(info->contiguousBytes());
    if (llvm::Error err = impl.reader.read(*info, raw.data()))
      return std::move(err);
    t.values.resize(size_t(info->numElements()));
    if (!numerics::convertElements(raw.data(), info->dtype, t.values.data(),
                                   numerics::DType::F32, t.values.size()))
      return makeError(info->file + ": tensor '" + e.source +
                       "': cannot convert to float32");
    return std::move(t);
  }
  case Op::AddConstant: {
    auto parts = evaluateOperands(e, param, impl);
    if (!parts)
      return parts.takeError();
    Tensor t = std::move(parts->front());
    float c = float(e.constant);
    for (float &v : t.values)
      v += c;
    return std::move(t);
  }
  case Op::ToF32: { // the values are float32 already
    auto parts = evaluateOperands(e, param, impl);
    if (!parts)
      return parts.takeError();
    return std::move(parts->front());
  }
  case Op::DividePow2:
  case Op::Exp: { // RWKV's rescale and time_decay, in float32
    auto parts = evaluateOperands(e, param, impl);
    if (!parts)
      return parts.takeError();
    Tensor t = std::move(parts->front());
    if (e.op == Op::Exp)
      numerics::numpyExpF32Rows(t.values.data(), t.values.data(),
                                t.values.size(), e.negate);
    else if (!numerics::divideByPowerOfTwo(t.values.data(),
                                           numerics::DType::F32,
                                           t.values.size(), int(e.exponent)))
      return makeError("parameter '" + param + "': cannot divide by 2^" +
                       llvm::Twine(e.exponent));
    return std::move(t);
  }
  case Op::Transpose: {
    auto parts = evaluateOperands(e, param, impl);
    if (!parts)
      return parts.takeError();
    Tensor &in = parts->front();
    if (in.shape.size() != 2)
      return makeError("parameter '" + param + "': transpose of a tensor of "
                       "rank " + llvm::Twine(in.shape.size()));
    int64_t r = in.shape[0], c = in.shape[1];
    Tensor t;
    t.shape = {c, r};
    t.values.resize(in.values.size());
    for (int64_t i = 0; i < r; ++i)
      for (int64_t j = 0; j < c; ++j)
        t.values[size_t(j * r + i)] = in.values[size_t(i * c + j)];
    return std::move(t);
  }
  case Op::StackEach:
    return evaluate(e.expanded(), param, impl);
  case Op::Concat:
  case Op::Stack: {
    auto parts = evaluateOperands(e, param, impl);
    if (!parts)
      return parts.takeError();
    bool stack = e.op == Op::Stack;
    const std::vector<int64_t> &first = parts->front().shape;
    int64_t axis = stack ? 0 : e.axis;
    if (!stack && (axis < 0 || axis >= int64_t(first.size())))
      return makeError("parameter '" + param + "': concat axis out of range");
    Tensor t;
    t.shape = first;
    if (stack)
      t.shape.insert(t.shape.begin(), int64_t(parts->size()));
    else
      t.shape[size_t(axis)] = 0;
    for (const Tensor &p : *parts) {
      bool same = p.shape.size() == first.size();
      for (size_t d = 0; same && d < first.size(); ++d)
        same = (!stack && int64_t(d) == axis) || p.shape[d] == first[d];
      if (!same)
        return makeError("parameter '" + param +
                         "': its source tensors have shapes that do not " +
                         (stack ? "stack" : "concatenate"));
      if (!stack)
        t.shape[size_t(axis)] += p.shape[size_t(axis)];
    }
    // outer = product of the dimensions before the axis; each part
    // contributes a contiguous slab per outer index.
    int64_t outer = stack ? 1 : product(llvm::ArrayRef(first).take_front(axis));
    t.values.reserve(size_t(product(t.shape)));
    for (int64_t o = 0; o < outer; ++o)
      for (const Tensor &p : *parts) {
        size_t slab = p.values.size() / size_t(outer);
        t.values.insert(t.values.end(), p.values.begin() + o * slab,
                        p.values.begin() + (o + 1) * slab);
      }
    return std::move(t);
  }
  case Op::View:
    return makeError("parameter '" + param +
                     "': strided views are not supported by the reference "
                     "forward");
  }
  return makeError("parameter '" + param + "': unknown mapping");
}

llvm::Expected<std::vector<float>>
ModelWeightSource::load(llvm::StringRef name, llvm::ArrayRef<int64_t> shape) {
  auto it = impl->byName.find(name);
  if (it == impl->byName.end())
    return makeError(impl->dir + ": the " + impl->def.arch +
                     " definition has no MLC parameter '" + name + "'");
  const models::ParamDef &p = impl->def.params[it->second];
  auto t = evaluate(p.map, name, *impl);
  if (!t)
    return t.takeError();
  if (t->shape != std::vector<int64_t>(shape.begin(), shape.end()))
    return makeError(impl->dir + ": MLC parameter '" + name + "' has shape " +
                     formatShape(t->shape) + ", expected " +
                     formatShape(shape));
  return std::move(t->values);
}

} // namespace qopt::eval
