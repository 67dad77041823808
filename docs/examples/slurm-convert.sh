#!/usr/bin/env bash
# Convert a model stored on shared storage with a Slurm job array: N tasks,
# each writes its slice of the shards (`--part I/N`), then a job that
# depends on the whole array merges them (docs/distributed.md).
#
#   sbatch --export=ALL,MODEL=/shared/models/Llama-3-8B,OUT=/shared/out/llama3-q4,N=8 \
#     docs/examples/slurm-convert.sh
#
# Every task must see MODEL and OUT at the same paths (NFS, Lustre, ...).
# The array size must equal N; submit with --array=1-$N if N is not 8.
#SBATCH --job-name=quant-opt-convert
#SBATCH --array=1-8
#SBATCH --cpus-per-task=8
#SBATCH --mem=4G
#SBATCH --time=00:30:00
set -euo pipefail

: "${MODEL:?set MODEL to the model directory (config.json + checkpoint)}"
: "${OUT:?set OUT to the output directory on shared storage}"
N=${N:-8}
MODE=${MODE:-q4f16_1}
QUANT_OPT=${QUANT_OPT:-quant-opt}
EXTRA=${EXTRA:-}   # more convert options, e.g. "--tensor-parallel-shards 2"

if [ "${1:-}" = merge ]; then
  # The merge step: checks every part and publishes tensor-cache.json.
  exec "$QUANT_OPT" merge-parts "$OUT"
fi

if [ -n "${SLURM_ARRAY_TASK_ID:-}" ]; then
  # One task of the array: part SLURM_ARRAY_TASK_ID of N.
  # shellcheck disable=SC2086
  exec "$QUANT_OPT" convert "$MODEL" --quantization "$MODE" -o "$OUT" \
    --threads "${SLURM_CPUS_PER_TASK:-0}" --part "$SLURM_ARRAY_TASK_ID/$N" $EXTRA
fi

# Run outside the array (by sbatch on the login node, or by hand): submit
# the array, then the merge job that runs once every task succeeded.
self=$(readlink -f "${BASH_SOURCE[0]}")
array=$(sbatch --parsable --array="1-$N" --export=ALL,MODEL="$MODEL",OUT="$OUT",N="$N",MODE="$MODE" "$self")
sbatch --parsable --dependency="afterok:${array%%;*}" --job-name=quant-opt-merge \
  --ntasks=1 --cpus-per-task=8 --export=ALL,OUT="$OUT" --wrap="$QUANT_OPT merge-parts $OUT"
