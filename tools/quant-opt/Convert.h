//===- Convert.h - `quant-opt convert` -------------------------*- C++ -*-===//

#ifndef QOPT_TOOLS_QUANTOPT_CONVERT_H
#define QOPT_TOOLS_QUANTOPT_CONVERT_H

namespace qopt {
/// Runs `quant-opt convert`; argv[0] is "convert". Returns the exit code.
int runConvert(int argc, char **argv);
} // namespace qopt

#endif // QOPT_TOOLS_QUANTOPT_CONVERT_H
