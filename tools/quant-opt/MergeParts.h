//===- MergeParts.h - `quant-opt merge-parts` -------------------*- C++ -*-===//

#ifndef QOPT_TOOLS_QUANTOPT_MERGEPARTS_H
#define QOPT_TOOLS_QUANTOPT_MERGEPARTS_H

namespace qopt {
/// Runs `quant-opt merge-parts OUT`; argv[0] is "merge-parts". Returns the
/// exit code.
int runMergeParts(int argc, char **argv);
} // namespace qopt

#endif // QOPT_TOOLS_QUANTOPT_MERGEPARTS_H
