//===- CheckRequantize.cpp - Quantizing already quantized weights -*- C++ -*-===//
//
// A weight stored quantized in the checkpoint (a GGUF block type such as
// Q4_K, an AutoAWQ linear) and quantized again by the mode loses precision
// twice. llama-quantize refuses that without --allow-requantize; we warn
// (naming the tensors), or fail with policy=error.
//
//===----------------------------------------------------------------------===//

#include "dialects/Weights/Transforms/Passes.h"

#include "mlir/IR/BuiltinOps.h"
#include "llvm/ADT/SetVector.h"

#include <set>
#include <vector>

namespace mlir::qopt::weights {
#define GEN_PASS_DEF_CHECKREQUANTIZE
#include "dialects/Weights/Transforms/Passes.h.inc"
} // namespace mlir::qopt::weights

using namespace mlir;
using namespace mlir::qopt::weights;

/// Whether a GGUF encoding is a quantized block type (not F32/F16/BF16).
static bool isQuantizedEncoding(StringRef e) {
  return !e.empty() && e != "F32" && e != "F16" && e != "BF16" && e != "F64";
}

/// The quantized source tensors `v` is computed from, as "name (KIND)".
static void quantizedSources(Value v, llvm::SetVector<std::string, std::vector<std::string>, std::set<std::string>> &out) {
  Operation *def = v.getDefiningOp();
  if (!def)
    return;
  if (auto g = dyn_cast<DequantizeGgmlOp>(def)) {
    if (isQuantizedEncoding(g.getEncoding())) {
      auto s = g.getInput().getDefiningOp<SourceOp>();
      out.insert(((s ? s.getKey() : StringRef("?")) + " (" +
                  g.getEncoding() + ")")
                     .str());
      return;
    }
  }
  if (auto d = dyn_cast<DequantizeAwqOp>(def)) {
    StringRef key = d.getQweight().getDefiningOp<SourceOp>()
                        ? d.getQweight().getDefiningOp<SourceOp>().getKey()
                        : StringRef("?");
    out.insert((key + " (AutoAWQ int4)").str());
    return;
  }
  for (Value in : def->getOperands())
    quantizedSources(in, out);
}

namespace {
struct CheckRequantizePass
    : public ::mlir::qopt::weights::impl::CheckRequantizeBase<
          CheckRequantizePass> {
  using Base::Base;

  void runOnOperation() override {
    if (policy != "allow" && policy != "warn" && policy != "error") {
      getOperation().emitError("unknown requantize policy '")
          << policy.getValue() << "'; valid: allow, warn, error";
      return signalPassFailure();
    }
    if (policy == "allow")
      return;
    for (ModelOp model : getOperation().getOps<ModelOp>()) {
      llvm::SetVector<std::string, std::vector<std::string>, std::set<std::string>> tensors;
      model.walk([&](QuantizeOp q) { quantizedSources(q.getInput(), tensors); });
      if (tensors.empty())
        continue;
      bool error = policy == "error";
      InFlightDiagnostic d = error ? model.emitError() : model.emitWarning();
      d << tensors.size() << " source tensor"
        << (tensors.size() == 1 ? " is" : "s are")
        << " already quantized and will be quantized again";
      if (auto mode = model.getQuantization())
        d << " (" << *mode << ")";
      d << ": ";
      constexpr size_t kShown = 8;
      for (size_t i = 0; i < tensors.size() && i < kShown; ++i)
        d << (i ? ", " : "") << tensors[i];
      if (tensors.size() > kShown)
        d << ", ... (" << tensors.size() - kShown << " more)";
      d << (error ? "; drop --strict or pass --allow-requantize to convert "
                    "anyway"
                  : "; pass --allow-requantize to silence this");
      if (error)
        return signalPassFailure();
    }
  }
};
} // namespace
