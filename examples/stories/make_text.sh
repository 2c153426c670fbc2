#!/bin/sh
# Regenerates calib.txt and eval.txt: stories sampled from stories260K itself (temperature 1, the full
# distribution), calibration and evaluation from disjoint seeds so the evaluation text is held out.
# usage: examples/stories/make_text.sh [BITDIAL] [MODEL]
set -eu
bitdial=${1:-build/bitdial}
model=${2:-../shared/models/stories260K.gguf}
dir=$(dirname "$0")
gen() {  # OUT FIRST_SEED COUNT
  : > "$1.tmp"
  i=0
  while [ "$i" -lt "$3" ]; do
    "$bitdial" run -m "$model" -p "Once upon a time" -n 480 --temp 1 --top-k 0 --top-p 1 --min-p 0 \
      --seed $(($2 + i)) -t 1 2>/dev/null | sed 's/^<s> //' >> "$1.tmp"
    echo >> "$1.tmp"
    i=$((i + 1))
  done
  mv "$1.tmp" "$1"
}
gen "$dir/calib.txt" 1 8
gen "$dir/eval.txt" 1001 6
