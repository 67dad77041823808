//===- WeightsInterfaces.td - Weights dialect interfaces ---*- tablegen -*-===//

#ifndef QOPT_WEIGHTS_INTERFACES
#define QOPT_WEIGHTS_INTERFACES

include "mlir/IR/OpBase.td"

/// A quantization scheme: tells which tensors `weights.quantize` produces
/// for a weight, with their name suffixes, shapes and element types.
def Weights_QuantSchemeAttrInterface : AttrInterface<"QuantSchemeAttrInterface"> {
  let cppNamespace = "::mlir::qopt::weights";
  let description = [{
    Implemented by every quantization-scheme attribute. `weights.quantize`
    verifies its results against `inferOutputs`, and the verify pass derives
    the expected records of a quantized parameter from it.
  }];
  let methods = [
    InterfaceMethod<[{
        Appends the outputs for a weight of type `input`: one QuantOutput
        (MLC's record suffix, the record's role, its type) per produced
        tensor, in emission order. Fails with a message in
        `error` when the scheme cannot quantize that weight.
      }], "::llvm::LogicalResult", "inferOutputs",
      (ins "::mlir::RankedTensorType":$input,
           "::llvm::SmallVectorImpl<::mlir::qopt::weights::QuantOutput> &":$outputs,
           "std::string &":$error)>,
    InterfaceMethod<"The element type every non-quantized tensor is cast to.",
      "::mlir::Type", "getExpressedType", (ins)>,
  ];
}

#endif // QOPT_WEIGHTS_INTERFACES
