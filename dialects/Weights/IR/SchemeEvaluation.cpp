//===- SchemeEvaluation.cpp - Quantizing rows under each scheme --*- C++ -*-===//
//
// The computing half of QuantSchemeAttrInterface: group quantization (MLC's
// q3/q4 modes), MNN-style block quantization and per-tensor float8, each
// through lib/Numerics (the CUDA kernels of lib/Kernels with --device cuda).
// docs/quantization.md and docs/mnn-format.md give the formats.
//
//===----------------------------------------------------------------------===//

#include "dialects/Weights/IR/WeightsOps.h"
#include "qopt/Kernels/Cuda.h"
#include "qopt/Numerics/Calibrated.h"
#include "qopt/Numerics/Convert.h"
#include "qopt/Numerics/Float.h"
#include "qopt/Numerics/Fp8.h"
#include "qopt/Numerics/GroupQuant.h"
#include "qopt/Numerics/Mnn.h"
#include "qopt/Numerics/ScaleSearch.h"

#include <cstring>

using namespace mlir;
using namespace mlir::qopt::weights;
namespace num = ::qopt::numerics;
namespace kern = ::qopt::kernels;
using num::DType;

static llvm::Error schemeError(const llvm::Twine &msg) {
  return llvm::createStringError(llvm::inconvertibleErrorCode(), msg);
}

/// Rows and row length of a weight buffer (k = its last dimension).
static std::pair<int64_t, int64_t> rowsAndK(const RowBuffer &in) {
  int64_t k = in.shape.back();
  int64_t n = in.numElements();
  return {k ? n / k : 0, k};
}

//===----------------------------------------------------------------------===//
// GroupQuantAttr
//===----------------------------------------------------------------------===//

static num::GroupQuantSpec groupSpec(GroupQuantAttr g, DType model) {
  num::FloatFormat format = model == DType::BF16  ? num::FloatFormat::BF16
                            : model == DType::F32 ? num::FloatFormat::F32
                                                  : num::FloatFormat::F16;
  return {int(g.getBits()), g.getGroupSize(), format,
          g.getRounding() == Rounding::NearestAway
              ? num::RoundingMode::NearestAway
              : num::RoundingMode::NearestEven};
}

static llvm::Error finishGroupOutputs(GroupQuantAttr g, const RowBuffer &in,
                                      DType model, RowBuffer qw, RowBuffer sc,
                                      SmallVectorImpl<RowBuffer> &outputs);

static num::FloatFormat floatFormatOf(DType t) {
  return t == DType::BF16  ? num::FloatFormat::BF16
         : t == DType::F32 ? num::FloatFormat::F32
                           : num::FloatFormat::F16;
}

bool GroupQuantAttr::isRowLocal() const { return getLayout() == Layout::NK; }

llvm::Error GroupQuantAttr::quantizeRows(EvaluationContext &ctx,
                                         RankedTensorType weightType,
                                         const RowBuffer &in,
                                         SmallVectorImpl<RowBuffer> &outputs) const {
  num::GroupQuantSpec spec = groupSpec(*this, in.dtype);
  auto [rows, k] = rowsAndK(in);
  int64_t words = num::wordsPerRow(spec, k), groups = num::groupsPerRow(spec, k);
  RowBuffer qw = RowBuffer::allocate(DType::U32, {rows, words});
  RowBuffer sc = RowBuffer::allocate(in.dtype, {rows, groups});
  auto *words32 = reinterpret_cast<uint32_t *>(qw.data.data());
  if (getOptimizeScales()) {
    num::groupQuantizeRowsOptimized(in.bytes(), rows, k, spec, words32,
                                    sc.data.data());
  } else if (ctx.getOptions().cuda) {
    if (llvm::Error e = kern::groupQuantizeRowsCuda(in.bytes(), rows, k, spec,
                                                    words32, sc.data.data()))
      return e;
  } else {
    num::groupQuantizeRows(in.bytes(), rows, k, spec, words32, sc.data.data());
  }
  // Outputs keep the weight's leading dimensions: [.., words], [.., groups].
  return finishGroupOutputs(*this, in, in.dtype, std::move(qw), std::move(sc),
                            outputs);
}

bool GroupQuantAttr::quantizesFused(EvaluationContext &ctx,
                                    RankedTensorType weightType,
                                    DType stored) const {
  std::optional<DType> model = fromMlirType(weightType.getElementType());
  auto isFloat = [](DType t) {
    return t == DType::F16 || t == DType::BF16 || t == DType::F32;
  };
  // The plain rounding kernel of the CPU.
  return !getOptimizeScales() && !ctx.getOptions().cuda && model &&
         isFloat(*model) && isFloat(stored) &&
         num::groupQuantizeAcceptsStorage(floatFormatOf(stored),
                                          floatFormatOf(*model));
}

