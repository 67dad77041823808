//===- MapParameters.cpp - HF tensors to MLC parameters --------*- C++ -*-===//
//
// Builds each MLC parameter from its source tensors (models/<Arch>.cpp says
// how) and emits the parameters in the order mlc_llm's HuggingFaceLoader
// yields them: files in order of first appearance, tensors in file order,
// each parameter at its first source tensor.
//
//===----------------------------------------------------------------------===//

#include "dialects/Weights/Transforms/Passes.h"
#include "dialects/Weights/Transforms/Utils.h"

#include "mlir/IR/Builders.h"
#include "mlir/IR/BuiltinOps.h"
#include "llvm/ADT/DenseSet.h"
#include "llvm/ADT/MapVector.h"
#include "llvm/ADT/SetVector.h"
#include "llvm/ADT/StringMap.h"
#include "llvm/ADT/StringSet.h"
#include "llvm/Support/StringSaver.h"

#include <array>
#include <cstring>

#include <set>

namespace mlir::qopt::weights {
#define GEN_PASS_DEF_MAPPARAMETERS
#include "dialects/Weights/Transforms/Passes.h.inc"
} // namespace mlir::qopt::weights

using namespace mlir;
using namespace mlir::qopt::weights;
namespace models = ::qopt::models;

static std::string shapeStr(ArrayRef<int64_t> shape) {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); ++i)
    s += (i ? ", " : "") + std::to_string(shape[i]);
  return s + "]";
}

namespace {
/// Source ops by tensor name; the keys view the ops' key attributes (held
/// by the context), so a checkpoint's tens of thousands of names are not
/// copied again.
using SourceMap = llvm::DenseMap<StringRef, SourceOp>;

/// Materializes MapExprs as IR next to the source ops.
class ExprBuilder {
public:
  ExprBuilder(OpBuilder &b, const SourceMap &sources,
              const llvm::StringSet<> &awqWeights, int64_t awqGroup,
              const llvm::StringSet<> &fp8Weights,
              std::array<int64_t, 2> fp8Block)
      : b(b), sources(sources), awqWeights(awqWeights), awqGroup(awqGroup),
        fp8Weights(fp8Weights), fp8Block(fp8Block) {}

