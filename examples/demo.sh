#!/usr/bin/env bash
# The bitdial demo, self-contained (everything it needs is in the repository): the main job, `bitdial
# sweep`, on the bundled triage model (examples/triage: a 1.57 M-parameter support-ticket classifier that
# `bitdial train` made from synthetic tickets): the baseline's accuracy per slice, then eleven candidates
# (Q8_0 ... Q2_K, round-to-nearest / GPTQ / AWQ) evaluated on 340 held-out tickets with edge-case slices
# and on held-out text, benchmarked, priced and checked against floors; then a memory plan for a 70B
# model, and `bitdial serve` on the setup the sweep chose.
# Usage: examples/demo.sh   (BITDIAL=path/to/bitdial, OUT=folder for the sweep's outputs)
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
BITDIAL=${BITDIAL:-$here/build/bitdial}
OUT=${OUT:-$here/build/demo/triage.sweep}
ex=$here/examples/triage

echo "== bitdial eval -m examples/triage/triage.gguf --task examples/triage/tasks.jsonl (the F16 baseline)"
# (progress lines dropped, errors kept)
"$BITDIAL" eval -m "$ex/triage.gguf" --task "$ex/tasks.jsonl" 2> >(grep --line-buffered -v ' elapsed ' >&2)
echo
echo "== bitdial sweep examples/triage/sweep.yaml -o $OUT"
echo "   (every finished stage is cached in $OUT/cache: a second run takes a second)"
# The per-stage lines go to stderr; keep the overall ones.
"$BITDIAL" sweep "$ex/sweep.yaml" -o "$OUT" --resume 2> >(grep --line-buffered '^sweep \[' >&2)
echo
echo "== the decision ($OUT/decision.md, first lines)"
sed -n '1,/^## Candidates rejected/p' "$OUT/decision.md" | head -n -1
echo "== bitdial plan --params 70B --type Q4_K_M --context 8192"
"$BITDIAL" plan --params 70B --type Q4_K_M --context 8192
echo
echo
echo "== bitdial serve $OUT/serve.yaml (the chosen candidate behind its cascade, A/B split and monitors)"
log=$(mktemp)
rm -f "$OUT/events.db" "$OUT/events.db-wal" "$OUT/events.db-shm"
"$BITDIAL" serve "$OUT/serve.yaml" --port 0 --db "$OUT/events.db" -t 1 2>"$log" &
pid=$!
port=""
for _ in $(seq 300); do
  port=$(sed -n 's|.*listening on http://127.0.0.1:\([0-9]*\)/v1.*|\1|p' "$log")
  [[ -n "$port" ]] && break
  sleep 0.1
done
[[ -n "$port" ]] || { cat "$log" >&2; exit 1; }
# POST with bash's /dev/tcp, so the demo needs no HTTP client.
post() {
  echo "POST $1 $2"
  exec 3<>"/dev/tcp/127.0.0.1/$port"
  printf 'POST %s HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: %d\r\nConnection: close\r\n\r\n%s' \
    "$1" "${#2}" "$2" >&3
  sed '1,/^\r$/d' <&3
  exec 3<&-
  echo
}
# The A/B split sends 10 % of users to the chosen candidate, sticky by "user": user-2 is one of them,
# user-1 stays on the baseline; "high_stakes" forces the baseline whoever asks. A classification scores
# every intent as a continuation of the prompt, exactly as `bitdial eval` does.
intents='[" billing"," refund"," shipping"," login"," bug"," cancel"," product"," upgrade"," feedback"," fraud"]'
post /v1/completions '{"prompt":"Ticket: My package has not arrived and the tracking has not updated in 5 days.\nIntent:","max_tokens":3,"temperature":0,"user":"user-2"}'
post /v1/completions '{"prompt":"Ticket: I was charged twice for my plan this month\nIntent:","choices":'"$intents"',"user":"user-2"}'
post /v1/completions '{"prompt":"Ticket: I was charged twice for my plan this month\nIntent:","choices":'"$intents"',"user":"user-1"}'
post /v1/completions '{"prompt":"Ticket: SOMEONE USED MY CARD FOR AN ORDER I NEVER PLACED\nIntent:","choices":'"$intents"',"user":"user-2","high_stakes":true}'
kill -TERM "$pid"
wait "$pid"
rm -f "$log"
echo
echo "== bitdial serve --status $OUT/events.db"
"$BITDIAL" serve --status "$OUT/events.db"
echo
echo "Open the report: $OUT/report.html (one self-contained file; any browser, offline)"
