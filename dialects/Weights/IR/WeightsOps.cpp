//===- WeightsOps.cpp - Weights dialect ops and attributes --*- C++ -*-===//
//
// Verifiers of the weights ops (those of the quantization-scheme and shard
// attributes are in WeightsAttrs.cpp).
//
//===----------------------------------------------------------------------===//

#include "dialects/Weights/IR/WeightsOps.h"
#include "qopt/Numerics/Convert.h"

#include <cmath>
#include "qopt/Numerics/Mnn.h"

#include "mlir/IR/Builders.h"
#include "mlir/IR/DialectImplementation.h"
#include "mlir/IR/OpImplementation.h"
#include "llvm/ADT/STLExtras.h"
#include "llvm/ADT/SmallString.h"
#include "llvm/Support/Path.h"

using namespace mlir;
using namespace mlir::qopt::weights;
using ::qopt::numerics::DType;

#include "dialects/Weights/IR/WeightsEnums.cpp.inc"
#include "dialects/Weights/IR/WeightsInterfaces.cpp.inc"
#include "dialects/Weights/IR/WeightsOpInterfaces.cpp.inc"

//===----------------------------------------------------------------------===//
// Helpers
//===----------------------------------------------------------------------===//

/// Element types a tensor cache record can have.
static bool isStorableElementType(Type t) {
  if (isa<Float16Type, BFloat16Type, Float32Type, Float64Type,
          Float8E4M3FNType, Float8E5M2Type>(t))
    return true;
  if (auto i = dyn_cast<IntegerType>(t))
    return llvm::is_contained({1u, 8u, 16u, 32u, 64u}, i.getWidth());
  return false;
}

static std::string shapeString(ArrayRef<int64_t> shape) {
  std::string s = "[";
  for (auto [i, d] : llvm::enumerate(shape)) {
    if (i)
      s += ", ";
    s += std::to_string(d);
  }
  return s + "]";
}

//===----------------------------------------------------------------------===//
// ModelOp
//===----------------------------------------------------------------------===//

std::string ModelOp::resolveCheckpointPath(StringRef file, StringRef root) {
  if (root.empty())
    if (std::optional<StringRef> own = getCheckpointRoot())
      root = *own;
  if (root.empty() || llvm::sys::path::is_absolute(file))
    return file.str();
  SmallString<256> path(root);
  llvm::sys::path::append(path, file);
  return std::string(path);
}

void ModelOp::build(OpBuilder &builder, OperationState &state, StringRef name,
                    StringRef arch, DictionaryAttr config) {
  state.addAttribute(getSymNameAttrName(state.name),
                     builder.getStringAttr(name));
  state.addAttribute(getArchAttrName(state.name), builder.getStringAttr(arch));
  state.addAttribute(getConfigAttrName(state.name), config);
  Region *body = state.addRegion();
  body->push_back(new Block());
}

//===----------------------------------------------------------------------===//
// SourceOp
//===----------------------------------------------------------------------===//

LogicalResult SourceOp::verify() {
  auto type = cast<RankedTensorType>(getResult().getType());
  if (!isStorableElementType(type.getElementType()))
    return emitOpError("unsupported element type ") << type.getElementType();
  if (int64_t(getOffset()) < 0)
    return emitOpError("offset must be non-negative, got ")
           << int64_t(getOffset());
  if (getStrides() && getStrides()->size() != size_t(type.getRank()))
    return emitOpError("has ")
           << getStrides()->size() << " strides for a rank-" << type.getRank()
           << " tensor";
  if (getStrides() && llvm::any_of(*getStrides(), [](int64_t s) {
        return s < 0;
      }))
    return emitOpError("strides must be non-negative");
  return success();
}

//===----------------------------------------------------------------------===//
// ConcatOp
//===----------------------------------------------------------------------===//

