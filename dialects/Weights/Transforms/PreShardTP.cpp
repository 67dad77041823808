//===- PreShardTP.cpp - Tensor-parallel presharding -----------*- C++ -*-===//
//
// MLC_INTERNAL_PRESHARD_NUM / --tensor-parallel-shards: every parameter with
// a shard strategy becomes `<name>_shard-<i>` records, each a weights.shard
// of the full, already quantized tensor (docs/design.md, "Presharding").
// Everything it needs is on the IR: each record's `shard` strategy and
// `role`, the model's `shard_divisors` and `quantization`.
//
//===----------------------------------------------------------------------===//

#include "dialects/Weights/Transforms/Passes.h"
#include "dialects/Weights/Transforms/Utils.h"
#include "qopt/Numerics/Mnn.h"

#include "mlir/IR/Builders.h"
#include "mlir/IR/BuiltinOps.h"
#include "llvm/ADT/StringMap.h"

namespace mlir::qopt::weights {
#define GEN_PASS_DEF_PRESHARDTP
#include "dialects/Weights/Transforms/Passes.h.inc"
} // namespace mlir::qopt::weights

using namespace mlir;
using namespace mlir::qopt::weights;
namespace models = ::qopt::models;

namespace {
struct PreShardTPPass : public ::mlir::qopt::weights::impl::PreShardTPBase<PreShardTPPass> {
  using Base::Base;

  void runOnOperation() override {
    if (numShards < 1) {
      getOperation()->emitError("num-shards must be positive, got ")
          << numShards.getValue();
      return signalPassFailure();
    }
    if (numShards == 1)
      return;
    for (ModelOp model : getModels(getOperation()))
      if (failed(shardModel(model)))
        return signalPassFailure();
  }

