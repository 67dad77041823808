#!/usr/bin/env bash
# bench/arch-matrix.sh - the architectures x modes x tensor-parallel shard
# counts table: for each architecture a random checkpoint with
# transformers' names (test/reference/make_checkpoint.py; hidden 128,
# 8 heads of 16, 4 kv heads, ffn 256, vocab 40, so 2 and 4 shards divide
# every split), converted by quant-opt and by the independent Python
# reference (test/reference/mlc_reference.py) with the same mode and shard
# count, and compared file by file (compare_cache.py). Writes a markdown
# table to --out (default bench/arch-matrix.md).
#
#   bash bench/arch-matrix.sh [--build DIR] [--out FILE]
set -euo pipefail
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build=$repo/build
out=$repo/bench/arch-matrix.md
while [ $# -gt 0 ]; do
  case "$1" in
    --build) build=$2; shift 2 ;;
    --out) out=$2; shift 2 ;;
    *) echo "usage: bash bench/arch-matrix.sh [--build DIR] [--out FILE]" >&2; exit 2 ;;
  esac
done
qopt=$build/bin/quant-opt
ref=$repo/test/reference
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
modes=(q4f16_1 q0f16)
shards=(1 2 4)
{
  echo "# Architectures x modes x tensor-parallel shards"
  echo
  echo "Produced by \`bench/arch-matrix.sh\` ($(date -u +%Y-%m-%d), commit $(git -C "$repo" rev-parse --short HEAD))."
  echo "Each cell: quant-opt's cache equals the independent Python reference's, every file byte for byte (\`ok\`), or not."
  echo
  printf "| architecture |"
  for m in "${modes[@]}"; do for t in "${shards[@]}"; do printf " %s x%s |" "$m" "$t"; done; done
  echo
  printf "|---|"
  for m in "${modes[@]}"; do for t in "${shards[@]}"; do printf -- "---|"; done; done
  echo
} > "$out"
for arch in llama mistral mixtral qwen2 qwen3 phi3 gemma gemma2 starcoder2 gpt2; do
  args=(--arch "$arch" --hidden 128 --intermediate 256 --heads 8 --kv-heads 4 --vocab 40 --dtype BF16)
  case "$arch" in
    gemma|gemma2|qwen3) args+=(--head-dim 16) ;;
    gpt2) args=(--arch gpt2 --hidden 128 --intermediate 0 --heads 8 --vocab 40 --context 48 --dtype F32 --mask) ;;
  esac
  case "$arch" in qwen2|starcoder2) args+=(--bias) ;; esac
  ckpt=$work/$arch
  python3 "$ref/make_checkpoint.py" random "$ckpt" "${args[@]}" > /dev/null
  row="| $arch |"
  for m in "${modes[@]}"; do
    for t in "${shards[@]}"; do
      ours=$work/$arch-$m-$t-ours theirs=$work/$arch-$m-$t-ref
      if ! "$qopt" convert "$ckpt" --quantization "$m" -o "$ours" --tensor-parallel-shards "$t" > "$work/log" 2>&1; then
        row+=" error |"; echo "$arch $m x$t: quant-opt: $(head -1 "$work/log")" >&2; continue
      fi
      if ! python3 "$ref/mlc_reference.py" "$ckpt" --quantization "$m" -o "$theirs" --tensor-parallel-shards "$t" > "$work/log" 2>&1; then
        row+=" ref error |"; echo "$arch $m x$t: reference: $(tail -1 "$work/log")" >&2; continue
      fi
      if python3 "$ref/compare_cache.py" "$ours" "$theirs" > "$work/log" 2>&1; then
        row+=" ok |"
      else
        row+=" DIFFERS |"; echo "$arch $m x$t: $(head -3 "$work/log")" >&2
      fi
      rm -rf "$ours" "$theirs"
    done
  done
  echo "$row" >> "$out"
  echo "$row"
done
