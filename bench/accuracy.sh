#!/usr/bin/env bash
# bench/accuracy.sh - what each quantization costs in perplexity, bits and
# conversion time; writes a markdown table to bench/accuracy-results.md.
#
#   bash bench/accuracy.sh [options]
#     --build DIR     build directory with bin/quant-opt and bin/qopt-bench-gen
#                     (default: $QOPT_BUILD or ./build)
#     --model DIR     the evaluated checkpoint (default
#                     test/Inputs/bytellama-fp16-st, a trained byte-level Llama)
#     --text FILE     evaluation text, bytes = tokens (default
#                     bench/eval-text.py.txt, all of it)
#     --reps N        timed conversions per figure, the best is kept (default 3)
#     --no-synthetic  skip the timing on a generated 61M-parameter checkpoint
#     --work DIR      parent of the scratch directory (default /tmp)
#     --out FILE      results file (default bench/accuracy-results.md)
#     --keep          keep the scratch directory
#
# Per mode:
#   1. quant-opt convert MODEL ... -o OUT --stats-json S   (untimed): the
#      weight error (RelativeFrobenius) and the sizes;
#   2. quant-opt eval MODEL --text TEXT --cache OUT --json E: perplexity of the
#      fp16 source and of the cache over the whole text (windows of 512);
#   3. bench/accuracy-mirror.py writes the cache's dequantized weights w + e
#      as a float32 checkpoint (its perplexity, evaluated as a source, must
#      equal the cache's: a check of the dequantizer, the script stops if
#      not) and the mirrored weights w - e; the mean of the increases at
#      w + e and w - e cancels the first-order (random-sign) term g.e of the
#      loss change and leaves the curvature cost of the error ("symmetrized
#      increase");
#   4. conversion time: the best of --reps wall times of quant-opt convert
#      MODEL ... -o fresh-dir (no --accuracy), and the same on the synthetic
#      checkpoint (qopt-bench-gen, hidden 1024, ffn 2816, 4 layers, vocab
#      8000: 61M parameters, 123 MB fp16), where the quantizer rather than
#      process start-up dominates. Ratios are against RTN q4f16_1.
# Default threads everywhere (all cores).
set -euo pipefail

script_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$script_dir/.." && pwd)

build=${QOPT_BUILD:-$repo/build}
model=$repo/test/Inputs/bytellama-fp16-st
text=$script_dir/eval-text.py.txt
reps=3
synthetic=1
work_parent=/tmp
out_file=$script_dir/accuracy-results.md
keep=0

die() {
  echo "bench/accuracy.sh: $*" >&2
  exit 1
}

while [ $# -gt 0 ]; do
  case "$1" in
    --build) build=$2; shift 2 ;;
    --model) model=$2; shift 2 ;;
    --text) text=$2; shift 2 ;;
    --reps) reps=$2; shift 2 ;;
    --no-synthetic) synthetic=0; shift ;;
    --work) work_parent=$2; shift 2 ;;
    --out) out_file=$2; shift 2 ;;
    --keep) keep=1; shift ;;
    -h|--help) sed -n '2,30p' "$0"; exit 0 ;;
    *) die "unknown option '$1'" ;;
  esac
done

qopt=$build/bin/quant-opt
gen=$build/bin/qopt-bench-gen
[ -x "$qopt" ] || die "$qopt not found (build it, or pass --build)"
[ "$synthetic" = 0 ] || [ -x "$gen" ] || die "$gen not found (or pass --no-synthetic)"
[ -f "$model/config.json" ] || die "$model/config.json not found"
[ -f "$text" ] || die "$text not found"
case "$reps" in ''|*[!0-9]*|0) die "--reps needs a positive integer" ;; esac

work=$(mktemp -d "$work_parent/qopt-accuracy.XXXXXX")
cleanup() { [ "$keep" = 1 ] && echo "kept $work" >&2 || rm -rf "$work"; }
trap cleanup EXIT