  LogicalResult shardModel(ModelOp model) {
    int64_t t = numShards;
    // As the definition built for t shards would fail: a model MLC cannot
    // pre-shard, then each quantity a shard must hold whole (heads, the
    // intermediate size), in the definition's order. The messages name the
    // config file, from the model's location.
    if (std::optional<StringRef> why = model.getPreshardRefusal()) {
      std::string config = locationFile(model.getLoc());
      return model.emitError(config.empty() ? "config.json" : config)
             << ": tensor-parallel-shards " << t << ": " << *why;
    }
    if (ArrayAttr divisors = model.getShardDivisorsAttr())
      for (auto d : divisors.getAsRange<ShardDivisorAttr>())
        if (d.getValue() % t != 0)
          return model.emitError("tensor-parallel-shards: ")
                 << d.getField() << ": " << d.getValue()
                 << " is not divisible by " << t;
    const models::QuantizationMode *mode =
        model.getQuantization()
            ? models::findQuantizationMode(*model.getQuantization())
            : nullptr;
    if (mode && mode->kn)
      return model.emitError("mode '")
             << mode->name
             << "' (kn layout) cannot be pre-sharded: MLC would shard the "
                "transposed axis; use the nk variant";
    // AutoAWQ's tensors are kept as stored ([K, N/8] packed on the output
    // axis); MLC documents no shard rule for them, and
    // leaving them whole next to `_shard-i` records would be an
    // inconsistent cache.
    if (mode && mode->kind == models::QuantizationMode::Kind::AWQ)
      return model.emitError("mode '")
             << mode->name
             << "' cannot be pre-sharded: AutoAWQ's qweight/qzeros/scales "
                "have no documented shard rule; convert with another mode "
                "(which dequantizes and re-quantizes) or without "
                "--tensor-parallel-shards";
    // The block-scale modes: the float8 codes shard as the weight, their
    // `_scale_inv` by blocks (`block` in its strategy). With static
    // activation MLC also gives each linear's `activation_scale` (one entry
    // per block of input features) its weight's ShardSingleDim, which
    // cannot split it: o_proj / down_proj split dimension 1 of a 1-D
    // tensor, and c_attn / gate_up's output segments do not describe input
    // blocks; its presharding always fails.
    if (mode && mode->kind == models::QuantizationMode::Kind::BlockScale &&
        mode->activationScale)
      return model.emitError("mode '")
             << mode->name
             << "' cannot be pre-sharded: MLC shards each linear's "
                "activation_scale (one per block of input features) with "
                "the weight's strategy, which cannot split it (o_proj and "
                "down_proj shard dimension 1 of a 1-D tensor); convert with "
                "fp8_e4m3fn_bf16_block_scale or without "
                "--tensor-parallel-shards";
    if (mode && mode->kind == models::QuantizationMode::Kind::FTQuant)
      return model.emitError("mode '")
             << mode->name
             << "' cannot be pre-sharded: MLC rejects q4f16_ft with tensor "
                "parallelism";
    bool fp8 = mode && mode->kind == models::QuantizationMode::Kind::PerTensorQuant;

    SmallVector<ParamOp> params(model.getParams());
    for (ParamOp p : params) {
      StringRef name = p.getName();
      // Every record made of a weight (QuantSchemeAttrInterface) carries
      // its strategy; MNN's asymmetric q_zero [.., blocks] is split exactly
      // like q_scale.
      ShardStrategyAttr strategy = p.getShardAttr();
      if (!strategy)
        continue;
      ParamRole role = p.getEffectiveRole();
      bool quantized = role != ParamRole::Weight;
      // FP8 scales are per tensor: replicated.
      if (fp8 && quantized && role != ParamRole::QuantizedWeight)
        continue;
      auto type = cast<RankedTensorType>(p.getValue().getType());
      int64_t dim = strategy.getDim();
      if (dim >= type.getRank())
        return p.emitError("parameter '") << name << "' has no dimension " << dim
                                          << " to shard";
      // The strategy holds the full segment lengths; a shard takes 1/t of
      // each.
      SmallVector<int64_t> segs;
      int64_t size = type.getDimSize(dim);
      int64_t block = strategy.getBlock();
      if (block > 1) {
        if (failed(blockSegments(p, strategy, t, segs)))
          return failure();
        if (failed(createShards(p, strategy, segs, segs.size() > 1, t)))
          return failure();
        continue;
      }
      for (int64_t full : strategy.getSegments()) {
        if (full % t != 0) {
          InFlightDiagnostic d = p.emitError("cannot pre-shard parameter '")
                                 << name << "': segments [";
          llvm::interleaveComma(strategy.getSegments(), d);
          return d << "] of dimension " << dim << " are not divisible by "
                   << t;
        }
        segs.push_back(full / t);
      }
      bool packedAxis = quantized && dim == type.getRank() - 1;
      if (packedAxis) {
        // The quantized K axis: shard s takes words/scales of its K range,
        // which equals quantizing each shard only when every shard holds
        // whole groups.
        int64_t k = strategy.getSegments().empty() ? inputFeatures(p) : -1;
        if (auto mnn = getMnnScheme(p)) {
          ::qopt::numerics::MnnQuantSpec spec;
          spec.bits = int(mnn.getBits());
          spec.asymmetric = mnn.isAsymmetric();
          spec.block = mnn.getBlock();
          int64_t blocks =
              k > 0 ? ::qopt::numerics::mnnBlocksPerRow(spec, k) : 0;
          if (blocks < 2 || blocks % t != 0)
            return p.emitError("cannot pre-shard parameter '")
                   << name << "' into " << t << " shards: MNN quantization "
                   << "with " << blocks << " block" << (blocks == 1 ? "" : "s")
                   << " per row of " << k
                   << " input features cannot give each shard whole blocks; "
                      "use a --weight-quant-block that divides "
                   << (k > 0 ? k / t : k);
        }
        if (auto g = getGroupSize(p)) {
          if (k < 0 || k % t != 0 || (k / t) % *g != 0)
            return p.emitError("cannot pre-shard parameter '")
                   << name << "' into " << t << " shards: " << k / t
                   << " input features per shard is not a multiple of the group size "
                   << *g;
        }
        segs.clear();
      }
      if (segs.empty()) {
        if (size % t != 0)
          return p.emitError("cannot pre-shard parameter '")
                 << name << "': dimension " << dim << " of size " << size
                 << " is not divisible by " << t;
        segs.push_back(size / t);
      }
      if (failed(createShards(p, strategy, segs,
                              !strategy.getSegments().empty() && !packedAxis,
                              t)))
        return failure();
    }
    return success();
  }