LogicalResult ConcatOp::verify() {
  if (getInputs().empty())
    return emitOpError("needs at least one input");
  auto first = cast<RankedTensorType>(getInputs().front().getType());
  int64_t rank = first.getRank();
  int64_t axis = getAxis();
  if (axis < 0 || axis >= rank)
    return emitOpError("axis ") << axis << " is out of range for rank " << rank;
  SmallVector<int64_t> expected(first.getShape());
  expected[axis] = 0;
  for (auto [i, v] : llvm::enumerate(getInputs())) {
    auto t = cast<RankedTensorType>(v.getType());
    if (t.getElementType() != first.getElementType())
      return emitOpError("input #")
             << i << " has element type " << t.getElementType()
             << ", expected " << first.getElementType();
    if (t.getRank() != rank)
      return emitOpError("input #") << i << " has rank " << t.getRank()
                                    << ", expected " << rank;
    for (int64_t d = 0; d < rank; ++d)
      if (d != axis && t.getDimSize(d) != first.getDimSize(d))
        return emitOpError("input #")
               << i << " has shape " << shapeString(t.getShape())
               << ", incompatible with " << shapeString(first.getShape())
               << " outside axis " << axis;
    expected[axis] += t.getDimSize(axis);
  }
  auto result = cast<RankedTensorType>(getResult().getType());
  if (result.getShape() != ArrayRef<int64_t>(expected) ||
      result.getElementType() != first.getElementType())
    return emitOpError("result type ")
           << result << " does not match the concatenation "
           << shapeString(expected) << " of " << first.getElementType();
  return success();
}

//===----------------------------------------------------------------------===//
// StackOp
//===----------------------------------------------------------------------===//

LogicalResult StackOp::verify() {
  if (getInputs().empty())
    return emitOpError("needs at least one input");
  Type first = getInputs().front().getType();
  for (auto [i, v] : llvm::enumerate(getInputs()))
    if (v.getType() != first)
      return emitOpError("input #")
             << i << " has type " << v.getType() << ", expected " << first;
  auto in = cast<RankedTensorType>(first);
  SmallVector<int64_t> expected{int64_t(getInputs().size())};
  llvm::append_range(expected, in.getShape());
  auto result = cast<RankedTensorType>(getResult().getType());
  if (result.getShape() != ArrayRef<int64_t>(expected) ||
      result.getElementType() != in.getElementType())
    return emitOpError("result type ")
           << result << " does not match the stacked shape "
           << shapeString(expected);
  return success();
}

//===----------------------------------------------------------------------===//
// CastOp / TransposeOp
//===----------------------------------------------------------------------===//

LogicalResult CastOp::verify() {
  auto in = cast<RankedTensorType>(getInput().getType());
  auto out = cast<RankedTensorType>(getResult().getType());
  if (in.getShape() != out.getShape())
    return emitOpError("cannot change the shape ")
           << shapeString(in.getShape()) << " to "
           << shapeString(out.getShape());
  Type a = in.getElementType(), b = out.getElementType();
  if (isa<FloatType>(a) && isa<FloatType>(b)) {
    // What the evaluation can convert (lib/Numerics/Convert.h).
    std::optional<DType> from = fromMlirType(a), to = fromMlirType(b);
    if (from && to && ::qopt::numerics::isConversionSupported(*from, *to))
      return success();
    return emitOpError("cannot cast ") << a << " to " << b;
  }
  // Integers: a bit-preserving reinterpretation (AWQ's int32 -> uint32).
  if (isa<IntegerType>(a) && isa<IntegerType>(b) &&
      a.getIntOrFloatBitWidth() == b.getIntOrFloatBitWidth())
    return success();
  return emitOpError("casts between float types or same-width integers only, "
                     "got ")
         << a << " to " << b;
}

LogicalResult AddConstantOp::verify() {
  Type t = cast<RankedTensorType>(getType()).getElementType();
  if (!t.isF16() && !t.isBF16() && !t.isF32())
    return emitOpError("adds to f16, bf16 or f32 tensors, got ") << t;
  return success();
}

LogicalResult DividePow2Op::verify() {
  Type t = cast<RankedTensorType>(getType()).getElementType();
  if (!t.isF16() && !t.isBF16() && !t.isF32())
    return emitOpError("divides f16, bf16 or f32 tensors, got ") << t;
  int64_t e = getExponentAttr().getInt();
  if (e < 0 || e > 15)
    return emitOpError("exponent must be in [0, 15], got ") << e;
  return success();
}