  /// Returns null after emitting a diagnostic.
  Value build(const models::MapExpr &e, StringRef paramName) {
    using Op = models::MapExpr::Op;
    if (e.op == Op::Source) {
      if (awqWeights.contains(e.source))
        return buildAwq(e.source, paramName);
      if (fp8Weights.contains(e.source))
        return buildBlockFp8(e.source, paramName);
      return getCheckpointTensor(sources.lookup(e.source));
    }
    if (e.op == Op::View)
      return buildView(e, paramName);
    SmallVector<Value> ins;
    auto add = [&](const models::MapExpr &o) {
      Value v = build(o, paramName);
      if (v)
        ins.push_back(v);
      return bool(v);
    };
    if (e.op == Op::StackEach) {
      // Instantiated one at a time: one expert's names live at once.
      for (int64_t i = 0; i < e.count; ++i)
        if (!add(e.instance(i)))
          return {};
    } else {
      for (const models::MapExpr &o : e.operands)
        if (!add(o))
          return {};
    }
    Location loc = fusedLoc(ins);
    auto first = cast<RankedTensorType>(ins.front().getType());
    switch (e.op) {
    case Op::Concat: {
      SmallVector<int64_t> shape(first.getShape());
      if (e.axis >= first.getRank())
        return error(loc, paramName, ins, "has no axis " + std::to_string(e.axis));
      shape[e.axis] = 0;
      for (Value v : ins) {
        auto t = cast<RankedTensorType>(v.getType());
        bool ok = t.getRank() == first.getRank() &&
                  t.getElementType() == first.getElementType();
        for (int64_t d = 0; ok && d < t.getRank(); ++d)
          ok = d == e.axis || t.getDimSize(d) == first.getDimSize(d);
        if (!ok)
          return error(loc, paramName, ins, "cannot be concatenated on axis " +
                                                std::to_string(e.axis));
        shape[e.axis] += t.getDimSize(e.axis);
      }
      return ConcatOp::create(b, loc, first.clone(shape), ins,
                              b.getI64IntegerAttr(e.axis))
          .getResult();
    }
    case Op::Stack:
    case Op::StackEach: {
      for (Value v : ins)
        if (v.getType() != first)
          return error(loc, paramName, ins, "cannot be stacked");
      SmallVector<int64_t> shape{int64_t(ins.size())};
      llvm::append_range(shape, first.getShape());
      return StackOp::create(b, loc, first.clone(shape), ins).getResult();
    }
    case Op::Transpose: {
      if (first.getRank() != 2)
        return error(loc, paramName, ins, "is not 2-D and cannot be transposed");
      return TransposeOp::create(
                 b, loc, first.clone({first.getDimSize(1), first.getDimSize(0)}),
                 ins.front())
          .getResult();
    }
    case Op::AddConstant:
      return AddConstantOp::create(b, loc, first, ins.front(),
                                   b.getF64FloatAttr(e.constant))
          .getResult();
    case Op::ToF32:
      return CastOp::create(b, loc, first.clone(b.getF32Type()), ins.front())
          .getResult();
    case Op::DividePow2:
      return DividePow2Op::create(b, loc, first, ins.front(),
                                  b.getI64IntegerAttr(e.exponent))
          .getResult();
    case Op::Exp: {
      if (!first.getElementType().isF32())
        return error(loc, paramName, ins, "is not float32 (numpy's exp)");
      return ExpOp::create(b, loc, first, ins.front(),
                           e.negate ? b.getUnitAttr() : UnitAttr())
          .getResult();
    }
    case Op::Source:
    case Op::View:
      break;
    }
    return {};
  }

private:
  /// A strided view of a contiguous plain source: another source op on the
  /// same bytes, with its own offset, shape and element strides.
  Value buildView(const models::MapExpr &e, StringRef paramName) {
    SourceOp base = sources.lookup(e.operands.front().source);
    if (fp8Weights.contains(e.operands.front().source))
      return buildBlockFp8View(e, paramName);
    // Strided, or stored in a form that ops decode (GGUF): not plain.
    if (base.getStrides() || getCheckpointTensor(base) != base.getResult())
      return error(base.getLoc(), paramName, {base.getResult()},
                   "is not a contiguous plain tensor and cannot be viewed");
    if (Value v = viewOf(base, e.viewOffset, e.viewShape, e.viewStrides))
      return v;
    return error(base.getLoc(), paramName, {base.getResult()},
                 "is too small for the view " + shapeStr(e.viewShape));
  }

  /// A strided view (weights.source) of the contiguous plain `base`, or
  /// null when the view does not fit in it.
  Value viewOf(SourceOp base, int64_t offset, ArrayRef<int64_t> shape,
               ArrayRef<int64_t> strides) {
    auto type = cast<RankedTensorType>(base.getType());
    int64_t last = offset;
    for (auto [n, stride] : llvm::zip(shape, strides))
      last += (n - 1) * stride;
    if (offset < 0 || last >= type.getNumElements())
      return {};
    int64_t bytes = type.getElementTypeBitWidth() / 8;
    return SourceOp::create(b, base.getLoc(), type.clone(shape),
                            base.getFileAttr(), base.getKeyAttr(),
                            base.getOffset() + offset * bytes,
                            b.getDenseI64ArrayAttr(strides))
        .getResult();
  }