# label | convert arguments (after --quantization)
modes=(
  "q4f16_1|q4f16_1"
  "q4f16_1 optimized|q4f16_1 --optimize-scales"
  "q3f16_1|q3f16_1"
  "q3f16_1 optimized|q3f16_1 --optimize-scales"
  "MNN 4-bit sym b32|mnn --weight-quant-bits 4 --weight-quant-block 32"
  "MNN 4-bit sym b64|mnn --weight-quant-bits 4 --weight-quant-block 64"
  "MNN 4-bit sym b128|mnn --weight-quant-bits 4 --weight-quant-block 128"
  "MNN 4-bit asym b32|mnn --weight-quant-bits 4 --weight-quant-asymmetric --weight-quant-block 32"
  "MNN 4-bit asym b32 HQQ|mnn --weight-quant-bits 4 --weight-quant-asymmetric --weight-quant-block 32 --hqq"
  "MNN 4-bit asym b64|mnn --weight-quant-bits 4 --weight-quant-asymmetric --weight-quant-block 64"
  "MNN 4-bit asym b64 HQQ|mnn --weight-quant-bits 4 --weight-quant-asymmetric --weight-quant-block 64 --hqq"
  "MNN 4-bit asym b128|mnn --weight-quant-bits 4 --weight-quant-asymmetric --weight-quant-block 128"
  "MNN 4-bit asym b128 HQQ|mnn --weight-quant-bits 4 --weight-quant-asymmetric --weight-quant-block 128 --hqq"
  "MNN 8-bit sym channel-wise|mnn --weight-quant-bits 8"
  "MNN 8-bit asym channel-wise|mnn --weight-quant-bits 8 --weight-quant-asymmetric"
)

# Best wall time in seconds of $reps runs of: quant-opt convert SRC ARGS -o X.
best_convert_time() {
  local src=$1 args=$2 best="" i t0 t1 t
  for ((i = 0; i < reps; i++)); do
    rm -rf "$work/timed"
    sync
    t0=$(date +%s%N)
    # shellcheck disable=SC2086
    "$qopt" convert "$src" --quantization $args -o "$work/timed" > /dev/null
    t1=$(date +%s%N)
    t=$(( (t1 - t0) / 1000 ))
    if [ -z "$best" ] || [ "$t" -lt "$best" ]; then best=$t; fi
  done
  rm -rf "$work/timed"
  echo "$best"
}

if [ "$synthetic" = 1 ]; then
  echo "generating the synthetic timing checkpoint" >&2
  "$gen" "$work/synthetic" --preset tiny --hidden 1024 --intermediate 2816 \
    --layers 4 --heads 16 --kv-heads 4 --vocab 8000 > /dev/null
  cat "$work/synthetic/model.safetensors" > /dev/null
fi

