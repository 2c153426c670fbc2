#!/usr/bin/env bash
# End-to-end speed table of issue 8: `bitdial bench` (pp512, tg128, decode efficiency against the
# read bandwidth measured in the same run) on `bitdial synth --preset llama-1b` (TinyLlama-1.1B shape)
# quantized by bitdial to Q4_0, Q4_K_M and Q8_0, plus the F16 file, next to llama.cpp's figures for the
# same shape on the project's 2-core AVX2 machines. Models are made once and kept in $BENCH_DIR.
#   BITDIAL=build/bitdial BENCH_DIR=build/bench-models THREADS=2 REPS=3 scripts/bench-e2e.sh
set -euo pipefail
BITDIAL=${BITDIAL:-build/bitdial}
DIR=${BENCH_DIR:-build/bench-models}
THREADS=${THREADS:-2}
REPS=${REPS:-3}
mkdir -p "$DIR"

f16="$DIR/llama-1b-f16.gguf"
if [[ ! -f "$f16" ]]; then
  echo "making $f16 (random weights of the TinyLlama-1.1B shape, 2.2 GB)" >&2
  "$BITDIAL" synth --preset llama-1b --type f16 -o "$f16" >&2
fi
for t in q4_0 q4_k_m q8_0; do
  out="$DIR/llama-1b-$t.gguf"
  if [[ ! -f "$out" ]]; then
    echo "quantizing $out" >&2
    "$BITDIAL" quantize "$f16" "$out" --type "$t" -t "$THREADS" >&2
  fi
done

# llama.cpp, same shape and types, 2 threads, the project's machines (issue 8): pp512 / tg128 t/s.
declare -A LLAMA_PP=([q4_0]=52.8 [q4_k_m]=40.0 [q8_0]=46.2 [f16]=64.9)
declare -A LLAMA_TG=([q4_0]=28.8 [q4_k_m]=27.5 [q8_0]=18.7 [f16]=12.1)

echo "| type | pp512 t/s | tg128 t/s | decode efficiency | llama.cpp pp512 / tg128 | pp ratio (target >= 1.5) | tg ratio | bandwidth GB/s |"
echo "|---|---:|---:|---:|---:|---:|---:|---:|"
for t in q4_0 q4_k_m q8_0 f16; do
  out=$("$BITDIAL" bench -m "$DIR/llama-1b-$t.gguf" -p 512 -n 128 -t "$THREADS" -r "$REPS")
  # Table rows: "| model | size | params | type | threads | test | median ± sd |".
  pp=$(awk -F'|' '$7 ~ /pp512/ {gsub(/^ +| +$/, "", $8); print $8}' <<<"$out")
  tg=$(awk -F'|' '$7 ~ /tg128/ {gsub(/^ +| +$/, "", $8); print $8}' <<<"$out")
  eff=$(sed -n 's/^decode efficiency: \([0-9.]*%\).*/\1/p' <<<"$out")
  bw=$(sed -n 's/^memory read bandwidth: \([0-9.]*\) GB\/s.*/\1/p' <<<"$out")
  ppr=$(awk -v a="${pp%% *}" -v b="${LLAMA_PP[$t]}" 'BEGIN {printf "%.2f", a / b}')
  tgr=$(awk -v a="${tg%% *}" -v b="${LLAMA_TG[$t]}" 'BEGIN {printf "%.2f", a / b}')
  echo "| $t | $pp | $tg | $eff | ${LLAMA_PP[$t]} / ${LLAMA_TG[$t]} | $ppr | $tgr | $bw |"
done
echo
echo "t/s: median ± sample stddev over $REPS repetitions, $THREADS threads; decode efficiency = weight bytes per token x tg t/s / read bandwidth (same run)."
