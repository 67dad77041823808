//===- WeightsAttrs.cpp - Weights dialect attributes -------*- C++ -*-===//
//
// Verifiers and output inference of the quantization-scheme attributes
// (QuantSchemeAttrInterface::inferOutputs) and the shard strategy. Their
// row evaluation is in SchemeEvaluation.cpp.
//
//===----------------------------------------------------------------------===//

#include "dialects/Weights/IR/WeightsOps.h"
#include "dialects/Weights/IR/SchemeChecks.h"
#include "qopt/Numerics/Convert.h"
#include "qopt/Numerics/Mnn.h"

#include "mlir/IR/Builders.h"
#include "mlir/IR/DialectImplementation.h"

#include <cmath>

using namespace mlir;
using namespace mlir::qopt::weights;
using ::qopt::numerics::DType;

//===----------------------------------------------------------------------===//
// GroupQuantAttr
//===----------------------------------------------------------------------===//

LogicalResult
GroupQuantAttr::verify(function_ref<InFlightDiagnostic()> emitError,
                       quant::AnyQuantizedType quantType, int64_t groupSize,
                       Layout layout, Rounding rounding, bool optimizeScales) {
  unsigned bits = quantType.getStorageTypeIntegralWidth();
  if (bits < 2 || bits > 8)
    return emitError() << "group quantization needs 2..8 storage bits, got "
                       << bits;
  if (!isa<Float16Type, BFloat16Type, Float32Type>(
          quantType.getExpressedType()))
    return emitError() << "expressed type must be f16, bf16 or f32, got "
                       << quantType.getExpressedType();
  int64_t maxInt = (int64_t(1) << (bits - 1)) - 1;
  if (quantType.isSigned() || quantType.getStorageTypeMin() != 0 ||
      quantType.getStorageTypeMax() != 2 * maxInt)
    return emitError() << "storage must be unsigned with range [0, "
                       << 2 * maxInt << "] (offset by " << maxInt << ")";
  int64_t perWord = 32 / bits;
  if (groupSize <= 0 || groupSize % perWord != 0)
    return emitError() << "group size " << groupSize
                       << " must be a positive multiple of " << perWord
                       << " (elements per uint32 word)";
  return success();
}

Type GroupQuantAttr::getExpressedType() const {
  return getQuantType().getExpressedType();
}

LogicalResult GroupQuantAttr::inferOutputs(
    RankedTensorType input,
    SmallVectorImpl<QuantOutput> &outputs,
    std::string &error) const {
  if (failed(checkExpressedInput(input, getExpressedType(), error)))
    return failure();
  if (input.getRank() < 1 || input.getShape().back() <= 0) {
    error = "cannot group-quantize a tensor with an empty last axis";
    return failure();
  }
  if (getLayout() == Layout::KN && input.getRank() != 2) {
    error = "the kn layout needs a 2-D weight, got rank " +
            std::to_string(input.getRank());
    return failure();
  }
  MLIRContext *ctx = getContext();
  ArrayRef<int64_t> shape = input.getShape();
  int64_t k = shape.back();
  int64_t groups = (k + getGroupSize() - 1) / getGroupSize();
  int64_t words = groups * getWordsPerGroup();
  SmallVector<int64_t> wShape(shape), sShape(shape);
  wShape.back() = words;
  sShape.back() = groups;
  if (getLayout() == Layout::KN) {
    std::swap(wShape[0], wShape[1]);
    std::swap(sShape[0], sShape[1]);
  }
  Type u32 = IntegerType::get(ctx, 32, IntegerType::Unsigned);
  outputs.push_back(
      {"q_weight", ParamRole::QuantizedWeight, RankedTensorType::get(wShape, u32)});
  outputs.push_back({"q_scale", ParamRole::Scale,
                     RankedTensorType::get(sShape, getExpressedType())});
  return success();
}

//===----------------------------------------------------------------------===//
// PerTensorQuantAttr
//===----------------------------------------------------------------------===//

LogicalResult
PerTensorQuantAttr::verify(function_ref<InFlightDiagnostic()> emitError,
                           Type storageType, Type modelType, bool useScale,
                           bool calibrationPlaceholder) {
  if (!isa<Float8E4M3FNType, Float8E5M2Type>(storageType))
    return emitError() << "storage type must be f8E4M3FN or f8E5M2, got "
                       << storageType;
  if (!modelType.isF16())
    return emitError() << "per-tensor float8 modes need model type f16, got "
                       << modelType;
  if (calibrationPlaceholder && !useScale)
    return emitError() << "a calibration placeholder needs use_scale";
  return success();
}