results=$work/results.jsonl
: > "$results"
i=0
for entry in "${modes[@]}"; do
  label=${entry%%|*}
  args=${entry#*|}
  dir=$work/m$i
  echo "[$((i + 1))/${#modes[@]}] $label" >&2
  # shellcheck disable=SC2086
  "$qopt" convert "$model" --quantization $args -o "$dir" \
    --stats-json "$dir.stats.json" > /dev/null
  "$qopt" eval "$model" --text "$text" --cache "$dir" --json "$dir.eval.json" \
    > /dev/null
  python3 "$script_dir/accuracy-mirror.py" "$model" "$dir" "$dir.deq"
  python3 "$script_dir/accuracy-mirror.py" "$model" "$dir" "$dir.mirror" --mirror
  "$qopt" eval "$dir.deq" --text "$text" --json "$dir.deq.json" > /dev/null
  "$qopt" eval "$dir.mirror" --text "$text" --json "$dir.mirror.json" > /dev/null
  rm -rf "$dir.deq" "$dir.mirror"
  t_model=$(best_convert_time "$model" "$args")
  t_syn=null
  [ "$synthetic" = 1 ] && t_syn=$(best_convert_time "$work/synthetic" "$args")
  python3 - "$label" "$args" "$dir" "$t_model" "$t_syn" >> "$results" <<'EOF'
import json, sys
label, args, d, t_model, t_syn = sys.argv[1:]
stats = json.load(open(d + ".stats.json"))
ev = json.load(open(d + ".eval.json"))
deq = json.load(open(d + ".deq.json"))["source"]
mirror = json.load(open(d + ".mirror.json"))["source"]
if deq["mean_nll"] != ev["cache"]["mean_nll"]:
    sys.exit(f"{label}: the dequantized checkpoint's mean NLL "
             f"{deq['mean_nll']!r} differs from the cache's "
             f"{ev['cache']['mean_nll']!r}")
mirror_inc = (mirror["perplexity"] / ev["source"]["perplexity"] - 1) * 100
index = json.load(open(d + "/tensor-cache.json"))
# Bits per quantized weight: the bytes of the quantized records over the
# parameters they stand for (all parameters minus the unquantized records).
plain_elems = plain_bytes = 0
for shard in index["records"]:
    for r in shard["records"]:
        if ".q_" not in r["name"]:
            n = 1
            for x in r["shape"]:
                n *= x
            plain_elems += n
            plain_bytes += r["nbytes"]
qelems = stats["TotalParams"] - plain_elems
qbits = 8 * (stats["ParamBytes"] - plain_bytes) / qelems
print(json.dumps({
    "label": label, "args": args,
    "bits_per_param": stats["BitsPerParam"], "bits_per_qweight": qbits,
    "rel_frobenius": stats["Accuracy"]["RelativeFrobenius"],
    "source_ppl": ev["source"]["perplexity"],
    "ppl": ev["cache"]["perplexity"], "increase": ev["increase_percent"],
    "mirror_ppl": mirror["perplexity"], "mirror_increase": mirror_inc,
    "sym_increase": (ev["increase_percent"] + mirror_inc) / 2,
    "tokens": ev["tokens"], "predicted": ev["predicted"],
    "windows": ev["windows"], "context": ev["context"],
    "t_model": int(t_model) / 1e6,
    "t_syn": None if t_syn == "null" else int(t_syn) / 1e6,
}))
EOF
  i=$((i + 1))
done

commit=$(git -C "$repo" rev-parse --short HEAD 2>/dev/null || echo unknown)
dirty=$(git -C "$repo" status --porcelain 2>/dev/null | grep -q . && echo " (with uncommitted changes)" || true)
cores=$(nproc)
cpu=$(grep -m1 'model name' /proc/cpuinfo | sed 's/.*: //')
load=$(cut -d' ' -f1-3 /proc/loadavg)

python3 - "$results" "$out_file" "$model" "$text" "$reps" "$synthetic" \
  "$commit$dirty" "$cores" "$cpu" "$load" <<'EOF'
import datetime, json, os, sys
(results, out, model, text, reps, synthetic, commit, cores, cpu,
 load) = sys.argv[1:]
rows = [json.loads(l) for l in open(results)]
base = next(r for r in rows if r["label"] == "q4f16_1")
src = base["source_ppl"]
assert all(r["source_ppl"] == src for r in rows)
now = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
L = []
L.append("# Quantization accuracy: perplexity, bits and conversion time\n")
L.append(f"Produced by `bench/accuracy.sh`. {now}, commit {commit}.")
L.append(f"Machine: {cores} cores ({cpu}); load average at start of the "
         f"report: {load}.\n")
L.append(f"- model: `{os.path.relpath(model)}`; text: `{os.path.relpath(text)}`"
         f" (whole file): {base['tokens']} byte tokens, {base['predicted']} "
         f"predicted, {base['windows']} windows of {base['context']}")
L.append(f"- fp16 source perplexity: **{src:.4f}** (float32 reference forward "
         "pass, `quant-opt eval`); increase = cache / source - 1")
L.append("- mirror: perplexity of the source reflected through the "
         "quantization error, w - e (bench/accuracy-mirror.py); symmetrized "
         "= mean of the two increases, which cancels the first-order term "
         "g.e of the loss change (random in sign) and keeps the curvature "
         "cost e'He/2; each cache's dequantized weights, evaluated the same "
         "way, reproduce its mean NLL exactly")
L.append("- weight error: stats-json `RelativeFrobenius` over all quantized "
         "weights (through the stored values)")
L.append("- bits/param: `Bits per parameter` of the whole cache (embeddings "
         "and norms included; MNN keeps the embedding float16, MLC "
         "quantizes it); bits/weight: bits of the quantized records per "
         "weight they hold (scales and mins included)")
L.append(f"- convert s: best of {reps} wall times of `quant-opt convert` "
         "(default threads, no --accuracy) on the model above (6.5 MB, "
         "start-up dominated)" + (" and on a synthetic 61M-parameter fp16 "
         "Llama (qopt-bench-gen, hidden 1024, ffn 2816, 4 layers, vocab "
         "8000); x = ratio to RTN q4f16_1" if synthetic == "1" else ""))
L.append("")
hdr = ("| mode | bits/param | bits/weight | weight error | perplexity | "
       "increase | mirror increase | symmetrized | symmetrized vs q4f16_1 | "
       "convert s (model) | x |")
sep = "|---|---|---|---|---|---|---|---|---|---|---|"
if synthetic == "1":
    hdr += " convert s (61M) | x |"
    sep += "---|---|"
L.append(hdr)
L.append(sep)
for r in rows:
    line = (f"| {r['label']} | {r['bits_per_param']:.3f} | "
            f"{r['bits_per_qweight']:.3f} | {r['rel_frobenius']:.4f} | "
            f"{r['ppl']:.4f} | {r['increase']:+.2f}% | "
            f"{r['mirror_increase']:+.2f}% | {r['sym_increase']:+.2f}% | "
            f"{r['sym_increase'] / base['sym_increase']:.2f} | "
            f"{r['t_model']:.3f} | {r['t_model'] / base['t_model']:.2f} |")
    if synthetic == "1":
        line += f" {r['t_syn']:.3f} | {r['t_syn'] / base['t_syn']:.2f} |"
    L.append(line)
L.append("")
by = {r["label"]: r for r in rows}
def inc(label, key="increase"):
    return by[label][key]
L.append("## Targets\n")
for key, what in (("increase", "raw increase"),
                  ("sym_increase", "symmetrized increase")):
    cut = 1 - inc("q4f16_1 optimized", key) / inc("q4f16_1", key)
    L.append(f"- (a, {what}) `--optimize-scales` takes q4f16_1 from "
             f"{inc('q4f16_1', key):+.2f}% to "
             f"{inc('q4f16_1 optimized', key):+.2f}%, "
             f"{100 * cut:.0f}% less: more than half "
             f"**{'met' if cut > 0.5 else 'not met'}**. q3f16_1: "
             f"{inc('q3f16_1', key):+.2f}% -> "
             f"{inc('q3f16_1 optimized', key):+.2f}% "
             f"({100 * (1 - inc('q3f16_1 optimized', key) / inc('q3f16_1', key)):.0f}% "
             "less).")
    h = inc("MNN 4-bit asym b64 HQQ", key)
    beats = h < inc("q4f16_1", key) and h < inc("MNN 4-bit sym b32", key)
    L.append(f"- (b, {what}) MNN 4-bit asymmetric + HQQ at block 64 "
             f"({h:+.2f}%, "
             f"{by['MNN 4-bit asym b64 HQQ']['bits_per_qweight']:.2f} "
             f"bits/weight) vs 4-bit RTN at block 32: MLC q4f16_1 "
             f"{inc('q4f16_1', key):+.2f}% "
             f"({by['q4f16_1']['bits_per_qweight']:.2f}), MNN sym b32 "
             f"{inc('MNN 4-bit sym b32', key):+.2f}% "
             f"({by['MNN 4-bit sym b32']['bits_per_qweight']:.2f}): "
             f"**{'beats both' if beats else 'does not beat both'}**.")
L.append("")
open(out, "w").write("\n".join(L))
print("\n".join(L))
EOF
echo "wrote $out_file" >&2