llvm::Error GroupQuantAttr::quantizeRowsFused(
    EvaluationContext &, RankedTensorType weightType, const RowBuffer &in,
    SmallVectorImpl<RowBuffer> &outputs, bool &nonFinite) const {
  DType model = *fromMlirType(weightType.getElementType());
  num::GroupQuantSpec spec = groupSpec(*this, model);
  auto [rows, k] = rowsAndK(in);
  int64_t words = num::wordsPerRow(spec, k), groups = num::groupsPerRow(spec, k);
  RowBuffer qw = RowBuffer::allocate(DType::U32, {rows, words});
  RowBuffer sc = RowBuffer::allocate(model, {rows, groups});
  int64_t bad = num::groupQuantizeRowsFrom(
      in.bytes(), floatFormatOf(in.dtype), rows, k, spec,
      reinterpret_cast<uint32_t *>(qw.data.data()), sc.data.data());
  if (bad < 0)
    return schemeError("cannot quantize " + llvm::Twine(num::tvmName(in.dtype)) +
                       " values as " + num::tvmName(model));
  nonFinite = bad < rows;
  return finishGroupOutputs(*this, in, model, std::move(qw), std::move(sc),
                            outputs);
}

/// The outputs of group quantization [.., words] and [.., groups] (row
/// major, the weight's leading dimensions), transposed for layout = kn;
/// `model` is the weight's type (the scales'), `in` holds its rows.
static llvm::Error finishGroupOutputs(GroupQuantAttr g, const RowBuffer &in,
                                      DType model, RowBuffer qw, RowBuffer sc,
                                      SmallVectorImpl<RowBuffer> &outputs) {
  auto [rows, k] = rowsAndK(in);
  num::GroupQuantSpec spec = groupSpec(g, model);
  int64_t words = num::wordsPerRow(spec, k), groups = num::groupsPerRow(spec, k);
  size_t ses = num::dtypeSize(model);
  qw.shape.assign(in.shape.begin(), in.shape.end());
  qw.shape.back() = words;
  sc.shape.assign(in.shape.begin(), in.shape.end());
  sc.shape.back() = groups;
  if (g.getLayout() == Layout::KN) {
    // The whole 2-D weight: both outputs transposed.
    RowBuffer qwT = RowBuffer::allocate(DType::U32, {words, rows});
    RowBuffer scT = RowBuffer::allocate(model, {groups, rows});
    num::transpose2D(qw.data.data(), rows, words, 4, qwT.data.data());
    num::transpose2D(sc.data.data(), rows, groups, ses, scT.data.data());
    qw = std::move(qwT);
    sc = std::move(scT);
  }
  outputs.push_back(std::move(qw));
  outputs.push_back(std::move(sc));
  return llvm::Error::success();
}

LogicalResult GroupQuantAttr::acceptsCalibration(Statistic,
                                                 std::string &) const {
  return success();
}

llvm::Error GroupQuantAttr::quantizeRowsCalibrated(
    EvaluationContext &, RankedTensorType, const RowBuffer &in,
    const CalibrationInput &calib, SmallVectorImpl<RowBuffer> &outputs) const {
  num::GroupQuantSpec spec = groupSpec(*this, in.dtype);
  auto [rows, k] = rowsAndK(in);
  int64_t words = num::wordsPerRow(spec, k), groups = num::groupsPerRow(spec, k);
  RowBuffer qw = RowBuffer::allocate(DType::U32, {rows, words});
  RowBuffer sc = RowBuffer::allocate(in.dtype, {rows, groups});
  size_t ses = num::dtypeSize(in.dtype);
  // Each matrix (an expert of a stacked weight) with its own statistics.
  int64_t perMatrix = rows / std::max<int64_t>(calib.matrices, 1);
  for (int64_t m = 0; m < calib.matrices; ++m) {
    int64_t r = m * perMatrix;
    const uint8_t *w = in.bytes() + size_t(r * k) * ses;
    auto *q = reinterpret_cast<uint32_t *>(qw.data.data()) + r * words;
    uint8_t *s = sc.data.data() + size_t(r * groups) * ses;
    const float *imp = calib.importance ? calib.importance + m * k : nullptr;
    if (!calib.gptq.empty())
      num::gptqGroupQuantizeRows(w, perMatrix, k, spec, *calib.gptq[m],
                                 calib.gptqOptions, imp, q, s);
    else
      num::groupQuantizeRowsWeighted(w, perMatrix, k, spec, imp, q, s);
  }
  return finishGroupOutputs(*this, in, in.dtype, std::move(qw), std::move(sc),
                            outputs);
}

