//===- VerifyParameters.cpp - Parameters vs. the model graph ---*- C++ -*-===//
//
// mlc_llm convert_weight checks every parameter's name, shape and dtype
// against the compiled model. This pass does the same against the built-in
// architecture definition or a `--graph` file, and reports every problem
// in one run, each at the parameter with a note at the declaration.
//
//===----------------------------------------------------------------------===//

#include "dialects/Weights/Transforms/Passes.h"
#include "dialects/Weights/Transforms/Utils.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/Builders.h"
#include "mlir/IR/BuiltinOps.h"
#include "mlir/Parser/Parser.h"
#include "llvm/ADT/MapVector.h"
#include "llvm/ADT/StringMap.h"
#include "llvm/ADT/StringSet.h"
#include "llvm/Support/MemoryBuffer.h"
#include "llvm/Support/SourceMgr.h"

namespace mlir::qopt::weights {
#define GEN_PASS_DEF_VERIFYPARAMETERS
#include "dialects/Weights/Transforms/Passes.h.inc"
} // namespace mlir::qopt::weights

using namespace mlir;
using namespace mlir::qopt::weights;
namespace models = ::qopt::models;

namespace {
/// One parameter the compiled model expects. Dynamic dims match anything;
/// a null element type matches any.
struct Expected {
  std::string name;
  SmallVector<int64_t> shape;
  Type elementType;
  Location loc;
};
using ExpectedList = llvm::MapVector<StringRef, Expected>;
} // namespace

static std::string shapeStr(ArrayRef<int64_t> shape) {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); ++i)
    s += (i ? ", " : "") +
         (ShapedType::isDynamic(shape[i]) ? std::string("?")
                                          : std::to_string(shape[i]));
  return s + "]";
}

/// Expected parameters from the model's own weights.expect ops (the
/// definition as qopt-map-parameters recorded it, rewritten by the quantize
/// pass). Before quantization the element type is not checked.
static LogicalResult builtinExpectations(ModelOp model,
                                         std::vector<Expected> &out) {
  bool quantized = model.getQuantization().has_value();
  for (ExpectOp e : model.getBody().front().getOps<ExpectOp>()) {
    auto t = cast<RankedTensorType>(e.getType());
    out.push_back({e.getName().str(), SmallVector<int64_t>(t.getShape()),
                   quantized ? t.getElementType() : Type(), e.getLoc()});
  }
  if (out.empty())
    return model.emitError("the model declares no expected parameters "
                           "(weights.expect); run qopt-map-parameters first, "
                           "or give 'graph'");
  return success();
}

/// `--graph` as MLIR: weights.expect ops, or function arguments carrying a
/// `weights.name` attribute.
static LogicalResult mlirExpectations(ModelOp model, StringRef path,
                                      OwningOpRef<ModuleOp> &holder,
                                      std::vector<Expected> &out) {
  MLIRContext *ctx = model.getContext();
  ctx->getOrLoadDialect<func::FuncDialect>();
  ParserConfig config(ctx);
  holder = parseSourceFile<ModuleOp>(path, config);
  if (!holder)
    return model.emitError("cannot parse graph file '") << path << "'";
  holder->walk([&](Operation *op) {
    if (auto e = dyn_cast<ExpectOp>(op)) {
      auto t = cast<RankedTensorType>(e.getType());
      out.push_back({e.getName().str(), SmallVector<int64_t>(t.getShape()),
                     t.getElementType(), e.getLoc()});
      return;
    }
    auto f = dyn_cast<FunctionOpInterface>(op);
    if (!f || f.isExternal())
      return;
    for (BlockArgument arg : f.getArguments()) {
      auto name = f.getArgAttrOfType<StringAttr>(arg.getArgNumber(),
                                                 "weights.name");
      auto t = dyn_cast<RankedTensorType>(arg.getType());
      if (name && t)
        out.push_back({name.str(), SmallVector<int64_t>(t.getShape()),
                       t.getElementType(), arg.getLoc()});
    }
  });
  return success();
}

/// `--graph` as the metadata JSON an MLC model library reports.
static LogicalResult jsonExpectations(ModelOp model, StringRef path,
                                      std::vector<Expected> &out) {
  MLIRContext *ctx = model.getContext();
  auto buf = llvm::MemoryBuffer::getFile(path, /*IsText=*/true);
  if (!buf)
    return model.emitError("cannot read graph file '")
           << path << "': " << buf.getError().message();
  auto j = nlohmann::json::parse((*buf)->getBuffer().begin(),
                                 (*buf)->getBuffer().end(), nullptr, false);
  auto bad = [&](const Twine &why) {
    return model.emitError(path + ": " + why);
  };
  if (j.is_discarded() || !j.is_object() || !j.contains("params") ||
      !j["params"].is_array())
    return bad("expected a JSON object with a \"params\" array");
  for (auto [i, p] : llvm::enumerate(j["params"])) {
    Location loc = FileLineColLoc::get(ctx, path, 0, 0);
    if (!p.is_object() || !p.contains("name") || !p["name"].is_string() ||
        !p.contains("shape") || !p["shape"].is_array() ||
        !p.contains("dtype") || !p["dtype"].is_string())
      return bad("params[" + Twine(i) +
                 "] needs string \"name\", array \"shape\", string \"dtype\"");
    SmallVector<int64_t> shape;
    for (const auto &d : p["shape"])
      shape.push_back(d.is_number_integer() && d.get<int64_t>() >= 0
                          ? d.get<int64_t>()
                          : ShapedType::kDynamic);
    auto dt = ::qopt::numerics::parseTvmName(p["dtype"].get<std::string>());
    if (!dt)
      return bad("params[" + Twine(i) + "]: unknown dtype '" +
                 p["dtype"].get<std::string>() + "'");
    std::string name = p["name"].get<std::string>();
    out.push_back({name, shape, toMlirType(ctx, *dt),
                   NameLoc::get(StringAttr::get(ctx, name), loc)});
  }
  return success();
}

