#!/usr/bin/env bash
# The bitdial demo: the main job, `bitdial sweep`, on a real pretrained model (stories260K from
# ../shared/models): nine candidates (Q8_0 ... Q2_K, round-to-nearest / GPTQ / AWQ, a bits-per-weight
# budget, llama.cpp's own Q4_K_M file) evaluated on held-out text and a task file with edge-case
# slices, benchmarked, priced, checked against floors; then a memory plan for a 70B model.
# Usage: examples/demo.sh   (BITDIAL=path/to/bitdial, OUT=folder for the sweep's outputs)
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
BITDIAL=${BITDIAL:-$here/build/bitdial}
OUT=${OUT:-$here/build/demo/stories.sweep}
if [[ ! -f "$here/../shared/models/stories260K.gguf" ]]; then
  echo "demo: needs ../shared/models/stories260K.gguf next to the repository (the reference model)" >&2
  exit 1
fi

echo "== bitdial sweep examples/stories/sweep.yaml -o $OUT"
echo "   (every finished stage is cached in $OUT/cache: a second run takes a second)"
# The per-stage lines go to stderr; keep the overall ones.
"$BITDIAL" sweep "$here/examples/stories/sweep.yaml" -o "$OUT" --resume 2> >(grep --line-buffered '^sweep \[' >&2)
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
# user-1 stays on the baseline; "high_stakes" forces the baseline whoever asks.
post /v1/completions '{"prompt":"Once upon a time","max_tokens":24,"temperature":0,"user":"user-2"}'
post /v1/completions '{"prompt":"Lily was sad because she lost her","choices":[" toy"," car"," cloud"],"user":"user-2"}'
post /v1/completions '{"prompt":"Lily was sad because she lost her","choices":[" toy"," car"," cloud"],"user":"user-1"}'
post /v1/completions '{"prompt":"Once upon a time","max_tokens":8,"temperature":0,"user":"user-2","high_stakes":true}'
kill -TERM "$pid"
wait "$pid"
rm -f "$log"
echo
echo "== bitdial serve --status $OUT/events.db"
"$BITDIAL" serve --status "$OUT/events.db"
echo
echo "Open the report: $OUT/report.html (one self-contained file; any browser, offline)"
