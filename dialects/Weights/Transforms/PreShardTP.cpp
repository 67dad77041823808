//===- PreShardTP.cpp - Tensor-parallel presharding -----------*- C++ -*-===//
//
// MLC_INTERNAL_PRESHARD_NUM / --tensor-parallel-shards: every parameter with
// a shard strategy becomes `<name>_shard-<i>` records, each a weights.shard
// of the full, already quantized tensor (mlc-llm's ShardSingleDim).
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
      getOperation().emitError("num-shards must be positive, got ")
          << numShards.getValue();
      return signalPassFailure();
    }
    if (numShards == 1)
      return;
    for (ModelOp model : getOperation().getOps<ModelOp>())
      if (failed(shardModel(model)))
        return signalPassFailure();
  }

  LogicalResult shardModel(ModelOp model) {
    int64_t t = numShards;
    const models::Architecture *arch = models::findArchitecture(model.getArch());
    if (!arch)
      return model.emitError("unsupported model type '") << model.getArch() << "'";
    auto def = arch->build(getModelConfig(model), t);
    if (!def)
      return model.emitError(llvm::toString(def.takeError()));
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
    // axis); no shard rule for them is documented (mlc-llm declares none), and
    // leaving them whole next to `_shard-i` records would be an
    // inconsistent cache.
    if (mode && mode->kind == models::QuantizationMode::Kind::AWQ)
      return model.emitError("mode '")
             << mode->name
             << "' cannot be pre-sharded: AutoAWQ's qweight/qzeros/scales "
                "have no documented shard rule; convert with another mode "
                "(which dequantizes and re-quantizes) or without "
                "--tensor-parallel-shards";
    bool fp8 = mode && mode->kind == models::QuantizationMode::Kind::PerTensorQuant;

    llvm::StringMap<const models::ParamDef *> byName;
    for (const models::ParamDef &p : def->params)
      byName[p.name] = &p;

    SmallVector<ParamOp> params(model.getParams());
    for (ParamOp p : params) {
      StringRef name = p.getName();
      StringRef base = name, suffix;
      // Every output of a quantize op (QuantSchemeAttrInterface::inferOutputs)
      // inherits the weight's strategy; MNN's asymmetric q_zero [.., blocks]
      // is split exactly like q_scale.
      for (StringRef s :
           {"q_weight", "q_scale", "q_zero", "q_calibration_scale"})
        if (name.ends_with(("." + s).str())) {
          base = name.drop_back(s.size() + 1);
          suffix = s;
        }
      std::string weightName = suffix.empty() ? name.str() : (base + ".weight").str();
      const models::ParamDef *pd = byName.lookup(weightName);
      if (!pd || !pd->shard)
        continue;
      // FP8 scales are per tensor: replicated.
      if (fp8 && suffix != "q_weight" && !suffix.empty())
        continue;
      auto type = cast<RankedTensorType>(p.getValue().getType());
      int64_t dim = pd->shard->dim;
      if (dim >= type.getRank())
        return p.emitError("parameter '") << name << "' has no dimension " << dim
                                          << " to shard";
      SmallVector<int64_t> segs(pd->shard->segments.begin(),
                                pd->shard->segments.end());
      int64_t size = type.getDimSize(dim);
      bool packedAxis = !suffix.empty() && dim == type.getRank() - 1;
      if (packedAxis) {
        // The quantized K axis: shard s takes words/scales of its K range,
        // which equals quantizing each shard only when every shard holds
        // whole groups.
        int64_t k = pd->shard->segments.empty() ? pd->shape[dim] : -1;
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
            pd->shard->segments.empty() || packedAxis
                ? DenseI64ArrayAttr()
                : b.getDenseI64ArrayAttr(segs),
            b.getI64IntegerAttr(i), b.getI64IntegerAttr(t));
        std::string shardName = (name + "_shard-" + Twine(i)).str();
        ParamOp::create(b, NameLoc::get(b.getStringAttr(shardName), p.getLoc()),
                        b.getStringAttr(shardName), shard.getResult(),
                        p.getKindAttr());
      }
      p.erase();
    }
    return success();
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
