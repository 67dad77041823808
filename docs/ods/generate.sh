#!/bin/sh
# Writes the reference of the weights dialect, its interfaces and its passes,
# generated from the ODS definitions by mlir-tblgen, into OUT_DIR.
#   generate.sh MLIR_TBLGEN SRC_ROOT MLIR_INCLUDE OUT_DIR
# `ninja -C build qopt-update-docs` runs it on docs/ods;
# test/Dialect/Weights/docs-current.test checks that docs/ods is current.
set -e
tblgen=$1 src=$2 inc=$3 out=$4
run() { "$tblgen" -I "$src" -I "$inc" "$@"; }
ir=$src/dialects/Weights/IR
run -gen-dialect-doc -dialect=weights "$ir/WeightsOps.td" > "$out/WeightsDialect.md"
{
  run -gen-op-interface-docs "$ir/WeightsInterfaces.td"
  echo
  run -gen-attr-interface-docs "$ir/WeightsInterfaces.td" | sed 1d
} > "$out/WeightsInterfaces.md"
run -gen-pass-doc "$src/dialects/Weights/Transforms/Passes.td" > "$out/WeightsPasses.md"
