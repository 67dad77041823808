#!/usr/bin/env bash
# bench/awq.sh - what AWQ (qopt-fold-awq-scales, docs/calibration.md) does
# to perplexity and conversion time; writes a markdown table to
# bench/awq-results.md.
#
#   bash bench/awq.sh [options]
#     --build DIR      build directory with bin/quant-opt (default: $QOPT_BUILD
#                      or ./build)
#     --calibrate BIN  the quant-opt that runs `calibrate` (default: the
#                      build's)
#     --model DIR      checkpoint (default test/Inputs/bytellama-fp16-st)
#     --calib FILE     calibration text (default bench/calib-text.py.txt)
#     --text FILE      evaluation text, separate from it (default
#                      bench/eval-text.py.txt)
#     --reps N         timed conversions per figure, the best is kept (3)
#     --modes "A B"    modes (default "q4f16_1 q3f16_1")
#     --out FILE       results file (default bench/awq-results.md)
#     --keep           keep the scratch directory
#
# 1. quant-opt calibrate MODEL --text CALIB -o STATS --hessian (timed);
# 2. per mode: the plain conversion, and the conversion with AWQ measuring
#    the error with the imatrix alone (use-hessian=false) and with the
#    Hessians (the qopt-convert pipeline, as `convert --awq STATS` runs it);
#    perplexity of each cache on TEXT (quant-opt eval), increase over the
#    fp16 source;
# 3. mirror (bench/accuracy-mirror.py): the perplexity of the weights
#    reflected through the quantization error. For AWQ the error is taken
#    around the folded float model (the same scales, no quantization:
#    q0f16), whose perplexity equals the source's to float16 rounding;
#    symmetrized = mean of the two increases (bench/accuracy.sh explains);
# 4. conversion time: best of --reps wall times; x = ratio to the plain
#    conversion of the same mode.
set -euo pipefail

script_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$script_dir/.." && pwd)
build=${QOPT_BUILD:-$repo/build}
calibrate=""
model=$repo/test/Inputs/bytellama-fp16-st
calib=$script_dir/calib-text.py.txt
text=$script_dir/eval-text.py.txt
reps=3
modes="q4f16_1 q3f16_1"
out_file=$script_dir/awq-results.md
keep=0

die() { echo "bench/awq.sh: $*" >&2; exit 1; }
while [ $# -gt 0 ]; do
  case "$1" in
    --build) build=$2; shift 2 ;;
    --calibrate) calibrate=$2; shift 2 ;;
    --model) model=$2; shift 2 ;;
    --calib) calib=$2; shift 2 ;;
    --text) text=$2; shift 2 ;;
    --reps) reps=$2; shift 2 ;;
    --modes) modes=$2; shift 2 ;;
    --out) out_file=$2; shift 2 ;;
    --keep) keep=1; shift ;;
    -h|--help) sed -n '2,30p' "$0"; exit 0 ;;
    *) die "unknown option '$1'" ;;
  esac
done
qopt=$build/bin/quant-opt
[ -x "$qopt" ] || die "$qopt not found (build it, or pass --build)"
[ -n "$calibrate" ] || calibrate=$qopt
[ -f "$calib" ] || die "$calib not found"
[ -f "$text" ] || die "$text not found"
cmp -s "$calib" "$text" && die "the calibration text is the evaluation text"

work=$(mktemp -d /tmp/qopt-awq.XXXXXX)
cleanup() { [ "$keep" = 1 ] && echo "kept $work" >&2 || rm -rf "$work"; }
trap cleanup EXIT

# convert OUT MODE [FOLD-OPTIONS]: the conversion pipeline; with
# FOLD-OPTIONS, qopt-fold-awq-scales{stats=STATS FOLD-OPTIONS} after the
# mapping (the passes of qopt-convert with awq=STATS).
convert() {
  local out=$1 mode=$2 fold=${3-} mid
  mid="qopt-map-parameters{defer-missing},"
  [ -n "$fold" ] && mid+="qopt-fold-awq-scales{stats=$work/stats.st $fold},"
  rm -rf "$out"
  "$qopt" /dev/null -o /dev/null --mlir-print-op-on-diagnostic=false \
    --pass-pipeline="builtin.module(qopt-import-checkpoint{source=$model},weights.model(${mid}qopt-quantize-weights{mode=$mode},qopt-verify-parameters),qopt-serialize-tensor-cache{output-dir=$out})" \
    2> /dev/null
}
ms() { echo $(( $(date +%s%N) / 1000000 )); }
best_time() { # best wall ms of $reps runs of: convert OUT ARGS...
  local best="" t0 t i
  for ((i = 0; i < reps; i++)); do
    t0=$(ms); convert "$work/timed" "$@"; t=$(( $(ms) - t0 ))
    if [ -z "$best" ] || [ "$t" -lt "$best" ]; then best=$t; fi
  done
  echo "$best"
}

