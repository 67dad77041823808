#!/usr/bin/env bash
# bench/calibration-accuracy.sh - perplexity of the calibration methods
# (issue 17's targets): plain rounding, --imatrix, --gptq, --gptq with
# --imatrix and, when the build has it, --awq (alone and with --gptq), for
# q4f16_1 and q3f16_1, on the shipped trained byte Llama. Writes a markdown
# table to bench/calibration-accuracy-results.md.
#
#   bash bench/calibration-accuracy.sh [--build DIR] [--work DIR] [--out FILE]
#
# 1. quant-opt calibrate MODEL --text bench/calib-text.py.txt --hessian
#    (the calibration text is our own and shares nothing with the
#    evaluation text bench/eval-text.py.txt); its wall time and peak RSS
#    (/usr/bin/time);
# 2. per row: quant-opt convert (user+sys CPU seconds, /usr/bin/time), then
#    quant-opt eval MODEL --cache OUT over the whole evaluation text;
# 3. the mirror and symmetrized increases as bench/accuracy.sh computes them
#    (bench/accuracy-mirror.py: the source reflected through the
#    quantization error, w - e). With --awq the stored weights are those of
#    the folded model, which computes the same function but whose weights
#    differ from the source's: the mirror is then taken around the folded
#    float model (the scales --awq found for the mode, folded into float16
#    weights: qopt-fold-awq-scales then q0f16), written by
#    accuracy-mirror.py from that float cache.
set -euo pipefail

script_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$script_dir/.." && pwd)
build=${QOPT_BUILD:-$repo/build}
work_parent=/tmp
out_file=$script_dir/calibration-accuracy-results.md
while [ $# -gt 0 ]; do
  case $1 in
    --build) build=$2; shift 2 ;;
    --work) work_parent=$2; shift 2 ;;
    --out) out_file=$2; shift 2 ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
  esac
done
qopt=$build/bin/quant-opt
model=$repo/test/Inputs/bytellama-fp16-st
calib=$script_dir/calib-text.py.txt
text=$script_dir/eval-text.py.txt
work=$(mktemp -d "$work_parent/qopt-calib-acc.XXXXXX")
trap 'rm -rf "$work"' EXIT
load_start=$(cut -d' ' -f1-3 /proc/loadavg)

/usr/bin/time -o "$work/calibrate.time" -f "%e %U %S %M" \
  "$qopt" calibrate "$model" --text "$calib" --hessian -o "$work/stats.safetensors" \
  2> /dev/null
stats=$work/stats.safetensors

have_awq=0
# grep reads the whole help (not -q): under pipefail, a grep that stops at
# the first match can fail the pipeline through quant-opt's SIGPIPE.
"$qopt" convert --help 2>/dev/null | grep -- '--awq' > /dev/null && have_awq=1

methods=("plain|" "imatrix|--imatrix $stats" "gptq|--gptq $stats"
         "gptq+imatrix|--gptq $stats --imatrix $stats")
if [ "$have_awq" = 1 ]; then
  methods+=("awq|--awq $stats" "awq+gptq|--awq $stats --gptq $stats"
            "awq+imatrix|--awq $stats --imatrix $stats")
fi

# Converts with a mode and method; prints "cpu_seconds".
convert() { # out mode method-args...
  local out=$1 mode=$2; shift 2
  /usr/bin/time -o "$out.time" -f "%U %S" \
    "$qopt" convert "$model" --quantization "$mode" -o "$out" --quiet "$@"
  awk '{printf "%.3f", $1 + $2}' "$out.time"
}

