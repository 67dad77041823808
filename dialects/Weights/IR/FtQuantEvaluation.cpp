//===- FtQuantEvaluation.cpp - MLC's q4f16_ft scheme -------------*- C++ -*-===//
//
// FtQuantAttr: QuantSchemeAttrInterface over lib/Numerics/FtQuant.cpp. The
// preprocessing moves values across the whole weight, so the scheme is not
// row-local.
//
//===----------------------------------------------------------------------===//

#include "dialects/Weights/IR/WeightsOps.h"
#include "dialects/Weights/IR/SchemeChecks.h"
#include "qopt/Numerics/FtQuant.h"

using namespace mlir;
using namespace mlir::qopt::weights;
namespace num = ::qopt::numerics;
using num::DType;

LogicalResult FtQuantAttr::verify(function_ref<InFlightDiagnostic()> emitError,
                                  int64_t sm) {
  if (sm < 70 || sm >= 90)
    return emitError() << "FasterTransformer's weight preprocessing supports "
                          "sm 70..89, got sm "
                       << sm;
  return success();
}

Type FtQuantAttr::getExpressedType() const {
  return Float16Type::get(getContext());
}

LogicalResult FtQuantAttr::inferOutputs(RankedTensorType input,
                                        SmallVectorImpl<QuantOutput> &outputs,
                                        std::string &error) const {
  if (failed(checkExpressedInput(input, getExpressedType(), error)))
    return failure();
  if (input.getRank() != 2 || input.isDynamicDim(0) || input.isDynamicDim(1)) {
    error = "FasterTransformer quantization needs a static 2-D weight";
    return failure();
  }
  int64_t n = input.getDimSize(0), k = input.getDimSize(1);
  error = num::validateFtInt4(n, k, int(getSm()));
  if (!error.empty())
    return failure();
  MLIRContext *ctx = getContext();
  outputs.push_back({"q_weight", ParamRole::QuantizedWeight,
                     RankedTensorType::get({k, n / 2}, IntegerType::get(ctx, 8))});
  outputs.push_back({"q_scale", ParamRole::Scale,
                     RankedTensorType::get({1, n}, Float16Type::get(ctx))});
  return success();
}

bool FtQuantAttr::isRowLocal() const { return false; }

llvm::Error FtQuantAttr::quantizeRows(EvaluationContext &,
                                      RankedTensorType weightType,
                                      const RowBuffer &in,
                                      SmallVectorImpl<RowBuffer> &outputs) const {
  if (in.dtype != DType::F16 || in.shape.size() != 2)
    return llvm::createStringError(llvm::inconvertibleErrorCode(),
                                   "FasterTransformer quantization reads a "
                                   "2-D float16 weight");
  int64_t n = in.shape[0], k = in.shape[1];
  RowBuffer packed = RowBuffer::allocate(DType::I8, {k, n / 2});
  RowBuffer scale = RowBuffer::allocate(DType::F16, {1, n});
  num::ftQuantizeInt4(reinterpret_cast<const uint16_t *>(in.bytes()), n, k,
                      packed.data.data(),
                      reinterpret_cast<uint16_t *>(scale.data.data()));
  RowBuffer q = RowBuffer::allocate(DType::I8, {k, n / 2});
  num::ftPreprocessInt4(packed.data.data(), k, n, int(getSm()), q.data.data());
  outputs.push_back(std::move(q));
  outputs.push_back(std::move(scale));
  return llvm::Error::success();
}

llvm::Error FtQuantAttr::dequantizeRows(ArrayRef<RowBuffer> outputs,
                                        const RowBuffer &in, float *out) const {
  int64_t n = in.shape[0], k = in.shape[1];
  num::ftDequantizeInt4(outputs[0].bytes(),
                        reinterpret_cast<const uint16_t *>(outputs[1].bytes()),
                        n, k, int(getSm()), out);
  return llvm::Error::success();
}
