//===- WeightsBase.td - Weights dialect definition ---------*- tablegen -*-===//
//
// The `weights` dialect describes a model checkpoint and what becomes of each
// of its tensors: where it lives in the source files, how source tensors are
// mapped (concatenated, cast, ...) onto the parameters a compiled model
// expects, how each parameter is quantized and sharded, and the named output
// parameters of the tensor cache. It never holds weight bytes.
//
//===----------------------------------------------------------------------===//

#ifndef QOPT_WEIGHTS_BASE
#define QOPT_WEIGHTS_BASE

include "mlir/IR/OpBase.td"
include "mlir/IR/AttrTypeBase.td"

def Weights_Dialect : Dialect {
  let name = "weights";
  let cppNamespace = "::mlir::qopt::weights";
  let summary = "Model checkpoints, their mapping, quantization and sharding";
  let description = [{
    A `weights.model` op holds the parameters of one model. Inside it,
    `weights.source` ops name tensors of checkpoint files (file, key, byte
    offset, shape and dtype -- never their bytes), mapping ops derive the
    tensors the compiled model expects, `weights.quantize` replaces a weight
    by its quantized storage and scales, and `weights.param` names each
    output record of the tensor cache in emission order.
  }];
  let dependentDialects = ["::mlir::quant::QuantDialect"];
  let useDefaultAttributePrinterParser = 1;
}

class Weights_Op<string mnemonic, list<Trait> traits = []>
    : Op<Weights_Dialect, mnemonic, traits>;

class Weights_Attr<string name, string attrMnemonic, list<Trait> traits = []>
    : AttrDef<Weights_Dialect, name, traits> {
  let mnemonic = attrMnemonic;
}

#endif // QOPT_WEIGHTS_BASE
