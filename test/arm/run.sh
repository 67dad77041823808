#!/usr/bin/env bash
# The numerics on 64-bit Arm: cross-compiles lib/Numerics and its unit tests
# (test/unittests/Numerics) with Debian's g++-aarch64-linux-gnu, then runs
# them under qemu-aarch64 on every Arm SIMD target Highway dispatches to:
#
#   vector length 512 bits (qemu -cpu max):  SVE2, SVE, NEON, portable
#   256 bits (sve-default-vector-length=32): SVE_256, SVE
#   128 bits (sve-default-vector-length=16): SVE2_128, SVE2
#
# Every test that runs on all targets compares each one with independent
# expected values (or with the scalar definitions, which the other tests
# check) and prints the targets it ran ("[ simd     ] ... ran targets:").
#
#   test/arm/run.sh [BUILD_DIR]     (default build/arm-numerics)
#
# Exits 77 (ctest: skipped) when the cross compiler, qemu-aarch64 or the
# arm64 Highway / GoogleTest packages are missing; `bash .ci/run arm`
# installs them (docs/simd.md, "Arm").
set -uo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
build="${1:-$root/build/arm-numerics}"
multiarch=/usr/lib/aarch64-linux-gnu

missing=()
command -v aarch64-linux-gnu-g++ >/dev/null || missing+=(g++-aarch64-linux-gnu)
command -v qemu-aarch64 >/dev/null || missing+=(qemu-user)
[ -e "$multiarch/libhwy.so" ] || missing+=(libhwy-dev:arm64)
[ -e "$multiarch/libgtest.a" ] || missing+=(libgtest-dev:arm64)
if [ ${#missing[@]} -gt 0 ]; then
  echo "SKIPPED: the Arm cross test needs the Debian packages ${missing[*]}" \
       "(bash .ci/run arm installs them)"
  exit 77
fi

launcher=()
command -v ccache >/dev/null && launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache)
echo "== cross-compile lib/Numerics + NumericsTests for aarch64 into $build"
if ! cmake -G Ninja -S "$root/test/arm" -B "$build" \
     -DCMAKE_TOOLCHAIN_FILE="$root/cmake/aarch64-linux-gnu.cmake" \
     "${launcher[@]}" >"$build.configure.log" 2>&1; then
  cat "$build.configure.log"; exit 1
fi
cmake --build "$build" -j"$(nproc)" >"$build.build.log" 2>&1 \
  || { cat "$build.build.log"; exit 1; }

# name | qemu -cpu | QOPT_TEST_SIMD_TARGETS (empty: all)
configs=("vl512|max|"
         "vl256|max,sve-default-vector-length=32|SVE_256 SVE"
         "vl128|max,sve-default-vector-length=16|SVE2_128 SVE2")
pids=()
for c in "${configs[@]}"; do
  IFS='|' read -r name cpu targets <<<"$c"
  QOPT_TEST_SIMD_TARGETS="$targets" \
    qemu-aarch64 -L /usr/aarch64-linux-gnu -cpu "$cpu" \
      "$build/NumericsTests" >"$build/$name.log" 2>&1 &
  pids+=($!)
done
status=0
i=0
for c in "${configs[@]}"; do
  IFS='|' read -r name cpu targets <<<"$c"
  wait "${pids[$i]}"; rc=$?; i=$((i + 1))
  echo "== qemu-aarch64 -cpu $cpu${targets:+ (QOPT_TEST_SIMD_TARGETS=$targets)}: exit $rc"
  # The target sets the tests ran, and how many tests ran each.
  grep '^\[ simd' "$build/$name.log" | sed 's/.*ran targets: /  ran targets: /' \
    | sort | uniq -c
  grep -E '^\[  (PASSED|FAILED) ' "$build/$name.log"
  if [ "$rc" -ne 0 ]; then
    status=1
    grep -E 'Failure|FAILED|Expected|Which is|actual' "$build/$name.log" | head -40
  fi
done
exit $status
