//===- ConvertLog.h - What `quant-opt convert` logs ------------*- C++ -*-===//
//
// The lines mlc_llm convert_weight logs on stderr before converting (the
// detected config, device, source format and model type, then the argument
// block), written by a pass instrumentation once the checkpoint has been
// imported; and the diagnostic printer of the driver.
//
//===----------------------------------------------------------------------===//

#ifndef QOPT_TOOLS_QUANTOPT_CONVERTLOG_H
#define QOPT_TOOLS_QUANTOPT_CONVERTLOG_H

#include "mlir/IR/Diagnostics.h"
#include "mlir/Pass/PassInstrumentation.h"

#include <memory>
#include <string>
#include <vector>

namespace qopt {

enum class LogLevel { Quiet, Info, Verbose };

/// mlc_llm's styled words: "Found" in green, "Not found" in red, bold text;
/// plain when stderr is not a terminal.
std::string logFound();
std::string logNotFound();
std::string logBold(const std::string &text);

struct ConvertLogArgs {
  LogLevel level = LogLevel::Info;
  std::string quantization, device, sourceFormat, output, loraAdapter;
  /// Lines of the device detection (--device auto), logged in mlc's order.
  std::vector<std::string> deviceLog;
  unsigned threads = 0;
};

/// Logs, after qopt-import-checkpoint, the detection lines and the argument
/// block (and, verbose, the files to read).
std::unique_ptr<mlir::PassInstrumentation>
createConvertLogger(const ConvertLogArgs &args);

/// Prints `quant-opt: error: <file>: tensor '<name>': <message>` on stderr,
/// leaving out what the message already says.
mlir::LogicalResult printConvertDiagnostic(mlir::Diagnostic &diag);

} // namespace qopt

#endif // QOPT_TOOLS_QUANTOPT_CONVERTLOG_H