namespace {
struct VerifyParametersPass
    : public ::mlir::qopt::weights::impl::VerifyParametersBase<VerifyParametersPass> {
  using Base::Base;

  void runOnOperation() override {
    for (ModelOp model : getModels(getOperation()))
      if (failed(verifyModel(model)))
        signalPassFailure();
  }

  LogicalResult verifyModel(ModelOp model) {
    std::vector<Expected> list;
    OwningOpRef<ModuleOp> graphModule;
    StringRef g = graph.getValue();
    LogicalResult loaded =
        g.empty()             ? builtinExpectations(model, list)
        : g.ends_with(".json") ? jsonExpectations(model, g, list)
                               : mlirExpectations(model, g, graphModule, list);
    if (failed(loaded))
      return failure();

    bool ok = true;
    ExpectedList expected;
    for (Expected &e : list) {
      auto [it, inserted] = expected.insert({e.name, e});
      if (!inserted) {
        emitError(e.loc) << "parameter '" << e.name
                         << "' is declared twice by the graph";
        ok = false;
      }
    }

    // Names are unique: each weights.param is a symbol of the model.
    llvm::StringMap<ParamOp> produced;
    for (ParamOp p : model.getParams()) {
      produced[p.getName()] = p;
      auto e = expected.find(p.getName());
      if (e == expected.end()) {
        p.emitError("parameter '")
            << p.getName() << "' is not a parameter of the model graph";
        ok = false;
        continue;
      }
      auto type = cast<RankedTensorType>(p.getValue().getType());
      const Expected &want = e->second;
      bool shapeOk = type.getRank() == int64_t(want.shape.size());
      for (int64_t d = 0; shapeOk && d < type.getRank(); ++d)
        shapeOk = ShapedType::isDynamic(want.shape[d]) ||
                  want.shape[d] == type.getDimSize(d);
      if (!shapeOk) {
        InFlightDiagnostic d = p.emitError("parameter '")
                               << p.getName() << "' has shape "
                               << shapeStr(type.getShape())
                               << ", the model graph expects "
                               << shapeStr(want.shape);
        d.attachNote(want.loc) << "expected here";
        ok = false;
      }
      if (want.elementType && want.elementType != type.getElementType()) {
        InFlightDiagnostic d = p.emitError("parameter '")
                               << p.getName() << "' has dtype "
                               << type.getElementType()
                               << ", the model graph expects "
                               << want.elementType;
        d.attachNote(want.loc) << "expected here";
        ok = false;
      }
    }

    // Parameters qopt-map-parameters{defer-missing} could not build: one
    // error per missing source tensor, with a note at each declaration of
    // the graph the parameter (or its quantized tensors) would have met.
    // Which records those are, the model's own expectations say (their
    // name or `quantized_from`); without them, the parameter's name.
    llvm::StringMap<SmallVector<StringRef>> recordsOf;
    for (ExpectOp e : model.getBody().front().getOps<ExpectOp>())
      recordsOf[e.getOriginName()].push_back(e.getName());
    llvm::StringSet<> explained;
    for (MissingOp m : model.getBody().front().getOps<MissingOp>()) {
      SmallVector<StringRef> records = recordsOf.lookup(m.getParam());
      if (records.empty())
        records.push_back(m.getParam());
      SmallVector<Location> decls;
      for (auto &[name, want] : expected) {
        if (produced.count(name) || !llvm::is_contained(records, name))
          continue;
        explained.insert(name);
        if (!llvm::is_contained(decls, want.loc))
          decls.push_back(want.loc);
      }
      for (StringRef tensor : m.getTensors().getAsValueRange<StringAttr>()) {
        InFlightDiagnostic d = model.emitError("parameter '")
                               << m.getParam() << "' needs source tensor '"
                               << tensor << "', which is not in the checkpoint";
        for (Location loc : decls)
          d.attachNote(loc) << "expected here";
      }
      ok = false;
    }

    for (auto &[name, want] : expected) {
      if (produced.count(name) || explained.contains(name))
        continue;
      InFlightDiagnostic d = model.emitError("parameter '")
                             << name
                             << "' of the model graph has no source tensor";
      d.attachNote(want.loc) << "expected here";
      ok = false;
    }
    return success(ok);
  }
};
} // namespace
