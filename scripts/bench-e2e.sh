#!/usr/bin/env bash
# End-to-end speed table of issue 8: `bitdial bench` (pp512, tg128, decode efficiency against the
# read bandwidth measured in the same run) on `bitdial synth --preset llama-1b` (TinyLlama-1.1B shape)
# quantized by bitdial to Q4_0, Q4_K_M and Q8_0, plus the F16 file, next to llama.cpp's figures for the
# same shape on the project's 2-core AVX2 machines. Models are made once and kept in $BENCH_DIR.
#   BITDIAL=build/bitdial BENCH_DIR=build/bench-models THREADS=2 REPS=3 scripts/bench-e2e.sh
set -euo pipefail
command -v jq >/dev/null || { echo "bench-e2e: needs jq (apt-get install jq)" >&2; exit 1; }
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

echo "| type | pp512 t/s | tg128 t/s | decode efficiency (median, range) | bandwidth at the tg reps, GB/s | weight GB/s streamed | pp GFLOP/s (float: % of the FP32 FMA peak, GFLOP/s) | llama.cpp pp512 / tg128 | pp ratio (target >= 1.5) | tg ratio |"
echo "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
for t in q4_0 q4_k_m q8_0 f16; do
  j=$("$BITDIAL" bench -m "$DIR/llama-1b-$t.gguf" -p 512 -n 128 -t "$THREADS" -r "$REPS" --json)
  row=$(jq -r '[.pp.tokens_per_s.median, .pp.tokens_per_s.stddev, .tg.tokens_per_s.median, .tg.tokens_per_s.stddev,
                .decode_efficiency * 100, (.decode_efficiency_samples | min * 100), (.decode_efficiency_samples | max * 100),
                (.bandwidth.per_tg_repetition | map(. / 1e9) | map(tostring) | join("/")),
                .weight_bytes_per_token * .tg.tokens_per_s.median / 1e9,
                .pp_flops_per_token * .pp.tokens_per_s.median / 1e9,
                (if .pp_compute_efficiency then .pp_compute_efficiency * 100 else "-" end),
                (if .fma_peak_flops_per_s then .fma_peak_flops_per_s.median / 1e9 else "-" end)] | @tsv' <<<"$j")
  read -r pp pps tg tgs eff emin emax bws streamed gflops ceff peak <<<"$row"
  compute=$(awk -v g="$gflops" 'BEGIN {printf "%.0f", g}')
  [[ "$ceff" != "-" ]] && compute=$(awk -v g="$gflops" -v e="$ceff" -v p="$peak" 'BEGIN {printf "%.0f (%.1f %% of %.0f)", g, e, p}')
  ppr=$(awk -v a="$pp" -v b="${LLAMA_PP[$t]}" 'BEGIN {printf "%.2f", a / b}')
  tgr=$(awk -v a="$tg" -v b="${LLAMA_TG[$t]}" 'BEGIN {printf "%.2f", a / b}')
  bws=$(tr '/' '\n' <<<"$bws" | awk '{printf "%s%.1f", (NR > 1 ? " / " : ""), $1}')
  printf '| %s | %.1f ± %.1f | %.1f ± %.1f | %.1f %% (%.1f-%.1f) | %s | %.1f | %s | %s / %s | %s | %s |\n' "$t" "$pp" "$pps" "$tg" "$tgs" \
    "$eff" "$emin" "$emax" "$bws" "$streamed" "$compute" "${LLAMA_PP[$t]}" "${LLAMA_TG[$t]}" "$ppr" "$tgr"
done
echo
echo "t/s: median ± sample stddev over $REPS repetitions, $THREADS threads. Decode efficiency: per tg repetition,"
echo "weight bytes per token x its t/s / the read bandwidth probed just before it (the bandwidth column"
echo "lists those probes); the median and the range over the repetitions. pp GFLOP/s: FLOPs per"
echo "prompt token x the median pp t/s; for f16, its share of the FP32 FMA peak probed before each pp"
echo "repetition (median of the shares, median peak)."
