//===- Dequantize.cpp - Parameters of a tensor cache as float32 -*- C++ -*-===//
//
// Part of quant-opt. See Dequantize.h.
//
//===----------------------------------------------------------------------===//

#include "qopt/Eval/Dequantize.h"

#include "qopt/Models/QuantizationModes.h"
#include "qopt/Numerics/Convert.h"
#include "qopt/Numerics/GroupQuant.h"
#include "qopt/Numerics/Mnn.h"

#include "llvm/ADT/Twine.h"
#include "llvm/Support/MathExtras.h"

#include <algorithm>
#include <cstring>

namespace qopt::eval {

static llvm::Error makeError(const llvm::Twine &msg) {
  return llvm::createStringError(llvm::inconvertibleErrorCode(), msg);
}

static llvm::StringRef dtypeName(numerics::DType t) {
  std::string_view s = numerics::tvmName(t);
  return {s.data(), s.size()};
}

llvm::Expected<QuantizationHint> parseQuantizationHint(llvm::StringRef mode) {
  const models::QuantizationMode *m = models::findQuantizationMode(mode);
  if (!m)
    return makeError("unknown quantization mode '" + mode +
                     "' (known: " + models::quantizationModeList() + ")");
  QuantizationHint hint;
  hint.mode = m->name;
  if (m->kind == models::QuantizationMode::Kind::GroupQuant) {
    hint.bits = m->bits;
    hint.groupSize = m->groupSize;
    hint.kn = m->kn;
  }
  if (m->kind == models::QuantizationMode::Kind::MNN) {
    numerics::MnnQuantSpec spec;
    spec.bits = m->bits;
    spec.asymmetric = m->mnnAsymmetric;
    spec.block = m->mnnBlock;
    spec.hqq = m->mnnHqq;
    hint.mnn = spec;
  }
  return hint;
}

llvm::StringRef quantizedBase(llvm::StringRef param) {
  param.consume_back(".weight");
  return param;
}

DequantScheme::~DequantScheme() = default;

namespace {

/// `<param>` stored as it is, in a floating-point dtype.
class PlainScheme final : public DequantScheme {
public:
  llvm::StringRef name() const override { return "plain"; }
  bool matches(const TensorCacheReader &cache,
               llvm::StringRef param) const override {
    return cache.find(param) != nullptr;
  }
  llvm::Error dequantize(const TensorCacheReader &cache, llvm::StringRef param,
                         llvm::ArrayRef<int64_t> shape,
                         const QuantizationHint &, float *out) const override {
    const CacheRecord *r = cache.find(param);
    if (llvm::ArrayRef<int64_t>(r->shape) != shape)
      return cache.recordError(*r, "shape " + formatShape(r->shape) +
                                       " does not match the expected " +
                                       formatShape(shape));
    auto values = cache.readFloats(*r);
    if (!values)
      return values.takeError();
    std::memcpy(out, values->data(), values->size() * sizeof(float));
    return llvm::Error::success();
  }
};

/// MLC GroupQuantize: `<base>.q_weight` uint32 words, `<base>.q_scale` in
/// the model dtype; NK (`[rows..., words]`, `[rows..., groups]`) or KN
/// (both 2-D transposed).
class GroupQuantScheme final : public DequantScheme {
public:
  llvm::StringRef name() const override { return "group-quant"; }
  bool matches(const TensorCacheReader &cache,
               llvm::StringRef param) const override {
    std::string base = quantizedBase(param).str();
    const CacheRecord *qw = cache.find(base + ".q_weight");
    return qw && qw->dtype == numerics::DType::U32 &&
           cache.find(base + ".q_scale");
  }
  llvm::Error dequantize(const TensorCacheReader &cache, llvm::StringRef param,
                         llvm::ArrayRef<int64_t> shape,
                         const QuantizationHint &hint,
                         float *out) const override;
};

/// MLC PerTensorQuantize: `<base>.q_weight` float8 with the weight's shape,
/// times `<base>.q_scale` [1] when the mode has a scale (e4m3).
class PerTensorFp8Scheme final : public DequantScheme {
public:
  llvm::StringRef name() const override { return "per-tensor-fp8"; }
  bool matches(const TensorCacheReader &cache,
               llvm::StringRef param) const override {
    const CacheRecord *qw =
        cache.find(quantizedBase(param).str() + ".q_weight");
    return qw && (qw->dtype == numerics::DType::F8E4M3FN ||
                  qw->dtype == numerics::DType::F8E5M2);
  }
  llvm::Error dequantize(const TensorCacheReader &cache, llvm::StringRef param,
                         llvm::ArrayRef<int64_t> shape,
                         const QuantizationHint &hint,
                         float *out) const override;
};

/// MNN-style: `<base>.q_weight` uint8 [lead..., bytes], `<base>.q_scale`
/// [lead..., blocks] and, asymmetric, `<base>.q_zero` [lead..., blocks];
/// the configuration is read from the shapes (mnnSpecFromShapes).
class MnnScheme final : public DequantScheme {
public:
  llvm::StringRef name() const override { return "mnn"; }
  bool matches(const TensorCacheReader &cache,
               llvm::StringRef param) const override {
    std::string base = quantizedBase(param).str();
    const CacheRecord *qw = cache.find(base + ".q_weight");
    return qw && qw->dtype == numerics::DType::U8 &&
           cache.find(base + ".q_scale");
  }
  llvm::Error dequantize(const TensorCacheReader &cache, llvm::StringRef param,
                         llvm::ArrayRef<int64_t> shape,
                         const QuantizationHint &hint,
                         float *out) const override;
};

} // namespace

llvm::Expected<numerics::MnnQuantSpec>
mnnSpecFromShapes(int64_t k, int64_t bytes, int64_t blocks, bool asymmetric,
                  const QuantizationHint &hint) {
  if (k <= 0)
    return makeError(llvm::Twine("K = ") + llvm::Twine(k) +
                     " is not positive");
  const numerics::MnnQuantSpec *wanted = hint.mnn ? &*hint.mnn : nullptr;
  numerics::MnnQuantSpec spec;
  spec.asymmetric = asymmetric;
  if (wanted) {
    if (wanted->asymmetric != asymmetric)
      return makeError("mode '" + hint.mode + "' is " +
                       (wanted->asymmetric
                            ? "asymmetric, but there is no q_zero record"
                            : "symmetric, but there is a q_zero record"));
    spec.bits = wanted->bits;
    int64_t expected = numerics::mnnPackedRowBytes(spec, k);
    if (expected != bytes)
      return makeError(llvm::Twine(bytes) + " bytes per row are not " +
                       llvm::Twine(k) + " codes of " +
                       llvm::Twine(spec.bits) + " bits (mode '" + hint.mode +
                       "' needs " + llvm::Twine(expected) + ")");
  } else {
    std::vector<int> fits;
    for (int bits = 2; bits <= 8; ++bits) {
      spec.bits = bits;
      if (numerics::mnnPackedRowBytes(spec, k) == bytes)
        fits.push_back(bits);
    }
    if (fits.empty())
      return makeError(llvm::Twine(bytes) + " bytes per row are not " +
                       llvm::Twine(k) + " codes of 2 to 8 bits");
    if (fits.size() > 1) {
      std::string list;
      for (int bits : fits)
        list += (list.empty() ? "" : ", ") + std::to_string(bits);
      return makeError(llvm::Twine(bytes) + " bytes per row fit " +
                       llvm::Twine(k) + " codes of " + list +
                       " bits; pass --quantization mnn_w<bits>...");
    }
    spec.bits = fits.front();
  }
  if (blocks <= 0 || k % blocks != 0)
    return makeError(llvm::Twine(k) + " values per row do not split into " +
                     llvm::Twine(blocks) + " blocks");
  spec.block = blocks == 1 ? 0 : k / blocks;
  if (numerics::mnnBlocksPerRow(spec, k) != blocks)
    return makeError(llvm::Twine(blocks) + " blocks of " +
                     llvm::Twine(spec.block) +
                     " values per row are not MNN blocks (a multiple of 16)");
  if (wanted) {
    int64_t expected = numerics::mnnBlocksPerRow(*wanted, k);
    if (expected != blocks)
      return makeError("mode '" + hint.mode + "' gives " +
                       llvm::Twine(expected) + " blocks per row of " +
                       llvm::Twine(k) + " values, the records hold " +
                       llvm::Twine(blocks));
    spec.hqq = wanted->hqq;
  }
  return spec;
}

/// Whether `word` is a possible MLC int3 word: ten 3-bit values in [0, 6],
/// bits 30-31 clear.
static bool isInt3Word(uint32_t word) {
  if (word >> 30)
    return false;
  for (int r = 0; r < 10; ++r)
    if (((word >> (3 * r)) & 7u) == 7u)
      return false;
  return true;
}

std::vector<numerics::GroupQuantSpec>
groupQuantCandidates(int64_t k, int64_t words, int64_t groups,
                     numerics::FloatFormat format, const QuantizationHint &hint,
                     bool onlyFitting) {
  std::vector<numerics::GroupQuantSpec> candidates;
  if (hint.bits)
    candidates.push_back({hint.bits, hint.groupSize, format});
  else
    candidates = {{4, 32, format}, {3, 40, format}};
  if (!onlyFitting)
    return candidates;
  std::vector<numerics::GroupQuantSpec> fits;
  for (const numerics::GroupQuantSpec &spec : candidates)
    if (numerics::validateGroupQuantSpec(spec).empty() &&
        numerics::wordsPerRow(spec, k) == words &&
        numerics::groupsPerRow(spec, k) == groups)
      fits.push_back(spec);
  return fits;
}

llvm::Error GroupQuantScheme::dequantize(const TensorCacheReader &cache,
                                         llvm::StringRef param,
                                         llvm::ArrayRef<int64_t> shape,
                                         const QuantizationHint &hint,
                                         float *out) const {
  std::string base = quantizedBase(param).str();
  const CacheRecord &qw = *cache.find(base + ".q_weight");
  const CacheRecord &qs = *cache.find(base + ".q_scale");
  auto misfit = [&](const llvm::Twine &why) {
    return cache.recordError(qw, "q_weight " + formatShape(qw.shape) +
                                     " and q_scale " + formatShape(qs.shape) +
                                     " do not fit a weight of shape " +
                                     formatShape(shape) + ": " + why);
  };
  if (shape.size() < 2)
    return misfit("group quantization needs a weight of rank 2 or more");
  if (qw.shape.size() != shape.size() || qs.shape.size() != shape.size())
    return misfit("ranks differ");

  int64_t k = shape.back();
  int64_t n = shape[shape.size() - 2];
  llvm::ArrayRef<int64_t> lead = shape.drop_back();
  llvm::ArrayRef<int64_t> qwShape(qw.shape), qsShape(qs.shape);
  // NK: [lead..., words] and [lead..., groups].
  bool nkFits = qwShape.drop_back() == lead && qsShape.drop_back() == lead;
  // KN (2-D only): [words, N] and [groups, N].
  bool knFits = shape.size() == 2 && qwShape[1] == n && qsShape[1] == n;
  // Both can only fit if a group is one word; the hint's layout decides.
  // (It cannot be a requirement: embeddings are NK in the KN modes too.)
  if (nkFits && knFits && hint.kn) {
    nkFits = !*hint.kn;
    knFits = *hint.kn;
  }
  if (!nkFits && !knFits)
    return misfit("neither the NK nor the KN layout");
  if (nkFits && knFits)
    return misfit("both the NK and the KN layout fit; pass --quantization");
  bool kn = knFits;
  int64_t words = kn ? qwShape[0] : qwShape.back();
  int64_t groups = kn ? qsShape[0] : qsShape.back();

  numerics::FloatFormat format;
  switch (qs.dtype) {
  case numerics::DType::F16:
    format = numerics::FloatFormat::F16;
    break;
  case numerics::DType::BF16:
    format = numerics::FloatFormat::BF16;
    break;
  case numerics::DType::F32:
    format = numerics::FloatFormat::F32;
    break;
  default:
    return cache.recordError(qs, llvm::Twine("has dtype ") +
                                     dtypeName(qs.dtype) +
                                     ", expected float16, bfloat16 or float32");
  }

  std::vector<numerics::GroupQuantSpec> fits =
      groupQuantCandidates(k, words, groups, format, hint);
  if (fits.empty()) {
    std::string tried;
    for (const numerics::GroupQuantSpec &spec :
         groupQuantCandidates(k, words, groups, format, hint, false))
      tried += (tried.empty() ? "" : " or ") + std::to_string(spec.bits) +
               "-bit groups of " + std::to_string(spec.groupSize);
    return misfit(llvm::Twine(words) + " words and " + llvm::Twine(groups) +
                  " groups per row are not " + tried);
  }

  auto qwords = cache.readUInt32(qw);
  if (!qwords)
    return qwords.takeError();
  if (fits.size() > 1) {
    // Both int4/32 and int3/40 give these counts (small K): MLC's int3 words
    // never use bits 30-31 nor the 3-bit value 7, which a real int4 tensor
    // of more than a few words always does somewhere.
    bool int3Valid = std::all_of(qwords->begin(), qwords->end(), isInt3Word);
    fits = {fits[int3Valid ? 1 : 0]};
  }
  const numerics::GroupQuantSpec &spec = fits.front();
  // The scale in the model dtype's bits (uint16) or as float32.
  std::vector<uint8_t> scale;
  if (format == numerics::FloatFormat::F32) {
    auto floats = cache.readFloats(qs);
    if (!floats)
      return floats.takeError();
    scale.resize(floats->size() * sizeof(float));
    std::memcpy(scale.data(), floats->data(), scale.size());
  } else {
    scale.resize(qs.nbytes);
    if (llvm::Error e = cache.readRaw(qs, scale.data()))
      return e;
  }
  if (kn) {
    std::vector<uint32_t> nk(qwords->size());
    numerics::transpose2D(qwords->data(), words, n, sizeof(uint32_t),
                          nk.data());
    *qwords = std::move(nk);
    size_t elem = format == numerics::FloatFormat::F32 ? 4 : 2;
    std::vector<uint8_t> scaleNK(scale.size());
    numerics::transpose2D(scale.data(), groups, n, elem, scaleNK.data());
    scale = std::move(scaleNK);
  }
  int64_t rows = 1;
  for (int64_t d : lead)
    rows *= d;
  numerics::groupDequantizeRows(qwords->data(), scale.data(), rows, k, spec,
                                out);
  return llvm::Error::success();
}

llvm::Error PerTensorFp8Scheme::dequantize(const TensorCacheReader &cache,
                                           llvm::StringRef param,
                                           llvm::ArrayRef<int64_t> shape,
                                           const QuantizationHint &,
                                           float *out) const {
  std::string base = quantizedBase(param).str();
  const CacheRecord &qw = *cache.find(base + ".q_weight");
  if (llvm::ArrayRef<int64_t>(qw.shape) != shape)
    return cache.recordError(qw, "shape " + formatShape(qw.shape) +
                                     " does not match the expected " +
                                     formatShape(shape));
  float scale = 1.0f;
  const CacheRecord *qs = cache.find(base + ".q_scale");
  if (qs) {
    if (qs->numElements() != 1)
      return cache.recordError(*qs, "expected one scale value, got shape " +
                                        formatShape(qs->shape));
    auto s = cache.readFloats(*qs);
    if (!s)
      return s.takeError();
    scale = s->front();
  } else if (qw.dtype == numerics::DType::F8E4M3FN) {
    return makeError(cache.indexPath() + ": missing record '" + base +
                     ".q_scale' (float8_e4m3fn weights are scaled)");
  }
  auto values = cache.readFloats(qw);
  if (!values)
    return values.takeError();
  for (size_t i = 0; i < values->size(); ++i)
    out[i] = (*values)[i] * scale;
  return llvm::Error::success();
}

llvm::Error MnnScheme::dequantize(const TensorCacheReader &cache,
                                  llvm::StringRef param,
                                  llvm::ArrayRef<int64_t> shape,
                                  const QuantizationHint &hint,
                                  float *out) const {
  std::string base = quantizedBase(param).str();
  const CacheRecord &qw = *cache.find(base + ".q_weight");
  const CacheRecord &qs = *cache.find(base + ".q_scale");
  const CacheRecord *qz = cache.find(base + ".q_zero");
  auto misfit = [&](const llvm::Twine &why) {
    std::string zero = qz ? " and q_zero " + formatShape(qz->shape) : "";
    return cache.recordError(qw, "q_weight " + formatShape(qw.shape) +
                                     " and q_scale " + formatShape(qs.shape) +
                                     zero + " do not fit a weight of shape " +
                                     formatShape(shape) + ": " + why);
  };
  if (shape.size() < 2)
    return misfit("MNN quantization needs a weight of rank 2 or more");
  llvm::ArrayRef<int64_t> lead = shape.drop_back();
  if (qw.shape.size() != shape.size() || qs.shape.size() != shape.size() ||
      (qz && qz->shape.size() != shape.size()))
    return misfit("ranks differ");
  if (llvm::ArrayRef<int64_t>(qw.shape).drop_back() != lead ||
      llvm::ArrayRef<int64_t>(qs.shape).drop_back() != lead)
    return misfit("the rows differ");
  if (qz && qz->shape != qs.shape)
    return misfit("q_zero and q_scale differ");
  int64_t k = shape.back();
  auto spec = mnnSpecFromShapes(k, qw.shape.back(), qs.shape.back(),
                                qz != nullptr, hint);
  if (!spec)
    return misfit(llvm::toString(spec.takeError()));

  std::vector<uint8_t> packed(static_cast<size_t>(qw.nbytes));
  if (llvm::Error e = cache.readRaw(qw, packed.data()))
    return e;
  // float16 (or any float dtype) widened exactly to float32.
  auto scale = cache.readFloats(qs);
  if (!scale)
    return scale.takeError();
  std::vector<float> zero;
  if (qz) {
    auto z = cache.readFloats(*qz);
    if (!z)
      return z.takeError();
    zero = std::move(*z);
  }
  int64_t rows = 1;
  for (int64_t d : lead)
    rows *= d;
  numerics::mnnDequantizeRows(packed.data(), scale->data(),
                              qz ? zero.data() : nullptr, rows, k, *spec, out);
  return llvm::Error::success();
}

const std::vector<std::unique_ptr<DequantScheme>> &dequantSchemes() {
  static const std::vector<std::unique_ptr<DequantScheme>> schemes = [] {
    std::vector<std::unique_ptr<DequantScheme>> s;
    s.push_back(std::make_unique<GroupQuantScheme>());
    s.push_back(std::make_unique<MnnScheme>());
    s.push_back(std::make_unique<PerTensorFp8Scheme>());
    s.push_back(std::make_unique<PlainScheme>());
    return s;
  }();
  return schemes;
}

llvm::Expected<std::vector<float>>
dequantizeParam(const TensorCacheReader &cache, llvm::StringRef param,
                llvm::ArrayRef<int64_t> shape, const QuantizationHint &hint) {
  int64_t numel = 1;
  for (int64_t d : shape)
    if (d < 0 || llvm::MulOverflow(numel, d, numel))
      return makeError("parameter '" + param + "': bad shape " +
                       formatShape(shape));
  for (const auto &scheme : dequantSchemes()) {
    if (!scheme->matches(cache, param))
      continue;
    std::vector<float> out(static_cast<size_t>(numel));
    if (llvm::Error e =
            scheme->dequantize(cache, param, shape, hint, out.data()))
      return std::move(e);
    return std::move(out);
  }
  return makeError(cache.indexPath() + ": missing record '" + param +
                   "' (nor '" + quantizedBase(param) + ".q_weight')");
}

} // namespace qopt::eval
