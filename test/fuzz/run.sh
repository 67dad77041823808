#!/usr/bin/env bash
# Builds the libFuzzer targets in build-fuzz/ (clang, ASan + UBSan) and runs
# each for SECONDS (default 60), starting from the seed corpus in
# test/fuzz/corpus/<target>. New inputs go to build-fuzz/corpus/<target>,
# crashes to build-fuzz/artifacts/. Exits non-zero if any target found a
# crash, a leak, a timeout or undefined behaviour.
#
#   test/fuzz/run.sh [SECONDS] [TARGET...]     targets: safetensors pickle torchzip
#                                              gguf config index tokenizer
#
# Environment: QOPT_FUZZ_CXX (default: the first of clang++-22, clang++,
# clang++-19, clang++-14; clang 22 matches the LLVM 22 headers the loaders
# include, an older `clang++` may not compile them), LLVM_DIR,
# QOPT_FUZZ_BUILD (build dir), JOBS (build parallelism, default 2),
# FUZZ_JOBS (targets fuzzed at the same time, default 1).
#
# Prints one line per target ("<target>: ok, N executions in Ss, cov: C")
# and exits 1 if any target failed, 2 if the build failed.
set -uo pipefail
seconds=${1:-60}
shift || true
targets=("$@")
[ ${#targets[@]} -eq 0 ] && targets=(safetensors pickle torchzip gguf config index tokenizer)

root=$(cd "$(dirname "$0")/../.." && pwd)
build=${QOPT_FUZZ_BUILD:-$root/build-fuzz}
cxx=${QOPT_FUZZ_CXX:-$(command -v clang++-22 || command -v clang++ || command -v clang++-19 || command -v clang++-14 || true)}
if [ -z "$cxx" ]; then
  echo "run.sh: no clang++ found (set QOPT_FUZZ_CXX)" >&2
  exit 2
fi
llvm_dir=${LLVM_DIR:-/usr/lib/llvm-22/lib/cmake/llvm}
mkdir -p "$build"

cmake -G Ninja -S "$root/test/fuzz" -B "$build" -DCMAKE_CXX_COMPILER="$cxx" \
  -DLLVM_DIR="$llvm_dir" > "$build/configure.log" 2>&1 ||
  { cat "$build/configure.log" >&2; exit 2; }
echo "fuzz: building with $cxx ($("$cxx" --version | head -n 1))"
ninja -C "$build" -j"${JOBS:-2}" > "$build/build.log" 2>&1 ||
  { tail -n 40 "$build/build.log" >&2; exit 2; }

mkdir -p "$build/artifacts"

# Runs one target; its exit status goes to $build/<target>.rc.
fuzz_one() {
  local t=$1 work="$build/corpus/$1" log="$build/$1.log"
  mkdir -p "$work"
  ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 \
    "$build/qopt-fuzz-$t" -max_total_time="$seconds" -max_len=65536 \
    -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
    -artifact_prefix="$build/artifacts/$t-" \
    "$work" "$root/test/fuzz/corpus/$t" > "$log" 2>&1
  echo $? > "$build/$t.rc"
}

# FUZZ_JOBS targets at a time (default 1), each on one core.
parallel=${FUZZ_JOBS:-1}
running=0
for t in "${targets[@]}"; do
  rm -f "$build/$t.rc"
  fuzz_one "$t" &
  running=$((running + 1))
  if [ "$running" -ge "$parallel" ]; then
    wait -n
    running=$((running - 1))
  fi
done
wait

status=0
for t in "${targets[@]}"; do
  log="$build/$t.log"
  rc=$(cat "$build/$t.rc" 2>/dev/null || echo 99)
  runs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$')
  cov=$(grep -o 'cov: [0-9]*' "$log" | tail -1)
  if [ "$rc" -eq 0 ]; then
    echo "$t: ok, ${runs:-?} executions in ${seconds}s, ${cov:-cov: ?}"
  else
    echo "$t: FAILED (exit $rc); see $log and $build/artifacts/"
    grep -m5 -E 'ERROR|runtime error|SUMMARY' "$log"
    status=1
  fi
done
exit $status
