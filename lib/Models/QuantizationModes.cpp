//===- QuantizationModes.cpp - MLC's quantization registry -----*- C++ -*-===//

#include "qopt/Models/QuantizationModes.h"
#include "qopt/Numerics/FtQuant.h"

#include <map>
#include <memory>
#include <mutex>
#include <optional>

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
  case Kind::MNN:
    return "mnn";
  case Kind::BlockScale:
    return "block-scale-quant";
  case Kind::FTQuant:
    return "ft-quant";
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

static QuantizationMode blockScale(const char *name, bool activationScale) {
  QuantizationMode m;
  m.name = name;
  m.kind = Kind::BlockScale;
  m.modelDType = DType::BF16;
  m.fp8 = DType::F8E4M3FN;
  m.activationScale = activationScale;
  return m;
}

/// MLC's FTQuantize: int4 linears in FasterTransformer's layout; the final
/// fc, embeddings and linears the FT kernels cannot take fall back to the
/// q4f16_1 group quantization (group 32, NK).
static QuantizationMode ftQuant(const char *name) {
  QuantizationMode m = group(name, 4, 32, DType::F16, /*kn=*/false);
  m.kind = Kind::FTQuant;
  m.ftSm = qopt::numerics::kFtDefaultSm;
  // FTQuantize's _Mutator has no `no_quantization` check (the group and
  // block-scale mutators return such modules untouched). MLC's per-tensor
  // and AWQ mutators lack it too, but no model with a marked module accepts
  // those kinds (phi3_v: no-quant, group-quant, ft-quant).
  m.ignoresNoQuantization = true;
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
      blockScale("fp8_e4m3fn_bf16_block_scale", /*activationScale=*/false),
      blockScale("fp8_e4m3fn_bf16_block_scale_static_activation",
                 /*activationScale=*/true),
      ftQuant("q4f16_ft"),
  };
  return modes;
}

std::string qopt::models::mnnModeName(int bits, bool asymmetric,
                                      int64_t block, bool hqq) {
  std::string s = "mnn_w" + std::to_string(bits);
  if (asymmetric)
    s += "_asym";
  if (block > 0)
    s += "_b" + std::to_string(block);
  if (hqq)
    s += "_hqq";
  return s;
}

/// Parses `mnn_w<bits>[_asym][_b<block>][_hqq]`.
static std::optional<QuantizationMode> parseMnn(llvm::StringRef name) {
  llvm::StringRef rest = name;
  if (!rest.consume_front("mnn_w"))
    return std::nullopt;
  QuantizationMode m;
  m.kind = Kind::MNN;
  m.modelDType = DType::F16;
  if (rest.consumeInteger(10, m.bits) || m.bits < 2 || m.bits > 8)
    return std::nullopt;
  m.mnnAsymmetric = rest.consume_front("_asym");
  if (rest.consume_front("_b") &&
      (rest.consumeInteger(10, m.mnnBlock) || m.mnnBlock <= 0))
    return std::nullopt;
  m.mnnHqq = rest.consume_front("_hqq");
  if (!rest.empty() || (m.mnnHqq && !m.mnnAsymmetric))
    return std::nullopt;
  m.name = mnnModeName(m.bits, m.mnnAsymmetric, m.mnnBlock, m.mnnHqq);
  if (m.name != name)
    return std::nullopt;
  return m;
}

const QuantizationMode *
qopt::models::findQuantizationMode(llvm::StringRef name) {
  for (const QuantizationMode &m : quantizationModes())
    if (m.name == name)
      return &m;
  std::optional<QuantizationMode> mnn = parseMnn(name);
  if (!mnn)
    return nullptr;
  static std::mutex mutex;
  static std::map<std::string, std::unique_ptr<QuantizationMode>> interned;
  std::lock_guard<std::mutex> lock(mutex);
  auto &slot = interned[mnn->name];
  if (!slot)
    slot = std::make_unique<QuantizationMode>(*mnn);
  return slot.get();
}

std::string qopt::models::quantizationModeList() {
  std::string s;
  for (const QuantizationMode &m : quantizationModes())
    s += (s.empty() ? "" : ", ") + m.name;
  return s;
}

std::string qopt::models::unsupportedModeReason(llvm::StringRef name,
                                                int64_t shards) {
  // docs/quantization.md; presharding: docs/design.md.
  if (name == "q4f16_ft" && shards > 1)
    return "mode 'q4f16_ft' cannot be pre-sharded "
           "(--tensor-parallel-shards " +
           std::to_string(shards) +
           "): MLC rejects q4f16_ft with tensor parallelism; convert without "
           "--tensor-parallel-shards";
  return "";
}