  /// W = dequantize_block_fp8(W codes, W_scale_inv), rounded to bfloat16 as
  /// DeepSeek's fp8_cast_bf16 writes it (docs/source-formats.md).
  Value buildBlockFp8(StringRef weight, StringRef paramName) {
    Value codes = getCheckpointTensor(sources.lookup(weight));
    SourceOp scaleSrc = sources.lookup((weight + "_scale_inv").str());
    Value scales = getCheckpointTensor(scaleSrc);
    // A per-tensor scale ([] or [1]) broadcast to every block (a stride-0
    // view), as ministral3's loader's _weight_scale_transform does.
    auto ct = cast<RankedTensorType>(codes.getType());
    auto st = cast<RankedTensorType>(scaleSrc.getType());
    if (broadcastScalarScales && ct.getRank() == 2 &&
        st.getNumElements() == 1 && st.getRank() <= 1 &&
        !scaleSrc.getStrides() && scales == scaleSrc.getResult())
      scales = viewOf(scaleSrc, 0,
                      {llvm::divideCeil(ct.getDimSize(0), fp8Block[0]),
                       llvm::divideCeil(ct.getDimSize(1), fp8Block[1])},
                      {0, 0});
    return dequantizeBlockFp8(codes, scales, fp8Block, paramName);
  }

public:
  /// Whether per-tensor `_scale_inv`s broadcast to blocks
  /// (Architecture::fp8PerTensorBlock).
  bool broadcastScalarScales = false;

private:

  Value dequantizeBlockFp8(Value codes, Value scales,
                           ArrayRef<int64_t> block, StringRef paramName) {
    auto type = cast<RankedTensorType>(codes.getType());
    Location loc = fusedLoc({codes, scales});
    auto op = DequantizeBlockFp8Op::create(
        b, loc, type.clone(b.getBF16Type()), codes, scales,
        b.getDenseI64ArrayAttr(block));
    if (failed(op.verify())) {
      op.erase();
      return error(loc, paramName, {codes, scales},
                   "are not a float8 weight and its block scales");
    }
    return op.getResult();
  }

  /// A strided view (DeepSeek's kv_b_proj split) of a block-quantized
  /// weight: the same view of the codes, and of the scales the matching
  /// view of blocks (getBlockScaleView).
  Value buildBlockFp8View(const models::MapExpr &e, StringRef paramName) {
    StringRef name = e.operands.front().source;
    SourceOp base = sources.lookup(name);
    SourceOp scaleBase = sources.lookup((name + "_scale_inv").str());
    auto type = cast<RankedTensorType>(base.getType());
    auto scaleType = cast<RankedTensorType>(scaleBase.getType());
    auto fail = [&](const std::string &why) {
      return error(base.getLoc(), paramName, {base.getResult()},
                   "cannot be viewed as " + shapeStr(e.viewShape) + ": " + why);
    };
    if (type.getRank() != 2 || scaleType.getRank() != 2 || base.getStrides() ||
        scaleBase.getStrides())
      return fail("not a 2-D float8 weight with 2-D block scales");
    std::string why;
    std::optional<BlockScaleView> view = getBlockScaleView(
        type.getDimSize(1), scaleType.getDimSize(1), fp8Block, e.viewOffset,
        e.viewShape, e.viewStrides, why);
    if (!view)
      return fail(why);
    Value codes = viewOf(base, e.viewOffset, e.viewShape, e.viewStrides);
    Value scales = viewOf(scaleBase, view->offset, view->shape, view->strides);
    if (!codes || !scales)
      return error(base.getLoc(), paramName, {base.getResult()},
                   "is too small for the view " + shapeStr(e.viewShape));
    return dequantizeBlockFp8(codes, scales, view->block, paramName);
  }

  Location fusedLoc(ArrayRef<Value> ins) {
    SmallVector<Location> locs;
    for (Value v : ins)
      locs.push_back(v.getLoc());
    return b.getFusedLoc(locs);
  }

  Value error(Location loc, StringRef param, ArrayRef<Value> ins,
              const std::string &what) {
    InFlightDiagnostic d = emitError(loc);
    d << "source tensors of parameter '" << param << "' (";
    for (size_t i = 0; i < ins.size(); ++i) {
      auto t = cast<RankedTensorType>(ins[i].getType());
      d << (i ? ", " : "") << shapeStr(t.getShape()) << " " << t.getElementType();
    }
    d << ") " << what;
    return {};
  }