  /// The per-shard segments of block scales, in scales: each segment of the
  /// weight splits in t, and each part must be whole blocks (what mlc_llm's
  /// `segs // block_size` and ShardSingleDim's `sum(segs) == shape` assert;
  /// with one segment MLC would hand a shard the scales of other columns).
  static LogicalResult blockSegments(ParamOp p, ShardStrategyAttr strategy,
                                     int64_t t, SmallVector<int64_t> &segs) {
    int64_t dim = strategy.getDim(), block = strategy.getBlock();
    SmallVector<int64_t> perShard;
    for (int64_t full : strategy.getSegments()) {
      if (full % t != 0) {
        InFlightDiagnostic d = p.emitError("cannot pre-shard parameter '")
                               << p.getName() << "': its weight's segments [";
        llvm::interleaveComma(strategy.getSegments(), d);
        return d << "] of dimension " << dim << " are not divisible by " << t;
      }
      perShard.push_back(full / t);
    }
    if (llvm::any_of(perShard, [&](int64_t s) { return s % block != 0; })) {
      InFlightDiagnostic d = p.emitError("cannot pre-shard parameter '")
                             << p.getName() << "' into " << t << " shards: ";
      if (perShard.size() == 1)
        d << "a shard's " << perShard.front() << " of its weight's "
          << strategy.getSegments().front() << " along dimension " << dim
          << " are";
      else {
        d << "its weight's segments per shard [";
        llvm::interleaveComma(perShard, d);
        d << "] of dimension " << dim << " are";
      }
      return d << " not whole blocks of " << block
               << ", so its block scales cannot be split with them";
    }
    for (int64_t s : perShard)
      segs.push_back(s / block);
    return success();
  }

  /// Replaces `p` by `t` records `<name>_shard-<i>` taking `segs` (per
  /// shard) of each segment of dimension `dim`; the ShardOps carry the
  /// segments when `withSegments`.
  static LogicalResult createShards(ParamOp p, ShardStrategyAttr strategy,
                                    ArrayRef<int64_t> segs, bool withSegments,
                                    int64_t t) {
    StringRef name = p.getName();
    auto type = cast<RankedTensorType>(p.getValue().getType());
    int64_t dim = strategy.getDim(), size = type.getDimSize(dim);
    int64_t perShard = 0;
    for (int64_t s : segs)
      perShard += s;
    if (perShard * t != size) {
      InFlightDiagnostic d = p.emitError("cannot pre-shard parameter '")
                             << name << "': segments [";
      llvm::interleaveComma(segs, d);
      return d << "] x " << t << " shards do not cover dimension " << dim
               << " of size " << size;
    }
    SmallVector<int64_t> shape(type.getShape());
    shape[dim] = perShard;
    OpBuilder b(p);
    for (int64_t i = 0; i < t; ++i) {
      auto shard = ShardOp::create(
          b, p.getLoc(), type.clone(shape), p.getValue(),
          b.getI64IntegerAttr(dim),
          withSegments ? b.getDenseI64ArrayAttr(segs) : DenseI64ArrayAttr(),
          b.getI64IntegerAttr(i), b.getI64IntegerAttr(t));
      std::string shardName = (name + "_shard-" + Twine(i)).str();
      ParamOp::create(b, NameLoc::get(b.getStringAttr(shardName), p.getLoc()),
                      b.getStringAttr(shardName), shard.getResult(),
                      p.getKindAttr(), p.getRoleAttr(),
                      p.getQuantizedFromAttr(), ShardStrategyAttr());
    }
    p.erase();
    return success();
  }

  /// The input features (last axis) of the weight a quantize op made the
  /// record from; -1 when no quantize op defines it.
  static int64_t inputFeatures(ParamOp p) {
    auto q = p.getValue().getDefiningOp<QuantizeOp>();
    if (!q)
      return -1;
    auto in = cast<RankedTensorType>(q.getInput().getType());
    return in.getRank() ? in.getShape().back() : -1;
  }

  /// The MNN scheme of the quantize op defining a parameter, if any.
  static MnnQuantAttr getMnnScheme(ParamOp p) {
    auto q = p.getValue().getDefiningOp<QuantizeOp>();
    return q ? dyn_cast<MnnQuantAttr>(q.getScheme()) : MnnQuantAttr();
  }

  /// The group size of the quantize op defining a parameter, if any.
  static std::optional<int64_t> getGroupSize(ParamOp p) {
    auto q = p.getValue().getDefiningOp<QuantizeOp>();
    if (!q)
      return std::nullopt;
    if (auto g = dyn_cast<GroupQuantAttr>(q.getScheme()))
      return g.getGroupSize();
    return std::nullopt;
  }
};
} // namespace
