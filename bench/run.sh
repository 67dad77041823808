#!/usr/bin/env bash
# bench/run.sh - time `quant-opt convert` on synthetic Llama checkpoints against
# an I/O baseline and write a markdown table to bench/results.md.
#
#   bash bench/run.sh [options]
#     --build DIR        build directory with bin/quant-opt and bin/qopt-bench-gen
#                        (default: $QOPT_BUILD or ./build)
#     --presets "LIST"   checkpoint presets (default "1b 3b"; also "tiny")
#     --dtypes "LIST"    checkpoint dtypes (default "f16 bf16")
#     --quants "LIST"    quantization modes (default "q4f16_1 q3f16_1 q0f16")
#     --threads "LIST"   --threads values (default "1 2")
#     --reps N           timed runs per figure, the best is kept (default 3;
#                        the floor always takes the best of at least 5)
#     --parts N          also time the conversion split in N parts run one
#                        after the other + merge-parts, against one run
#                        (default 2; 0: no split table)
#     --device DEV       quant-opt's --device: cpu (default) or cuda (needs a
#                        GPU; the table then has the CUDA executor's figures)
#     --work DIR         parent of the scratch directory (default /tmp); the
#                        checkpoint lives there
#     --out-fs DIR       where our outputs and the floor's dd file are written
#                        (default /dev/shm, a tmpfs, so that disk write-back
#                        does not decide the figures; "" = the scratch dir)
#     --out FILE         results file (default bench/results.md)
#     --methods "LIST"   also time the slower methods against plain rounding,
#                        plain and method runs alternated (default "": none):
#                        optimize-scales and imatrix (with each mode of --quants
#                        but q0*), imatrix and awq (both read statistics that
#                        bench/calibration-stats.py writes for every layer and
#                        lm_head), hqq (`--quantization mnn --weight-quant-bits 4
#                        --weight-quant-asymmetric --weight-quant-block 64`,
#                        with and without --hqq)
#     --pairs N          also run N pairs of the first and the last --threads
#                        value back to back (default 0: none), each run
#                        started once the CPUs have been at least 95% idle for
#                        0.5 s (/proc/stat; at most 20 s of waiting, runs that
#                        found no such moment are counted): the thread scaling
#                        as per-pair ratios, which a drifting machine moves
#                        less than a best-of-N
#     --keep             keep the scratch directory
#
# Per (preset, dtype): generate the checkpoint, read it twice so the page cache
# is warm. Per (preset, dtype, mode):
#   floor    = best of max(N, 5) of  cat model.safetensors >/dev/null
#              followed by  dd if=/dev/zero of=OUTFS/dd.tmp bs=8M
#              count=OUTPUT_BYTES iflag=count_bytes  (the time to read the
#              input once and write as many bytes as quant-opt writes, to
#              the same tmpfs as our output)
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
quants="q4f16_1 q3f16_1 q0f16"
parts=2
out_fs=/dev/shm
threads_list="1 2"
reps=3
device=cpu
work_parent=/tmp
out_file=$script_dir/results.md
keep=0
methods=""
pairs=0

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
    --out-fs) out_fs=$2; shift 2 ;;
    --parts) parts=$2; shift 2 ;;
    --out) out_file=$2; shift 2 ;;
    --methods) methods=$2; shift 2 ;;
    --pairs) pairs=$2; shift 2 ;;
    --keep) keep=1; shift ;;
    -h|--help) awk 'NR > 1 && /^set -euo/ { exit } NR > 1' "${BASH_SOURCE[0]}"; exit 0 ;;
    *) die "unknown option '$1' (see --help)" ;;
  esac
done

for m in $methods; do
  case "$m" in optimize-scales|imatrix|awq|hqq) ;; *) die "--methods: unknown method '$m' (optimize-scales, imatrix, awq, hqq)" ;; esac
done
[[ $reps =~ ^[1-9][0-9]*$ ]] || die "--reps needs a positive integer, got '$reps'"
[[ $pairs =~ ^[0-9]+$ ]] || die "--pairs needs a count, got '$pairs'"
[[ $parts =~ ^[0-9]+$ ]] && [ "$parts" != 1 ] || die "--parts needs 0 or a count >= 2, got '$parts'"
floor_reps=$(( reps > 5 ? reps : 5 ))
quant_opt=$build/bin/quant-opt
gen=$build/bin/qopt-bench-gen
[ -x "$quant_opt" ] || die "$quant_opt not found; build it: cmake -G Ninja -S $repo -B $build ... && ninja -C $build quant-opt qopt-bench-gen"
[ -x "$gen" ] || die "$gen not found; build it: ninja -C $build qopt-bench-gen"
[ -x /usr/bin/time ] || die "/usr/bin/time not found; install it: apt-get install -y time"
[ -d "$work_parent" ] || die "--work $work_parent is not a directory"