llvm::Error GroupQuantAttr::dequantizeRows(ArrayRef<RowBuffer> outputs,
                                           const RowBuffer &in,
                                           float *out) const {
  num::GroupQuantSpec spec = groupSpec(*this, in.dtype);
  auto [rows, k] = rowsAndK(in);
  const RowBuffer &qw = outputs[0], &sc = outputs[1];
  if (getLayout() == Layout::NK) {
    num::groupDequantizeRows(reinterpret_cast<const uint32_t *>(qw.bytes()),
                             sc.bytes(), rows, k, spec, out);
    return llvm::Error::success();
  }
  int64_t words = num::wordsPerRow(spec, k), groups = num::groupsPerRow(spec, k);
  UninitVector<uint8_t> qwT(qw.byteSize()), scT(sc.byteSize());
  num::transpose2D(qw.bytes(), words, rows, 4, qwT.data());
  num::transpose2D(sc.bytes(), groups, rows, num::dtypeSize(in.dtype),
                   scT.data());
  num::groupDequantizeRows(reinterpret_cast<const uint32_t *>(qwT.data()),
                           scT.data(), rows, k, spec, out);
  return llvm::Error::success();
}

//===----------------------------------------------------------------------===//
// MnnQuantAttr
//===----------------------------------------------------------------------===//

static num::MnnQuantSpec mnnSpecOf(MnnQuantAttr m) {
  num::MnnQuantSpec spec;
  spec.bits = int(m.getBits());
  spec.asymmetric = m.isAsymmetric();
  spec.block = m.getBlock();
  spec.hqq = m.getHqq();
  return spec;
}

bool MnnQuantAttr::isRowLocal() const { return true; }

llvm::Error MnnQuantAttr::quantizeRows(EvaluationContext &,
                                       RankedTensorType weightType,
                                       const RowBuffer &in,
                                       SmallVectorImpl<RowBuffer> &outputs) const {
  // Codes from float32 arithmetic; scales and mins stored in the expressed
  // type.
  num::MnnQuantSpec spec = mnnSpecOf(*this);
  size_t n = size_t(in.numElements());
  auto [rows, k] = rowsAndK(in);
  int64_t blocks = num::mnnBlocksPerRow(spec, k);
  UninitVector<float> w(n);
  num::convertElements(in.bytes(), in.dtype, w.data(), DType::F32, n);
  SmallVector<int64_t> shape(in.shape.begin(), in.shape.end());
  shape.back() = num::mnnPackedRowBytes(spec, k);
  RowBuffer packed = RowBuffer::allocate(DType::U8, shape);
  UninitVector<float> scale(size_t(rows * blocks)), zero(scale.size());
  num::mnnQuantizeRows(w.data(), rows, k, spec, packed.data.data(),
                       scale.data(), zero.data());
  outputs.push_back(std::move(packed));
  shape.back() = blocks;
  DType stored = *fromMlirType(getExpressedType());
  auto store = [&](const UninitVector<float> &v) {
    RowBuffer b = RowBuffer::allocate(stored, shape);
    num::convertElements(v.data(), DType::F32, b.data.data(), stored, v.size());
    outputs.push_back(std::move(b));
  };
  store(scale);
  if (spec.asymmetric)
    store(zero);
  return llvm::Error::success();
}

LogicalResult MnnQuantAttr::acceptsCalibration(Statistic,
                                               std::string &error) const {
  if (!getHqq())
    return success();
  error = "HQQ modes take no calibration statistics (HQQ optimizes its own "
          "objective)";
  return failure();
}

llvm::Error MnnQuantAttr::quantizeRowsCalibrated(
    EvaluationContext &, RankedTensorType, const RowBuffer &in,
    const CalibrationInput &calib, SmallVectorImpl<RowBuffer> &outputs) const {
  num::MnnQuantSpec spec = mnnSpecOf(*this);
  size_t n = size_t(in.numElements());
  auto [rows, k] = rowsAndK(in);
  int64_t blocks = num::mnnBlocksPerRow(spec, k);
  int64_t rowBytes = num::mnnPackedRowBytes(spec, k);
  UninitVector<float> w(n);
  num::convertElements(in.bytes(), in.dtype, w.data(), DType::F32, n);
  SmallVector<int64_t> shape(in.shape.begin(), in.shape.end());
  shape.back() = rowBytes;
  RowBuffer packed = RowBuffer::allocate(DType::U8, shape);
  UninitVector<float> scale(size_t(rows * blocks)), zero(scale.size());
  int64_t perMatrix = rows / std::max<int64_t>(calib.matrices, 1);
  for (int64_t m = 0; m < calib.matrices; ++m) {
    int64_t r = m * perMatrix;
    const float *imp = calib.importance ? calib.importance + m * k : nullptr;
    if (!calib.gptq.empty())
      num::gptqMnnQuantizeRows(w.data() + r * k, perMatrix, k, spec,
                               *calib.gptq[m], calib.gptqOptions, imp,
                               packed.data.data() + r * rowBytes,
                               scale.data() + r * blocks,
                               zero.data() + r * blocks);
    else
      num::mnnQuantizeRowsWeighted(w.data() + r * k, perMatrix, k, spec, imp,
                                   packed.data.data() + r * rowBytes,
                                   scale.data() + r * blocks,
                                   zero.data() + r * blocks);
  }
  outputs.push_back(std::move(packed));
  shape.back() = blocks;
  DType stored = *fromMlirType(getExpressedType());
  auto store = [&](const UninitVector<float> &v) {
    RowBuffer b = RowBuffer::allocate(stored, shape);
    num::convertElements(v.data(), DType::F32, b.data.data(), stored, v.size());
    outputs.push_back(std::move(b));
  };
  store(scale);
  if (spec.asymmetric)
    store(zero);
  return llvm::Error::success();
}

