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
echo "Open the report: $OUT/report.html (one self-contained file; any browser, offline)"
