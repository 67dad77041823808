#!/usr/bin/env bash
# bench/calibrate.sh - time and peak memory of `quant-opt calibrate`; writes
# bench/calibrate-results.md.
#
#   bash bench/calibrate.sh [--build DIR] [--model DIR] [--text FILE]
#                           [--max-tokens N] [--out FILE]
#
# Defaults: the trained byte Llama (test/Inputs/bytellama-fp16-st), the
# calibration text bench/calib-text.py.txt (NOT the evaluation text
# bench/eval-text.py.txt), windows of 512, the first 4096 tokens. Runs
# imatrix only and with --hessian, each with --threads 1 and 2, under GNU
# time (wall seconds, peak RSS), and checks that the files of 1 and 2
# threads are byte-identical.
set -euo pipefail

script_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$script_dir/.." && pwd)
build=${QOPT_BUILD:-$repo/build}
model=$repo/test/Inputs/bytellama-fp16-st
text=$script_dir/calib-text.py.txt
max_tokens=4096
out_file=$script_dir/calibrate-results.md

while [ $# -gt 0 ]; do
  case "$1" in
    --build) build=$2; shift 2 ;;
    --model) model=$2; shift 2 ;;
    --text) text=$2; shift 2 ;;
    --max-tokens) max_tokens=$2; shift 2 ;;
    --out) out_file=$2; shift 2 ;;
    *) echo "bench/calibrate.sh: unknown option $1" >&2; exit 2 ;;
  esac
done

qopt=$build/bin/quant-opt
work=$(mktemp -d /tmp/qopt-calibrate-bench.XXXXXX)
trap 'rm -rf "$work"' EXIT
load_start=$(cut -d' ' -f1-3 /proc/loadavg)
rows=""
for mode in imatrix hessian; do
  flag=""
  [ "$mode" = hessian ] && flag=--hessian
  for threads in 1 2; do
    /usr/bin/time -f "%e %M" -o "$work/time" "$qopt" calibrate "$model" \
      --text "$text" --max-tokens "$max_tokens" --context 512 $flag \
      --threads "$threads" -o "$work/$mode-$threads.st" > "$work/out" 2> /dev/null
    read -r wall rss < "$work/time"
    size=$(stat -c %s "$work/$mode-$threads.st")
    rows+="| $mode | $threads | $wall | $((rss / 1024)) | $size |"$'\n'
  done
  cmp "$work/$mode-1.st" "$work/$mode-2.st" ||
    { echo "bench/calibrate.sh: $mode files differ between 1 and 2 threads" >&2; exit 1; }
done
summary=$(sed 's/ written to .*//' "$work/out")
# The fixed cost: the same run on 64 tokens.
/usr/bin/time -f "%e %M" -o "$work/time" "$qopt" calibrate "$model" \
  --text "$text" --max-tokens 64 --context 512 --threads 1 \
  -o "$work/small.st" > /dev/null 2> /dev/null
read -r small_wall small_rss < "$work/time"
{
  echo "# quant-opt calibrate: time and peak memory"
  echo
  echo "Produced by \`bench/calibrate.sh\`. $(date -u '+%Y-%m-%d %H:%M UTC'), commit $(git -C "$repo" rev-parse --short HEAD)."
  echo "Machine: $(nproc) cores ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')); load average at start: $load_start, at end: $(cut -d' ' -f1-3 /proc/loadavg)."
  echo
  echo "- model: \`${model#$repo/}\`; calibration text: \`${text#$repo/}\` (separate from the evaluation text \`bench/eval-text.py.txt\`), first $max_tokens byte tokens, windows of 512"
  echo "- \`$summary\`"
  echo "- the files written with 1 and 2 threads are byte-identical (checked)"
  echo "- fixed cost (64 tokens, imatrix, 1 thread): $small_wall s, peak RSS $((small_rss / 1024)) MB"
  echo "- the machine is shared: with a load average above its core count, the wall times (and the 2-thread ones most) measure contention as much as calibrate"
  echo
  echo "| statistics | threads | wall s | peak RSS MB | file bytes |"
  echo "|---|---|---|---|---|"
  printf '%s' "$rows"
} > "$out_file"
cat "$out_file"
