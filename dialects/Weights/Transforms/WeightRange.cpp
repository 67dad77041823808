//===- WeightRange.cpp - Non-finite and out-of-range source weights -------===//

#include "dialects/Weights/Transforms/WeightRange.h"

#include "dialects/Weights/Transforms/Utils.h"

#include "llvm/ADT/SmallPtrSet.h"
#include "llvm/Support/Format.h"

#include <cmath>
#include <cstdio>

using namespace mlir;
using namespace mlir::qopt::weights;
namespace num = ::qopt::numerics;

static std::optional<num::FloatFormat> formatOf(Type t) {
  if (t.isF16())
    return num::FloatFormat::F16;
  if (t.isBF16())
    return num::FloatFormat::BF16;
  if (t.isF32())
    return num::FloatFormat::F32;
  return std::nullopt;
}

WeightRangePolicy WeightRangePolicy::build(ArrayRef<ParamOp> params,
                                           bool clamp) {
  WeightRangePolicy policy;
  policy.clamp = clamp;
  // (value, target) pairs already walked. Every float32 record is stored
  // as bfloat16 ("format": "f32-to-bf16"), so BF16 is the widest target.
  llvm::DenseSet<std::pair<Value, unsigned>> seen;
  SmallVector<std::pair<Value, num::FloatFormat>> work;
  for (ParamOp p : params)
    if (p) // null: a record of another part (an external_param)
      work.push_back({p.getValue(), num::FloatFormat::BF16});
  while (!work.empty()) {
    auto [v, target] = work.pop_back_val();
    if (!seen.insert({v, unsigned(target)}).second)
      continue;
    Operation *def = v.getDefiningOp();
    if (!def)
      continue;
    if (auto source = dyn_cast<SourceOp>(def)) {
      // Records outside the IR read it through a cast to this type
      // (qopt-select-part).
      if (auto t = source.getRangeType())
        if (auto f = formatOf(*t))
          target = num::narrowerFormat(target, *f);
      auto [it, inserted] = policy.targets.try_emplace(def, target);
      if (!inserted)
        it->second = num::narrowerFormat(it->second, target);
      continue;
    }
    num::FloatFormat next = target;
    if (auto c = dyn_cast<CastOp>(def))
      if (auto f = formatOf(
              cast<RankedTensorType>(c.getType()).getElementType()))
        next = num::narrowerFormat(target, *f);
    for (Value operand : def->getOperands())
      work.push_back({operand, next});
  }
  return policy;
}

num::FloatFormat WeightRangePolicy::targetOf(SourceOp source,
                                             num::FloatFormat own) const {
  auto it = targets.find(source.getOperation());
  return it == targets.end() ? own : num::narrowerFormat(own, it->second);
}

static std::optional<num::FloatFormat> formatOf(num::DType t) {
  switch (t) {
  case num::DType::F16:
    return num::FloatFormat::F16;
  case num::DType::BF16:
    return num::FloatFormat::BF16;
  case num::DType::F32:
    return num::FloatFormat::F32;
  default:
    return std::nullopt;
  }
}

bool WeightRangePolicy::followsFromFinite(Operation *sourceOp,
                                          num::DType format) const {
  auto source = dyn_cast<SourceOp>(sourceOp);
  if (clamp || !source)
    return false;
  std::optional<num::DType> stored = fromMlirType(
      cast<RankedTensorType>(source.getType()).getElementType());
  std::optional<num::FloatFormat> own = stored ? formatOf(*stored)
                                               : std::nullopt;
  if (!own)
    return true; // checkWeightRange checks float types only
  std::optional<num::FloatFormat> to = formatOf(format);
  return to && targetOf(source, *own) == num::narrowerFormat(*own, *to);
}

llvm::Error WeightRangePolicy::error(SourceOp source, int64_t row0,
                                     ArrayRef<int64_t> chunkShape,
                                     size_t index, float value,
                                     num::FloatFormat target) const {
  auto type = cast<RankedTensorType>(source.getType());
  SmallVector<int64_t> coords(chunkShape.size());
  for (size_t d = chunkShape.size(); d-- > 0;) {
    int64_t extent = std::max<int64_t>(chunkShape[d], 1);
    coords[d] = int64_t(index % uint64_t(extent));
    index /= uint64_t(extent);
  }
  if (!coords.empty())
    coords[0] += row0;
  std::string where;
  if (type.getRank() != 0) {
    where = "element [";
    for (size_t d = 0; d < coords.size(); ++d)
      where += (d ? ", " : "") + std::to_string(coords[d]);
    where += "]";
  } else {
    where = "the value";
  }
  std::string what;
  if (std::isnan(value))
    what = "NaN";
  else if (std::isinf(value))
    what = value > 0 ? "inf" : "-inf";
  else
  {
    char buf[32];
    std::snprintf(buf, sizeof(buf), "%.9g", double(value));
    what = buf;
  }
  std::string why;
  if (std::isfinite(value)) {
    const char *name = target == num::FloatFormat::F16 ? "float16" : "bfloat16";
    const char *largest =
        target == num::FloatFormat::F16 ? "65504" : "3.38953139e+38";
    why = std::string(", beyond the largest ") + name + " (" + largest +
          ") it is cast to";
  }
  return llvm::createStringError(
      llvm::inconvertibleErrorCode(),
      "tensor '" + source.getKey() + "': " + where +
          " is " + what + why +
          " (--clamp-weights replaces non-finite and out-of-range weights)");
}

llvm::Error mlir::qopt::weights::checkWeightRange(
    const WeightRangePolicy &policy, Operation *sourceOp, int64_t r0,
    RowBuffer &rows) {
  using num::DType;
  auto source = dyn_cast<SourceOp>(sourceOp);
  if (!source || (rows.dtype != DType::F16 && rows.dtype != DType::BF16 &&
      rows.dtype != DType::F32))
    return llvm::Error::success();
  num::FloatFormat own = rows.dtype == DType::F16    ? num::FloatFormat::F16
                         : rows.dtype == DType::BF16 ? num::FloatFormat::BF16
                                                     : num::FloatFormat::F32;
  num::FloatFormat target = policy.targetOf(source, own);
  size_t n = size_t(rows.numElements());
  std::optional<size_t> bad =
      num::findUnrepresentable(rows.bytes(), n, own, target);
  if (!bad)
    return llvm::Error::success();
  if (policy.clamp) {
    num::clampUnrepresentable(rows.mutableBytes(), n, own, target);
    return llvm::Error::success();
  }
  return policy.error(source, r0, rows.shape, *bad,
                      num::elementAsFloat(rows.bytes(), *bad, own), target);
}