Type PerTensorQuantAttr::getExpressedType() const { return getModelType(); }

LogicalResult PerTensorQuantAttr::inferOutputs(
    RankedTensorType input,
    SmallVectorImpl<QuantOutput> &outputs,
    std::string &error) const {
  if (input.getElementType() != getModelType()) {
    llvm::raw_string_ostream os(error);
    os << "input element type " << input.getElementType()
       << " does not match the scheme's model type " << getModelType();
    return failure();
  }
  outputs.push_back(
      {"q_weight", ParamRole::QuantizedWeight, input.clone(getStorageType())});
  auto scalar = RankedTensorType::get({1}, Float32Type::get(getContext()));
  if (getUseScale())
    outputs.push_back({"q_scale", ParamRole::Scale, scalar});
  if (getCalibrationPlaceholder())
    outputs.push_back(
        {"q_calibration_scale", ParamRole::CalibrationScale, scalar});
  return success();
}

//===----------------------------------------------------------------------===//
// MnnQuantAttr
//===----------------------------------------------------------------------===//

static ::qopt::numerics::MnnQuantSpec mnnSpec(MnnQuantAttr a) {
  ::qopt::numerics::MnnQuantSpec spec;
  spec.bits = int(a.getBits());
  spec.asymmetric = a.isAsymmetric();
  spec.block = a.getBlock();
  spec.hqq = a.getHqq();
  return spec;
}

LogicalResult MnnQuantAttr::verify(function_ref<InFlightDiagnostic()> emitError,
                                   quant::AnyQuantizedType quantType,
                                   int64_t block, bool hqq) {
  unsigned bits = quantType.getStorageTypeIntegralWidth();
  if (bits < 2 || bits > 8)
    return emitError() << "MNN quantization needs 2..8 bits, got " << bits;
  if (!isa<Float16Type, Float32Type>(quantType.getExpressedType()))
    return emitError() << "scales must be f16 or f32, got "
                       << quantType.getExpressedType();
  if (block < 0)
    return emitError() << "block must be 0 (channel-wise) or positive, got "
                       << block;
  if (hqq && quantType.isSigned())
    return emitError() << "hqq needs asymmetric (unsigned) storage";
  return success();
}

Type MnnQuantAttr::getExpressedType() const {
  return getQuantType().getExpressedType();
}

LogicalResult MnnQuantAttr::inferOutputs(
    RankedTensorType input,
    SmallVectorImpl<QuantOutput> &outputs,
    std::string &error) const {
  if (failed(checkExpressedInput(input, getExpressedType(), error)))
    return failure();
  if (input.getRank() < 1 || input.getShape().back() <= 0) {
    error = "cannot quantize a tensor with an empty last axis";
    return failure();
  }
  ::qopt::numerics::MnnQuantSpec spec = mnnSpec(*this);
  int64_t k = input.getShape().back();
  SmallVector<int64_t> w(input.getShape()), s(input.getShape());
  w.back() = ::qopt::numerics::mnnPackedRowBytes(spec, k);
  s.back() = ::qopt::numerics::mnnBlocksPerRow(spec, k);
  MLIRContext *ctx = getContext();
  outputs.push_back(
      {"q_weight", ParamRole::QuantizedWeight,
       RankedTensorType::get(w, IntegerType::get(ctx, 8, IntegerType::Unsigned))});
  outputs.push_back({"q_scale", ParamRole::Scale,
                     RankedTensorType::get(s, getExpressedType())});
  if (isAsymmetric())
    outputs.push_back({"q_zero", ParamRole::Zero,
                       RankedTensorType::get(s, getExpressedType())});
  return success();
}

//===----------------------------------------------------------------------===//
// ShardStrategyAttr
//===----------------------------------------------------------------------===//

LogicalResult
ShardStrategyAttr::verify(function_ref<InFlightDiagnostic()> emitError,
                          int64_t dim, ArrayRef<int64_t> segments,
                          int64_t block) {
  if (dim < 0)
    return emitError() << "shard dimension must be non-negative, got " << dim;
  if (llvm::any_of(segments, [](int64_t s) { return s <= 0; }))
    return emitError() << "shard segments must be positive";
  if (block < 1)
    return emitError() << "shard block must be positive, got " << block;
  // Block scales: the segments are the weight's, in elements, so that a
  // shard's share of each can be checked for whole blocks.
  if (block > 1 && segments.empty())
    return emitError() << "shard block " << block
                       << " needs the weight's segments";
  return success();
}
