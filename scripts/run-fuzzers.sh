#!/usr/bin/env bash
# Runs every libFuzzer target in $FUZZ_BUILD for $FUZZ_SECONDS each, starting from the seed corpus
# fuzz/seeds/<target>/ (plus a working corpus under fuzz/corpus-work/, git-ignored). A crash stops
# the run and leaves the input as fuzz/findings/<target>-crash-*; copy it to tests/formats/regressions/
# once fixed so it is replayed by the unit tests forever.
set -euo pipefail
cd "$(dirname "$0")/.."
: "${FUZZ_BUILD:=build-fuzz}" "${FUZZ_SECONDS:=60}"
mkdir -p fuzz/findings
status=0
for bin in "$FUZZ_BUILD"/*_fuzz; do
  name=$(basename "$bin")
  work="fuzz/corpus-work/$name"
  mkdir -p "$work"
  echo "== $name: ${FUZZ_SECONDS}s"
  if ! "$bin" -max_total_time="$FUZZ_SECONDS" -max_len=65536 -rss_limit_mb=2048 -timeout=10 \
      -artifact_prefix="fuzz/findings/$name-" -print_final_stats=1 "$work" "fuzz/seeds/$name" 2>&1 | tail -n 12; then
    status=1
  fi
done
exit $status