LogicalResult ExpOp::verify() {
  Type t = cast<RankedTensorType>(getType()).getElementType();
  if (!t.isF32())
    return emitOpError("computes numpy's float32 exp: needs an f32 tensor, "
                       "got ")
           << t;
  return success();
}

LogicalResult TransposeOp::verify() {
  auto in = cast<RankedTensorType>(getInput().getType());
  auto out = cast<RankedTensorType>(getResult().getType());
  if (in.getRank() != 2)
    return emitOpError("needs a 2-D tensor, got rank ") << in.getRank();
  if (out.getElementType() != in.getElementType() || out.getRank() != 2 ||
      out.getDimSize(0) != in.getDimSize(1) ||
      out.getDimSize(1) != in.getDimSize(0))
    return emitOpError("result type ")
           << out << " is not the transpose of " << in;
  return success();
}

//===----------------------------------------------------------------------===//
// DequantizeAwqOp
//===----------------------------------------------------------------------===//

LogicalResult MergeLoraOp::verify() {
  auto w = cast<RankedTensorType>(getBase().getType());
  auto a = cast<RankedTensorType>(getLoraA().getType());
  auto b = cast<RankedTensorType>(getLoraB().getType());
  auto isFloat = [](RankedTensorType t) {
    Type e = t.getElementType();
    return e.isF16() || e.isBF16() || e.isF32();
  };
  if (w.getRank() != 2 || a.getRank() != 2 || b.getRank() != 2 ||
      !isFloat(w) || !isFloat(a) || !isFloat(b))
    return emitOpError("expects a 2-D base weight and 2-D lora_a and lora_b, "
                       "all f16, bf16 or f32");
  int64_t r = a.getDimSize(0);
  if (r <= 0)
    return emitOpError("lora_a has rank 0");
  if (b.getDimSize(1) != r)
    return emitOpError("lora_a has rank ")
           << r << " (its rows) but lora_b has " << b.getDimSize(1)
           << " columns";
  int64_t out = b.getDimSize(0), in = a.getDimSize(1);
  bool t = getFanInFanOut();
  if (w.getDimSize(0) != (t ? in : out) || w.getDimSize(1) != (t ? out : in))
    return emitOpError("lora_b @ lora_a is ")
           << out << "x" << in << (t ? " (stored transposed: fan_in_fan_out)" : "")
           << " but the base weight is " << w.getDimSize(0) << "x"
           << w.getDimSize(1);
  if (!std::isfinite(getScale().convertToDouble()))
    return emitOpError("scale must be finite");
  return success();
}

LogicalResult DequantizeAwqOp::verify() {
  auto qw = cast<RankedTensorType>(getQweight().getType());
  auto qz = cast<RankedTensorType>(getQzeros().getType());
  auto sc = cast<RankedTensorType>(getScales().getType());
  auto out = cast<RankedTensorType>(getResult().getType());
  int64_t g = getGroupSize();
  auto is32 = [](Type t) {
    auto i = dyn_cast<IntegerType>(t);
    return i && i.getWidth() == 32;
  };
  if (qw.getRank() != 2 || qz.getRank() != 2 || sc.getRank() != 2 ||
      !is32(qw.getElementType()) || !is32(qz.getElementType()) ||
      !sc.getElementType().isF16())
    return emitOpError("expects 2-D int32 qweight and qzeros and 2-D f16 "
                       "scales");
  int64_t k = qw.getDimSize(0), n = qw.getDimSize(1) * 8;
  if (g <= 0 || k % g != 0)
    return emitOpError("group size ") << g << " does not divide " << k
                                      << " input features";
  if (qz.getDimSize(0) != k / g || qz.getDimSize(1) != n / 8 ||
      sc.getDimSize(0) != k / g || sc.getDimSize(1) != n)
    return emitOpError("qzeros ")
           << qz << " and scales " << sc << " do not match qweight " << qw
           << " with group size " << g;
  if (out.getRank() != 2 || out.getDimSize(0) != n || out.getDimSize(1) != k ||
      !out.getElementType().isF16())
    return emitOpError("result must be tensor<") << n << "x" << k << "xf16>";
  return success();
}