  /// W = dequantize_awq(X.qweight, X.qzeros, X.scales).
  Value buildAwq(StringRef weight, StringRef paramName) {
    StringRef base = weight.drop_back(strlen(".weight"));
    SmallVector<Value> ins;
    for (StringRef suffix : {".qweight", ".qzeros", ".scales"})
      ins.push_back(getCheckpointTensor(sources.lookup((base + suffix).str())));
    auto qw = cast<RankedTensorType>(ins[0].getType());
    int64_t k = qw.getRank() == 2 ? qw.getDimSize(0) : 0;
    int64_t group = awqGroup > 0 ? awqGroup : k;
    Location loc = fusedLoc(ins);
    if (qw.getRank() != 2 || group <= 0 || k % group != 0)
      return error(loc, paramName, ins,
                   "are not an AutoAWQ GEMM linear with group size " +
                       std::to_string(group));
    // AutoAWQ GEMM (docs/source-formats.md, AutoAWQ): qzeros [K/G, N/8] int32,
    // scales [K/G, N] f16 for qweight [K, N/8] int32.
    auto qz = cast<RankedTensorType>(ins[1].getType());
    auto sc = cast<RankedTensorType>(ins[2].getType());
    int64_t n8 = qw.getDimSize(1);
    auto isI32 = [](RankedTensorType t) {
      auto i = dyn_cast<IntegerType>(t.getElementType());
      return i && i.getWidth() == 32;
    };
    if (!isI32(qw) || !isI32(qz) || !sc.getElementType().isF16() ||
        qz.getRank() != 2 || sc.getRank() != 2 ||
        qz.getShape() != ArrayRef<int64_t>{k / group, n8} ||
        sc.getShape() != ArrayRef<int64_t>{k / group, n8 * 8})
      return error(loc, paramName, ins,
                   "are not an AutoAWQ GEMM linear with group size " +
                       std::to_string(group) + ": qweight [" +
                       std::to_string(k) + ", " + std::to_string(n8) +
                       "] int32 needs qzeros [" + std::to_string(k / group) +
                       ", " + std::to_string(n8) + "] int32 and scales [" +
                       std::to_string(k / group) + ", " +
                       std::to_string(n8 * 8) + "] f16");
    auto type = RankedTensorType::get({qw.getDimSize(1) * 8, k},
                                      b.getF16Type());
    auto op = DequantizeAwqOp::create(b, loc, type, ins[0], ins[1], ins[2],
                                      b.getI64IntegerAttr(group));
    if (failed(op.verify())) {
      op.erase();
      return {};
    }
    return op.getResult();
  }

  OpBuilder &b;
  const SourceMap &sources;
  const llvm::StringSet<> &awqWeights;
  int64_t awqGroup;
  const llvm::StringSet<> &fp8Weights;
  std::array<int64_t, 2> fp8Block;
};

/// `quantization_config.group_size` of an AutoAWQ config (-1: whole rows).
static int64_t awqGroupSize(ModelOp model) {
  auto q = model.getConfig().getAs<DictionaryAttr>("quantization_config");
  if (!q)
    return 128;
  auto g = q.getAs<IntegerAttr>("group_size");
  return g ? g.getInt() : 128;
}

struct MapParametersPass : public ::mlir::qopt::weights::impl::MapParametersBase<MapParametersPass> {
  using Base::Base;

  void runOnOperation() override {
    for (ModelOp model : getModels(getOperation()))
      if (failed(mapModel(model)))
        return signalPassFailure();
  }

