#!/usr/bin/env bash
# The controlled QAT comparison of docs/qat.md: on the demo model (examples/triage/triage.gguf), for
# each target preset, five models of identical size and types:
#   rtn, gptq            post-training quantization of the demo model itself
#   ft-rtn, ft-gptq      the same after STEPS plain fine-tuning updates (bitdial train, f32 export)
#   qat                  STEPS quantization-aware updates (bitdial qat), same data order, lr, seed
# so QAT is compared with post-training methods that had the same extra training. Each is evaluated
# against the F16 model on the demo's held-out text (PPL, KL) and task file, and on a larger task
# file (seeds 2-6 of triage-data, every ticket that also occurs in the demo's train/held-out/calib
# text removed), then paired against ft-gptq on the large file: McNemar on right/wrong, and the mean
# per-ticket difference in label NLL (-log of the label's share of the softmax over the 10 choices'
# log-likelihoods; a continuous score, so far more sensitive than accuracy).
# A target in upper case is a bitdial quantize preset; "q2_K-all" etc. is that one type for every
# matrix (token_embd included), the most damaging setting.
#   BITDIAL=build/bitdial OUT=build/qat-compare TARGETS="Q2_K Q3_K_S q2_K-all" STEPS=150 scripts/qat-compare.sh
set -euo pipefail
BITDIAL=${BITDIAL:-build/bitdial}
OUT=${OUT:-build/qat-compare}
TARGETS=${TARGETS:-Q2_K Q3_K_S q2_K-all}
STEPS=${STEPS:-150}
LR=${LR:-5e-4}
THREADS=${THREADS:-2}
DEMO=$(cd "$(dirname "$0")/../examples/triage" && pwd)
command -v jq >/dev/null || { echo "qat-compare: needs jq (apt-get install jq)" >&2; exit 1; }
mkdir -p "$OUT"
BITDIAL=$(cd "$(dirname "$BITDIAL")" && pwd)/$(basename "$BITDIAL")
cd "$OUT"
export OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-passive}

base=$DEMO/triage.gguf
# The large task file: texts seen in any of the demo's text files are dropped (they could have been
# trained on), so it measures generalisation like the demo's own disjoint eval set.
if [[ ! -f big-tasks.jsonl ]]; then
  # One seed's phrase tables run out of distinct short tickets at ~120 per style, so five seeds are
  # pooled and de-duplicated.
  for s in 2 3 4 5 6; do
    "$BITDIAL" triage-data "big$s" --seed "$s" --eval-per-style 120 --eval-rare 40 --train-examples 0 \
      --heldout-examples 0 --calib-examples 0 >&2
  done
  sed -n 's/^Ticket: //p' "$DEMO/train.txt" "$DEMO/heldout.txt" "$DEMO/calib.txt" | sort -u >seen.txt
  { head -n 1 big2/tasks.jsonl
    for s in 2 3 4 5 6; do tail -n +2 "big$s/tasks.jsonl"; done | jq -c -s --rawfile seen seen.txt \
      '($seen | split("\n") | map({(.): true}) | add) as $s
       | unique_by(.input) | map(select($s[.input] | not)) | to_entries[]
       | .value + {id: ("b" + (.key + 1 | tostring))}'
  } >big-tasks.jsonl.tmp
  mv big-tasks.jsonl.tmp big-tasks.jsonl
fi
echo "large task file: $(($(wc -l <big-tasks.jsonl) - 1)) tickets" >&2

common_train="data: {text: $DEMO/train.txt, heldout: $DEMO/heldout.txt}
train: {steps: $STEPS, batch: 16, seq_len: 128, lr: $LR, warmup: 10, eval_every: $STEPS, checkpoint_every: 100000, threads: $THREADS}"
if [[ ! -f ft.gguf ]]; then
  printf 'model: {init: %s}\n%s\noutput: {model: ft.gguf, type: f32}\n' "$base" "$common_train" >ft.yaml
  "$BITDIAL" train ft.yaml >ft.log
fi

evaluate() {  # model name -> name.json (vs F16), name.big/ (vs F16 on the large task file, per ticket)
  [[ -f $2.json ]] || "$BITDIAL" eval -m "$1" -b "$base" --text "$DEMO/heldout.txt" --ctx 128 \
    --task "$DEMO/tasks.jsonl" -t "$THREADS" --json >"$2.json"
  [[ -f $2.big/summary.json ]] || "$BITDIAL" eval -m "$1" -b "$base" --task big-tasks.jsonl -t "$THREADS" \
    -o "$2.big" >/dev/null
}

# Per-ticket label NLL of one side ("candidate" or "baseline") of an examples file, one per line.
label_nll() {
  jq -r --arg side "$2" '.[$side] | .choice_logliks as $l | ($l | max) as $m
    | ($m + ([$l[] | . - $m | exp] | add | log)) - $l[.label]' "$1"
}
# mean and 1.96 standard errors of the per-line differences of two number columns (a - b).
paired_mean() {
  paste "$1" "$2" | awk '{d = $1 - $2; n++; s += d; ss += d * d}
    END {m = s / n; se = sqrt((ss / n - m * m) / (n - 1)); printf "%+.4f ± %.4f", m, 1.96 * se}'
}