//===----------------------------------------------------------------------===//
// QuantizeOp
//===----------------------------------------------------------------------===//

LogicalResult QuantizeOp::verify() {
  if (failed(verifyCalibration()))
    return failure();
  SmallVector<QuantOutput> outputs;
  std::string error;
  auto in = cast<RankedTensorType>(getInput().getType());
  if (failed(getScheme().inferOutputs(in, outputs, error)))
    return emitOpError(error);
  if (outputs.size() != getResults().size())
    return emitOpError("scheme produces ")
           << outputs.size() << " tensors, op has " << getResults().size()
           << " results";
  for (auto [i, out] : llvm::enumerate(outputs))
    if (getResult(i).getType() != out.type)
      return emitOpError("result #")
             << i << " (" << out.suffix << ") must be " << out.type
             << ", got " << getResult(i).getType();
  return success();
}

//===----------------------------------------------------------------------===//
// QuantViewOp
//===----------------------------------------------------------------------===//

LogicalResult QuantViewOp::verify() {
  auto codes = cast<RankedTensorType>(getCodes().getType());
  auto scale = cast<RankedTensorType>(getScale().getType());
  auto result = cast<RankedTensorType>(getResult().getType());
  auto qt = dyn_cast<quant::QuantizedType>(result.getElementType());
  if (!qt)
    return emitOpError("result element type must be a quant type, got ")
           << result.getElementType();
  unsigned bits = qt.getStorageTypeIntegralWidth();
  if (bits < 2 || bits > 8)
    return emitOpError("storage must have 2..8 bits, got ") << bits;
  if (qt.getExpressedType() != scale.getElementType())
    return emitOpError("expressed type ")
           << qt.getExpressedType() << " must be the scale's element type "
           << scale.getElementType();
  auto u8 = dyn_cast<IntegerType>(codes.getElementType());
  if (!u8 || u8.getWidth() != 8 || !u8.isUnsigned())
    return emitOpError("codes must be ui8, got ") << codes.getElementType();
  int64_t rank = result.getRank();
  if (rank < 2 || codes.getRank() != rank || scale.getRank() != rank)
    return emitOpError("codes, scale and result must have the same rank, at "
                       "least 2");
  if (codes.getShape().drop_back() != result.getShape().drop_back() ||
      scale.getShape().drop_back() != result.getShape().drop_back())
    return emitOpError("codes and scale must have the result's leading "
                       "dimensions ")
           << shapeString(result.getShape().drop_back());
  int64_t k = result.getShape().back();
  int64_t blocks = scale.getShape().back();
  if (k <= 0 || blocks <= 0 || k % blocks)
    return emitOpError("the last axis (") << k << ") must split into "
                                          << blocks << " equal blocks";
  if (codes.getShape().back() != (k * bits + 7) / 8)
    return emitOpError("codes must hold ceil(")
           << k << " * " << bits << " / 8) = " << (k * bits + 7) / 8
           << " bytes per row, got " << codes.getShape().back();
  // Symmetric: signed [-T, T]; asymmetric: unsigned [0, 2^b - 1] + offset.
  bool asymmetric = bool(getOffset());
  int64_t lo = asymmetric ? 0 : -((int64_t(1) << (bits - 1)) - 1);
  int64_t hi = asymmetric ? (int64_t(1) << bits) - 1
                          : (int64_t(1) << (bits - 1)) - 1;
  if (qt.isSigned() == asymmetric || qt.getStorageTypeMin() != lo ||
      qt.getStorageTypeMax() != hi)
    return emitOpError("storage must be ")
           << (asymmetric ? "u" : "i") << bits << "<" << lo << ":" << hi
           << "> for " << (asymmetric ? "asymmetric (with offset)"
                                      : "symmetric (no offset)")
           << " blocks";
  if (asymmetric && getOffset().getType() != scale)
    return emitOpError("offset must have the scale's type ") << scale;
  if (isa<quant::AnyQuantizedType>(qt))
    return success();
  if (auto pa = dyn_cast<quant::UniformQuantizedPerAxisType>(qt)) {
    if (rank != 2 || blocks != 1 || pa.getQuantizedDimension() != 0)
      return emitOpError("a per-axis type is for channel-wise 2-D weights "
                         "(axis 0, one block per row)");
    if (int64_t(pa.getScales().size()) != result.getDimSize(0))
      return emitOpError("the per-axis type has ")
             << pa.getScales().size() << " scales for "
             << result.getDimSize(0) << " rows";
    if (llvm::any_of(pa.getZeroPoints(), [](int64_t z) { return z != 0; }))
      return emitOpError("zero points must be 0");
    return success();
  }
  auto sc = dyn_cast<quant::UniformQuantizedSubChannelType>(qt);
  if (!sc)
    return emitOpError("result element type must be !quant.any, per-axis or "
                       "sub-channel, got ")
           << qt;
  SmallVector<int64_t> want(rank, 1);
  want.back() = k / blocks;
  SmallVector<int64_t> got(rank, 0);
  for (auto [dim, size] :
       llvm::zip(sc.getQuantizedDimensions(), sc.getBlockSizes()))
    if (dim >= 0 && dim < rank)
      got[dim] = size;
  for (int64_t d = 0; d < rank; ++d)
    if (got[d] == 0)
      got[d] = result.getDimSize(d); // an axis left out: one block
  if (got != want)
    return emitOpError("sub-channel block sizes must be ")
           << shapeString(want) << ", got " << shapeString(got);
  if (sc.getScales().getType().getShape() != scale.getShape())
    return emitOpError("sub-channel scales must have the scale's shape ")
           << shapeString(scale.getShape());
  if (!llvm::all_of(sc.getZeroPoints().getValues<APInt>(),
                    [](const APInt &z) { return z.isZero(); }))
    return emitOpError("zero points must be 0");
  return success();
}

