//===- GgufEvaluation.cpp - weights.dequantize_ggml, unpermute_heads -*- C++ -*-===//
//
// The two transforms a GGUF checkpoint needs on top of its bytes: ggml block
// decoding (lib/Loaders/GgufDequant.cpp, bit for bit llama.cpp's) and the
// inverse of llama.cpp's rotary row permutation of q/k (docs/gguf.md).
// Verifiers and EvaluableOpInterface.
//
//===----------------------------------------------------------------------===//

#include "dialects/Weights/IR/WeightsOps.h"
#include "qopt/Loaders/Gguf.h"

#include <cstring>

using namespace mlir;
using namespace mlir::qopt::weights;
namespace loaders = ::qopt::loaders;

//===----------------------------------------------------------------------===//
// DequantizeGgmlOp
//===----------------------------------------------------------------------===//

/// The block type `encoding` names, if it is one that decodes.
static const loaders::GgmlTypeInfo *blockType(StringRef encoding) {
  const loaders::GgmlTypeInfo *info = loaders::ggmlTypeByName(encoding);
  if (!info || info->blockSize == 1 || !loaders::canDequantizeGgml(info->type))
    return nullptr;
  return info;
}

LogicalResult DequantizeGgmlOp::verify() {
  const loaders::GgmlTypeInfo *info = blockType(getEncoding());
  if (!info)
    return emitOpError("unknown ggml block type '") << getEncoding() << "'";
  auto in = cast<RankedTensorType>(getInput().getType());
  auto out = cast<RankedTensorType>(getType());
  auto u8 = dyn_cast<IntegerType>(in.getElementType());
  if (!u8 || u8.getWidth() != 8 || !u8.isUnsigned())
    return emitOpError("input must hold ui8 bytes, got ") << in.getElementType();
  if (!out.getElementType().isF32())
    return emitOpError("result must be f32, got ") << out.getElementType();
  if (out.getRank() < 1 || in.getRank() != out.getRank() ||
      in.getShape().drop_back() != out.getShape().drop_back())
    return emitOpError("input ") << in << " and result " << out
                                 << " must agree on all but the last axis";
  int64_t k = out.getShape().back();
  if (k % info->blockSize != 0)
    return emitOpError("the last axis (")
           << k << ") is not a multiple of the " << getEncoding()
           << " block size " << info->blockSize;
  int64_t bytes = k / info->blockSize * info->typeSize;
  if (in.getShape().back() != bytes)
    return emitOpError("rows of ")
           << k << " " << getEncoding() << " values take " << bytes
           << " bytes, input has " << in.getShape().back();
  return success();
}

bool DequantizeGgmlOp::isRowLocal() {
  // Rows of a 1-D tensor are single values inside blocks.
  return cast<RankedTensorType>(getType()).getRank() > 1;
}

llvm::Error DequantizeGgmlOp::evaluateRows(EvaluationContext &ctx, int64_t r0,
                                           int64_t r1,
                                           SmallVectorImpl<RowBuffer> &results) {
  auto in = ctx.getRows(getInput(), r0, r1);
  if (!in)
    return in.takeError();
  const loaders::GgmlTypeInfo *info = blockType(getEncoding());
  RowBuffer out = RowBuffer::allocate(getType(), r1 - r0);
  uint64_t n = uint64_t(out.numElements());
  if (!loaders::ggmlDequantize(info->type, in->bytes(), n,
                               reinterpret_cast<float *>(out.data.data())))
    return makeEvaluationError(*this, "cannot dequantize " + getEncoding());
  results.push_back(std::move(out));
  return llvm::Error::success();
}

//===----------------------------------------------------------------------===//
// UnpermuteHeadsOp
//===----------------------------------------------------------------------===//

LogicalResult UnpermuteHeadsOp::verify() {
  auto type = cast<RankedTensorType>(getType());
  int64_t heads = getHeads();
  if (type.getRank() < 1)
    return emitOpError("needs a tensor with rows");
  int64_t rows = type.getDimSize(0);
  if (heads <= 0 || rows % heads != 0 || (rows / heads) % 2 != 0)
    return emitOpError("")
           << rows << " rows are not " << heads
           << " heads of an even head dimension";
  return success();
}

bool UnpermuteHeadsOp::isRowLocal() { return true; }

void UnpermuteHeadsOp::getRowReads(int64_t r0, int64_t r1, RowReads &reads) {
  // The stored rows of every head touched.
  int64_t hd = cast<RankedTensorType>(getType()).getDimSize(0) / getHeads();
  if (r1 > r0 && hd > 0)
    reads.operandRows.push_back(
        {getInput(), r0 / hd * hd, (r1 + hd - 1) / hd * hd});
}

llvm::Error UnpermuteHeadsOp::evaluateRows(EvaluationContext &ctx, int64_t r0,
                                           int64_t r1,
                                           SmallVectorImpl<RowBuffer> &results) {
  // Result row h*hd + j*hd/2 + i is input row h*hd + 2*i + j: the rows of
  // every head touched, then a pick.
  RowBuffer out = RowBuffer::allocate(getType(), r1 - r0);
  size_t rowBytes = out.rowBytes();
  int64_t hd = cast<RankedTensorType>(getType()).getDimSize(0) / getHeads();
  int64_t half = hd / 2;
  for (int64_t h = r0 / hd; h * hd < r1; ++h) {
    auto head = ctx.getRows(getInput(), h * hd, (h + 1) * hd);
    if (!head)
      return head.takeError();
    for (int64_t r = std::max(r0, h * hd); r < std::min(r1, (h + 1) * hd);
         ++r) {
      int64_t rem = r - h * hd;
      int64_t g = 2 * (rem % half) + rem / half;
      std::memcpy(out.data.data() + size_t(r - r0) * rowBytes,
                  head->bytes() + size_t(g) * rowBytes, rowBytes);
    }
  }
  results.push_back(std::move(out));
  return llvm::Error::success();
}

Value mlir::qopt::weights::getCheckpointTensor(Operation *source) {
  Value v = source->getResult(0);
  while (v.hasOneUse() &&
         isa<DequantizeGgmlOp, UnpermuteHeadsOp>(*v.getUsers().begin()))
    v = v.getUsers().begin()->getResult(0);
  return v;
}