echo "| target | model | bytes | PPL | KL to F16 | accuracy (demo, 340) | short | accuracy (large, N) | label NLL (large) | vs ft-gptq: right / wrong flips, McNemar p | label NLL − ft-gptq's (95 %) |"
echo "|---|---|---:|---:|---:|---:|---:|---:|---:|---|---|"
for t in $TARGETS; do
  tl=$(tr 'A-Z' 'a-z' <<<"$t")
  if [[ $t == *-all ]]; then  # one type everywhere
    type=${t%-all}
    qargs=(--type Q8_0 --override ".*(attn_q|attn_k|attn_v|attn_output|ffn_gate|ffn_up|ffn_down|token_embd|output)\.weight=$type")
    qatsec="qat: {type: $type}"
  else
    qargs=(--type "$t")
    qatsec="qat: {preset: $t}"
  fi
  [[ -f $tl-rtn.gguf ]] || "$BITDIAL" quantize "$base" "$tl-rtn.gguf" "${qargs[@]}" -t "$THREADS" >/dev/null
  [[ -f $tl-gptq.gguf ]] || "$BITDIAL" quantize "$base" "$tl-gptq.gguf" "${qargs[@]}" --method gptq \
    --calib "$DEMO/calib.txt" -t "$THREADS" >/dev/null
  [[ -f $tl-ft-rtn.gguf ]] || "$BITDIAL" quantize ft.gguf "$tl-ft-rtn.gguf" "${qargs[@]}" -t "$THREADS" >/dev/null
  [[ -f $tl-ft-gptq.gguf ]] || "$BITDIAL" quantize ft.gguf "$tl-ft-gptq.gguf" "${qargs[@]}" --method gptq \
    --calib "$DEMO/calib.txt" -t "$THREADS" >/dev/null
  if [[ ! -f $tl-qat.gguf ]]; then
    printf 'model: {init: %s}\n%s\noutput: {model: %s-qat.gguf}\n%s\n' "$base" "$common_train" "$tl" "$qatsec" >"$tl-qat.yaml"
    "$BITDIAL" qat "$tl-qat.yaml" >"$tl-qat.log"
  fi
  for m in rtn gptq ft-rtn ft-gptq qat; do
    evaluate "$tl-$m.gguf" "$tl-$m"
    label_nll "$tl-$m.big/triage.examples.jsonl" candidate >"$tl-$m.nll"
  done
  for m in rtn gptq ft-rtn ft-gptq qat; do
    [[ -f $tl-$m.vs.json ]] || "$BITDIAL" eval -m "$tl-$m.gguf" -b "$tl-ft-gptq.gguf" --task big-tasks.jsonl \
      -t "$THREADS" --json >"$tl-$m.vs.json"
    bytes=$(stat -c %s "$tl-$m.gguf")
    row=$(jq -r '[.texts[0].ppl.value, .texts[0].kld.mean,
                  .tasks[0].candidate.overall.accuracy.value,
                  (.tasks[0].candidate.slices[] | select(.tag == "short") | .accuracy.value)] | @tsv' "$tl-$m.json")
    big=$(jq -r '[.tasks[0].candidate.overall.accuracy.value, .tasks[0].candidate.overall.accuracy.n] | @tsv' \
      "$tl-$m.big/summary.json")
    vs=$(jq -r '.tasks[0].paired.overall | [.mcnemar.c_base_wrong_cand_right, .mcnemar.b_base_right_cand_wrong,
                .mcnemar.p_value] | @tsv' "$tl-$m.vs.json")
    read -r ppl kl acc short <<<"$row"
    read -r bacc bn <<<"$big"
    read -r better worse p <<<"$vs"
    nll=$(awk '{s += $1} END {printf "%.4f", s / NR}' "$tl-$m.nll")
    printf '| %s | %s | %s | %.3f | %.4f | %.1f %% | %.1f %% | %.2f %% (%s) | %s | %s / %s, p = %.3g | %s |\n' \
      "$t" "$m" "$bytes" "$ppl" "$kl" "$(awk -v a="$acc" 'BEGIN{print 100*a}')" \
      "$(awk -v a="$short" 'BEGIN{print 100*a}')" "$(awk -v a="$bacc" 'BEGIN{print 100*a}')" "$bn" "$nll" \
      "$better" "$worse" "$p" "$(paired_mean "$tl-$m.nll" "$tl-ft-gptq.nll")"
  done
done
first=$(tr "A-Z" "a-z" <<<"${TARGETS%% *}")
label_nll "$first-rtn.big/triage.examples.jsonl" baseline >f16.nll
echo
echo "F16 model on the large task file: accuracy $(jq -r '.tasks[0].baseline.overall.accuracy.value * 10000 | round / 100' \
  "$first-rtn.big/summary.json") %, label NLL $(awk '{s += $1} END {printf "%.4f", s / NR}' f16.nll)"