work=$(mktemp -d "$work_parent/qopt-bench.XXXXXX")
if [ -n "$out_fs" ]; then
  [ -d "$out_fs" ] || die "--out-fs $out_fs is not a directory"
  outs=$(mktemp -d "$out_fs/qopt-bench-out.XXXXXX")
else
  outs=$work
fi
cleanup() {
  if [ "$keep" = 1 ]; then
    echo "bench/run.sh: kept $work" >&2
  else
    rm -rf "$work"
  fi
  [ "$outs" = "$work" ] || rm -rf "$outs"
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

# Free bytes of the output file system.
free_bytes() { df -P -B1 "$outs" | awk 'NR == 2 { print $4 }'; }
# The 1-minute load average now.
load1() { cut -d' ' -f1 /proc/loadavg; }

# SIMD: what the CPU offers (/proc/cpuinfo flags) and which Highway target
# quant-opt's kernels dispatch to (`quant-opt --qopt-simd-report`, also in
# --version; docs/simd.md; QOPT_DISABLE_SIMD=1 forces the scalar
# definitions). Older builds without the report are described from the flags.
cpu_flags=$(awk -F': ' '/^(flags|Features)/ { print $2; exit }' /proc/cpuinfo)
simd=""
for f in sse4_2 avx avx2 fma f16c avx512f avx512bw avx512vl avx512_bf16 avx512_fp16 asimd asimdhp sve sve2; do
  case " $cpu_flags " in *" $f "*) simd="$simd $f" ;; esac
done
simd=${simd# }
if "$quant_opt" --qopt-simd-report >/dev/null 2>&1; then
  dispatch=$("$quant_opt" --qopt-simd-report 2>&1 | tr '\n' ' ')
elif [[ " $cpu_flags " == *" avx512f "* && " $cpu_flags " == *" avx512bw "* && " $cpu_flags " == *" f16c "* ]]; then
  dispatch="AVX-512 + F16C kernels (from the flags; this quant-opt has no dispatch report)"
else
  dispatch="portable loops (from the flags; this quant-opt has no dispatch report)"
fi
[ -n "${QOPT_DISABLE_SIMD:-}" ] && dispatch="portable loops (QOPT_DISABLE_SIMD is set)"

rows=()
part_rows=()
method_rows=()
pair_rows=()

# Idle and total jiffies of all CPUs (/proc/stat: idle + iowait, and the
# sum of user .. steal).
cpu_jiffies() { awk '/^cpu / { print $5 + $6, $2 + $3 + $4 + $5 + $6 + $7 + $8 + $9; exit }' /proc/stat; }
# Waits until the CPUs have been at least 95% idle for 0.5 s, at most 40
# tries (20 s); fails when they never were.
wait_idle() {
  local tries a b
  for ((tries = 0; tries < 40; tries++)); do
    a=$(cpu_jiffies)
    sleep 0.5
    b=$(cpu_jiffies)
    if awk -v a="$a" -v b="$b" 'BEGIN { split(a, x, " "); split(b, y, " ");
         t = y[2] - x[2]; exit !(t > 0 && (y[1] - x[1]) / t >= 0.95) }'; then
      return 0
    fi
  done
  return 1
}

# One timed convert: $1 = label, the rest = quant-opt arguments. Sets
# run_ns, run_cpu (user + sys) and run_rss_kb.
timed_convert() {
  local label=$1
  shift
  rm -rf "$outs/out"
  sync
  local start
  start=$(now)
  if ! /usr/bin/time -f '%e %U %S %M' -o "$work/time.txt" \
      "$quant_opt" convert "$@" -o "$outs/out" >"$work/log.txt" 2>&1; then
    cat "$work/log.txt" >&2
    die "quant-opt convert failed ($label)"
  fi
  run_ns=$(( $(now) - start ))
  local user sys
  read -r _ user sys run_rss_kb <"$work/time.txt"
  run_cpu=$(awk -v u="$user" -v s="$sys" 'BEGIN { printf "%.2f", u + s }')
  rm -rf "$outs/out"
}