  LogicalResult mapModel(ModelOp model) {
    if (auto q = model.getConfig().getAs<DictionaryAttr>("quantization_config")) {
      auto method = q.getAs<StringAttr>("quant_method");
      auto version = q.getAs<StringAttr>("version");
      if (method && method.getValue() == "awq" && version &&
          version.getValue().lower() != "gemm")
        return model.emitError("AutoAWQ '")
               << version.getValue()
               << "' checkpoints are not supported; only the GEMM layout is "
                  "(re-save with version=\"gemm\")";
      auto bits = q.getAs<IntegerAttr>("bits");
      if (method && method.getValue() == "awq" && bits && bits.getInt() != 4)
        return model.emitError("AutoAWQ checkpoints with ")
               << bits.getInt() << " bits are not supported; only 4";
    }
    const models::Architecture *arch = models::findArchitecture(model.getArch());
    if (!arch)
      return model.emitError("unsupported model type '")
             << model.getArch() << "'; supported: "
             << models::supportedArchitectureList();
    llvm::Expected<models::ModelDef> def = arch->build(getModelConfig(model), 1);
    if (!def)
      return model.emitError(llvm::toString(def.takeError()));

    // Source tensors by name, in checkpoint order.
    Block &body = model.getBody().front();
    Builder b(&getContext());
    SourceMap sources;
    SmallVector<SourceOp> sourceOrder;
    for (SourceOp s : body.getOps<SourceOp>()) {
      auto [it, inserted] = sources.try_emplace(s.getKey(), s);
      if (!inserted) {
        InFlightDiagnostic d = s.emitError("source tensor '")
                               << s.getKey() << "' appears twice";
        d.attachNote(it->second.getLoc()) << "first appearance";
        return failure();
      }
      sourceOrder.push_back(s);
    }

    // Checkpoints may store the source names under a prefix (GPT-2).
    def->resolveSourceNames([&](StringRef n) { return sources.count(n) != 0; });

    // Every parameter's sources must exist; report all that do not (or,
    // with defer-missing, record them for qopt-verify-parameters).
    // Names of each parameter's source tensors: the source ops' keys, or
    // (a tensor the checkpoint lacks) saved here.
    llvm::BumpPtrAllocator missingNames;
    llvm::StringSaver saveMissing(missingNames);
    auto keep = [&](StringRef n) -> StringRef {
      auto it = sources.find(n);
      return it != sources.end() ? it->first : saveMissing.save(n);
    };
    std::vector<SmallVector<StringRef, 2>> paramSources(def->params.size());
    bool missing = false;
    llvm::DenseSet<size_t> skipped;
    // Parameters not built (defer-missing): name and missing tensors.
    SmallVector<std::pair<StringRef, SmallVector<Attribute>>> missingParams;
    // AutoAWQ checkpoints hold `X.qweight`, `X.qzeros` and `X.scales`
    // instead of `X.weight`.
    llvm::StringSet<> awqWeights;
    // FP8 block-quantized checkpoints hold `X.weight` as float8 codes and
    // `X.weight_scale_inv`.
    FailureOr<std::optional<std::array<int64_t, 2>>> fp8Block =
        getFp8BlockSize(model);
    if (failed(fp8Block))
      return failure();
    llvm::StringSet<> fp8Weights;
    auto isFp8Weight = [&](StringRef s) {
      SourceOp w = sources.lookup(s);
      return *fp8Block && w &&
             isa<Float8E4M3FNType>(
                 cast<RankedTensorType>(w.getType()).getElementType()) &&
             sources.count((s + "_scale_inv").str());
    };
    auto awqParts = [](StringRef weight) {
      StringRef base = weight.drop_back(strlen(".weight"));
      return std::array<std::string, 3>{(base + ".qweight").str(),
                                        (base + ".qzeros").str(),
                                        (base + ".scales").str()};
    };
    for (auto [i, p] : llvm::enumerate(def->params)) {
      std::vector<std::string> names;
      p.map.collectSources(names);
      for (const std::string &s : names) {
        if (!sources.count(s) && StringRef(s).ends_with(".weight") &&
            llvm::all_of(awqParts(s), [&](const std::string &part) {
              return sources.count(part) != 0;
            })) {
          awqWeights.insert(s);
          for (const std::string &part : awqParts(s))
            paramSources[i].push_back(keep(part));
          continue;
        }
        paramSources[i].push_back(keep(s));
        if (isFp8Weight(s)) {
          fp8Weights.insert(s);
          paramSources[i].push_back(keep(s + "_scale_inv"));
        } else if (SourceOp w = sources.lookup(s);
                   *fp8Block && w &&
                   isa<Float8E4M3FNType>(
                       cast<RankedTensorType>(w.getType()).getElementType())) {
          return w.emitError("float8 tensor '")
                 << s << "' of an FP8 block-quantized checkpoint has no '"
                 << s << "_scale_inv'";
        }
      }
      SmallVector<Attribute> absent;
      for (StringRef s : paramSources[i]) {
        if (sources.count(s))
          continue;
        absent.push_back(b.getStringAttr(s));
        if (deferMissing)
          continue;
        model.emitError("parameter '")
            << p.name << "' needs source tensor '" << s
            << "', which is not in the checkpoint";
        missing = true;
      }
      if (!absent.empty()) {
        skipped.insert(i);
        missingParams.push_back({p.name, std::move(absent)});
      }
    }
    if (missing)
      return failure();

    // MLC's loading order (huggingface_loader._loading_order).
    llvm::MapVector<StringRef, SmallVector<SourceOp>> byFile;
    for (SourceOp s : sourceOrder)
      byFile[s.getFile()].push_back(s);
    llvm::DenseMap<StringRef, SmallVector<size_t, 1>> torchToMlc;
    for (auto [i, names] : llvm::enumerate(paramSources))
      for (StringRef n : names)
        torchToMlc[n].push_back(i);
    // A weight's block scales place it no more than AWQ's parts do: the
    // order is that of the dequantized checkpoint (fp8_cast_bf16's), which
    // has no scales.
    auto isFp8Scale = [&](StringRef n) {
      return n.ends_with("_scale_inv") &&
             fp8Weights.contains(n.drop_back(strlen("_scale_inv")));
    };
    llvm::SetVector<size_t> order;
    for (auto &[file, list] : byFile)
      for (SourceOp s : list)
        if (!isFp8Scale(s.getKey()))
          for (size_t i : torchToMlc.lookup(s.getKey()))
            if (!skipped.contains(i))
              order.insert(i);

    // Unused source tensors: one warning listing them.
    std::vector<std::string> unused;
    // `<linear>.activation_scale` tensors are the block-scale
    // static-activation mode's (KeepBlockFp8.cpp): kept for it.
    auto isActivationScale = [&](SourceOp s) {
      return *fp8Block && s.getKey().ends_with(".activation_scale");
    };
    for (SourceOp s : sourceOrder)
      if (!torchToMlc.count(s.getKey()) && !def->isUnused(s.getKey()) &&
          !isActivationScale(s))
        unused.push_back(s.getKey().str());
    if (!unused.empty()) {
      std::sort(unused.begin(), unused.end());
      InFlightDiagnostic w = model.emitWarning("unused source tensors: ");
      for (size_t i = 0; i < unused.size(); ++i)
        w << (i ? ", " : "") << unused[i];
    }

    model->setAttr(model.getSourceParamsAttrName(),
                   IntegerAttr::get(IntegerType::get(&getContext(), 64),
                                    countSourceParams(model, *def, sources,
                                                      paramSources,
                                                      order.getArrayRef(),
                                                      byFile)));

    // The per-tensor tables are done with: their memory goes to the IR
    // built next (a MoE checkpoint's tens of thousands of names).
    byFile = {};
    torchToMlc = {};
    paramSources = {};
    MLIRContext *ctx = &getContext();
    OpBuilder ob = OpBuilder::atBlockEnd(&body);
    ExprBuilder exprs(ob, sources, awqWeights, awqGroupSize(model), fp8Weights,
                      fp8Block->value_or(std::array<int64_t, 2>{}));
    exprs.broadcastScalarScales = bool(arch->fp8PerTensorBlock);
    for (size_t i : order) {
      models::ParamDef &p = def->params[i];
      Value v = exprs.build(p.map, p.name);
      if (!v)
        return failure();
      // Built: its mapping is not needed again (a stacked parameter's names
      // the experts), so the IR grows as the definition shrinks.
      p.map = models::MapExpr();
      Location loc = NameLoc::get(ob.getStringAttr(p.name), v.getLoc());
      auto param = ParamOp::create(
          ob, loc, ob.getStringAttr(p.name), v,
          ParamKindAttr::get(ctx, toParamKind(p.kind)));
      if (p.shard)
        param.setShardAttr(
            ShardStrategyAttr::get(ctx, p.shard->dim, p.shard->segments));
    }
    for (auto &[name, tensors] : missingParams)
      MissingOp::create(ob, model.getLoc(), name, ob.getArrayAttr(tensors));
    // Unused sources go, with the ops that decode them.
    for (SourceOp s : sourceOrder) {
      Value v = getCheckpointTensor(s);
      if (!v.use_empty() || isActivationScale(s))
        continue;
      for (Operation *op = v.getDefiningOp(); op;) {
        Operation *prev = op == s.getOperation()
                              ? nullptr
                              : op->getOperand(0).getDefiningOp();
        op->erase();
        op = prev;
      }
    }
    recordDefinition(model, *def);
    return success();
  }