results=$work/results.jsonl
: > "$results"
for mode in q4f16_1 q3f16_1; do
  for entry in "${methods[@]}"; do
    label=${entry%%|*}
    # shellcheck disable=SC2206
    args=(${entry#*|})
    dir=$work/$mode-$label
    echo "$mode $label" >&2
    cpu=$(convert "$dir" "$mode" "${args[@]}")
    "$qopt" eval "$model" --text "$text" --cache "$dir" --json "$dir.eval.json" > /dev/null
    # The centre of the mirror: the source, or the folded float model.
    centre=$model
    if [[ $label == awq* ]]; then
      # The folded float model: the scales --awq searched for this mode,
      # folded into float16 weights (no quantization; what accuracy-mirror.py reads).
      "$qopt" --pass-pipeline="builtin.module(qopt-import-checkpoint{source=$model},weights.model(qopt-map-parameters,qopt-fold-awq-scales{stats=$stats mode=$mode},qopt-quantize-weights{mode=q0f16},qopt-verify-parameters),qopt-serialize-tensor-cache{output-dir=$dir.f32})" \
        /dev/null > /dev/null 2>&1 < /dev/null || {
        echo "cannot write the folded float model for $mode $label" >&2; exit 1; }
      python3 "$script_dir/accuracy-mirror.py" "$model" "$dir.f32" "$dir.centre"
      centre=$dir.centre
    fi
    python3 "$script_dir/accuracy-mirror.py" "$centre" "$dir" "$dir.mirror" --mirror
    "$qopt" eval "$dir.mirror" --text "$text" --json "$dir.mirror.json" > /dev/null
    python3 - "$mode" "$label" "$dir" "$cpu" >> "$results" <<'EOF'
import json, sys
mode, label, d, cpu = sys.argv[1:]
ev = json.load(open(d + ".eval.json"))
mirror = json.load(open(d + ".mirror.json"))["source"]
mirror_inc = (mirror["perplexity"] / ev["source"]["perplexity"] - 1) * 100
print(json.dumps({"mode": mode, "label": label,
                  "source_ppl": ev["source"]["perplexity"],
                  "ppl": ev["cache"]["perplexity"],
                  "increase": ev["increase_percent"],
                  "mirror_increase": mirror_inc,
                  "sym": (ev["increase_percent"] + mirror_inc) / 2,
                  "cpu": float(cpu), "tokens": ev["tokens"]}))
EOF
    rm -rf "$dir.mirror" "$dir.centre" "$dir.f32"
  done
done

commit=$(git -C "$repo" rev-parse --short HEAD 2>/dev/null || echo unknown)
python3 - "$results" "$out_file" "$work/calibrate.time" "$commit" \
  "$(nproc)" "$(grep -m1 'model name' /proc/cpuinfo | sed 's/.*: //')" \
  "$load_start" "$(cut -d' ' -f1-3 /proc/loadavg)" <<'EOF'
import datetime, json, sys
results, out, ctime, commit, cores, cpu, load0, load1 = sys.argv[1:]
rows = [json.loads(l) for l in open(results)]
e, u, s, m = open(ctime).read().split()
plain = {r["mode"]: r for r in rows if r["label"] == "plain"}
L = ["# Calibration methods: perplexity and time", "",
     "Produced by `bench/calibration-accuracy.sh`, %s UTC, commit %s." %
     (datetime.datetime.utcnow().strftime("%Y-%m-%d %H:%M"), commit),
     "Machine: %s cores (%s); load average %s at the start, %s at the end." %
     (cores, cpu, load0, load1), "",
     "- model: `test/Inputs/bytellama-fp16-st` (trained byte Llama); "
     "calibration: `quant-opt calibrate --hessian` on `bench/calib-text.py.txt` "
     "(%s s wall, %.2f s CPU, peak RSS %.0f MB); evaluation: "
     "`bench/eval-text.py.txt`, %d tokens, not used for calibration" %
     (e, float(u) + float(s), int(m) / 1024, rows[0]["tokens"]),
     "- fp16 source perplexity: %.4f; increase = cache / source - 1; "
     "mirror and symmetrized as in `bench/accuracy.sh` (for AWQ around the "
     "folded float model)" % rows[0]["source_ppl"],
     "- x plain: the increase (or symmetrized increase) over plain "
     "rounding's of the same mode; CPU: user+sys seconds of `convert` "
     "(statistics read from the STATS file; the one-off calibrate is above)",
     "",
     "| mode | method | perplexity | increase | x plain | mirror increase | "
     "symmetrized | x plain (sym) | convert CPU s | x plain CPU |",
     "|---|---|---|---|---|---|---|---|---|---|"]
for r in rows:
    p = plain[r["mode"]]
    # Plain rounding of this model can take under 0.01 s of CPU (time's
    # resolution) on an idle machine: no ratio then.
    cpu_ratio = "%.1f" % (r["cpu"] / p["cpu"]) if p["cpu"] > 0 else "-"
    L.append("| %s | %s | %.4f | %+.2f%% | %.2f | %+.2f%% | %+.2f%% | %.2f | "
             "%.2f | %s |" % (
                 r["mode"], r["label"], r["ppl"], r["increase"],
                 r["increase"] / p["increase"], r["mirror_increase"], r["sym"],
                 r["sym"] / p["sym"], r["cpu"], cpu_ratio))
open(out, "w").write("\n".join(L) + "\n")
print("\n".join(L))
EOF