# The --methods table for checkpoint $1 (directory), preset $2, dtype $3:
# per method, mode and thread count the best of $reps wall times of the
# plain conversion and of the method, run alternately.
time_methods() {
  local ckpt=$1 preset=$2 dtype=$3 m q t r stats=""
  for m in $methods; do
    local mode_list=""
    case "$m" in
      hqq) mode_list=mnn_w4_asym_b64 ;;
      *) for q in $quants; do [[ $q == q0* ]] || mode_list="$mode_list $q"; done ;;
    esac
    if { [ "$m" = imatrix ] || [ "$m" = awq ]; } && [ -z "$stats" ]; then
      stats=$work/stats-$preset-$dtype.safetensors
      python3 "$script_dir/calibration-stats.py" "$ckpt" "$stats" --hessian-layers 0 >&2 ||
        die "bench/calibration-stats.py failed for $ckpt"
    fi
    for q in $mode_list; do
      local base_args=() extra=()
      if [ "$m" = hqq ]; then
        base_args=(--quantization mnn --weight-quant-bits 4 --weight-quant-asymmetric --weight-quant-block 64)
        extra=(--hqq)
      else
        base_args=(--quantization "$q")
        case "$m" in
          optimize-scales) extra=(--optimize-scales) ;;
          imatrix) extra=(--imatrix "$stats") ;;
          awq) extra=(--awq "$stats") ;;
        esac
      fi
      for t in $threads_list; do
        local pbest="" pcpu="" mbest="" mcpu="" mrss=0
        for ((r = 1; r <= reps; r++)); do
          echo "== $preset $dtype $q $m --threads $t run $r/$reps" >&2
          timed_convert "$q plain" "$ckpt" "${base_args[@]}" --threads "$t" --device "$device"
          if [ -z "$pbest" ] || (( run_ns < pbest )); then pbest=$run_ns; pcpu=$run_cpu; fi
          timed_convert "$q $m" "$ckpt" "${base_args[@]}" "${extra[@]}" --threads "$t" --device "$device"
          if [ -z "$mbest" ] || (( run_ns < mbest )); then mbest=$run_ns; mcpu=$run_cpu; fi
          (( run_rss_kb > mrss )) && mrss=$run_rss_kb
        done
        method_rows+=("| $preset | $dtype | $q | --$m | $t | $(secs "$pbest") | $(secs "$mbest") | **$(ratio "$mbest" "$pbest")** | $pcpu | $mcpu | $(awk -v a="$mcpu" -v b="$pcpu" 'BEGIN { printf "%.2f", (b > 0 ? a / b : 0) }') | $(( mrss / 1024 )) | $(load1) |")
        echo "${method_rows[-1]}" >&2
      done
    done
  done
}
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
      die "not enough free space in $outs for the outputs of $input"
    # Warm the page cache.
    cat "$input" >/dev/null
    cat "$input" >/dev/null

    for quant in $quants; do
      out_bytes=""
      declare -A best_ns=() cpu_s=() rss_kb=() load_at=()
      for t in $threads_list; do
        best=""
        rss=0
        for ((r = 1; r <= reps; r++)); do
          rm -rf "$outs/out"
          sync
          echo "== $preset $dtype $quant --threads $t run $r/$reps" >&2
          start=$(now)
          if ! /usr/bin/time -f '%e %U %S %M' -o "$work/time.txt" \
              "$quant_opt" convert "$ckpt" --quantization "$quant" \
              -o "$outs/out" --threads "$t" --device "$device" \
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
        load_at[$t]=$(load1)
        out_bytes=$(du -sb "$outs/out" | cut -f1)
      done
      rm -rf "$outs/out"

      # Floor: read the input once, write out_bytes to the output tmpfs.
      base=""
      for ((r = 1; r <= floor_reps; r++)); do
        rm -f "$outs/dd.tmp"
        sync
        start=$(now)
        cat "$input" >/dev/null
        dd if=/dev/zero of="$outs/dd.tmp" bs=8M count="$out_bytes" \
          iflag=count_bytes status=none
        ns=$(( $(now) - start ))
        if [ -z "$base" ] || (( ns < base )); then base=$ns; fi
      done
      rm -f "$outs/dd.tmp"

      # Split: --parts N run one after the other, then merge-parts, against
      # one run (both with the largest --threads value).
      if (( parts >= 2 )); then
        t=${threads_list##* }
        split_best="" merge_best="" single_best=""
        for ((r = 1; r <= reps; r++)); do
          rm -rf "$outs/out"
          sync
          start=$(now)
          "$quant_opt" convert "$ckpt" --quantization "$quant" -o "$outs/out" \
            --threads "$t" --device "$device" >/dev/null 2>&1 ||
            die "quant-opt convert failed ($preset $dtype $quant, single run for --parts)"
          ns=$(( $(now) - start ))
          if [ -z "$single_best" ] || (( ns < single_best )); then single_best=$ns; fi
          rm -rf "$outs/out"
          sync
          start=$(now)
          for ((p = 1; p <= parts; p++)); do
            "$quant_opt" convert "$ckpt" --quantization "$quant" -o "$outs/out" \
              --threads "$t" --device "$device" --part "$p/$parts" >/dev/null 2>&1 ||
              die "quant-opt convert --part $p/$parts failed ($preset $dtype $quant)"
          done
          mid=$(now)
          "$quant_opt" merge-parts "$outs/out" --threads "$t" >/dev/null 2>&1 ||
            die "quant-opt merge-parts failed ($preset $dtype $quant)"
          end=$(now)
          if [ -z "$split_best" ] || (( end - start < split_best )); then
            split_best=$(( end - start ))
            merge_best=$(( end - mid ))
          fi
        done
        rm -rf "$outs/out"
        part_rows+=("| $preset | $dtype | $quant | $t | $(secs "$single_best") | $parts | $(secs $(( split_best - merge_best ))) | $(secs "$merge_best") | $(secs "$split_best") | $(ratio "$split_best" "$single_best") | $(load1) |")
        echo "${part_rows[-1]}" >&2
      fi

      # Pairs: the first and the last --threads value back to back.
      t1=${threads_list%% *}
      t2=${threads_list##* }
      if (( pairs > 0 )) && [ "$t1" != "$t2" ]; then
        pair_ratios=() best1="" best2="" missed=0 load_lo="" load_hi=""
        for ((r = 1; r <= pairs; r++)); do
          for t in "$t1" "$t2"; do
            rm -rf "$outs/out"
            sync
            echo "== $preset $dtype $quant pair $r/$pairs --threads $t" >&2
            wait_idle || missed=$((missed + 1))
            start=$(now)
            "$quant_opt" convert "$ckpt" --quantization "$quant" -o "$outs/out" \
              --threads "$t" --device "$device" >/dev/null 2>&1 ||
              die "quant-opt convert failed ($preset $dtype $quant, pair $r --threads $t)"
            ns=$(( $(now) - start ))
            if [ "$t" = "$t1" ]; then
              ns1=$ns
              if [ -z "$best1" ] || (( ns < best1 )); then best1=$ns; fi
            else
              if [ -z "$best2" ] || (( ns < best2 )); then best2=$ns; fi
              pair_ratios+=("$(awk -v a="$ns1" -v b="$ns" 'BEGIN { printf "%.4f", a / b }')")
            fi
          done
          l=$(load1)
          load_lo=$(awk -v a="${load_lo:-$l}" -v b="$l" 'BEGIN { print (b < a ? b : a) }')
          load_hi=$(awk -v a="${load_hi:-$l}" -v b="$l" 'BEGIN { print (b > a ? b : a) }')
        done
        rm -rf "$outs/out"
        summary=$(printf '%s\n' "${pair_ratios[@]}" | sort -g | awk '
          { v[NR] = $1 }
          END { m = (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2;
                printf "%.2f (%.2f-%.2f)", m, v[1], v[NR] }')
        pair_rows+=("| $preset | $dtype | $quant | $t1 / $t2 | $(secs "$best1") | $(secs "$best2") | $(ratio "$best1" "$best2") | $summary | $missed of $(( 2 * pairs )) | $load_lo-$load_hi |")
        echo "${pair_rows[-1]}" >&2
      fi

      for t in $threads_list; do
        ns=${best_ns[$t]}
        rows+=("| $preset | $dtype | $quant | $t | $(gb "$in_bytes") | $(gb "$out_bytes") | $(secs "$base") | $(secs "$ns") | ${cpu_s[$t]} | $(( ${rss_kb[$t]} / 1024 )) | $(awk -v b="$in_bytes" -v n="$ns" 'BEGIN { printf "%.2f", b / n }') | $(ratio "$ns" "$base") | ${load_at[$t]} |")
        echo "${rows[-1]}" >&2
      done
      unset best_ns cpu_s rss_kb load_at
    done
    [ -n "$methods" ] && time_methods "$ckpt" "$preset" "$dtype"
    rm -rf "$ckpt"
  done
done

commit=$(git -C "$repo" rev-parse --short HEAD 2>/dev/null || echo unknown)
if ! git -C "$repo" diff --quiet HEAD 2>/dev/null; then commit="$commit (with uncommitted changes)"; fi
cpu=$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)
load_end=$(cut -d' ' -f1-3 /proc/loadavg)
fs=$(df -P -T "$work" | awk 'NR == 2 { print $2 " (" $1 ")" }')
out_fs_desc=$(df -P -T "$outs" | awk 'NR == 2 { print $2 " (" $1 ")" }')

{
  echo "# quant-opt convert benchmark"
  echo
  echo "Produced by \`bench/run.sh\` (see bench/README.md). $started, commit $commit."
  echo "Machine: $(nproc) cores ($cpu), $(awk '/MemTotal/ { printf "%.0f", $2 / 1048576 }' /proc/meminfo) GiB RAM;"
  echo "SIMD (CPU flags): $simd; quant-opt kernels: $dispatch."
  echo "Checkpoint file system: $fs; outputs and the floor's dd file: $out_fs_desc."
  echo "Load average (1, 5, 15 min) at start: $load_start, at the end: $load_end; the \"load\" column is"
  echo "the 1-minute figure after each row's runs (a load above the core count means other processes"
  echo "shared the CPU: wall times are then inflated and noisy, the CPU column much less so)."
  echo
  echo "- floor: best of $floor_reps of \`cat model.safetensors > /dev/null\` + \`dd if=/dev/zero bs=8M\` of the output's size to the output file system, warm page cache"
  echo "- ours: best of $reps wall times of \`quant-opt convert DIR --quantization MODE -o OUT --threads N --device $device\`; CPU = user + sys of that run; peak RSS = largest of the $reps runs"
  echo "- input GB/s = checkpoint bytes / our best time; ratio = ours / floor (1.00 = as fast as reading the input and writing the output)"
  echo "- llama.cpp is not installed on this machine, so there is no llama-quantize column"
  echo
  echo "| model | dtype | mode | threads | input GB | output GB | floor s | ours s | CPU s | peak RSS MB | input GB/s | ours / floor | load |"
  echo "|---|---|---|---|---|---|---|---|---|---|---|---|---|"
  printf '%s\n' "${rows[@]}"
  if [ "${#part_rows[@]}" -gt 0 ]; then
    echo
    echo "## Split conversion (\`--part I/$parts\` one after the other, then \`merge-parts\`)"
    echo
    echo "SIMD: $simd; load average at the end: $load_end. Best of $reps; parts s = the $parts conversions, merge s = \`merge-parts\` (re-hashes every shard)."
    echo
    echo "| model | dtype | mode | threads | one run s | parts | parts s | merge s | split total s | split / one run | load |"
    echo "|---|---|---|---|---|---|---|---|---|---|---|"
    printf '%s\n' "${part_rows[@]}"
  fi
  if [ "${#method_rows[@]}" -gt 0 ]; then
    echo
    echo "## Slower methods against plain rounding (\`--methods\`)"
    echo
    echo "SIMD: $simd; load average at the end: $load_end. Best of $reps wall times each, plain and method runs alternated; CPU = user + sys of the best run; ratio = method / plain of the same mode and thread count. \`--imatrix\` and \`--awq\` read statistics for every layer and lm_head (\`bench/calibration-stats.py\`); \`--hqq\` is timed on \`mnn_w4_asym_b64\` (MNN 4-bit asymmetric, blocks of 64)."
    echo
    echo "| model | dtype | mode | method | threads | plain s | method s | method / plain | plain CPU s | method CPU s | CPU ratio | peak RSS MB | load |"
    echo "|---|---|---|---|---|---|---|---|---|---|---|---|---|"
    printf '%s\n' "${method_rows[@]}"
  fi
  if [ "${#pair_rows[@]}" -gt 0 ]; then
    echo
    echo "## Thread scaling as pairs (\`--pairs $pairs\`)"
    echo
    echo "SIMD: $simd. Each pair: a run with the first --threads value, then one with the last, each started once the CPUs had been at least 95% idle for 0.5 s (/proc/stat; \"not idle\" counts the runs that waited 20 s without finding such a moment and started anyway); ratio = the first run's wall time / the second's. Load = the 1-minute load average after each pair, lowest-highest."
    echo
    echo "| model | dtype | mode | threads | best s (first) | best s (last) | best / best | per-pair ratio median (min-max) | not idle | load |"
    echo "|---|---|---|---|---|---|---|---|---|---|"
    printf '%s\n' "${pair_rows[@]}"
  fi
} >"$out_file.tmp"
mv "$out_file.tmp" "$out_file"
cat "$out_file"