llvm::Error MnnQuantAttr::dequantizeRows(ArrayRef<RowBuffer> outputs,
                                         const RowBuffer &in,
                                         float *out) const {
  // From the stored (rounded) scales and mins: what a runtime reads back.
  num::MnnQuantSpec spec = mnnSpecOf(*this);
  auto [rows, k] = rowsAndK(in);
  auto toFloat = [](const RowBuffer &b) {
    UninitVector<float> v(size_t(b.numElements()));
    num::convertElements(b.bytes(), b.dtype, v.data(), DType::F32, v.size());
    return v;
  };
  UninitVector<float> scale = toFloat(outputs[1]);
  UninitVector<float> zero =
      spec.asymmetric ? toFloat(outputs[2]) : UninitVector<float>(scale.size());
  num::mnnDequantizeRows(outputs[0].bytes(), scale.data(), zero.data(), rows, k,
                         spec, out);
  return llvm::Error::success();
}

//===----------------------------------------------------------------------===//
// PerTensorQuantAttr
//===----------------------------------------------------------------------===//

bool PerTensorQuantAttr::isRowLocal() const { return false; }

/// A float32 scalar record.
static RowBuffer scalar(float v) {
  RowBuffer b = RowBuffer::allocate(DType::F32, {1});
  std::memcpy(b.data.data(), &v, 4);
  return b;
}

llvm::Error PerTensorQuantAttr::quantizeRows(
    EvaluationContext &ctx, RankedTensorType weightType, const RowBuffer &in,
    SmallVectorImpl<RowBuffer> &outputs) const {
  if (in.dtype != DType::F16)
    return schemeError("float8 quantization reads float16 weights, got " +
                       llvm::Twine(num::tvmName(in.dtype)));
  size_t n = size_t(in.numElements());
  const auto *w = reinterpret_cast<const uint16_t *>(in.bytes());
  RowBuffer q = RowBuffer::allocate(*fromMlirType(getStorageType()), in.shape);
  bool cuda = ctx.getOptions().cuda;
  if (!getUseScale()) {
    if (cuda) {
      if (llvm::Error e = kern::castHalfToFp8E5M2Cuda(w, n, q.data.data()))
        return e;
    } else {
      num::castHalfToFp8E5M2(w, n, q.data.data());
    }
    outputs.push_back(std::move(q));
    return llvm::Error::success();
  }
  float scale;
  if (cuda) {
    if (llvm::Error e =
            kern::fp8E4M3PerTensorCuda(w, n, &scale, q.data.data()))
      return e;
  } else {
    scale = num::fp8E4M3PerTensorScale(w, n);
    num::quantizeFp8E4M3(w, n, scale, q.data.data());
  }
  outputs.push_back(std::move(q));
  outputs.push_back(scalar(scale));
  // MLC leaves the calibration scale uninitialized; we write 1.0.
  if (getCalibrationPlaceholder())
    outputs.push_back(scalar(1.0f));
  return llvm::Error::success();
}

llvm::Error PerTensorQuantAttr::dequantizeRows(ArrayRef<RowBuffer> outputs,
                                               const RowBuffer &in,
                                               float *out) const {
  size_t n = size_t(in.numElements());
  const uint8_t *q = outputs[0].bytes();
  if (!getUseScale()) {
    for (size_t i = 0; i < n; ++i)
      out[i] = num::f8E5M2ToFloat(q[i]);
    return llvm::Error::success();
  }
  float scale;
  std::memcpy(&scale, outputs[1].bytes(), 4);
  for (size_t i = 0; i < n; ++i)
    out[i] = num::f8E4M3FNToFloat(q[i]) * scale;
  return llvm::Error::success();
}
