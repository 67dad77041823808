#!/usr/bin/env bash
# Proves the installed quant-opt on its own: installs BUILD into a temporary
# prefix, builds this directory (a separate CMake project, C++ and C) against
# only that prefix, and converts the shipped byte Llama with
#   1. the installed `quant-opt convert`          (the expected bytes)
#   2. consumer-cxx  (QuantOpt::Transforms, C++)
#   3. consumer-c    (QuantOpt::CAPI, C)
#   4. the installed quant_opt Python module under Debian's python3
#   5. stock mlir-opt-22 with the installed QuantOptPlugin.so
# and compares every output file of 2-5 with 1, byte for byte (cmp).
#
#   test/install-consumer/run.sh [BUILD_DIR [WORK_DIR]]
# BUILD_DIR defaults to build/, WORK_DIR to a fresh temporary directory
# (removed on success). .ci/run calls it after ctest.
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
build="$(cd "${1:-$root/build}" && pwd)"
if [ -n "${2:-}" ]; then
  work="$2"; mkdir -p "$work"; keep=1
else
  work="$(mktemp -d)"; keep=0
fi
work="$(cd "$work" && pwd)"
prefix="$work/prefix"
model="$root/test/Inputs/bytellama-fp16-st"
mode=q4f16_1
python="${QOPT_PYTHON:-/usr/bin/python3}"
mlir_opt="${QOPT_MLIR_OPT:-mlir-opt-22}"

echo "== install $build -> $prefix"
rm -rf "$prefix"
cmake --install "$build" --prefix "$prefix" >"$work/install.log"

echo "== build test/install-consumer against $prefix only"
launcher=()
if command -v ccache >/dev/null; then
  launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache -DCMAKE_C_COMPILER_LAUNCHER=ccache)
fi
rm -rf "$work/consumer"
cmake -G Ninja -S "$root/test/install-consumer" -B "$work/consumer" \
  -DCMAKE_BUILD_TYPE=Release -DCMAKE_PREFIX_PATH="$prefix" \
  "${launcher[@]}" >"$work/consumer-configure.log" 2>&1 \
  || { cat "$work/consumer-configure.log"; exit 1; }
ninja -C "$work/consumer" >"$work/consumer-build.log" 2>&1 \
  || { cat "$work/consumer-build.log"; exit 1; }

out="$work/out"
rm -rf "$out" && mkdir -p "$out"
echo "== convert $model ($mode)"
"$prefix/bin/quant-opt" convert "$model" --quantization "$mode" -o "$out/quant-opt" \
  --threads 2 >/dev/null
"$work/consumer/consumer-cxx" "$model" "$mode" "$out/consumer-cxx"
"$work/consumer/consumer-c" "$model" "$mode" "$out/consumer-c"
site="$(echo "$prefix"/lib/python3*/dist-packages)"
PYTHONPATH="$site" "$python" -c '
import sys, quant_opt
stats = quant_opt.convert(sys.argv[1], sys.argv[2], sys.argv[3], threads=2)
print("python: %(ParamSize)d records, %(ParamBytes)d bytes, %(BitsPerParam).3f bits per parameter" % stats)
' "$model" "$mode" "$out/python"
echo 'module {}' | "$mlir_opt" --load-dialect-plugin="$prefix/lib/QuantOptPlugin.so" \
  --pass-pipeline="builtin.module(qopt-convert{config=$model quantization=$mode output=$out/mlir-opt-plugin threads=2})" \
  >/dev/null
echo "mlir-opt-plugin: done"

echo "== compare with quant-opt convert"
expected="$(cd "$out/quant-opt" && ls)"
status=0
for variant in consumer-cxx consumer-c python mlir-opt-plugin; do
  if [ "$(cd "$out/$variant" && ls)" != "$expected" ]; then
    echo "FAIL $variant: files differ: $(cd "$out/$variant" && ls | tr '\n' ' ')"
    status=1
    continue
  fi
  for f in $expected; do
    if cmp "$out/quant-opt/$f" "$out/$variant/$f"; then
      echo "identical: $variant/$f ($(stat -c %s "$out/$variant/$f") bytes)"
    else
      status=1
    fi
  done
done
if [ "$status" -ne 0 ]; then
  echo "install-consumer: FAILED (outputs kept in $work)"
  exit 1
fi
echo "install-consumer: all outputs byte-identical to quant-opt convert"
[ "$keep" -eq 1 ] || rm -rf "$work"