echo "calibrating" >&2
t0=$(ms)
/usr/bin/time -f "%M" -o "$work/calib.rss" \
  "$calibrate" calibrate "$model" --text "$calib" -o "$work/stats.st" --hessian \
  > "$work/calib.out" 2> "$work/calib.err"
t_calib=$(( $(ms) - t0 ))

results=$work/results.jsonl
: > "$results"
for mode in $modes; do
  for variant in plain imatrix hessian; do
    case $variant in
      plain) fold="" ;;
      imatrix) fold="mode=$mode use-hessian=false" ;;
      hessian) fold="mode=$mode" ;;
    esac
    d=$work/$mode-$variant
    echo "$mode $variant" >&2
    convert "$d" "$mode" "$fold"
    "$qopt" eval "$model" --text "$text" --cache "$d" --json "$d.eval.json" \
      > /dev/null 2>&1
    center=$model
    if [ -n "$fold" ]; then
      # The folded float model: the same scales, float16 weights.
      convert "$d.f16" q0f16 "$fold"
      python3 "$script_dir/accuracy-mirror.py" "$model" "$d.f16" "$d.center"
      "$qopt" eval "$d.center" --text "$text" --json "$d.center.json" \
        > /dev/null 2>&1
      center=$d.center
    fi
    python3 "$script_dir/accuracy-mirror.py" "$center" "$d" "$d.mirror" --mirror
    "$qopt" eval "$d.mirror" --text "$text" --json "$d.mirror.json" \
      > /dev/null 2>&1
    t=$(best_time "$work/timed" "$mode" "$fold")
    python3 - "$mode" "$variant" "$d" "$t" >> "$results" <<'PY'
import json, os, sys
mode, variant, d, t = sys.argv[1:]
ev = json.load(open(d + ".eval.json"))
mirror = json.load(open(d + ".mirror.json"))["source"]
center = (json.load(open(d + ".center.json"))["source"]
          if os.path.exists(d + ".center.json") else ev["source"])
src = ev["source"]["perplexity"]
print(json.dumps({
    "mode": mode, "variant": variant, "source_ppl": src,
    "center_ppl": center["perplexity"], "ppl": ev["cache"]["perplexity"],
    "increase": ev["increase_percent"],
    "mirror_increase": (mirror["perplexity"] / src - 1) * 100,
    "tokens": ev["tokens"], "ms": int(t)}))
PY
  done
done

commit=$(git -C "$repo" rev-parse --short HEAD 2>/dev/null || echo unknown)
python3 - "$results" "$out_file" "$model" "$calib" "$text" "$reps" "$commit" \
  "$t_calib" "$(cat "$work/calib.rss")" "$(nproc)" \
  "$(cut -d' ' -f1-3 /proc/loadavg)" <<'PY'
import datetime, json, os, sys
(results, out, model, calib, text, reps, commit, t_calib, rss, cores,
 load) = sys.argv[1:]
rows = [json.loads(l) for l in open(results)]
for r in rows:
    r["sym"] = (r["increase"] + r["mirror_increase"]) / 2
now = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
L = ["# AWQ: perplexity and conversion time\n",
     f"Produced by `bench/awq.sh`. {now}, commit {commit}; {cores} cores, "
     f"load average {load}.\n",
     f"- model `{os.path.relpath(model)}`; calibration text "
     f"`{os.path.relpath(calib)}`; evaluation text `{os.path.relpath(text)}` "
     f"({rows[0]['tokens']} byte tokens); fp16 source perplexity "
     f"**{rows[0]['source_ppl']:.4f}**",
     f"- `quant-opt calibrate --hessian`: {int(t_calib) / 1000:.2f} s, peak "
     f"RSS {int(rss) / 1024:.0f} MiB",
     "- AWQ imatrix / Hessian: the error of each candidate measured with the "
     "importance matrix (diagonal) or the full Hessian; folded float ppl = "
     "the float16 model with the scales folded (what the mirror is taken "
     "around)",
     f"- convert s: best of {reps} wall times; x = ratio to the plain "
     "conversion of the mode\n",
     "| mode | method | perplexity | increase | mirror increase | "
     "symmetrized | increase vs plain | symmetrized vs plain | folded float "
     "ppl | convert s | x |",
     "|---|---|---|---|---|---|---|---|---|---|---|"]
base = {r["mode"]: r for r in rows if r["variant"] == "plain"}
for r in rows:
    b = base[r["mode"]]
    L.append(f"| {r['mode']} | {r['variant']} | {r['ppl']:.4f} | "
             f"{r['increase']:+.2f}% | {r['mirror_increase']:+.2f}% | "
             f"{r['sym']:+.2f}% | {r['increase'] / b['increase']:.2f} | "
             f"{r['sym'] / b['sym']:.2f} | {r['center_ppl']:.4f} | "
             f"{r['ms'] / 1000:.3f} | {r['ms'] / b['ms']:.2f} |")
open(out, "w").write("\n".join(L) + "\n")
print("\n".join(L))
PY
