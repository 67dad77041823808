#!/usr/bin/env bash
# bench/run.sh - time `quant-opt convert` on synthetic Llama checkpoints against
# an I/O baseline and write a markdown table to bench/results.md.
#
#   bash bench/run.sh [options]
#     --build DIR        build directory with bin/quant-opt and bin/qopt-bench-gen
#                        (default: $QOPT_BUILD or ./build)
#     --presets "LIST"   checkpoint presets (default "1b 3b"; also "tiny")
#     --dtypes "LIST"    checkpoint dtypes (default "f16 bf16")
#     --quants "LIST"    quantization modes (default "q4f16_1 q3f16_1")
#     --threads "LIST"   --threads values (default "1 2")
#     --reps N           timed runs per figure, the best is kept (default 3)
#     --device DEV       quant-opt's --device: cpu (default) or cuda (needs a
#                        GPU; the table then has the CUDA executor's figures)
#     --work DIR         parent of the scratch directory (default /tmp); the
#                        checkpoint, the outputs and the dd file live there
#     --out FILE         results file (default bench/results.md)
#     --keep             keep the scratch directory
#
# Per (preset, dtype): generate the checkpoint, read it twice so the page cache
# is warm. Per (preset, dtype, mode):
#   baseline = best of N of  cat model.safetensors >/dev/null  followed by
#              dd if=/dev/zero of=SCRATCH/dd.tmp bs=8M count=OUTPUT_BYTES
#              iflag=count_bytes  (the time to read the input once and write
#              as many bytes as quant-opt writes, through the page cache)
# and per --threads value:
#   ours     = best of N wall times of quant-opt convert, each run into a
#              fresh output directory; CPU = user + sys of that run; peak RSS =
#              the largest "Maximum resident set size" of the N runs
#              (/usr/bin/time %M).
# `sync` runs (untimed) before every timed command so that write-back of the
# previous run does not land in the next one. llama.cpp is not installed
# here, so there is no llama-quantize column.
set -euo pipefail

script_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$script_dir/.." && pwd)

build=${QOPT_BUILD:-$repo/build}
presets="1b 3b"
dtypes="f16 bf16"
quants="q4f16_1 q3f16_1"
threads_list="1 2"
reps=3
device=cpu
work_parent=/tmp
out_file=$script_dir/results.md
keep=0

die() {
  echo "bench/run.sh: $*" >&2
  exit 1
}

while [ $# -gt 0 ]; do
  case "$1" in
    --build) build=$2; shift 2 ;;
    --presets) presets=$2; shift 2 ;;
    --dtypes) dtypes=$2; shift 2 ;;
    --quants) quants=$2; shift 2 ;;
    --threads) threads_list=$2; shift 2 ;;
    --reps) reps=$2; shift 2 ;;
    --device) device=$2; shift 2 ;;
    --work) work_parent=$2; shift 2 ;;
    --out) out_file=$2; shift 2 ;;
    --keep) keep=1; shift ;;
    -h|--help) sed -n '2,30p' "${BASH_SOURCE[0]}"; exit 0 ;;
    *) die "unknown option '$1' (see --help)" ;;
  esac
done

[[ $reps =~ ^[1-9][0-9]*$ ]] || die "--reps needs a positive integer, got '$reps'"
quant_opt=$build/bin/quant-opt
gen=$build/bin/qopt-bench-gen
[ -x "$quant_opt" ] || die "$quant_opt not found; build it: cmake -G Ninja -S $repo -B $build ... && ninja -C $build quant-opt qopt-bench-gen"
[ -x "$gen" ] || die "$gen not found; build it: ninja -C $build qopt-bench-gen"
[ -x /usr/bin/time ] || die "/usr/bin/time not found; install it: apt-get install -y time"
[ -d "$work_parent" ] || die "--work $work_parent is not a directory"

