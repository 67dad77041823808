//===- KeepBlockFp8.cpp - MLC's block-scale modes ---------------*- C++ -*-===//
//
// Also the block geometry qopt-map-parameters uses to read FP8 checkpoints
// (getFp8BlockSize, getBlockScaleView).
//
// fp8_e4m3fn_bf16_block_scale(_static_activation), as mlc_llm's
// BlockScaleQuantize and the loaders of the models that take it (qwen3,
// qwen3_moe, deepseek_v3, ministral3) write them: no quantization of their
// own; every linear (not the final fc, not a MoE router) and every MoE
// expert stack keeps the checkpoint's float8 codes as `<name>` and its
// block scales as `<name>_scale_inv` (float32), fused as the weights are
// (q/k/v and gate/up scales concatenated on the same axis, experts
// stacked); DeepSeek's w_uk / w_uv likewise from kv_b_proj's. Everything
// else becomes bfloat16.
// With static activation each linear also has `<base>.activation_scale`
// [ceil(K / block)] float32, which qwen3's loaders read from the checkpoint
// under that (MLC) name and ministral3's from the projections it fuses
// (Architecture::activationScalesFromProjections,
// weights.static_activation_scale). ministral3's per-tensor scales
// (stride-0 views of one element) are tiled as its loader tiles them
// (tileScalarScales).
// docs/quantization.md, "Block-scale modes".
//
//===----------------------------------------------------------------------===//

#include "dialects/Weights/Transforms/Utils.h"

#include "mlir/IR/Builders.h"
#include "llvm/ADT/StringMap.h"

#include <array>
#include <limits>

using namespace mlir;
using namespace mlir::qopt::weights;
namespace models = ::qopt::models;

namespace {
/// The float8 codes and the block scales a dequantized value is made of.
struct Blocks {
  Value codes, scales;
};
} // namespace

static std::string shapeStr(ArrayRef<int64_t> shape) {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); ++i)
    s += (i ? ", " : "") + std::to_string(shape[i]);
  return s + "]";
}

/// A per-tensor scale broadcast to blocks (a stride-0 view of a one-element
/// source, as qopt-map-parameters reads ministral3's FP8 checkpoints).
static SourceOp broadcastSource(Value v) {
  if (auto c = v.getDefiningOp<CastOp>())
    v = c.getInput();
  return v.getDefiningOp<SourceOp>();
}
static bool isBroadcastScalar(Value v) {
  SourceOp s = broadcastSource(v);
  return s && s.getStrides() &&
         llvm::all_of(*s.getStrides(), [](int64_t x) { return x == 0; });
}

/// mlc_llm ministral3_loader's `_weight_scale_transform` for fused
/// per-tensor scales: the n scalars concatenated, each repeated over an
/// equal share (rows / n) of the fused weight's block rows, whatever the
/// parts' own sizes; refused, as MLC refuses it, when n does not divide
/// the block rows.
static FailureOr<Blocks> tileScalarScales(OpBuilder &b, ConcatOp c,
                                          ArrayRef<Value> codes,
                                          ArrayRef<Value> scales,
                                          std::array<int64_t, 2> block,
                                          std::string &why) {
  auto ct = cast<RankedTensorType>(codes.front().getType());
  int64_t rows = 0, n = int64_t(scales.size());
  for (Value cv : codes)
    rows += cast<RankedTensorType>(cv.getType()).getDimSize(0);
  int64_t r = llvm::divideCeil(rows, block[0]);
  int64_t cols = llvm::divideCeil(ct.getDimSize(1), block[1]);
  if (r % n) {
    why = "mlc_llm: \"Unexpected weight scale shape (" + std::to_string(n) +
          ",) ... expected (" + std::to_string(r) + ", " +
          std::to_string(cols) + ")\": its " + std::to_string(n) +
          " per-tensor scales cannot tile " + std::to_string(r) +
          " block rows evenly";
    return failure();
  }
  SmallVector<Value> tiles;
  Type f32 = b.getF32Type();
  for (Value s : scales) {
    SourceOp src = broadcastSource(s);
    auto t = cast<RankedTensorType>(src.getType()).clone({r / n, cols});
    Value tile = SourceOp::create(b, src.getLoc(), t, src.getFileAttr(),
                                  src.getKeyAttr(), src.getOffset(),
                                  b.getDenseI64ArrayAttr({0, 0}));
    if (t.getElementType() != f32)
      tile = CastOp::create(b, src.getLoc(), t.clone(f32), tile);
    tiles.push_back(tile);
  }
  auto st = RankedTensorType::get({r, cols}, f32);
  Location loc = c.getLoc();
  Value cc = ConcatOp::create(b, loc, ct.clone({rows, ct.getDimSize(1)}),
                              codes, b.getI64IntegerAttr(0));
  Value sc = ConcatOp::create(b, loc, st, tiles,
                              b.getI64IntegerAttr(0));
  return Blocks{cc, sc};
}

