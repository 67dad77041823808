//===- QuantizationModes.cpp - MLC's quantization registry -----*- C++ -*-===//

#include "qopt/Models/QuantizationModes.h"

using namespace qopt::models;
using qopt::numerics::DType;
using Kind = QuantizationMode::Kind;

llvm::StringRef QuantizationMode::kindName() const {
  switch (kind) {
  case Kind::NoQuant:
    return "no-quant";
  case Kind::GroupQuant:
    return "group-quant";
  case Kind::PerTensorQuant:
    return "per-tensor-quant";
  case Kind::AWQ:
    return "awq";
  }
  return "";
}

static QuantizationMode noQuant(const char *name, DType t) {
  QuantizationMode m;
  m.name = name;
  m.kind = Kind::NoQuant;
  m.modelDType = t;
  return m;
}

static QuantizationMode group(const char *name, int bits, int64_t g, DType t,
                              bool kn, bool quantizeEmbeddingAndHead = true) {
  QuantizationMode m;
  m.name = name;
  m.kind = Kind::GroupQuant;
  m.modelDType = t;
  m.bits = bits;
  m.groupSize = g;
  m.kn = kn;
  m.quantizeEmbedding = quantizeEmbeddingAndHead;
  m.quantizeFinalFC = quantizeEmbeddingAndHead;
  return m;
}

static QuantizationMode awq(const char *name) {
  QuantizationMode m;
  m.name = name;
  m.kind = Kind::AWQ;
  m.modelDType = DType::F16;
  m.bits = 4;
  m.groupSize = 128;
  return m;
}

static QuantizationMode perTensor(const char *name, DType fp8, bool useScale,
                                  bool calibration) {
  QuantizationMode m;
  m.name = name;
  m.kind = Kind::PerTensorQuant;
  m.modelDType = DType::F16;
  m.fp8 = fp8;
  m.useScale = useScale;
  m.calibrationPlaceholder = calibration;
  return m;
}

const std::vector<QuantizationMode> &qopt::models::quantizationModes() {
  static const std::vector<QuantizationMode> modes = {
      noQuant("q0f16", DType::F16),
      noQuant("q0bf16", DType::BF16),
      noQuant("q0f32", DType::F32),
      group("q3f16_0", 3, 40, DType::F16, /*kn=*/true),
      group("q3f16_1", 3, 40, DType::F16, /*kn=*/false),
      group("q4f16_0", 4, 32, DType::F16, /*kn=*/true),
      group("q4f16_1", 4, 32, DType::F16, /*kn=*/false),
      group("q4bf16_0", 4, 32, DType::BF16, /*kn=*/true),
      group("q4bf16_1", 4, 32, DType::BF16, /*kn=*/false),
      group("q4f32_1", 4, 32, DType::F32, /*kn=*/false),
      group("q4f16_2", 4, 32, DType::F16, /*kn=*/false,
            /*quantizeEmbeddingAndHead=*/false),
      awq("q4f16_autoawq"),
      perTensor("e5m2_e5m2_f16", DType::F8E5M2, /*useScale=*/false,
                /*calibration=*/false),
      perTensor("e4m3_e4m3_f16", DType::F8E4M3FN, /*useScale=*/true,
                /*calibration=*/true),
      perTensor("e4m3_e4m3_f16_max_calibrate", DType::F8E4M3FN,
                /*useScale=*/true, /*calibration=*/false),
  };
  return modes;
}

const QuantizationMode *
qopt::models::findQuantizationMode(llvm::StringRef name) {
  for (const QuantizationMode &m : quantizationModes())
    if (m.name == name)
      return &m;
  return nullptr;
}

std::string qopt::models::quantizationModeList() {
  std::string s;
  for (const QuantizationMode &m : quantizationModes())
    s += (s.empty() ? "" : ", ") + m.name;
  return s;
}