work=$(mktemp -d "$work_parent/qopt-bench.XXXXXX")
cleanup() {
  if [ "$keep" = 1 ]; then
    echo "bench/run.sh: kept $work" >&2
  else
    rm -rf "$work"
  fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# Nanoseconds since the epoch.
now() { date +%s%N; }
# Seconds with 3 decimals from nanoseconds.
secs() { awk -v n="$1" 'BEGIN { printf "%.3f", n / 1e9 }'; }
# a / b with 2 decimals.
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", (b > 0 ? a / b : 0) }'; }
gb() { awk -v n="$1" 'BEGIN { printf "%.3f", n / 1e9 }'; }

# Free bytes of the scratch file system.
free_bytes() { df -P -B1 "$work" | awk 'NR == 2 { print $4 }'; }

rows=()
started=$(date -u '+%Y-%m-%d %H:%M UTC')
load_start=$(cut -d' ' -f1-3 /proc/loadavg)

for preset in $presets; do
  for dtype in $dtypes; do
    ckpt=$work/llama-$preset-$dtype
    echo "== generate $preset $dtype" >&2
    gen_start=$(now)
    "$gen" "$ckpt" --preset "$preset" --dtype "$dtype" >&2
    gen_ns=$(( $(now) - gen_start ))
    input=$ckpt/model.safetensors
    in_bytes=$(stat -c %s "$input")
    echo "   $(gb "$in_bytes") GB in $(secs "$gen_ns") s" >&2
    (( $(free_bytes) > in_bytes )) ||
      die "not enough free space in $work_parent for the outputs of $input"
    # Warm the page cache.
    cat "$input" >/dev/null
    cat "$input" >/dev/null

    for quant in $quants; do
      out_bytes=""
      declare -A best_ns=() cpu_s=() rss_kb=()
      for t in $threads_list; do
        best=""
        rss=0
        for ((r = 1; r <= reps; r++)); do
          rm -rf "$work/out"
          sync
          echo "== $preset $dtype $quant --threads $t run $r/$reps" >&2
          start=$(now)
          if ! /usr/bin/time -f '%e %U %S %M' -o "$work/time.txt" \
              "$quant_opt" convert "$ckpt" --quantization "$quant" \
              -o "$work/out" --threads "$t" --device "$device" \
              >"$work/log.txt" 2>&1; then
            cat "$work/log.txt" >&2
            die "quant-opt convert failed ($preset $dtype $quant --threads $t)"
          fi
          ns=$(( $(now) - start ))
          read -r _ user sys maxrss <"$work/time.txt"
          (( maxrss > rss )) && rss=$maxrss
          if [ -z "$best" ] || (( ns < best )); then
            best=$ns
            cpu_s[$t]=$(awk -v u="$user" -v s="$sys" 'BEGIN { printf "%.2f", u + s }')
          fi
        done
        best_ns[$t]=$best
        rss_kb[$t]=$rss
        out_bytes=$(du -sb "$work/out" | cut -f1)
      done
      rm -rf "$work/out"

      # Baseline: read the input once, write out_bytes.
      base=""
      for ((r = 1; r <= reps; r++)); do
        rm -f "$work/dd.tmp"
        sync
        start=$(now)
        cat "$input" >/dev/null
        dd if=/dev/zero of="$work/dd.tmp" bs=8M count="$out_bytes" \
          iflag=count_bytes status=none
        ns=$(( $(now) - start ))
        if [ -z "$base" ] || (( ns < base )); then base=$ns; fi
      done
      rm -f "$work/dd.tmp"

      for t in $threads_list; do
        ns=${best_ns[$t]}
        rows+=("| $preset | $dtype | $quant | $t | $(gb "$in_bytes") | $(gb "$out_bytes") | $(secs "$base") | $(secs "$ns") | ${cpu_s[$t]} | $(( ${rss_kb[$t]} / 1024 )) | $(awk -v b="$in_bytes" -v n="$ns" 'BEGIN { printf "%.2f", b / n }') | $(ratio "$ns" "$base") |")
        echo "${rows[-1]}" >&2
      done
      unset best_ns cpu_s rss_kb
    done
    rm -rf "$ckpt"
  done
done

commit=$(git -C "$repo" rev-parse --short HEAD 2>/dev/null || echo unknown)
if ! git -C "$repo" diff --quiet HEAD 2>/dev/null; then commit="$commit (with uncommitted changes)"; fi
cpu=$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)
load_end=$(cut -d' ' -f1-3 /proc/loadavg)
fs=$(df -P -T "$work" | awk 'NR == 2 { print $2 " (" $1 ")" }')

{
  echo "# quant-opt convert benchmark"
  echo
  echo "Produced by \`bench/run.sh\` (see bench/README.md). $started, commit $commit."
  echo "Machine: $(nproc) cores ($cpu), $(awk '/MemTotal/ { printf "%.0f", $2 / 1048576 }' /proc/meminfo) GiB RAM;"
  echo "scratch file system: $fs; load average at start: $load_start, at the end: $load_end"
  echo "(a load above the core count means other processes shared the CPU: wall times are then"
  echo "inflated and noisy, the CPU column much less so)."
  echo
  echo "- baseline: best of $reps of \`cat model.safetensors > /dev/null\` + \`dd if=/dev/zero bs=8M\` of the output's size, warm page cache"
  echo "- ours: best of $reps wall times of \`quant-opt convert DIR --quantization MODE -o OUT --threads N --device $device\`; CPU = user + sys of that run; peak RSS = largest of the $reps runs"
  echo "- input GB/s = checkpoint bytes / our best time; ratio = ours / baseline (1.00 = as fast as reading the input and writing the output)"
  echo "- llama.cpp is not installed on this machine, so there is no llama-quantize column"
  echo
  echo "| model | dtype | mode | threads | input GB | output GB | baseline s | ours s | CPU s | peak RSS MB | input GB/s | ours / baseline |"
  echo "|---|---|---|---|---|---|---|---|---|---|---|---|"
  printf '%s\n' "${rows[@]}"
} >"$out_file.tmp"
mv "$out_file.tmp" "$out_file"
cat "$out_file"