/// Rebuilds `v` (dequantize_block_fp8, or concat / stack of such) over the
/// codes and over the scales. Fails without a diagnostic when `v` is not
/// made of float8 blocks, with `why` set when it is but its blocks do not
/// line up.
static FailureOr<Blocks> splitBlocks(OpBuilder &b, Value v,
                                     std::array<int64_t, 2> block,
                                     std::string &why) {
  Location loc = v.getLoc();
  if (auto dq = v.getDefiningOp<DequantizeBlockFp8Op>()) {
    Value s = dq.getScaleInv();
    auto st = cast<RankedTensorType>(s.getType());
    if (!st.getElementType().isF32())
      s = CastOp::create(b, loc, st.clone(b.getF32Type()), s);
    return Blocks{dq.getWeight(), s};
  }
  SmallVector<Blocks> parts;
  auto collect = [&](ValueRange ins) -> LogicalResult {
    for (Value in : ins) {
      FailureOr<Blocks> p = splitBlocks(b, in, block, why);
      if (failed(p))
        return failure();
      parts.push_back(*p);
    }
    return success();
  };
  auto pickAll = [&](bool scales) {
    SmallVector<Value> ins;
    for (Blocks &p : parts)
      ins.push_back(scales ? p.scales : p.codes);
    return ins;
  };
  if (auto c = v.getDefiningOp<ConcatOp>()) {
    if (failed(collect(c.getInputs())))
      return failure();
    int64_t axis = c.getAxis();
    SmallVector<Value> codes = pickAll(false), scales = pickAll(true);
    auto ct = cast<RankedTensorType>(codes.front().getType());
    auto st = cast<RankedTensorType>(scales.front().getType());
    SmallVector<int64_t> cshape(ct.getShape()), sshape(st.getShape());
    if (axis == 0 && ct.getRank() == 2 &&
        llvm::all_of(scales, isBroadcastScalar))
      return tileScalarScales(b, c, codes, scales, block, why);
    cshape[axis] = sshape[axis] = 0;
    // Along a block axis, every part but the last must be whole blocks
    // (mlc_llm concatenates the scales as it does the weights).
    int64_t blockAxis = axis - (ct.getRank() - 2);
    for (auto [i, cv] : llvm::enumerate(codes)) {
      int64_t n = cast<RankedTensorType>(cv.getType()).getDimSize(axis);
      if (blockAxis >= 0 && i + 1 < codes.size() && n % block[blockAxis]) {
        why = "a part of " + std::to_string(n) + " along axis " +
              std::to_string(axis) + " is not whole blocks of " +
              std::to_string(block[blockAxis]) +
              ", so its scales cannot be concatenated";
        return failure();
      }
      cshape[axis] += n;
      sshape[axis] +=
          cast<RankedTensorType>(scales[i].getType()).getDimSize(axis);
    }
    Value cc = ConcatOp::create(b, loc, ct.clone(cshape), codes,
                                b.getI64IntegerAttr(axis));
    Value sc = ConcatOp::create(b, loc, st.clone(sshape), scales,
                                b.getI64IntegerAttr(axis));
    return Blocks{cc, sc};
  }
  if (auto s = v.getDefiningOp<StackOp>()) {
    if (failed(collect(s.getInputs())))
      return failure();
    auto stack = [&](auto pick) -> Value {
      SmallVector<Value> ins;
      for (Blocks &p : parts)
        ins.push_back(pick(p));
      auto t = cast<RankedTensorType>(ins.front().getType());
      for (Value in : ins)
        if (in.getType() != t)
          return {};
      SmallVector<int64_t> shape{int64_t(ins.size())};
      llvm::append_range(shape, t.getShape());
      return StackOp::create(b, loc, t.clone(shape), ins);
    };
    Value cc = stack([](Blocks &p) { return p.codes; });
    Value sc = stack([](Blocks &p) { return p.scales; });
    if (!cc || !sc) {
      why = "its experts' blocks differ";
      return failure();
    }
    return Blocks{cc, sc};
  }
  return failure();
}

