#!/bin/sh
# Regenerates this folder's data with `bitdial triage-data` (same options -> identical bytes on every
# machine): tasks.jsonl (the 340-example eval set), heldout.txt, calib.txt (committed) and train.txt
# (12,000 tickets, 1.3 MB: not committed, this script remakes it).
# The eval set depends only on --seed (and the eval counts, left at their defaults): the share options
# shape the team's own training, held-out and calibration sets (rare intent and short / mixed-case
# tickets over-represented), and no training text occurs in the eval set.
# usage: examples/triage/make_data.sh [BITDIAL]
set -eu
bitdial=${1:-build/bitdial}
dir=$(dirname "$0")
"$bitdial" triage-data "$dir" --seed 1 --train-examples 12000 \
  --rare-share 0.1 --short-share 0.3 --mixed-case-share 0.2 --typo-share 0.15 --long-share 0.1
