//===- Eval.h - `quant-opt eval` --------------------------------*- C++ -*-===//

#ifndef QOPT_TOOLS_QUANTOPT_EVAL_H
#define QOPT_TOOLS_QUANTOPT_EVAL_H

namespace qopt {
/// Runs `quant-opt eval`; argv[0] is "eval". Returns the exit code.
int runEval(int argc, char **argv);
} // namespace qopt

#endif // QOPT_TOOLS_QUANTOPT_EVAL_H