/// `quantization_config.weight_block_size` of an FP8 block-quantized
/// checkpoint (`quant_method` "fp8"); nullopt for any other checkpoint.
FailureOr<std::optional<std::array<int64_t, 2>>>
mlir::qopt::weights::getFp8BlockSize(ModelOp model) {
  auto q = model.getConfig().getAs<DictionaryAttr>("quantization_config");
  auto method = q ? q.getAs<StringAttr>("quant_method") : StringAttr();
  if (!method || method.getValue() != "fp8")
    return std::optional<std::array<int64_t, 2>>();
  auto fmt = q.getAs<StringAttr>("fmt");
  if (fmt && fmt.getValue() != "e4m3")
    return model.emitError("FP8 checkpoints in format '")
           << fmt.getValue() << "' are not supported; only e4m3";
  auto block = q.getAs<ArrayAttr>("weight_block_size");
  // MLC's Ministral3Config defaults the block size of its FP8 checkpoints
  // (activation_scheme static, per-tensor scales) to 128 x 128; the loader
  // broadcasts each per-tensor scale to those blocks (broadcastScalarScales).
  auto scheme = q.getAs<StringAttr>("activation_scheme");
  const models::Architecture *arch = models::findArchitecture(model.getArch());
  if (!block && arch && arch->fp8PerTensorBlock && scheme &&
      scheme.getValue() == "static")
    return std::optional<std::array<int64_t, 2>>(*arch->fp8PerTensorBlock);
  if (!block)
    return model.emitError("FP8 checkpoints without "
                           "quantization_config.weight_block_size (per-tensor "
                           "scales) are not supported");
  std::array<int64_t, 2> size{};
  if (block.size() != 2)
    return model.emitError("weight_block_size must be two integers, got ")
           << block;
  for (auto [i, a] : llvm::enumerate(block)) {
    auto v = dyn_cast<IntegerAttr>(a);
    if (!v || v.getInt() <= 0)
      return model.emitError("weight_block_size must be two positive "
                             "integers, got ")
             << block;
    size[i] = v.getInt();
  }
  return std::optional<std::array<int64_t, 2>>(size);
}