//===----------------------------------------------------------------------===//
// ShardOp
//===----------------------------------------------------------------------===//

SmallVector<int64_t> ShardOp::getSegmentLengths() {
  if (getSegments())
    return SmallVector<int64_t>(*getSegments());
  auto in = cast<RankedTensorType>(getInput().getType());
  return {in.getDimSize(getDim()) / int64_t(getCount())};
}

LogicalResult ShardOp::verify() {
  auto in = cast<RankedTensorType>(getInput().getType());
  auto out = cast<RankedTensorType>(getResult().getType());
  int64_t dim = getDim(), count = getCount(), index = getIndex();
  if (dim < 0 || dim >= in.getRank())
    return emitOpError("dim ") << dim << " is out of range for rank "
                               << in.getRank();
  if (count < 1 || index < 0 || index >= count)
    return emitOpError("shard ") << index << " of " << count << " is invalid";
  int64_t perShard = 0;
  for (int64_t s : getSegmentLengths()) {
    if (s < 0)
      return emitOpError("segment lengths must be non-negative");
    perShard += s;
  }
  if (perShard * count != in.getDimSize(dim))
    return emitOpError("segments of ")
           << perShard << " per shard times " << count
           << " shards do not cover dimension " << dim << " of size "
           << in.getDimSize(dim);
  SmallVector<int64_t> shape(in.getShape());
  shape[dim] = perShard;
  if (out.getShape() != ArrayRef<int64_t>(shape) ||
      out.getElementType() != in.getElementType())
    return emitOpError("result type ") << out << " is not one shard of " << in;
  return success();
}

//===----------------------------------------------------------------------===//
// ParamOp
//===----------------------------------------------------------------------===//

LogicalResult ParamOp::verify() {
  if (getSymName().empty())
    return emitOpError("needs a non-empty name");
  auto type = cast<RankedTensorType>(getValue().getType());
  if (!isStorableElementType(type.getElementType()))
    return emitOpError("element type ")
           << type.getElementType() << " cannot be stored in a tensor cache";
  return success();
}

#define GET_OP_CLASSES
#include "dialects/Weights/IR/WeightsOps.cpp.inc"
