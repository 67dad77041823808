//===- WeightsInterfaces.td - Weights dialect interfaces ---*- tablegen -*-===//
//
// The semantics of the weights dialect live on its ops and attributes:
// every value-producing op evaluates its rows through EvaluableOpInterface,
// every quantization scheme quantizes and dequantizes rows through
// QuantSchemeAttrInterface. The tensor-cache executor only schedules row
// chunks and writes them (docs/design.md, "Evaluation").
//
//===----------------------------------------------------------------------===//

#ifndef QOPT_WEIGHTS_INTERFACES
#define QOPT_WEIGHTS_INTERFACES

include "mlir/IR/OpBase.td"

/// A quantization scheme: tells which tensors `weights.quantize` produces
/// for a weight, with their name suffixes, shapes and element types, and
/// computes them.
def Weights_QuantSchemeAttrInterface : AttrInterface<"QuantSchemeAttrInterface"> {
  let cppNamespace = "::mlir::qopt::weights";
  let description = [{
    Implemented by every quantization-scheme attribute. `weights.quantize`
    verifies its results against `inferOutputs`, the verify pass derives
    the expected records of a quantized parameter from it, and the
    evaluation of `weights.quantize` calls `quantizeRows` (and, to measure
    the error, `dequantizeRows`).
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
    InterfaceMethod<[{
        Whether each row of the weight is quantized alone, so that rows
        [r0, r1) of the weight give rows [r0, r1) of every output. When
        false, quantizeRows is only given the whole weight.
      }], "bool", "isRowLocal", (ins)>,
    InterfaceMethod<[{
        Quantizes `input` (rows of a weight of type `weightType`) into one
        buffer per output of `inferOutputs`, in order.
      }], "::llvm::Error", "quantizeRows",
      (ins "::mlir::qopt::weights::EvaluationContext &":$ctx,
           "::mlir::RankedTensorType":$weightType,
           "const ::mlir::qopt::weights::RowBuffer &":$input,
           "::llvm::SmallVectorImpl<::mlir::qopt::weights::RowBuffer> &":$outputs)>,
    InterfaceMethod<[{
        Whether quantizeRowsCalibrated can use the statistic `statistic`
        (docs/calibration.md); `weights.quantize` verifies its operands
        against it. Fails with a message in `error` otherwise.
      }], "::llvm::LogicalResult", "acceptsCalibration",
      (ins "::mlir::qopt::weights::Statistic":$statistic, "std::string &":$error),
      [{}], [{
        (void)statistic;
        error = "scheme takes no calibration statistics";
        return ::mlir::failure();
      }]>,
    InterfaceMethod<[{
        quantizeRows with calibration statistics of the layer's input
        (`calibration`: the importance of the input channels and, for GPTQ,
        the prepared factor of each matrix the rows belong to). Same
        outputs, in the same format.
      }], "::llvm::Error", "quantizeRowsCalibrated",
      (ins "::mlir::qopt::weights::EvaluationContext &":$ctx,
           "::mlir::RankedTensorType":$weightType,
           "const ::mlir::qopt::weights::RowBuffer &":$input,
           "const ::mlir::qopt::weights::CalibrationInput &":$calibration,
           "::llvm::SmallVectorImpl<::mlir::qopt::weights::RowBuffer> &":$outputs),
      [{}], [{
        (void)ctx; (void)weightType; (void)input; (void)calibration; (void)outputs;
        return ::llvm::createStringError(::llvm::inconvertibleErrorCode(),
            "scheme takes no calibration statistics");
      }]>,
    InterfaceMethod<[{
        Whether `quantizeRowsFused` quantizes rows of a weight of type
        `weightType` given as values of `stored` under these options: the
        weight's own element type, or a wider float type whose values the
        scheme rounds to the weight's type exactly as `weights.cast` does
        (so `weights.quantize` of a cast reads the cast's input). By default
        no scheme does.
      }], "bool", "quantizesFused",
      (ins "::mlir::qopt::weights::EvaluationContext &":$ctx,
           "::mlir::RankedTensorType":$weightType,
           "::qopt::numerics::DType":$stored),
      [{}], [{
        (void)ctx; (void)weightType; (void)stored;
        return false;
      }]>,
    InterfaceMethod<[{
        quantizeRows of `input` (rows of a weight of type `weightType`,
        stored as `quantizesFused` accepts; the same outputs), in one pass
        over the values that also tells whether any of them is a NaN or an
        infinity in the weight's type (`nonFinite`): the range check of the
        source rows fused into the quantization (docs/reliability.md).
      }], "::llvm::Error", "quantizeRowsFused",
      (ins "::mlir::qopt::weights::EvaluationContext &":$ctx,
           "::mlir::RankedTensorType":$weightType,
           "const ::mlir::qopt::weights::RowBuffer &":$input,
           "::llvm::SmallVectorImpl<::mlir::qopt::weights::RowBuffer> &":$outputs,
           "bool &":$nonFinite),
      [{}], [{
        (void)ctx; (void)weightType; (void)input; (void)outputs;
        (void)nonFinite;
        return ::llvm::createStringError(::llvm::inconvertibleErrorCode(),
            "scheme has no fused quantization");
      }]>,
    InterfaceMethod<[{
        The inverse: the float32 values the outputs of quantizeRows stand
        for, row-major in the weight's layout (`out` holds as many elements
        as the input had).
      }], "::llvm::Error", "dequantizeRows",
      (ins "::llvm::ArrayRef<::mlir::qopt::weights::RowBuffer>":$outputs,
           "const ::mlir::qopt::weights::RowBuffer &":$input,
           "float *":$out)>,
  ];
}

/// An op whose results the executor can compute, a range of rows at a time.
def Weights_EvaluableOpInterface : OpInterface<"EvaluableOpInterface"> {
  let cppNamespace = "::mlir::qopt::weights";
  let description = [{
    Implemented by every op that produces tensor values (weights.source, the
    mapping ops, weights.quantize, weights.shard, the GGUF ops). The op
    iterates over rows `[0, getRowCount())` (the outermost dimension of its
    results; a scalar has one row) and `evaluateRows` computes rows
    `[r0, r1)` of every result, asking the context for the rows of its
    operands that it needs.

    A row-local op gives rows `[r0, r1)` of each result at a cost that
    grows with `r1 - r0`, and every result has `getRowCount()` rows; the
    executor cuts the tensors of chains of row-local ops into chunks. Other
    ops are evaluated whole (`r0 = 0`, `r1 = getRowCount()`).
  }];
  let methods = [
    InterfaceMethod<"The rows the op iterates over.",
      "int64_t", "getRowCount", (ins), [{}], [{
        return ::mlir::qopt::weights::getRowCount(
            ::llvm::cast<::mlir::RankedTensorType>(
                $_op->getResult(0).getType()));
      }]>,
    InterfaceMethod<"Whether the op evaluates any row range alone (see above).",
      "bool", "isRowLocal", (ins)>,
    InterfaceMethod<[{
        Whether the op reads operand `index` a row range at a time (the
        rows of its own range); other operands (e.g. the calibration
        statistics of a weight) are read whole and do not take part in
        the row-local chain (isRowLocalChain).
      }], "bool", "readsOperandRows", (ins "unsigned":$index), [{}], [{
        (void)index;
        return true;
      }]>,
    InterfaceMethod<[{
        Appends the rows (ascending, inside (0, getRowCount())) at which a
        chunk should end so that it reads one operand in place (the inputs
        of a row concatenation, seen through element-wise ops).
      }], "void", "getRowCuts", (ins "::llvm::SmallVectorImpl<int64_t> &":$cuts),
      [{}], [{ (void)cuts; }]>,
    InterfaceMethod<[{
        Appends what computing rows [r0, r1) of the results will read, so a
        scheduler can have it read ahead: row ranges of operands
        (`reads.operandRows`) and checkpoint byte ranges (`reads.fileBytes`).
        A hint, never a contract: leaving something out costs a page fault,
        not a wrong byte. By default a row-local op whose first operand has
        the rank and the rows of its first result reads the same rows of it
        (a cast, a quantize); other ops report nothing.
      }], "void", "getRowReads",
      (ins "int64_t":$r0, "int64_t":$r1,
           "::mlir::qopt::weights::RowReads &":$reads),
      [{}], [{
        ::mlir::qopt::weights::getSameRowReads($_op, r0, r1, reads);
      }]>,
    InterfaceMethod<[{
        Computes rows [r0, r1) of every result into `results` (one buffer
        per result). Errors are EvaluationErrors at the op that failed.
      }], "::llvm::Error", "evaluateRows",
      (ins "::mlir::qopt::weights::EvaluationContext &":$ctx, "int64_t":$r0,
           "int64_t":$r1,
           "::llvm::SmallVectorImpl<::mlir::qopt::weights::RowBuffer> &":$results)>,
    InterfaceMethod<[{
        Whether every value of the operand rows the op reads reaches its
        result rows, unchanged or rounded to another float type by
        round-to-nearest (a NaN or an infinity stays one, a finite value
        beyond the result type becomes an infinity). A consumer that finds
        no NaN or infinity in a chain of such ops down to the
        `weights.source`s then knows that their values were all finite in
        its type, which is what the source range check asks
        (docs/reliability.md). `weights.source` (its values are the file's),
        `concat`, `stack`, `transpose`, a float `cast` and a `shard` of rows
        do; by default an op does not.
      }], "bool", "forwardsNonFinite", (ins), [{}], [{ return false; }]>,
    InterfaceMethod<[{
        Whether the op computes sub-rows alone: rows `[s0, s1)` of one row
        `r` of its results (their second dimension; a stacked expert's
        rows) at a cost that grows with `s1 - s0`, through
        `evaluateSubRows`. The executor cuts a row larger than its chunk
        budget into sub-row chunks when the whole chain is sub-row local
        (isSubRowLocalChain).
      }], "bool", "isSubRowLocal", (ins), [{}], [{ return false; }]>,
    InterfaceMethod<[{
        Appends the sub-rows (ascending, inside (0, rows of row `r`)) at
        which a sub-row chunk of row `r` should end so that it reads one
        operand in place (see getRowCuts).
      }], "void", "getSubRowCuts",
      (ins "int64_t":$r, "::llvm::SmallVectorImpl<int64_t> &":$cuts), [{}],
      [{ (void)r; (void)cuts; }]>,
    InterfaceMethod<[{
        Computes sub-rows [s0, s1) of row `r` of every result (each buffer
        shaped like a result without its first dimension, `s1 - s0` rows).
        The bytes are those of the same part of the whole row.
      }], "::llvm::Error", "evaluateSubRows",
      (ins "::mlir::qopt::weights::EvaluationContext &":$ctx, "int64_t":$r,
           "int64_t":$s0, "int64_t":$s1,
           "::llvm::SmallVectorImpl<::mlir::qopt::weights::RowBuffer> &":$results),
      [{}], [{
        (void)ctx; (void)r; (void)s0; (void)s1; (void)results;
        return ::mlir::qopt::weights::makeEvaluationError(
            $_op.getOperation(), "evaluates whole rows only");
      }]>,
  ];
}

/// An op whose result selects parts of its operand's rows, so that the
/// executor can evaluate the operand once for several selections.
def Weights_RowSelectionOpInterface : OpInterface<"RowSelectionOpInterface"> {
  let cppNamespace = "::mlir::qopt::weights";
  let description = [{
    Implemented by `weights.shard`. The executor evaluates the selected
    value once and hands each chunk of its rows to `selectRows`, which
    passes on the parts that belong to the result, with the result row
    they start at.
  }];
  let methods = [
    InterfaceMethod<"The value whose rows are selected from.",
      "::mlir::Value", "getSelectedValue", (ins)>,
    InterfaceMethod<[{
        Calls `emit(resultRow, bytes, size)` for every part of `rows` (rows
        `[r0, r0 + rows.numRows())` of the selected value) that the result
        holds.
      }], "::llvm::Error", "selectRows",
      (ins "const ::mlir::qopt::weights::RowBuffer &":$rows, "int64_t":$r0,
           "::llvm::function_ref<::llvm::Error(int64_t, const uint8_t *, size_t)>":$emit)>,
  ];
}

#endif // QOPT_WEIGHTS_INTERFACES