std::optional<BlockScaleView> mlir::qopt::weights::getBlockScaleView(
    int64_t cols, int64_t scaleCols, std::array<int64_t, 2> blockSize,
    int64_t offset, ArrayRef<int64_t> viewShape,
    ArrayRef<int64_t> viewStrides, std::string &why) {
  int64_t br = blockSize[0], bc = blockSize[1];
  int64_t row0 = offset / cols, col0 = offset % cols;
  if (row0 % br || col0 % bc) {
    why = "it does not start at a block";
    return std::nullopt;
  }
  BlockScaleView v;
  v.offset = row0 / br * scaleCols + col0 / bc;
  SmallVector<int64_t> block;
  for (auto [n, stride] : llvm::zip(viewShape, viewStrides)) {
    if (stride == 1 || stride == cols) {
      // The elements of one block row or column: one scale per block.
      int64_t bs = stride == 1 ? bc : br;
      if (n % bs) {
        why = "a dimension of " + std::to_string(n) +
              " is not whole blocks of " + std::to_string(bs);
        return std::nullopt;
      }
      v.shape.push_back(n / bs);
      v.strides.push_back(stride == 1 ? 1 : scaleCols);
      block.push_back(bs);
    } else if (stride % cols == 0 && (stride / cols) % br == 0) {
      // Whole blocks of rows at a time.
      v.shape.push_back(n);
      v.strides.push_back(stride / cols / br * scaleCols);
      block.push_back(1);
    } else if (stride < cols && stride % bc == 0) {
      // Whole blocks of columns at a time.
      v.shape.push_back(n);
      v.strides.push_back(stride / bc);
      block.push_back(1);
    } else {
      why = "a stride of " + std::to_string(stride) +
            " does not step whole blocks";
      return std::nullopt;
    }
  }
  size_t rank = block.size();
  if (rank < 2 ||
      llvm::any_of(ArrayRef<int64_t>(block).drop_back(2),
                   [](int64_t bs) { return bs != 1; }) ||
      block[rank - 2] == 1 || block[rank - 1] == 1) {
    why = "its blocks are not in its last two dimensions";
    return std::nullopt;
  }
  v.block = {block[rank - 2], block[rank - 1]};
  return v;
}

/// The shard strategy of a weight's block scales (mlc_llm's from_linear /
/// from_mixtral_experts: the weight's ShardSingleDim under the name
/// `<name>_scale_inv`, its segments counted in blocks of the sharded
/// dimension, block_size[dim] for a linear, block_size[dim - 1] for stacked
/// experts). Here the segments stay the weight's and `block` says how many
/// of its elements one scale covers; a dimension that is not a block axis
/// (DeepSeek's w_uk / w_uv by heads) shards as the weight does.
static ShardStrategyAttr scaleShard(ShardStrategyAttr weight,
                                    RankedTensorType codes,
                                    std::array<int64_t, 2> block) {
  if (!weight)
    return {};
  int64_t rank = codes.getRank(), dim = weight.getDim();
  int64_t axis = dim - (rank - 2);
  if (axis < 0 || dim >= rank || block[axis] == 1)
    return weight;
  SmallVector<int64_t> segments(weight.getSegments());
  if (segments.empty())
    segments.push_back(codes.getDimSize(dim));
  return ShardStrategyAttr::get(weight.getContext(), dim, segments,
                                block[axis]);
}

/// Index of each source tensor name in checkpoint order (its first
/// weights.source that is not a strided view).
static llvm::StringMap<int64_t> sourceOrder(ModelOp model) {
  llvm::StringMap<int64_t> order;
  int64_t i = 0;
  for (SourceOp s : model.getBody().front().getOps<SourceOp>())
    if (!s.getStrides())
      order.try_emplace(s.getKey(), i++);
  return order;
}

/// Where mlc_llm's loader first meets `v`'s sources (the smallest index of
/// the tensors it reads, views included), or -1 when one is unknown.
static int64_t firstSource(Value v, const llvm::StringMap<int64_t> &order) {
  int64_t best = std::numeric_limits<int64_t>::max();
  SmallVector<Value> work{v};
  while (!work.empty()) {
    Value x = work.pop_back_val();
    Operation *op = x.getDefiningOp();
    if (!op)
      return -1;
    if (auto s = dyn_cast<SourceOp>(op)) {
      auto it = order.find(s.getKey());
      if (it == order.end())
        return -1;
      best = std::min(best, it->second);
      continue;
    }
    llvm::append_range(work, op->getOperands());
  }
  return best == std::numeric_limits<int64_t>::max() ? -1 : best;
}