  /// What later passes need of the definition, so that none re-reads the
  /// config: the expected parameters (weights.expect ops at the top of the
  /// model, at the model's location), the shard divisors and the
  /// quantization kinds the model accepts.
  void recordDefinition(ModelOp model, const models::ModelDef &def) {
    MLIRContext *ctx = &getContext();
    Block &body = model.getBody().front();
    OpBuilder b = OpBuilder::atBlockBegin(&body);
    // Before quantization the element type is not checked; the built
    // parameter's keeps the IR readable.
    llvm::StringMap<Type> builtType;
    for (ParamOp p : model.getParams())
      builtType[p.getSymName()] =
          cast<RankedTensorType>(p.getValue().getType()).getElementType();
    Type fallback = b.getF32Type();
    for (const models::ParamDef &p : def.params) {
      SmallVector<int64_t> shape;
      for (int64_t d : p.shape)
        shape.push_back(d < 0 ? ShapedType::kDynamic : d);
      Type element = builtType.lookup(p.name);
      auto type = RankedTensorType::get(shape, element ? element : fallback);
      ExpectOp::create(b, model.getLoc(), b.getStringAttr(p.name),
                       TypeAttr::get(type),
                       ParamKindAttr::get(ctx, toParamKind(p.kind)),
                       StringAttr());
    }
    SmallVector<Attribute> divisors;
    for (const auto &[field, value] : def.shardDivisors)
      divisors.push_back(ShardDivisorAttr::get(ctx, field, value));
    model.setShardDivisorsAttr(b.getArrayAttr(divisors));
    if (!def.preshardRefusal.empty())
      model.setPreshardRefusalAttr(b.getStringAttr(def.preshardRefusal));
    SmallVector<StringRef> kinds(def.quantizationKinds.begin(),
                                 def.quantizationKinds.end());
    model.setQuantizationKindsAttr(b.getStrArrayAttr(kinds));
  }