/// The checkpoint tensors (weights.source) a linear's float8 codes are
/// made of, in order (one, or the parts of a concatenation).
static void collectCodeSources(Value codes, SmallVectorImpl<SourceOp> &out) {
  if (auto s = codes.getDefiningOp<SourceOp>()) {
    out.push_back(s);
    return;
  }
  if (auto c = codes.getDefiningOp<ConcatOp>())
    for (Value in : c.getInputs())
      collectCodeSources(in, out);
}

/// mlc_llm ministral3_loader's activation scale of linear `p`: the
/// `<hf module>.activation_scale` of each projection its codes are made of
/// (weights.static_activation_scale: required allclose to the first, which
/// is kept and given the parameter's shape `type`); refused, as MLC refuses
/// them, when a tensor is missing, the shapes do not broadcast together or
/// the first's shape cannot give `type`'s.
static FailureOr<Value>
projectionActivationScales(OpBuilder &b, ParamOp p, Value codes,
                           const llvm::StringMap<SourceOp> &sources,
                           StringRef name, RankedTensorType type,
                           StringRef mode) {
  SmallVector<SourceOp> parts;
  collectCodeSources(codes, parts);
  if (parts.empty())
    return p.emitError("parameter '")
           << name << "': its float8 codes are not checkpoint tensors, so "
              "they name no projection activation scales";
  SmallVector<Value> scales;
  SmallVector<int64_t> firstShape;
  std::string firstKey;
  for (SourceOp part : parts) {
    StringRef module = part.getKey();
    module.consume_back(".weight");
    std::string key = (module + ".activation_scale").str();
    SourceOp src = sources.lookup(key);
    if (!src)
      return p.emitError("parameter '")
             << name << "' needs source tensor '" << key
             << "', which is not in the checkpoint (mode '" << mode
             << "': mlc_llm's loader reads each projection's own static "
                "activation scale)";
    auto st = cast<RankedTensorType>(src.getType());
    Type e = st.getElementType();
    if (!(e.isF16() || e.isBF16() || e.isF32() || e.isF64()))
      return src.emitError("source tensor '")
             << key << "' is " << e
             << "; static activation scales must be f16, bf16, f32 or f64";
    if (scales.empty()) {
      firstShape.assign(st.getShape().begin(), st.getShape().end());
      firstKey = key;
    } else if (!StaticActivationScaleOp::broadcastShape(st.getShape(),
                                                      firstShape))
      return src.emitError("source tensor '")
             << key << "' of shape " << shapeStr(st.getShape())
             << " does not broadcast with '" << firstKey << "' of shape "
             << shapeStr(firstShape)
             << " (mlc_llm's np.allclose: \"operands could not be broadcast "
                "together\")";
    scales.push_back(getCheckpointTensor(src));
  }
  std::string target = (p.getName() + "_activation_scale").str();
  if (!StaticActivationScaleOp::canShape(firstShape, type.getDimSize(0))) {
    std::string tuple = "(";
    for (int64_t d : firstShape)
      tuple += std::to_string(d) + (firstShape.size() == 1 ? "," : ", ");
    if (firstShape.size() > 1)
      tuple.resize(tuple.size() - 2);
    tuple += ")";
    return scales.front().getDefiningOp()->emitError("parameter '")
           << name << "': mode '" << mode
           << "' cannot give it the source's activation scale (mlc_llm: "
              "\"Unexpected activation scale shape "
           << tuple << " for " << name << ", expected ("
           << type.getDimSize(0)
           << ",)\"): a scale of that shape neither matches nor broadcasts "
              "nor tiles its "
           << type.getDimSize(0) << " input blocks";
  }
  return Value(StaticActivationScaleOp::create(
      b, p.getLoc(), type, scales, b.getStringAttr(target)));
}