  /// `Total parameters` as mlc_llm counts it: every tensor of each file the
  /// loader loads (again on each reload), except the architecture's unused
  /// names. A single file is loaded once; the files of a sharded checkpoint
  /// are loaded per parameter and unloaded when a parameter needs others.
  int64_t countSourceParams(
      ModelOp model, const models::ModelDef &def, const SourceMap &sources,
      ArrayRef<SmallVector<StringRef, 2>> paramSources,
      ArrayRef<size_t> order,
      const llvm::MapVector<StringRef, SmallVector<SourceOp>> &byFile) {
    llvm::StringMap<int64_t> fileParams;
    for (auto &[file, list] : byFile)
      for (SourceOp s : list)
        if (!def.isUnused(s.getKey()))
          fileParams[file] += cast<RankedTensorType>(
                                  getCheckpointTensor(s).getType())
                                  .getNumElements();

    int64_t total = 0;
    std::set<std::string> cached;
    if (!model.getSourceIndex()) {
      for (auto &[file, list] : byFile) {
        total += fileParams.lookup(file);
        cached.insert(file.str());
      }
      return total;
    }
    for (size_t i : order) {
      std::set<std::string> required;
      for (StringRef n : paramSources[i])
        if (SourceOp s = sources.lookup(n))
          required.insert(s.getFile().str());
        else
          required.insert(std::string());
      std::vector<std::string> toLoad;
      for (const std::string &f : required)
        if (!cached.count(f))
          toLoad.push_back(f);
      if (toLoad.empty())
        continue;
      for (auto it = cached.begin(); it != cached.end();)
        it = required.count(*it) ? std::next(it) : cached.erase(it);
      for (const std::string &f : toLoad) {
        total += fileParams.lookup(f);
        cached.insert(f);
      }
    }
    return total;
  }
};
} // namespace