LogicalResult mlir::qopt::weights::keepBlockFp8(ModelOp model,
                                                const models::QuantizationMode &m) {
  MLIRContext *ctx = model.getContext();
  FailureOr<std::optional<std::array<int64_t, 2>>> fp8Block =
      getFp8BlockSize(model);
  if (failed(fp8Block))
    return failure();
  std::optional<std::array<int64_t, 2>> block = *fp8Block;
  if (!block)
    return model.emitError("mode '")
           << m.name
           << "' keeps the float8 blocks of a checkpoint quantized to FP8 "
              "blocks (config.json quantization_config.weight_block_size), "
              "and this "
           << model.getArch()
           << " checkpoint is not one (mlc_llm: \"not fp8 block quantized. "
              "Thus BlockScaleQuantize is not supported\")";
  const models::Architecture *arch = models::findArchitecture(model.getArch());
  if (m.activationScale && arch && !arch->staticActivationRefusal.empty())
    return model.emitError("mode '")
           << m.name << "' is not supported for " << model.getArch() << ": "
           << arch->staticActivationRefusal
           << "; use fp8_e4m3fn_bf16_block_scale";
  bool fromProjections = arch && arch->activationScalesFromProjections;
  Type bf16 = BFloat16Type::get(ctx), f32 = Float32Type::get(ctx);
  llvm::StringMap<int64_t> order = sourceOrder(model);
  // name -> (codes type, scales type) of the parameters kept in blocks, and
  // the activation scales added.
  llvm::StringMap<std::pair<Type, Type>> kept;
  llvm::StringMap<Type> activations;
  SmallVector<std::pair<ParamOp, int64_t>> scaleParams;
  llvm::StringMap<SourceOp> sources;
  for (SourceOp s : model.getBody().front().getOps<SourceOp>())
    if (!s.getStrides())
      sources.try_emplace(s.getKey(), s);

  SmallVector<ParamOp> params(model.getParams());
  for (ParamOp p : params) {
    OpBuilder b(p);
    ParamKind kind = quantizedKind(m, p.getKind().value_or(ParamKind::Other));
    std::string why;
    // MLC's mutator replaces Linears (not the final fc, not a router),
    // MixtralExperts and DeepSeek's w_uk / w_uv (kind other); anything else
    // keeps the model dtype (dequantized if it was stored in blocks).
    bool replaced = kind == ParamKind::Linear || kind == ParamKind::Experts ||
                    kind == ParamKind::Other;
    FailureOr<Blocks> blocks = failure();
    if (replaced)
      blocks = splitBlocks(b, p.getValue(), *block, why);
    if (failed(blocks)) {
      if (!why.empty())
        return p.emitError("parameter '")
               << p.getName() << "': mode '" << m.name
               << "' cannot keep its float8 blocks: " << why;
      if (kind == ParamKind::Linear || kind == ParamKind::Experts)
        return p.emitError("parameter '")
               << p.getName() << "': mode '" << m.name
               << "' keeps linear weights as the checkpoint's float8 blocks "
                  "(weight and weight_scale_inv), but this weight is not "
                  "stored so";
      Value v = p.getValue();
      auto type = cast<RankedTensorType>(v.getType());
      if (isa<FloatType>(type.getElementType()) && type.getElementType() != bf16)
        p.getValueMutable().assign(
            CastOp::create(b, v.getLoc(), type.clone(bf16), v));
      continue;
    }
    p.getValueMutable().assign(blocks->codes);
    std::string scaleName = (p.getName() + "_scale_inv").str();
    auto scale = ParamOp::create(
        b, NameLoc::get(b.getStringAttr(scaleName), p.getLoc()),
        b.getStringAttr(scaleName), blocks->scales, p.getKindAttr(),
        ParamRoleAttr::get(ctx, ParamRole::Scale), p.getSymNameAttr(),
        scaleShard(p.getShardAttr(),
                   cast<RankedTensorType>(blocks->codes.getType()), *block));
    scale->moveAfter(p);
    scaleParams.push_back({scale, firstSource(blocks->scales, order)});
    kept[p.getName()] = {blocks->codes.getType(), blocks->scales.getType()};

    if (!m.activationScale || kind != ParamKind::Linear)
      continue;
    // BlockScaleQuantizeLinearStaticActivation: [ceil(K / block[1])] f32.
    StringRef base = p.getName();
    base.consume_back(".weight");
    std::string name = (base + ".activation_scale").str();
    auto codes = cast<RankedTensorType>(blocks->codes.getType());
    auto type = RankedTensorType::get(
        {int64_t(llvm::divideCeil(codes.getDimSize(codes.getRank() - 1),
                                  (*block)[1]))},
        f32);
    Value v;
    if (fromProjections) {
      FailureOr<Value> fused = projectionActivationScales(
          b, p, blocks->codes, sources, name, type, m.name);
      if (failed(fused))
        return failure();
      v = *fused;
    } else {
      SourceOp src = sources.lookup(name);
      if (!src)
        return p.emitError("parameter '")
               << name << "' needs source tensor '" << name
               << "', which is not in the checkpoint (mode '" << m.name
               << "': mlc_llm's " << model.getArch()
               << " loader reads the static activation scales under their "
                  "MLC names)";
      auto st = cast<RankedTensorType>(src.getType());
      if (st.getShape() != type.getShape() ||
          !isa<FloatType>(st.getElementType()))
        return src.emitError("source tensor '")
               << name << "' is " << shapeStr(st.getShape()) << " "
               << st.getElementType() << "; the static activation scale of '"
               << p.getName() << "' is " << shapeStr(type.getShape());
      v = getCheckpointTensor(src);
      if (st.getElementType() != f32)
        v = CastOp::create(b, src.getLoc(), type, v);
    }
    auto act = ParamOp::create(b, NameLoc::get(b.getStringAttr(name), p.getLoc()),
                               b.getStringAttr(name), v,
                               ParamKindAttr::get(ctx, ParamKind::Other));
    act->moveAfter(scale);
    scaleParams.push_back({act, firstSource(v, order)});
    activations[p.getName()] = type;
  }

  // mlc_llm's loader emits each of these parameters where it first meets
  // its own source tensors: before the first parameter met later.
  SmallVector<std::pair<ParamOp, int64_t>> keyed;
  for (ParamOp p : model.getParams())
    keyed.push_back({p, firstSource(p.getValue(), order)});
  for (auto [moved, key] : scaleParams) {
    if (key < 0)
      continue;
    for (auto [p, k] : keyed)
      if (p != moved && k > key) {
        moved->moveBefore(p);
        break;
      }
  }

  // The model's own expectations, as the parameters became.
  SmallVector<ExpectOp> expects(model.getBody().front().getOps<ExpectOp>());
  for (ExpectOp e : expects) {
    OpBuilder b(e);
    auto type = cast<RankedTensorType>(e.getType());
    auto it = kept.find(e.getName());
    if (it == kept.end()) {
      e.setType(type.clone(bf16));
      continue;
    }
    e.setType(cast<RankedTensorType>(it->second.first));
    OpBuilder after(e->getBlock(), std::next(e->getIterator()));
    auto expect = [&](StringRef name, Type t) {
      ExpectOp::create(after, e.getLoc(), after.getStringAttr(name),
                       TypeAttr::get(t), e.getKindAttr(), e.getNameAttr());
    };
    if (Type act = activations.lookup(e.getName())) {
      StringRef base = e.getName();
      base.consume_back(".weight");
      expect((base + ".activation_scale").str(), act);
    }
    expect((e.getName() + "_scale_inv").str(), it->second.second);
  }
  model.setQuantizationAttr(StringAttr::get(ctx, m.name));
  return success();
}
